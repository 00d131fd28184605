//! The REST API under `/api/v1`: the topology (filtered), one entity with its relations, the health summary.
//!
//! Every error is `{"status": N, "message": "…"}` with the same status on the response, and the message is
//! written for the caller: it names what was wrong with the request, never an internal type or path.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use topology::finding::Finding;
use topology::protocol::Filters;
use topology::{Entity, EntityId, HealthLevel, Kind, Relation, Topology};

use crate::auth::Identity;
use crate::collector::events::EVENT_CAPACITY;
use crate::web::State as AppState;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The collector has not finished its first list yet.
    #[error("not ready: the topology is still loading")]
    NotReady,
    /// A query parameter is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such entity (or path).
    #[error("not found: {0}")]
    NotFound(String),
    /// A backing store failed (details are logged, not answered).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::NotReady | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        };
        let body = serde_json::json!({ "status": status.as_u16(), "message": self.to_string() });
        (status, Json(body)).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The filter query parameters: `?namespace=a,b&kind=pod,svc` (kubectl's kind names and short names).
#[derive(Debug, Default, Deserialize)]
pub struct FilterQuery {
    /// Comma-separated namespaces.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Comma-separated kinds.
    #[serde(default)]
    pub kind: Option<String>,
}

impl FilterQuery {
    /// The filters these parameters ask for.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming an unknown kind.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        let list = |value: &Option<String>| -> Vec<String> {
            value
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let kinds = list(&self.kind)
            .iter()
            .map(|k| k.parse::<Kind>().map_err(|_| ApiError::BadRequest(format!("unknown kind {k:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filters { namespaces: list(&self.namespace), kinds })
    }
}

fn ready_topology(state: &AppState) -> Result<Arc<Topology>, ApiError> {
    if state.is_ready() {
        Ok(state.hub().topology())
    } else {
        Err(ApiError::NotReady)
    }
}

/// `GET /api/v1/topology`: the snapshot, filtered by the query within the caller's scope.
pub async fn topology(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let filters = identity.scope.restrict(&query?.filters()?);
    let topology = ready_topology(&state)?;
    if filters.is_empty() {
        return Ok(Json(topology).into_response());
    }
    Ok(Json(filters.topology(&topology)).into_response())
}

/// One entity and the relations that touch it.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntityView {
    /// The entity.
    pub entity: Entity,
    /// Edges from it.
    pub outgoing: Vec<Relation>,
    /// Edges to it.
    pub incoming: Vec<Relation>,
}

/// `GET /api/v1/events?namespace=a,b&entity=<id>&limit=N` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    /// Comma-separated namespaces (all when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only events about this entity id (`cluster/kind/namespace/name`).
    #[serde(default)]
    pub entity: Option<String>,
    /// At most this many (default and maximum: all the collector keeps, 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The non-empty items of a comma-separated parameter (none when absent).
fn comma_list(value: Option<&str>) -> Vec<&str> {
    value.map(|v| v.split(',').filter(|n| !n.is_empty()).collect()).unwrap_or_default()
}

/// `GET /api/v1/events`: the collector's recent Kubernetes events, newest first (not gated on readiness: an
/// empty list while the events are listed is the truth).
pub async fn events(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<topology::EventRecord>>, ApiError> {
    let Query(query) = query?;
    let namespaces = comma_list(query.namespace.as_deref());
    let entity = match query.entity.as_deref() {
        Some(text) => Some(text.parse::<EntityId>().map_err(|e: topology::id::IdError| {
            ApiError::BadRequest(format!("entity: {e}: expected cluster/kind/namespace/name"))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(EVENT_CAPACITY).min(EVENT_CAPACITY);
    // Within the caller's scope, whatever the query asks.
    let scope = &identity.scope;
    Ok(Json(state.events().recent(limit, |r| {
        (namespaces.is_empty() || namespaces.contains(&r.namespace.as_str()))
            && entity.as_ref().is_none_or(|id| r.involved.as_ref() == Some(id))
            && scope.admits_event(&r.namespace, r.involved.as_ref())
    })))
}

/// `GET /api/v1/entities/{id}`: `id` is the entity id `cluster/kind/namespace/name` (the namespace is empty
/// for cluster-scoped kinds), as a path or percent-encoded. An entity outside the caller's scope is a 404 like
/// one that does not exist (a 403 would confirm it exists), and only relations whose both ends are in scope
/// are listed (a pod's edge to its node would name the node).
pub async fn entity(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Json<EntityView>, ApiError> {
    let id: EntityId = id.parse().map_err(|e: topology::id::IdError| {
        ApiError::BadRequest(format!("{e}: expected cluster/kind/namespace/name"))
    })?;
    let topology = ready_topology(&state)?;
    let scope = &identity.scope;
    let entity = topology
        .get(&id)
        .filter(|_| scope.admits(&id))
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no entity {id}")))?;
    let outgoing = topology.relations_from(&id).filter(|r| scope.admits(&r.to)).cloned().collect();
    let incoming = topology.relations().filter(|r| r.to == id && scope.admits(&r.from)).cloned().collect();
    Ok(Json(EntityView { entity, outgoing, incoming }))
}

/// The health summary.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct HealthView {
    /// Whether the collector has listed everything.
    pub ready: bool,
    /// The topology's sequence number.
    pub seq: u64,
    /// The weighted health percentage, when any entity's health is known.
    pub percent: Option<f64>,
    /// Its letter grade.
    pub grade: Option<String>,
    /// Entities in the (filtered) topology.
    pub entities: usize,
    /// Entities by health level.
    pub by_health: BTreeMap<HealthLevel, usize>,
    /// Entities by kind.
    pub by_kind: BTreeMap<Kind, usize>,
}

impl HealthView {
    /// The summary of `topology`.
    pub fn of(topology: &Topology, ready: bool) -> HealthView {
        let mut by_health: BTreeMap<HealthLevel, usize> = HealthLevel::ALL.iter().map(|h| (*h, 0)).collect();
        let mut by_kind = BTreeMap::new();
        for entity in topology.entities() {
            *by_health.entry(entity.health.level).or_default() += 1;
            *by_kind.entry(entity.kind).or_default() += 1;
        }
        let score = topology.score();
        HealthView {
            ready,
            seq: topology.seq(),
            percent: score.as_ref().map(|s| (s.percent * 10.0).round() / 10.0),
            grade: score.map(|s| s.grade.to_string()),
            entities: topology.len(),
            by_health,
            by_kind,
        }
    }
}

/// `GET /api/v1/health`: overall percentage and grade, counts by health and by kind (filters and the caller's
/// scope apply).
pub async fn health(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    query: Result<Query<FilterQuery>, QueryRejection>,
) -> Result<Json<HealthView>, ApiError> {
    let filters = identity.scope.restrict(&query?.filters()?);
    let topology = ready_topology(&state)?;
    let view = if filters.is_empty() {
        HealthView::of(&topology, true)
    } else {
        HealthView::of(&filters.topology(&topology), true)
    };
    Ok(Json(view))
}

/// `GET /api/v1/findings` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct FindingsQuery {
    /// `open` (the default), `resolved` or `all`.
    #[serde(default)]
    pub state: Option<String>,
    /// Incidents still open at or resolved after this time (unix seconds; default: 0).
    #[serde(default)]
    pub since: Option<i64>,
    /// Incidents opened at or before this time (unix seconds; default: now).
    #[serde(default)]
    pub until: Option<i64>,
    /// Only these comma-separated namespaces.
    #[serde(default)]
    pub namespace: Option<String>,
    /// At most this many (default 200, at most [`MAX_FINDINGS`]).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The most findings one request returns.
pub const MAX_FINDINGS: usize = 1000;
/// Rows read from the history at a time.
const PAGE: usize = 500;

/// `GET /api/v1/findings`: incidents newest first, within the caller's scope: a finding whose subject the
/// caller may not see is left out entirely, and from the others the chain entities and events it may not see
/// are removed (a pod's chain names its node).
pub async fn findings(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    query: Result<Query<FindingsQuery>, QueryRejection>,
) -> Result<Json<Vec<Finding>>, ApiError> {
    use crate::findings::store::StateFilter;
    let Query(query) = query?;
    let filter = match query.state.as_deref().unwrap_or("open") {
        "open" => StateFilter::Open,
        "resolved" => StateFilter::Resolved,
        "all" => StateFilter::All,
        other => {
            return Err(ApiError::BadRequest(format!("state {other:?}: expected open, resolved or all")))
        }
    };
    let namespaces = comma_list(query.namespace.as_deref());
    let limit = query.limit.unwrap_or(200).min(MAX_FINDINGS);
    let Some(findings) = state.findings() else { return Ok(Json(Vec::new())) };
    // Scoping happens after the query: page through until `limit` are visible or the range is exhausted, so
    // an unscoped caller reads one page and a scoped one no more than it must.
    let (since, until) = (query.since.unwrap_or(0), query.until.unwrap_or(i64::MAX));
    let scope = &identity.scope;
    let mut visible = Vec::new();
    let mut skip = 0;
    while visible.len() < limit {
        let page = findings.store.query(filter, since, until, skip, PAGE).await.map_err(|error| {
            tracing::warn!(error = %crate::live::session::one_line(&error), "findings query failed");
            ApiError::Unavailable("the findings history cannot be read".into())
        })?;
        let last = page.len() < PAGE;
        skip += page.len();
        visible.extend(
            page.into_iter()
                .filter(|f| scope.admits(&f.subject))
                .filter(|f| namespaces.is_empty() || namespaces.contains(&f.subject.namespace()))
                .map(|mut f| {
                    f.entities.retain(|id| scope.admits(id));
                    f.events.retain(|e| scope.admits_event(&e.namespace, e.involved.as_ref()));
                    f
                }),
        );
        if last {
            break;
        }
    }
    visible.truncate(limit);
    Ok(Json(visible))
}

/// Any other `/api/…` path: a JSON 404, not the HTML page.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API at {}", uri.path()))
}
