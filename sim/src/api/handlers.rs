//! The verbs on stored resources (get, list, create, update, patch, delete) and the computed metrics.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::convert;
use super::format::{self, list_body, list_meta, Output};
use super::path::Target;
use super::{json_response, ApiError, Params};
use crate::metrics;
use crate::patch::PatchKind;
use crate::select::Filter;
use crate::status::Status;
use crate::store::{Part, Preconditions};
use crate::Sim;

type Result<T = Response> = std::result::Result<T, ApiError>;

fn object_response(
    code: StatusCode,
    target: &Target,
    object: &Arc<Value>,
    output: Output,
    now: i64,
) -> Response {
    let body = match output {
        Output::Object => serde_json::to_vec(&**object),
        _ => serde_json::to_vec(&format::render(target.resource, object, output, now)),
    };
    json_response(code, body.unwrap_or_default())
}

fn name(target: &Target) -> &str {
    target.name.as_deref().unwrap_or_default()
}

fn part(target: &Target) -> Part {
    if target.subresource.is_some() {
        Part::Status
    } else {
        Part::Main
    }
}

fn json_body(content_type: &str, body: &[u8]) -> Result<Value> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !matches!(essence, "application/json" | "") {
        return Err(Status::unsupported_media_type(content_type).into());
    }
    serde_json::from_slice(body)
        .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")).into())
}

/// The filter of a list or watch: the path's namespace and the query's selectors.
pub fn filter(target: &Target, params: &Params) -> Result<Filter> {
    let selector = |key: &str| params.get(key).map(String::as_str).filter(|s| !s.is_empty());
    Ok(Filter::parse(
        target.resource,
        target.namespace.as_deref(),
        selector("labelSelector"),
        selector("fieldSelector"),
    )?)
}

/// `GET` an object (or its status).
pub fn get(sim: &Sim, target: &Target, output: Output) -> Result {
    let object = sim.store().get(target.resource, target.namespace.as_deref(), name(target))?;
    let object = convert::object(target.resource, target.version, &object);
    Ok(object_response(StatusCode::OK, target, &object, output, sim.now()))
}

/// `GET` a collection, a page at a time with `limit` and `continue`.
pub fn list(sim: &Sim, target: &Target, params: &Params, output: Output) -> Result {
    let filter = filter(target, params)?;
    let limit = params
        .get("limit")
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<usize>().map_err(|_| Status::bad_request(format!("invalid limit: {l}"))))
        .transpose()?;
    let token = params.get("continue").map(String::as_str).filter(|t| !t.is_empty());
    let mut page = sim.store().list(target.resource, &filter, limit, token)?;
    let meta = list_meta(page.revision, page.continue_token.as_deref(), page.remaining);
    if target.version.is_some() {
        page.items = page.items.iter().map(|o| convert::object(target.resource, target.version, o)).collect();
    }
    let body = list_body(target.resource, target.version, &page.items, &meta, output, sim.now());
    Ok(json_response(StatusCode::OK, body))
}

/// `POST` to a collection.
pub fn create(sim: &Sim, target: &Target, content_type: &str, body: &[u8]) -> Result {
    let object = json_body(content_type, body)?;
    let created = sim.store().create(target.resource, target.namespace.as_deref(), object)?;
    Ok(object_response(StatusCode::CREATED, target, &created, Output::Object, 0))
}

/// `PUT` an object or its status.
pub fn update(sim: &Sim, target: &Target, content_type: &str, body: &[u8]) -> Result {
    let object = json_body(content_type, body)?;
    let ns = target.namespace.as_deref();
    let updated = sim.store().update(target.resource, ns, name(target), object, part(target))?;
    Ok(object_response(StatusCode::OK, target, &updated, Output::Object, 0))
}

/// `PATCH` an object or its status (merge patch; strategic merge patch approximated, see [`crate::patch`]).
pub fn patch(sim: &Sim, target: &Target, content_type: &str, body: &[u8]) -> Result {
    let kind = PatchKind::from_content_type(content_type)
        .ok_or_else(|| Status::unsupported_media_type(content_type))?;
    let patch: Value =
        serde_json::from_slice(body).map_err(|e| Status::bad_request(format!("invalid patch: {e}")))?;
    let ns = target.namespace.as_deref();
    let patched = sim.store().patch(target.resource, ns, name(target), kind, &patch, part(target))?;
    Ok(object_response(StatusCode::OK, target, &patched, Output::Object, 0))
}

/// `DELETE` an object at once; a `DeleteOptions` body may carry preconditions.
pub fn delete(sim: &Sim, target: &Target, body: &[u8]) -> Result {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let pre = &options["preconditions"];
    let preconditions = Preconditions {
        uid: pre["uid"].as_str().map(str::to_owned),
        resource_version: pre["resourceVersion"].as_str().map(str::to_owned),
    };
    let deleted =
        sim.store().delete(target.resource, target.namespace.as_deref(), name(target), &preconditions)?;
    Ok(object_response(StatusCode::OK, target, &deleted, Output::Object, 0))
}

/// `GET` pod or node metrics (`metrics.k8s.io`), computed from the stored pods on each request.
pub fn metrics(sim: &Sim, target: &Target, params: &Params, output: Output) -> Result {
    let filter = filter(target, params)?;
    let items = metrics::compute(sim.store(), target.resource, &filter, sim.seed(), sim.now());
    let items: Vec<Arc<Value>> = items.into_iter().map(Arc::new).collect();
    match &target.name {
        Some(name) => {
            let object = items
                .iter()
                .find(|m| m["metadata"]["name"] == name.as_str())
                .ok_or_else(|| Status::not_found(target.resource, name))?;
            Ok(object_response(StatusCode::OK, target, object, output, sim.now()))
        }
        None => Ok(json_response(
            StatusCode::OK,
            list_body(target.resource, None, &items, &Map::new(), output, sim.now()),
        )),
    }
}
