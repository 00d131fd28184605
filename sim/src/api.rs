//! The Kubernetes-compatible HTTP API, as a plain `axum::Router`.
//!
//! Everything under `/api` and `/apis` goes through one handler that parses the path itself ([`path`]),
//! because Kubernetes paths overlap in ways a route table expresses badly (`/api/v1/namespaces/x` is an
//! object, `/api/v1/namespaces/x/pods` a collection, `/api/v1/namespaces/x/status` a subresource). Every
//! failure becomes a Kubernetes `Status` through [`ApiError`], the one place HTTP errors are made.

mod convert;
mod discovery;
mod format;
mod handlers;
mod openapi;
mod path;
mod table;
mod watch;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::fault::Injected;
use crate::select::SelectError;
use crate::status::Status;
use crate::store::StoreError;
use crate::Sim;
pub use format::Output;
use path::{Route, Target};

/// A request that fails, answered as a Kubernetes `Status` (never with internals).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A selector did not parse.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Anything else, already worded as a `Status`.
    #[error("{}", .0.message)]
    Status(Status),
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        ApiError::Status(status)
    }
}

impl ApiError {
    /// The `Status` this error answers.
    pub fn status(&self) -> Status {
        match self {
            ApiError::Store(e) => store_status(e),
            ApiError::Select(e) => Status::bad_request(e.to_string()),
            ApiError::Status(s) => s.clone(),
        }
    }
}

fn store_status(e: &StoreError) -> Status {
    let message = e.to_string();
    match e {
        StoreError::NotFound { resource, name } => Status::not_found(*resource, name),
        StoreError::AlreadyExists { resource, name } => {
            Status::new(409, "AlreadyExists", message).about(*resource, name)
        }
        StoreError::Conflict { resource, name, .. } => {
            Status::new(409, "Conflict", message).about(*resource, name)
        }
        StoreError::Invalid { resource, name, field, detail } => {
            let reason =
                if detail.starts_with("Required") { "FieldValueRequired" } else { "FieldValueInvalid" };
            let mut status = Status::new(422, "Invalid", message).about(*resource, name);
            if let Some(details) = status.details.as_mut() {
                details["kind"] = resource.get().kind.into();
                details["causes"] =
                    serde_json::json!([{"reason": reason, "message": detail, "field": field}]);
            }
            status
        }
        StoreError::BadRequest(_) => Status::bad_request(message),
        StoreError::Expired { requested, oldest } => Status::expired(*requested, *oldest),
        StoreError::ContinueExpired => Status::new(410, "Expired", message),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        status_response(&self.status())
    }
}

/// A `Status` as an HTTP response.
pub(crate) fn status_response(status: &Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, serde_json::to_vec(&status.to_json()).unwrap_or_default())
}

/// JSON bytes as a response.
pub(crate) fn json_response(code: StatusCode, body: Vec<u8>) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The router serving `sim`. Bind it to loopback only (see [`crate::serve`]).
pub fn router(sim: Sim) -> Router {
    Router::new()
        .route("/version", get(discovery::version))
        .route("/api", get(discovery::core_versions))
        .route("/apis", get(discovery::groups))
        .route("/api/{*rest}", any(resource))
        .route("/apis/{*rest}", any(resource))
        .route("/openapi/v3", get(openapi::index))
        .route("/openapi/v3/{*path}", get(openapi::group_version))
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::from(Status::no_such_path()) })
        .with_state(sim)
}

/// The query parameters of a request.
pub(crate) type Params = HashMap<String, String>;

async fn resource(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match serve_resource(&sim, &method, &uri, &headers, &body).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(%method, %uri, error = %e, "simulated API request failed");
            e.into_response()
        }
    }
}

async fn serve_resource(
    sim: &Sim,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let target = match path::parse(uri.path()) {
        Route::Resources { group, version } => return Ok(discovery::resources(group, version)),
        Route::Group(group) => return Ok(discovery::group(group)),
        Route::Target(target) => target,
        Route::NotFound => return Err(Status::no_such_path().into()),
    };
    let Query(params) = Query::<Params>::try_from_uri(uri)
        .map_err(|e| Status::bad_request(format!("invalid query string: {e}")))?;
    let watching =
        target.name.is_none() && matches!(params.get("watch").map(String::as_str), Some("1" | "true"));
    let verb = verb(method, &target, watching).ok_or_else(Status::method_not_allowed)?;
    let faults = sim.faults();
    let latency = faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let qualified = target.resource.get().qualified_name();
    match faults.injected(&qualified) {
        Some(Injected::Forbidden) => {
            return Err(Status::forbidden(target.resource, verb, target.namespace.as_deref()).into())
        }
        Some(Injected::Error(code)) => return Err(Status::server_error(code).into()),
        None => {}
    }
    let output = format::negotiate(header_str(headers, header::ACCEPT), params.get("includeObject"))?;
    if target.resource.get().computed {
        return handlers::metrics(sim, &target, &params, output);
    }
    if target.version.is_some() && !matches!(verb, "get" | "list" | "watch") {
        // Served by conversion for reading only (see `convert`).
        return Err(Status::method_not_allowed().into());
    }
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
    match verb {
        "watch" => watch::watch(sim, &target, &params, output),
        "list" => handlers::list(sim, &target, &params, output),
        "get" => handlers::get(sim, &target, output),
        "create" => handlers::create(sim, &target, content_type, body),
        "update" => handlers::update(sim, &target, content_type, body),
        "patch" => handlers::patch(sim, &target, content_type, body),
        "delete" => handlers::delete(sim, &target, body),
        _ => Err(Status::method_not_allowed().into()),
    }
}

/// The RBAC verb of a request, `None` when the method is not allowed on the target.
fn verb(method: &Method, target: &Target, watching: bool) -> Option<&'static str> {
    let computed = target.resource.get().computed;
    let verb = match (method.as_str(), target.name.is_some(), target.subresource.is_some()) {
        ("GET", false, _) if watching => "watch",
        ("GET", false, _) => "list",
        ("GET", true, _) => "get",
        ("POST", false, _) => "create",
        ("PUT", true, _) => "update",
        ("PATCH", true, _) => "patch",
        ("DELETE", true, false) => "delete",
        _ => return None,
    };
    (!computed || matches!(verb, "get" | "list")).then_some(verb)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests;
