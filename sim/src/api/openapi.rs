//! A minimal `OpenAPI` v3 index, enough for kubectl's field-validation check.
//!
//! `kubectl apply -f` / `create -f` validate by default: they ask `OpenAPI` v3 whether the server validates
//! fields itself (a `fieldValidation` query parameter on the resource's PATCH operation), and otherwise need
//! the full v2 schema. Serving that one parameter per resource makes kubectl leave validation to the server
//! (the simulator accepts unknown fields; see the crate's gaps). No schemas are served: `kubectl explain` and
//! `OpenAPI`-driven patching fall back or fail as they do against a server without them. `/openapi/v2` is 404.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::discovery::KUBERNETES_VERSION;
use super::{json_response, status_response};
use crate::resource::ResourceId;
use crate::status::Status;

/// `api/v1`, `apis/apps/v1`: how `OpenAPI` v3 names a group version.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`
pub async fn index() -> Response {
    let mut paths = Map::new();
    for id in ResourceId::all().filter(|id| !id.get().computed) {
        let r = id.get();
        let path = gv_path(r.group, r.version);
        let url = format!("/openapi/v3/{path}?hash=sim-{}", KUBERNETES_VERSION.1);
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json_response(StatusCode::OK, serde_json::to_vec(&json!({"paths": paths})).unwrap_or_default())
}

/// `GET /openapi/v3/{group version}`: one PATCH operation per resource, declaring `fieldValidation`.
pub async fn group_version(Path(path): Path<String>) -> Response {
    let mut paths = Map::new();
    for id in ResourceId::all().filter(|id| !id.get().computed) {
        let r = id.get();
        if gv_path(r.group, r.version) != path {
            continue;
        }
        let object = if r.namespaced {
            format!("/{path}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("/{path}/{}/{{name}}", r.plural)
        };
        let operation = json!({
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(object, json!({"patch": operation}));
    }
    if paths.is_empty() {
        return status_response(&Status::no_such_path());
    }
    let (major, minor) = KUBERNETES_VERSION;
    let doc: Value = json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.1")}, "paths": paths});
    json_response(StatusCode::OK, serde_json::to_vec(&doc).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn body(response: Response) -> Value {
        serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_index_points_at_every_group_version() {
        let index = body(index().await).await;
        assert_eq!(index["paths"]["api/v1"]["serverRelativeURL"], "/openapi/v3/api/v1?hash=sim-33");
        assert!(index["paths"]["apis/apps/v1"].is_object());
        assert!(index["paths"].get("apis/metrics.k8s.io/v1beta1").is_none());
    }

    #[tokio::test]
    async fn each_resource_declares_server_side_field_validation() {
        let doc = body(group_version(Path("apis/apps/v1".to_owned())).await).await;
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
        let missing = group_version(Path("apis/nope/v1".to_owned())).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
