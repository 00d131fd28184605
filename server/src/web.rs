//! The HTTP side: the server-rendered page, the REST API and the operational endpoints, on one axum
//! router, with timeouts, compression and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::watch;
use topology::Topology;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Requests that take longer than this are answered 408 instead of hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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

/// What the handlers share: the Leptos options and the latest topology.
#[derive(Clone)]
pub struct State {
    leptos: LeptosOptions,
    topology: watch::Receiver<Arc<Topology>>,
    ready: watch::Receiver<bool>,
}

impl FromRef<State> for LeptosOptions {
    fn from_ref(state: &State) -> Self {
        state.leptos.clone()
    }
}

/// How a server's state is made before the options are known.
pub struct StateBuilder {
    topology: watch::Receiver<Arc<Topology>>,
    ready: watch::Receiver<bool>,
}

impl State {
    /// A state following a live topology, ready when `ready` says so (`/readyz` is 503 until then).
    pub fn live(topology: watch::Receiver<Arc<Topology>>, ready: watch::Receiver<bool>) -> StateBuilder {
        StateBuilder { topology, ready }
    }
}

impl StateBuilder {
    fn with_options(self, leptos: LeptosOptions) -> State {
        State { leptos, topology: self.topology, ready: self.ready }
    }
}

/// An error answered to an API client: a status and a message, as JSON, never internals.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The collector has not finished its first list yet.
    #[error("not ready: the topology is still loading")]
    NotReady,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = serde_json::json!({ "status": status.as_u16(), "message": self.to_string() });
        (status, Json(body)).into_response()
    }
}

/// Builds the router: SSR page routes, `/api/v1/…`, `/healthz`, `/readyz`, static files and the 404 page.
pub fn router(state: State) -> Router {
    let routes = generate_route_list(app::App);
    let api =
        Router::new().route("/api/v1/topology", get(get_topology)).layer(CompressionLayer::new().gzip(true));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .leptos_routes(&state, routes, {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<State, _>(app::shell))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn get_topology(Extract(state): Extract<State>) -> Result<Json<Arc<Topology>>, ApiError> {
    if !*state.ready.borrow() {
        return Err(ApiError::NotReady);
    }
    let topology = state.topology.borrow().clone();
    Ok(Json(topology))
}

async fn readyz(Extract(state): Extract<State>) -> Result<&'static str, ApiError> {
    if *state.ready.borrow() {
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
    axum::serve(listener, router(state.with_options(options)))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(WebError::Serve)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn test_router(ready: bool) -> Router {
        let (_, topology) = watch::channel(Arc::new(topology::sample::kgents()));
        let (_, ready) = watch::channel(ready);
        let options = LeptosOptions::builder()
            .output_name("gestalt-live")
            .site_root(std::env::temp_dir().join("gestalt-live-test-site").to_string_lossy().into_owned())
            .build();
        router(State::live(topology, ready).with_options(options))
    }

    async fn get(router: Router, uri: &str) -> (StatusCode, String) {
        let response = router.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_live_state_is_503_until_ready_then_serves_the_latest_topology() {
        let (topology_tx, topology) = watch::channel(Arc::new(Topology::new()));
        let (ready_tx, ready) = watch::channel(false);
        let options = LeptosOptions::builder().output_name("gestalt-live").site_root("/nonexistent").build();
        let router = router(State::live(topology, ready).with_options(options));
        assert_eq!(get(router.clone(), "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(router.clone(), "/api/v1/topology").await.0, StatusCode::SERVICE_UNAVAILABLE);
        topology_tx.send_replace(Arc::new(topology::sample::kgents()));
        ready_tx.send_replace(true);
        assert_eq!(get(router.clone(), "/readyz").await, (StatusCode::OK, "ready".into()));
        let (status, body) = get(router, "/api/v1/topology").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(serde_json::from_str::<Topology>(&body).unwrap(), topology::sample::kgents());
    }

    #[tokio::test]
    async fn healthz_answers_ok() {
        assert_eq!(get(test_router(true), "/healthz").await, (StatusCode::OK, "ok".into()));
    }

    #[tokio::test]
    async fn readyz_is_503_with_a_json_reason_until_ready() {
        let (status, body) = get(test_router(false), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], 503);
        assert_eq!(json["message"], "not ready: the topology is still loading");
        assert_eq!(get(test_router(true), "/readyz").await, (StatusCode::OK, "ready".into()));
    }

    #[tokio::test]
    async fn the_topology_endpoint_returns_the_sample_as_json() {
        let (status, body) = get(test_router(true), "/api/v1/topology").await;
        assert_eq!(status, StatusCode::OK);
        let topology: Topology = serde_json::from_str(&body).unwrap();
        assert_eq!(topology, topology::sample::kgents());
    }

    #[tokio::test]
    async fn the_live_page_is_server_rendered_with_a_canvas() {
        let (status, body) = get(test_router(true), "/gestalt/live").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<title>Gestalt Live</title>"), "{body}");
        assert!(body.contains("<canvas"), "{body}");
        assert!(body.contains("/pkg/gestalt-live.js"), "hydration script missing: {body}");
        assert!(body.contains("role=\"status\""), "{body}");
    }

    #[tokio::test]
    async fn an_unknown_path_is_a_404_page() {
        let (status, body) = get(test_router(true), "/no/such/page").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("404"), "{body}");
        assert!(body.contains("/gestalt/live"), "{body}");
    }
}
