//! Field selectors: `path=value`, `path==value`, `path!=value`, comma-separated, on the fields the real API
//! server indexes for each resource (anything else is refused, as the real one refuses it).

use serde_json::Value;

use super::SelectError;
use crate::resource::{ResourceId, EVENTS, JOBS, NAMESPACES, NODES, PODS, REPLICASETS, SECRETS};

/// A parsed field selector; the empty one selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    path: String,
    equal: bool,
    value: String,
}

/// The fields every resource supports.
const COMMON: &[&str] = &["metadata.name", "metadata.namespace"];

/// The extra fields a resource supports, as the real API server's field label conversions allow.
fn supported(resource: ResourceId) -> &'static [&'static str] {
    match resource {
        PODS => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        EVENTS => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        SECRETS => &["type"],
        NODES => &["spec.unschedulable"],
        NAMESPACES => &["status.phase"],
        REPLICASETS => &["status.replicas"],
        JOBS => &["status.successful"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses `s` for `resource`.
    ///
    /// # Errors
    /// When it does not parse, or names a field the resource does not support.
    pub fn parse(resource: ResourceId, s: &str) -> Result<FieldSelector, SelectError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(s, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let (path, equal, value) = if let Some((p, v)) = split_once_unescaped(&term, "!=") {
                (p, false, v)
            } else if let Some((p, v)) = split_once_unescaped(&term, "==") {
                (p, true, v)
            } else if let Some((p, v)) = split_once_unescaped(&term, "=") {
                (p, true, v)
            } else {
                return Err(SelectError::Field(format!("{s}: `{term}` has no operator")));
            };
            let path = path.trim().to_owned();
            if !COMMON.contains(&path.as_str()) && !supported(resource).contains(&path.as_str()) {
                return Err(SelectError::UnsupportedField(path));
            }
            requirements.push(Requirement { path, equal, value: unescape(value.trim()) });
        }
        Ok(FieldSelector(requirements))
    }

    /// Whether it has no requirements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `object` satisfies every requirement (a missing field reads as `""`).
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|r| {
            let field = r.path.split('.').fold(object, |v, part| &v[part]);
            let actual = match field {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            (actual == r.value) == r.equal
        })
    }
}

/// Splits at `sep` where it is not escaped with a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            parts.last_mut().expect("never empty").extend(['\\', c]);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("never empty").push(c);
        }
    }
    parts
}

fn split_once_unescaped<'a>(s: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let mut from = 0;
    while let Some(i) = s[from..].find(op) {
        let at = from + i;
        if !s[..at].ends_with('\\') {
            return Some((&s[..at], &s[at + op.len()..]));
        }
        from = at + op.len();
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::{DEPLOYMENTS, SECRETS};

    #[test]
    fn pod_fields_select_as_kubernetes_defines_them() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "shop"},
                         "spec": {"nodeName": "worker", "hostNetwork": false},
                         "status": {"phase": "Running"}});
        let cases = [
            ("", true),
            ("metadata.name=web-1", true),
            ("metadata.name==web-1", true),
            ("metadata.name!=web-1", false),
            ("metadata.namespace=shop,spec.nodeName=worker", true),
            ("spec.nodeName=other", false),
            ("status.phase!=Succeeded,status.phase!=Failed", true),
            ("status.phase=Running", true),
            ("spec.hostNetwork=false", true),
            ("status.podIP=", true),
            ("status.nominatedNodeName!=", false),
        ];
        for (selector, want) in cases {
            let parsed = FieldSelector::parse(PODS, selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(parsed.matches(&pod), want, "{selector}");
        }
    }

    #[test]
    fn fields_a_resource_does_not_index_are_refused() {
        assert_eq!(
            FieldSelector::parse(DEPLOYMENTS, "spec.replicas=3"),
            Err(SelectError::UnsupportedField("spec.replicas".into()))
        );
        assert!(FieldSelector::parse(PODS, "spec.nodeName").is_err());
        assert!(FieldSelector::parse(SECRETS, "type=Opaque").is_ok());
    }

    #[test]
    fn escaped_separators_belong_to_the_value() {
        let sel = FieldSelector::parse(PODS, r"metadata.name=a\,b").unwrap();
        assert!(sel.matches(&json!({"metadata": {"name": "a,b"}})));
    }
}
