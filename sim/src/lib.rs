//! A simulated Kubernetes cluster behind a Kubernetes-compatible HTTP API on loopback.
//!
//! The collector reads clusters with kube-rs watchers; so that the demo and the tests exercise exactly that
//! code path, the simulator *is* an API server: discovery, list with `limit`/`continue`, watch with
//! `resourceVersion`, bookmarks and `410 Expired`, Status errors, metadata-only and Table responses, and
//! `kubectl` works against it. A [`scenario`] fills the [`store`]; [`fault`] makes the server misbehave on
//! demand.
//!
//! ```no_run
//! # async fn run() -> Result<(), sim::SimError> {
//! let sim = sim::Sim::new(sim::SimConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(sim::SimError::Bind)?;
//! let kubeconfig = sim::kubeconfig(listener.local_addr().map_err(sim::SimError::Bind)?);
//! std::fs::write("/tmp/sim.kubeconfig", kubeconfig).ok();
//! sim::serve(listener, sim).await
//! # }
//! ```

pub mod api;
pub mod churn;
pub mod clock;
pub mod fault;
mod kubeconfig;
pub mod metrics;
pub mod patch;
pub mod resource;
pub mod rng;
pub mod scenario;
pub mod select;
pub mod status;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use kubeconfig::kubeconfig;
pub use scenario::Scenario;

use clock::{Clock, SystemClock};
use fault::Faults;
use store::{Store, StoreConfig};

/// Errors building or serving a simulated cluster.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario could not be written into the store (a bug in the scenario).
    #[error("the scenario could not be populated")]
    Populate(#[source] store::StoreError),
    /// The listener could not be bound or asked for its address.
    #[error("cannot listen")]
    Bind(#[source] std::io::Error),
    /// The simulator serves loopback only: it has no authentication.
    #[error("refusing to serve the simulated cluster on {0}: loopback only")]
    NotLoopback(SocketAddr),
    /// The server stopped with an I/O error.
    #[error("the simulated API server failed")]
    Serve(#[source] std::io::Error),
}

/// How a simulated cluster is made.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// What the cluster contains.
    pub scenario: Scenario,
    /// Seeds names, uids and usage: the same seed gives the same cluster.
    pub seed: u64,
    /// How many changes watches can resume from (older ones get `410 Expired`).
    pub history: usize,
    /// How far a live watcher may fall behind before it is disconnected.
    pub watch_buffer: usize,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// How long a watch lasts when the client gives no `timeoutSeconds`.
    pub watch_timeout: Duration,
    /// The clock objects are stamped with.
    pub clock: Arc<dyn Clock>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            scenario: Scenario::Kgents,
            seed: 42,
            history: 5000,
            watch_buffer: 4096,
            bookmark_interval: Duration::from_secs(15),
            watch_timeout: Duration::from_secs(30 * 60),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A simulated cluster: its store, its fault switches and its configuration. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Sim(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    faults: Faults,
    config: SimConfig,
}

impl Sim {
    /// Builds the cluster of `config.scenario`.
    ///
    /// # Errors
    /// [`SimError::Populate`] when the scenario does not fit the store (a bug).
    pub fn new(config: SimConfig) -> Result<Sim, SimError> {
        let store_config =
            StoreConfig { history: config.history, watch_buffer: config.watch_buffer, seed: config.seed };
        let store = Store::new(&store_config, Arc::clone(&config.clock));
        scenario::populate(&store, &config.scenario, config.seed).map_err(SimError::Populate)?;
        Ok(Sim(Arc::new(Inner { store, faults: Faults::default(), config })))
    }

    /// The API as a plain router, for the server crate to mount or [`serve`] to run.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The store, to read or change the cluster directly.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.0.faults
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &SimConfig {
        &self.0.config
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.0.config.seed
    }

    /// The simulated clock's now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.0.config.clock.now()
    }
}

/// Serves `sim` on `listener` until the task is dropped or the server fails.
///
/// # Errors
/// [`SimError::NotLoopback`] unless the listener is on a loopback address; [`SimError::Serve`].
pub async fn serve(listener: tokio::net::TcpListener, sim: Sim) -> Result<(), SimError> {
    let addr = listener.local_addr().map_err(SimError::Bind)?;
    if !addr.ip().is_loopback() {
        return Err(SimError::NotLoopback(addr));
    }
    tracing::info!(%addr, "simulated Kubernetes API listening");
    // A watch event is written as a chunk header, the object and a CRLF: with Nagle's algorithm the later
    // writes waited for the client's delayed ACK, adding 40 ms to events now and then (the collector's p99).
    // The real API server (Go) disables Nagle on every connection too.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot disable Nagle's algorithm");
        }
    });
    axum::serve(listener, sim.router()).await.map_err(SimError::Serve)
}
