//! What the real API server's per-resource "strategies" do on create and update, as pure functions.
//!
//! Kept apart from the locking and versioning in [`super`] so each rule (name validation, the status a new
//! pod starts with, when `generation` moves) is one small function with its own tests.

use serde_json::{json, Map, Value};

use crate::resource::{ResourceId, NAMESPACES, PODS};

/// Why a name is not a valid DNS-1123 subdomain, in the API server's words; `None` when valid.
pub(crate) fn invalid_name(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric()
        });
    (!valid).then(|| {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must \
         start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            .to_owned()
    })
}

/// Resets what a client may not set on create: the status, which controllers and the kubelet own.
pub(crate) fn prepare_create(resource: ResourceId, object: &mut Map<String, Value>) {
    match resource {
        PODS => {
            let qos = qos_class(&Value::Object(object.clone()));
            object.insert("status".into(), json!({"phase": "Pending", "qosClass": qos}));
        }
        NAMESPACES => {
            object.insert("status".into(), json!({"phase": "Active"}));
            let name = object["metadata"]["name"].clone();
            let meta =
                object.get_mut("metadata").and_then(Value::as_object_mut).expect("metadata is set first");
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert("kubernetes.io/metadata.name".into(), name);
            }
            object.entry("spec").or_insert_with(|| json!({"finalizers": ["kubernetes"]}));
        }
        _ if resource.get().has_status => {
            object.remove("status");
        }
        _ => {}
    }
}

/// The pod's `QoS` class from its containers' requests and limits, as the kubelet computes it.
pub(crate) fn qos_class(pod: &Value) -> &'static str {
    let containers = pod["spec"]["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let (requests, limits) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        for res in ["cpu", "memory"] {
            let (r, l) = (&requests[res], &limits[res]);
            any |= !r.is_null() || !l.is_null();
            guaranteed &= !l.is_null() && (r.is_null() || r == l);
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Whether anything but metadata and status differs, which is what moves `metadata.generation`.
pub(crate) fn spec_changed(old: &Value, new: &Value) -> bool {
    let ignored = |k: &String| !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion");
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { return old != new };
    let old_keys = old.iter().filter(|(k, _)| ignored(k));
    let new_keys = new.iter().filter(|(k, _)| ignored(k));
    old_keys.count() != new_keys.clone().count() || new_keys.into_iter().any(|(k, v)| old.get(k) != Some(v))
}

/// Whether two versions of an object differ in more than their `resourceVersion`. Compared in place, without
/// copying either: every simulator write asks this.
pub(crate) fn really_changed(old: &Value, new: &Value) -> bool {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { return old != new };
    old.len() != new.len()
        || new.iter().any(|(k, v)| match (k.as_str(), old.get(k)) {
            ("metadata", Some(old_meta)) => metadata_changed(old_meta, v),
            (_, old_value) => old_value != Some(v),
        })
}

fn metadata_changed(old: &Value, new: &Value) -> bool {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { return old != new };
    let fields = |m: &Map<String, Value>| m.keys().filter(|k| *k != "resourceVersion").count();
    fields(old) != fields(new) || new.iter().any(|(k, v)| k != "resourceVersion" && old.get(k) != Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_dns_subdomains() {
        for ok in ["web", "web-1", "pod.17a8b9c", "a", "0abc"] {
            assert_eq!(invalid_name(ok), None, "{ok}");
        }
        for bad in ["", "Web", "-web", "web-", "we_b", "a..b", &"a".repeat(254)] {
            assert!(invalid_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn qos_follows_requests_and_limits() {
        let pod = |resources: Value| json!({"spec": {"containers": [{"name": "c", "resources": resources}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(qos_class(&pod(json!({"requests": {"cpu": "100m"}}))), "Burstable");
        let equal =
            json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(qos_class(&pod(equal)), "Guaranteed");
        assert_eq!(qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
    }

    #[test]
    fn a_created_pod_starts_pending_and_a_deployment_without_status() {
        let mut pod =
            json!({"metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"phase": "Running"}});
        prepare_create(PODS, pod.as_object_mut().unwrap());
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
        let mut deploy = json!({"metadata": {"name": "d"}, "status": {"replicas": 3}});
        prepare_create(crate::resource::DEPLOYMENTS, deploy.as_object_mut().unwrap());
        assert!(deploy.get("status").is_none());
    }

    #[test]
    fn a_new_namespace_is_active_and_labelled_with_its_name() {
        let mut ns = json!({"metadata": {"name": "shop"}});
        prepare_create(NAMESPACES, ns.as_object_mut().unwrap());
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "shop");
    }

    #[test]
    fn only_spec_changes_move_the_generation() {
        let old = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"x": 1}});
        let relabelled =
            json!({"metadata": {"labels": {"a": "2"}}, "spec": {"replicas": 1}, "status": {"x": 2}});
        let scaled = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2}, "status": {"x": 1}});
        assert!(!spec_changed(&old, &relabelled));
        assert!(spec_changed(&old, &scaled));
        assert!(spec_changed(&json!({"data": {"k": "v"}}), &json!({})));
    }

    #[test]
    fn a_new_resource_version_alone_is_no_change() {
        let old = json!({"metadata": {"resourceVersion": "1"}, "spec": {}});
        assert!(!really_changed(&old, &json!({"metadata": {"resourceVersion": "7"}, "spec": {}})));
        assert!(really_changed(&old, &json!({"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}})));
        assert!(really_changed(
            &old,
            &json!({"metadata": {"resourceVersion": "1", "labels": {}}, "spec": {}})
        ));
        assert!(really_changed(&old, &json!({"metadata": {}, "spec": {}, "status": {}})));
        assert!(
            !really_changed(&old, &json!({"metadata": {}, "spec": {}})),
            "a missing version is no change"
        );
    }
}
