//! The collector: watches a Kubernetes API server and keeps a [`topology::Topology`] of it up to date.
//!
//! It is cut in four parts, data flowing one way:
//! - [`auth`] turns the command line into a kube client (kubeconfig + context, in-cluster, or server + token);
//! - [`watch`] runs one kube-runtime watcher per kind (and per namespace with an allowlist), discovers what the
//!   server offers, and projects each object *immediately* with [`project`] into a compact entity, so no full
//!   Kubernetes object is kept anywhere;
//! - [`owner`] is the single task that owns the topology, applies the projected events in a transaction, and
//!   publishes snapshots and diffs only when something really changed;
//! - [`project`] is the pure edge: k8s-openapi types in, `topology` types out.

pub mod auth;
pub mod events;
pub mod metrics;
pub mod owner;
pub mod project;
pub mod watch;

use std::fmt;

use topology::entity::Endpoints;
use topology::{Entity, EntityId, Kind};

/// What a watcher follows: one entity kind, or the endpoints that are folded into services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feed {
    /// Objects that become entities of this kind.
    Kind(Kind),
    /// Ready / not-ready endpoint counts of services: from `EndpointSlice`s (`discovery.k8s.io/v1`, or `v1beta1`
    /// on servers before 1.21), or from core `v1` `Endpoints` where neither is served.
    Endpoints,
    /// Core v1 `Event`s: recent events, kept in the [`events::EventLog`], not in the topology.
    Events,
    /// `metrics.k8s.io` usage of pods and nodes, polled (optional: readiness never waits for it).
    Metrics,
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feed::Kind(kind) => write!(f, "{kind}"),
            Feed::Endpoints => f.write_str("endpoints"),
            Feed::Events => f.write_str("events"),
            Feed::Metrics => f.write_str("metrics"),
        }
    }
}

/// One watcher's identity: its feed and, with a namespace allowlist, its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// What it watches.
    pub feed: Feed,
    /// The namespace it is limited to; `None` for all namespaces (and for cluster-scoped kinds).
    pub namespace: Option<String>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} in {ns}", self.feed),
            None => write!(f, "{}", self.feed),
        }
    }
}

/// A projected object.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// An entity (boxed: pods are large, and events sit in a channel).
    Entity(Box<Entity>),
    /// Endpoint counts one object contributes to a service.
    Endpoints(Box<EndpointPart>),
}

/// The endpoints one object of the endpoints feed lists for a service. A service has one core `Endpoints` but
/// may have many `EndpointSlice`s (one per 100 endpoints by default, and one per address family on dual-stack
/// services), so the owner keeps the parts by object and adds them up per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPart {
    /// The object's own id: the service's id for a core `Endpoints` (same namespace and name), and for a slice an
    /// id of kind service named after the slice. It only keys the parts (deletes and relists name objects);
    /// no such entity is ever put in the topology.
    pub key: EntityId,
    /// The service the endpoints belong to.
    pub service: EntityId,
    /// The addresses' family: a dual-stack service lists each pod once per family, which must not count twice.
    pub family: AddressFamily,
    /// Ready and not-ready endpoints in this object.
    pub counts: Endpoints,
}

/// An `EndpointSlice`'s `addressType`; core `Endpoints` mix families in one object and count as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    /// `IPv4` slices.
    Ipv4,
    /// `IPv6` slices.
    Ipv6,
    /// `FQDN` slices (deprecated upstream, still served).
    Fqdn,
    /// A core `Endpoints` object.
    Core,
}

impl Object {
    /// The id of the entity it is or belongs to.
    pub fn id(&self) -> &EntityId {
        match self {
            Object::Entity(e) => &e.id,
            Object::Endpoints(part) => &part.key,
        }
    }
}

/// The state of one watcher, as the collector status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    /// Listing for the first time.
    Syncing,
    /// Initial list done, watching.
    Ready,
    /// The server refused us (RBAC 403): skipped, everything else keeps working.
    Forbidden(String),
    /// The server does not serve this kind (or no version we speak).
    Missing,
    /// The watch failed and is being retried with backoff.
    Error(String),
}

/// A watcher event, already projected. Mirrors kube-runtime's `watcher::Event` so that a relist replaces a
/// source's entities wholesale: whatever the new list lacks is removed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Created or changed.
    Apply(Object),
    /// Deleted.
    Delete(EntityId),
    /// A (re)list begins.
    InitStart,
    /// One object of the list.
    InitApply(Object),
    /// The list is complete: objects of this source that were not in it are gone.
    InitDone,
    /// The watcher's status changed (forbidden, missing, error).
    Status(FeedStatus),
    /// Measured usage of every pod and node that has some (a full poll: those not listed have none).
    Usage(Vec<(EntityId, topology::entity::Usage)>),
}

/// What a watcher sends the owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// Which watcher.
    pub source: Source,
    /// What happened.
    pub event: Event,
    /// When the watcher received it: the owner measures the ingest lag (receipt → published diff) from it.
    pub received: std::time::Instant,
    /// When the change it reflects happened, by the object's own timestamps, if they say (see
    /// [`watch::changed_at`]): the owner measures the change's age when published, which includes the API
    /// server's and the watch's delays that `received` cannot see.
    pub changed: Option<std::time::SystemTime>,
}

impl Update {
    /// An update received now, of a change whose time is unknown.
    pub fn new(source: Source, event: Event) -> Update {
        Update { source, event, received: std::time::Instant::now(), changed: None }
    }
}

/// Collector settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Credentials.
    pub auth: crate::cli::AuthArgs,
    /// What to watch.
    pub selection: watch::Selection,
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// No usable credentials.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The kube client could not be built from them.
    #[error("cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
    /// Discovery failed.
    #[error(transparent)]
    Watch(#[from] watch::WatchError),
}

/// Connects, discovers, and spawns the watchers and the owner task on the current runtime.
///
/// # Errors
/// [`CollectorError`] when the credentials are unusable or the server cannot be reached.
pub async fn start(settings: &Settings) -> Result<owner::Outputs, CollectorError> {
    let (config, cluster) = auth::config(&settings.auth).await?;
    // The metrics poller retries on its own schedule (every 5 min when metrics fail); the client's default retry
    // of 503s (up to 15 times, minutes apart) would hold a poll for that long against a metrics-server that is down.
    let mut metrics_config = config.clone();
    metrics_config.default_retry = false;
    let metrics_client = kube::Client::try_from(metrics_config).map_err(CollectorError::Client)?;
    let client = kube::Client::try_from(config).map_err(CollectorError::Client)?;
    let plan = watch::plan(&client, &settings.selection).await?;
    let mut initial = topology::Topology::new();
    initial.set_seq(epoch_seq());
    let mut cluster_entity =
        Entity::new(EntityId::cluster_scoped(cluster.as_str(), Kind::Cluster, cluster.as_str()));
    cluster_entity.details = topology::Details::Cluster(topology::entity::ClusterInfo {
        version: client.apiserver_version().await.ok().map(|v| v.git_version),
    });
    if let Err(error) = initial.upsert(cluster_entity) {
        tracing::warn!(%error, "cannot add the cluster entity");
    }
    let sources = plan.sources.iter().cloned().chain(std::iter::once(metrics::source()));
    let (owner, outputs) = owner::Owner::new(initial, sources);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    for source in &plan.missing {
        // Reported once, through the same channel, so the status lists them.
        let _ = tx.try_send(Update::new(source.clone(), Event::Status(FeedStatus::Missing)));
    }
    let cluster: std::sync::Arc<str> = cluster.into();
    let allow: std::sync::Arc<[String]> = settings.selection.namespaces.clone().into();
    tracing::info!(%cluster, watchers = plan.sources.len(), missing = plan.missing.len(), "collector starting");
    for source in plan.sources {
        if source.feed == Feed::Events {
            let log = outputs.events.clone();
            tokio::spawn(events::task(client.clone(), cluster.clone(), source, log, tx.clone()));
            continue;
        }
        let options = watch::Options {
            fallback: plan.fallbacks.get(&source.feed).copied(),
            streaming_lists: settings.selection.streaming_lists,
        };
        tokio::spawn(watch::task(client.clone(), &cluster, source, options, allow.clone(), tx.clone()));
    }
    tokio::spawn(metrics::task(metrics_client, cluster.clone(), allow.clone(), tx.clone()));
    drop(tx);
    tokio::spawn(owner.run(rx));
    Ok(outputs)
}

/// The first sequence number of this process: its start time in seconds, shifted left by 20 bits. A browser
/// that resumes with a sequence number from a previous run of the server can then never match a diff of this
/// one (that would take over a million diffs per second of the previous run), so it gets a snapshot; and the
/// numbers stay below 2^53, exact in JavaScript's JSON numbers.
fn epoch_seq() -> u64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    secs << 20
}

/// Logs the collector status whenever it changes: one notice per watcher that became forbidden, missing or
/// failing, and one line when it recovers.
pub async fn report(
    mut status: tokio::sync::watch::Receiver<std::collections::BTreeMap<Source, FeedStatus>>,
) {
    let mut previous = std::collections::BTreeMap::new();
    while status.changed().await.is_ok() {
        let snapshot = status.borrow_and_update().clone();
        for (source, state) in &snapshot {
            if previous.get(source) == Some(state) {
                continue;
            }
            match state {
                FeedStatus::Forbidden(message) => {
                    tracing::warn!("collector notice: {source}: forbidden, skipped ({message})");
                }
                FeedStatus::Missing if source.feed == Feed::Metrics => tracing::warn!(
                    "collector notice: metrics: metrics.k8s.io not served, usage unavailable (asking again every 5 min)"
                ),
                FeedStatus::Missing => tracing::warn!("collector notice: {source}: not served, skipped"),
                FeedStatus::Error(message) => tracing::warn!("collector notice: {source}: error ({message})"),
                FeedStatus::Ready
                    if matches!(
                        previous.get(source),
                        Some(FeedStatus::Error(_) | FeedStatus::Forbidden(_))
                    ) =>
                {
                    tracing::info!("collector: {source}: watching again");
                }
                FeedStatus::Syncing | FeedStatus::Ready => {}
            }
        }
        previous = snapshot;
    }
}
