//! The HTTP side: the server-rendered page, the REST API and the operational endpoints, on one axum
//! router, with timeouts, compression and graceful shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State as Extract};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::api::{self, ApiError};
use crate::auth::{Identity, Security};
use crate::collector::events::EventLog;
use crate::collector::{FeedStatus, Source};
use crate::findings::Findings;
use crate::live::{self, Hub};
use crate::metrics::Metrics;

/// Requests that take longer than this are answered 408 instead of hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body (the login form is the only one the server reads; it is tiny).
pub const MAX_REQUEST_BODY: usize = 64 << 10;

pub mod guard;

/// Errors starting or running the web server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("the web server failed")]
    Serve(#[source] std::io::Error),
}

/// What the handlers share: the Leptos options, the hub (which holds the latest topology), readiness and the
/// metrics.
#[derive(Clone)]
pub struct State {
    leptos: LeptosOptions,
    hub: Hub,
    ready: watch::Receiver<bool>,
    watchers: watch::Receiver<BTreeMap<Source, FeedStatus>>,
    metrics: Arc<Metrics>,
    events: EventLog,
    security: Arc<Security>,
    findings: Option<Findings>,
}

impl FromRef<State> for LeptosOptions {
    fn from_ref(state: &State) -> Self {
        state.leptos.clone()
    }
}

impl FromRef<State> for Hub {
    fn from_ref(state: &State) -> Self {
        state.hub.clone()
    }
}

/// How a server's state is made before the options are known.
pub struct StateBuilder {
    hub: Hub,
    ready: watch::Receiver<bool>,
    watchers: watch::Receiver<BTreeMap<Source, FeedStatus>>,
    metrics: Arc<Metrics>,
    events: EventLog,
    security: Arc<Security>,
    findings: Option<Findings>,
}

impl State {
    /// A state following the collector through `hub`, ready when `ready` says so (`/readyz` and the API are
    /// 503 until then).
    pub fn live(
        hub: Hub,
        ready: watch::Receiver<bool>,
        watchers: watch::Receiver<BTreeMap<Source, FeedStatus>>,
        metrics: Arc<Metrics>,
    ) -> StateBuilder {
        StateBuilder {
            hub,
            ready,
            watchers,
            metrics,
            events: EventLog::new(0),
            security: Arc::new(Security::anonymous()),
            findings: None,
        }
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Whether the collector has listed everything once.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// The collector's recent Kubernetes events.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// The findings history, when the engine runs.
    pub fn findings(&self) -> Option<&Findings> {
        self.findings.as_ref()
    }
}

impl StateBuilder {
    /// Serves these recent events on `/api/v1/events` (without it the list is empty).
    #[must_use]
    pub fn with_events(mut self, events: EventLog) -> StateBuilder {
        self.events = events;
        self
    }

    /// Serves these findings on `/api/v1/findings` (without them the list is empty).
    #[must_use]
    pub fn with_findings(mut self, findings: Findings) -> StateBuilder {
        self.findings = Some(findings);
        self
    }

    /// Enforces these security settings (the default is [`Security::anonymous`]).
    #[must_use]
    pub fn secured(mut self, security: Security) -> StateBuilder {
        self.security = Arc::new(security);
        self
    }

    fn with_options(self, leptos: LeptosOptions) -> State {
        State {
            leptos,
            hub: self.hub,
            ready: self.ready,
            watchers: self.watchers,
            metrics: self.metrics,
            events: self.events,
            security: self.security,
            findings: self.findings,
        }
    }
}

/// Builds the router: SSR page routes, `/api/v1/…` (REST and the live socket), `/healthz`, `/readyz`,
/// `/metrics`, static files and the 404 page.
pub fn router(state: State) -> Router {
    let routes = generate_route_list(app::App);
    let rest = Router::new()
        .route("/api/v1/topology", get(api::topology))
        .route("/api/v1/entities/{*id}", get(api::entity))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/findings", get(api::findings))
        .route("/api/{*rest}", any(api::not_found))
        .route("/api", any(api::not_found))
        .layer(CompressionLayer::new().gzip(true));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/live", get(live_socket))
        .route("/gestalt/login", get(guard::login_form).post(guard::login))
        .route("/gestalt/logout", axum::routing::post(guard::logout))
        .merge(rest)
        .leptos_routes(&state, routes, {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<State, _>(app::shell))
        .layer(middleware::from_fn_with_state(state.clone(), guard::gate))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_REQUEST_BODY))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(middleware::from_fn(api_errors_are_json))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), observe))
        .layer(middleware::from_fn_with_state(state.security.clone(), guard::headers))
        // A 503 from /readyz while the collector lists is expected, not an error worth a red log line;
        // real failures are logged where they happen. Spans name the path only: a view link's query holds its
        // token, which must not reach the logs at any level.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::extract::Request| {
                    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// The live socket: the gate has authenticated the request; here, before upgrading, the `Origin` is checked (a
/// page on another site must not borrow the viewer's cookie: cross-site WebSocket hijacking) and the identity's
/// connection count.
async fn live_socket(
    Extract(state): Extract<State>,
    Extension(identity): Extension<Identity>,
    Extension(peer): Extension<guard::Peer>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<live::socket::LiveQuery>,
    ws: axum::extract::WebSocketUpgrade,
) -> Response {
    if !guard::same_origin(&headers, &state.security.allowed_origins) {
        tracing::info!(who = %identity.name, "live: refused a socket from another origin");
        let body =
            serde_json::json!({ "status": 403, "message": "this origin may not open the live socket" });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let permit = if let Some(key) = Security::connection_key(&identity, peer.0) {
        let Some(permit) = state.security.connections.acquire(&key) else {
            tracing::info!(who = %identity.name, "live: refused a connection over the per-identity cap");
            let message = format!(
                "at most {} live connections per identity: close another tab or display",
                state.security.connections.max()
            );
            let body = serde_json::json!({ "status": 429, "message": message });
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        };
        Some(permit)
    } else {
        None
    };
    live::socket::upgrade(state.hub, query.format, ws, identity.scope, permit)
}

/// Every error under `/api/` has the API's JSON shape, `{"status", "message"}`, including those made by layers
/// and the router rather than a handler: a wrong method (405), a body over the limit (413), a request that took
/// too long (408). Scripts and the page read one shape; a text or empty body would read as a parse failure.
async fn api_errors_are_json(request: axum::extract::Request, next: middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !api || json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_ENCODING);
    let body = serde_json::json!({ "status": status.as_u16(), "message": message });
    let mut json = axum::Json(body).into_response();
    // Keep what the layers said beyond the body (`Allow` on a 405, security headers, `WWW-Authenticate`).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    *json.status_mut() = status;
    json
}

/// Times every request under its route pattern (bounded label cardinality, unlike raw paths).
async fn observe(
    Extract(metrics): Extract<Arc<Metrics>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics.observe_request(&route, &method, response.status().as_u16(), started.elapsed());
    response
}

/// `/metrics` holds no per-namespace data (routes, watcher states, totals), but still describes the cluster's
/// size: with auth on, only an identity that sees the whole cluster may read it.
async fn metrics(Extract(state): Extract<State>, Extension(identity): Extension<Identity>) -> Response {
    if state.security.enabled && !identity.scope.is_all() {
        return (StatusCode::FORBIDDEN, "the metrics are for identities that see the whole cluster")
            .into_response();
    }
    state.hub.refresh_gauges();
    state.metrics.set_watchers(&state.watchers.borrow());
    match state.metrics.render() {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn readyz(Extract(state): Extract<State>) -> Result<&'static str, ApiError> {
    if state.is_ready() {
        Ok("ready")
    } else {
        Err(ApiError::NotReady)
    }
}

/// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
///
/// # Errors
/// [`WebError::Bind`] when the address cannot be bound, [`WebError::Serve`] when serving fails.
pub async fn serve(addr: SocketAddr, options: LeptosOptions, state: StateBuilder) -> Result<(), WebError> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| WebError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(WebError::Serve)?;
    tracing::info!("serving http://{local}/gestalt/live");
    let hub = state.hub.clone();
    let signalled = hub.clone();
    // The peer address is what the proxy CIDRs and the login limiter check (never X-Forwarded-For).
    // Diffs are small frames that must leave at once, not wait for an ACK (Nagle's algorithm).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot disable Nagle's algorithm");
        }
    });
    let served = axum::serve(
        listener,
        router(state.with_options(options)).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        crate::signal::shutdown().await;
        tracing::info!("shutting down");
        // Live sockets never end on their own: tell them to close with "going away".
        signalled.shut_down();
    })
    .await
    .map_err(WebError::Serve);
    // Upgraded sockets are not connections the graceful shutdown waits for: give their sessions a moment to
    // send "going away", or the process exits first and the clients see a reset (seen in tests/live_socket.rs).
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while hub.clients() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served
}

/// How long live sessions get to close after the server stops accepting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests;
