//! Kubernetes `Status` bodies: what every failed request answers, and what a watch sends in an `ERROR` event.
//!
//! Clients branch on `reason` and `code` (kube-rs relists on `Expired`/410, kubectl prints `message`), so
//! these are spelled exactly as the real API server spells them.

use serde_json::{json, Map, Value};

use crate::resource::ResourceId;

/// A failure `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `Conflict`, `Expired`…).
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
    /// `details`, when the failure concerns one object.
    pub details: Option<Value>,
}

impl Status {
    /// A status without details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Status {
        Status { code, reason, message: message.into(), details: None }
    }

    /// Adds `details` naming the object (`name`, `group`, `kind` as the resource's plural, as Kubernetes does).
    #[must_use]
    pub fn about(mut self, resource: ResourceId, name: &str) -> Status {
        let r = resource.get();
        let mut details = Map::new();
        if !name.is_empty() {
            details.insert("name".into(), Value::String(name.to_owned()));
        }
        if !r.group.is_empty() {
            details.insert("group".into(), Value::String(r.group.to_owned()));
        }
        details.insert("kind".into(), Value::String(r.plural.to_owned()));
        self.details = Some(Value::Object(details));
        self
    }

    /// `404 NotFound` for an object.
    pub fn not_found(resource: ResourceId, name: &str) -> Status {
        Status::new(404, "NotFound", format!("{resource} \"{name}\" not found")).about(resource, name)
    }

    /// `404 NotFound` for a path the server does not serve.
    pub fn no_such_path() -> Status {
        Status {
            details: Some(json!({})),
            ..Status::new(404, "NotFound", "the server could not find the requested resource")
        }
    }

    /// `403 Forbidden`, worded as RBAC words it.
    pub fn forbidden(resource: ResourceId, verb: &str, namespace: Option<&str>) -> Status {
        let r = resource.get();
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        let message = format!(
            "{resource} is forbidden: User \"system:serviceaccount:gestalt:sim\" cannot {verb} resource \"{}\" in \
             API group \"{}\" {scope}",
            r.plural, r.group
        );
        Status::new(403, "Forbidden", message).about(resource, "")
    }

    /// `405 MethodNotAllowed`.
    pub fn method_not_allowed() -> Status {
        Status::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// `410 Expired` for a watch from a revision that left the history.
    pub fn expired(requested: u64, oldest: u64) -> Status {
        Status::new(410, "Expired", format!("too old resource version: {requested} ({oldest})"))
    }

    /// `415 UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Status {
        Status::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        )
    }

    /// `406 NotAcceptable`.
    pub fn not_acceptable(accept: &str) -> Status {
        Status::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: application/json (asked for {accept})"),
        )
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::new(400, "BadRequest", message)
    }

    /// A server error of the given code, as fault injection produces.
    pub fn server_error(code: u16) -> Status {
        match code {
            503 => {
                Status::new(503, "ServiceUnavailable", "the server is currently unable to handle the request")
            }
            504 => {
                Status::new(504, "Timeout", "the server was unable to return a response in the time allotted")
            }
            _ => Status::new(code, "InternalError", "Internal error occurred: injected fault"),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            body["details"] = details.clone();
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{DEPLOYMENTS, PODS};

    #[test]
    fn not_found_names_the_resource_and_object_as_kubernetes_does() {
        assert_eq!(
            Status::not_found(DEPLOYMENTS, "web").to_json(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "deployments.apps \"web\" not found", "reason": "NotFound",
                   "details": {"name": "web", "group": "apps", "kind": "deployments"}, "code": 404})
        );
    }

    #[test]
    fn forbidden_is_worded_as_rbac_words_it() {
        let status = Status::forbidden(PODS, "list", None);
        assert_eq!(status.code, 403);
        assert_eq!(
            status.message,
            "pods is forbidden: User \"system:serviceaccount:gestalt:sim\" cannot list resource \"pods\" in API \
             group \"\" at the cluster scope"
        );
    }

    #[test]
    fn expired_carries_code_410_and_reason_expired() {
        let body = Status::expired(3, 40).to_json();
        assert_eq!((body["code"].as_u64(), body["reason"].as_str()), (Some(410), Some("Expired")));
        assert_eq!(body["message"], "too old resource version: 3 (40)");
    }
}
