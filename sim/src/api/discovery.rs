//! Discovery: `/version`, `/api`, `/apis` and the resource lists, generated from the resource table.
//!
//! kubectl and kube-rs find resources, kinds, scopes and short names here before they request anything.
//! Only the legacy (unaggregated) documents are served: clients that ask for aggregated discovery first
//! (`as=APIGroupDiscoveryList`) get plain JSON and fall back, as they do with older API servers.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::json_response;
use crate::resource::ResourceId;

/// The Kubernetes version the simulator claims to be.
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

fn respond(body: &Value) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(body).unwrap_or_default())
}

/// `GET /version`
pub async fn version() -> Response {
    let (major, minor) = KUBERNETES_VERSION;
    respond(&json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{major}.{minor}.1-gestalt-sim"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

/// `GET /api`
pub async fn core_versions(headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    respond(&json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }))
}

/// The served non-core group versions, in table order, without repeats.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut seen = Vec::new();
    for id in ResourceId::all() {
        let r = id.get();
        if !r.group.is_empty() && !seen.contains(&(r.group, r.version)) {
            seen.push((r.group, r.version));
        }
    }
    seen
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = |version: &str| json!({"groupVersion": format!("{group}/{version}"), "version": version});
    let mut versions = vec![gv(version)];
    // Older versions served by conversion follow the stored (preferred) one, as the API server lists them.
    versions.extend(
        super::convert::ALTERNATES.iter().filter(|(id, _)| id.get().group == group).map(|(_, v)| gv(v)),
    );
    json!({"name": group, "versions": versions, "preferredVersion": gv(version)})
}

/// `GET /apis`
pub async fn groups() -> Response {
    let groups: Vec<Value> = group_versions().into_iter().map(|(g, v)| group_json(g, v)).collect();
    respond(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// `GET /apis/{group}`
pub fn group(group: &str) -> Response {
    let version = group_versions().into_iter().find(|(g, _)| *g == group).map_or("v1", |(_, v)| v);
    let mut body = group_json(group, version);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    respond(&body)
}

/// The `APIResourceList` of a group version.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for id in ResourceId::all() {
        let r = id.get();
        let alternate =
            super::convert::alternate(group, version, Some(r.plural)).is_some_and(|(a, _)| a == id);
        if r.group != group || (r.version != version && !alternate) {
            continue;
        }
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": if alternate { &["get", "list", "watch"][..] } else { r.verbs() },
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if r.in_all {
            entry["categories"] = json!(["all"]);
        }
        resources.push(entry);
        if r.has_status && !alternate {
            resources.push(json!({
                "name": format!("{}/status", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// `GET /api/v1`, `GET /apis/{group}/{version}`
pub fn resources(group: &str, version: &str) -> Response {
    respond(&resource_list(group, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_list_advertises_pods_with_short_names_verbs_and_status() {
        let list = resource_list("", "v1");
        let resources = list["resources"].as_array().unwrap();
        let pods = resources.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["kind"], "Pod");
        assert_eq!(pods["namespaced"], true);
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["verbs"], json!(["create", "delete", "get", "list", "patch", "update", "watch"]));
        assert!(resources.iter().any(|r| r["name"] == "pods/status"));
        let svc = resources.iter().find(|r| r["name"] == "services").unwrap();
        assert_eq!(svc["shortNames"], json!(["svc"]));
        assert!(resources.iter().all(|r| r["name"] != "deployments"));
    }

    #[test]
    fn every_group_is_listed_once_with_its_version() {
        let gvs = group_versions();
        for expected in [
            ("apps", "v1"),
            ("batch", "v1"),
            ("networking.k8s.io", "v1"),
            ("autoscaling", "v2"),
            ("discovery.k8s.io", "v1"),
            ("coordination.k8s.io", "v1"),
            ("metrics.k8s.io", "v1beta1"),
        ] {
            assert_eq!(gvs.iter().filter(|gv| **gv == expected).count(), 1, "{expected:?}");
        }
        let v1 = resource_list("autoscaling", "v1");
        assert_eq!(v1["groupVersion"], "autoscaling/v1");
        assert_eq!(v1["resources"].as_array().unwrap().len(), 1, "{v1}");
        assert_eq!(v1["resources"][0]["name"], "horizontalpodautoscalers");
        assert_eq!(v1["resources"][0]["verbs"], json!(["get", "list", "watch"]));
        let autoscaling = group_json("autoscaling", "v2");
        assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
        assert_eq!(autoscaling["versions"][1]["groupVersion"], "autoscaling/v1");
        let metrics = resource_list("metrics.k8s.io", "v1beta1");
        assert_eq!(metrics["groupVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(metrics["resources"][0]["verbs"], json!(["get", "list"]));
    }
}
