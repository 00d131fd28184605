//! `/metrics`: what an operator needs to alert on, in the Prometheus text format.
//!
//! One explicit [`Registry`] owned by the server (no global recorder), so tests can build as many servers as
//! they like and read exactly their own figures. Counters are bumped where things happen (the hub, the
//! sessions, the HTTP middleware); gauges that describe state (topology size, clients, queue depths) are
//! refreshed when scraped, from the state itself, so they can never drift.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Errors rendering the metrics (formatting into a `String` does not fail in practice).
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The text encoder failed.
    #[error("cannot encode the metrics")]
    Encode(#[from] std::fmt::Error),
}

/// Why the server closed a live client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
pub enum DropReason {
    /// Its socket did not take a message within the send timeout.
    SendTimeout,
    /// It sent nothing (not even a pong) for the idle timeout.
    Idle,
    /// It sent a malformed or unexpected message.
    Protocol,
    /// It sent a message over the size limit.
    TooBig,
    /// It never said hello.
    NoHello,
}

/// The label of [`Metrics::dropped_clients`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DropLabels {
    /// Why.
    pub reason: DropReason,
}

/// The labels of [`Metrics::requests`]: the route pattern (never the raw path, whose cardinality is
/// unbounded), the method and the status code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route, e.g. `/api/v1/entities/{*id}`, or `other`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// The label of [`Metrics::watchers`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WatcherLabels {
    /// `syncing`, `ready`, `forbidden`, `missing` or `error`.
    pub state: String,
}

/// The labels of [`Metrics::watcher_state`]: one watcher and one state it can be in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WatcherStateLabels {
    /// What it watches (`pod`, `endpoints`, `events`, `metrics`…).
    pub feed: String,
    /// Its namespace with a namespace allowlist; empty for all namespaces.
    pub namespace: String,
    /// `syncing` (initial list pending), `ready` (watching), `error` (backing off), `forbidden` or `missing`
    /// (not served).
    pub state: String,
}

/// Every figure the server exports.
pub struct Metrics {
    registry: Registry,
    /// Entities in the topology (set at scrape time).
    pub topology_entities: Gauge,
    /// The topology's sequence number (set at scrape time).
    pub topology_seq: Gauge,
    /// Diffs the hub published.
    pub diffs: Counter,
    /// Operations in those diffs.
    pub diff_ops: Counter,
    /// Times the hub had to start over from the collector's latest topology (it fell behind).
    pub hub_resets: Counter,
    /// Connected live clients (set at scrape time).
    pub clients: Gauge,
    /// The deepest queue of frames waiting for one client (set at scrape time).
    pub queue_depth_max: Gauge,
    /// All frames waiting for clients, summed (set at scrape time).
    pub queue_depth_total: Gauge,
    /// Clients that accepted a connection.
    pub connections: Counter,
    /// Snapshots sent (first connection, resync or resume too old).
    pub snapshots: Counter,
    /// Resumes served from the ring without a snapshot.
    pub resumes: Counter,
    /// Clients that fell behind and were resynced with a snapshot.
    pub resyncs: Counter,
    /// Clients the server closed, by reason.
    pub dropped_clients: Family<DropLabels, Counter>,
    /// Frames sent to clients.
    pub frames_sent: Counter,
    /// Bytes sent to clients.
    pub bytes_sent: Counter,
    /// Seconds from a diff's publication by the hub to its hand-over to a client's socket.
    pub fanout_seconds: Histogram,
    /// Seconds from a watch event reaching the collector to its diff leaving the topology owner.
    pub ingest_lag_seconds: Histogram,
    /// Seconds from the time a change happened, by the object's own timestamps, to its diff leaving the owner.
    pub change_age_seconds: Histogram,
    /// Watchers by state (set at scrape time).
    pub watchers: Family<WatcherLabels, Gauge>,
    /// 1 for the state each watcher is in, 0 for the others (set at scrape time).
    pub watcher_state: Family<WatcherStateLabels, Gauge>,
    /// HTTP request durations by route, method and status.
    pub requests: Family<RequestLabels, Histogram>,
    /// Findings open now.
    pub findings_open: Gauge,
    /// Findings opened.
    pub findings_opened: Counter,
    /// Findings resolved.
    pub findings_resolved: Counter,
    /// Webhook notifications delivered.
    pub webhook_delivered: Counter,
    /// Webhook notifications that could not be delivered (spooled when a spool directory is set).
    pub webhook_undelivered: Counter,
}

const WATCHER_STATES: [&str; 5] = ["syncing", "ready", "forbidden", "missing", "error"];

fn watcher_state(status: &crate::collector::FeedStatus) -> &'static str {
    use crate::collector::FeedStatus;
    match status {
        FeedStatus::Syncing => "syncing",
        FeedStatus::Ready => "ready",
        FeedStatus::Forbidden(_) => "forbidden",
        FeedStatus::Missing => "missing",
        FeedStatus::Error(_) => "error",
    }
}

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(crate::collector::owner::Lag::default())
    }
}

impl Metrics {
    /// The server's figures, with the collector owner's lag histograms (it observes, we export).
    pub fn new(lag: crate::collector::owner::Lag) -> Self {
        let mut registry = Registry::with_prefix("gestalt");
        let metrics = Metrics {
            topology_entities: Gauge::default(),
            topology_seq: Gauge::default(),
            diffs: Counter::default(),
            diff_ops: Counter::default(),
            hub_resets: Counter::default(),
            clients: Gauge::default(),
            queue_depth_max: Gauge::default(),
            queue_depth_total: Gauge::default(),
            connections: Counter::default(),
            snapshots: Counter::default(),
            resumes: Counter::default(),
            resyncs: Counter::default(),
            dropped_clients: Family::default(),
            frames_sent: Counter::default(),
            bytes_sent: Counter::default(),
            fanout_seconds: latency_buckets(),
            ingest_lag_seconds: lag.ingest,
            change_age_seconds: lag.change_age,
            watchers: Family::default(),
            watcher_state: Family::default(),
            requests: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            findings_open: Gauge::default(),
            findings_opened: Counter::default(),
            findings_resolved: Counter::default(),
            webhook_delivered: Counter::default(),
            webhook_undelivered: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("topology_entities", "Entities in the topology", metrics.topology_entities.clone());
        registry.register("topology_seq", "The topology's sequence number", metrics.topology_seq.clone());
        registry.register("hub_diffs", "Diffs published by the hub", metrics.diffs.clone());
        registry.register("hub_diff_ops", "Operations in the published diffs", metrics.diff_ops.clone());
        registry.register(
            "hub_resets",
            "Times the hub fell behind the collector and restarted from its latest topology",
            metrics.hub_resets.clone(),
        );
        registry.register("live_clients", "Connected live clients", metrics.clients.clone());
        registry.register(
            "live_queue_depth_max",
            "Frames waiting for the slowest live client",
            metrics.queue_depth_max.clone(),
        );
        registry.register(
            "live_queue_depth",
            "Frames waiting for live clients, summed",
            metrics.queue_depth_total.clone(),
        );
        registry.register("live_connections", "Live connections accepted", metrics.connections.clone());
        registry.register("live_snapshots", "Snapshots sent to live clients", metrics.snapshots.clone());
        registry.register("live_resumes", "Reconnections served from the diff ring", metrics.resumes.clone());
        registry.register(
            "live_resyncs",
            "Live clients that fell behind and were sent a fresh snapshot",
            metrics.resyncs.clone(),
        );
        registry.register(
            "live_dropped_clients",
            "Live clients closed by the server",
            metrics.dropped_clients.clone(),
        );
        registry.register("live_frames_sent", "Frames sent to live clients", metrics.frames_sent.clone());
        registry.register("live_sent_bytes", "Bytes sent to live clients", metrics.bytes_sent.clone());
        registry.register(
            "live_fanout_seconds",
            "Time from a diff's publication to its hand-over to a client socket",
            metrics.fanout_seconds.clone(),
        );
        registry.register(
            "collector_ingest_lag_seconds",
            "Time from a watch event reaching the collector to the diff that contains it",
            metrics.ingest_lag_seconds.clone(),
        );
        registry.register(
            "collector_change_age_seconds",
            "Time from a change, by the object's timestamps (1 s resolution), to the diff that contains it",
            metrics.change_age_seconds.clone(),
        );
        registry.register("collector_watchers", "Watchers by state", metrics.watchers.clone());
        registry.register(
            "collector_watcher_state",
            "1 for the state each watcher is in: syncing, ready, error (backing off), forbidden, missing",
            metrics.watcher_state.clone(),
        );
        metrics.register_requests_and_findings(&mut registry);
        Metrics { registry, ..metrics }
    }

    fn register_requests_and_findings(&self, registry: &mut Registry) {
        registry.register(
            "http_request_duration_seconds",
            "HTTP request durations by route, method and status",
            self.requests.clone(),
        );
        registry.register("findings_open", "Findings open now", self.findings_open.clone());
        registry.register("findings_opened", "Findings opened", self.findings_opened.clone());
        registry.register("findings_resolved", "Findings resolved", self.findings_resolved.clone());
        registry.register(
            "webhook_delivered",
            "Webhook notifications delivered",
            self.webhook_delivered.clone(),
        );
        registry.register(
            "webhook_undelivered",
            "Webhook notifications given up on (spooled when a spool directory is set)",
            self.webhook_undelivered.clone(),
        );
    }

    /// Sets the watcher gauges from the collector's status (at scrape time, so they cannot drift).
    pub fn set_watchers(&self, watchers: &BTreeMap<crate::collector::Source, crate::collector::FeedStatus>) {
        let mut counts: BTreeMap<&'static str, i64> = WATCHER_STATES.into_iter().map(|s| (s, 0)).collect();
        for (source, status) in watchers {
            let current = watcher_state(status);
            *counts.entry(current).or_default() += 1;
            for state in WATCHER_STATES {
                let labels = WatcherStateLabels {
                    feed: source.feed.to_string(),
                    namespace: source.namespace.clone().unwrap_or_default(),
                    state: state.to_owned(),
                };
                self.watcher_state.get_or_create(&labels).set(i64::from(state == current));
            }
        }
        for (state, count) in counts {
            self.watchers.get_or_create(&WatcherLabels { state: state.to_owned() }).set(count);
        }
    }

    /// A fresh set, shared.
    pub fn shared() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Records one HTTP request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route: route.to_owned(), method: method.to_owned(), status })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a client the server closed.
    pub fn dropped(&self, reason: DropReason) {
        self.dropped_clients.get_or_create(&DropLabels { reason }).inc();
    }

    /// The Prometheus text exposition.
    ///
    /// # Errors
    /// [`MetricsError::Encode`] if formatting fails.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_with_the_gestalt_prefix() {
        let metrics = Metrics::default();
        metrics.diffs.inc();
        metrics.dropped(DropReason::SendTimeout);
        metrics.observe_request("/api/v1/topology", "GET", 200, Duration::from_millis(3));
        let pods = crate::collector::Source {
            feed: crate::collector::Feed::Kind(topology::Kind::Pod),
            namespace: None,
        };
        metrics.set_watchers(&[(pods, crate::collector::FeedStatus::Ready)].into());
        let text = metrics.render().unwrap();
        for family in [
            "gestalt_collector_watcher_state{feed=\"pod\",namespace=\"\",state=\"ready\"} 1",
            "gestalt_collector_watcher_state{feed=\"pod\",namespace=\"\",state=\"syncing\"} 0",
            "gestalt_collector_watchers{state=\"ready\"} 1",
            "gestalt_collector_change_age_seconds_bucket",
            "gestalt_topology_entities",
            "gestalt_hub_diffs_total 1",
            "gestalt_live_clients",
            "gestalt_live_queue_depth_max",
            "gestalt_live_resyncs_total",
            "gestalt_live_dropped_clients_total{reason=\"SendTimeout\"} 1",
            "gestalt_collector_ingest_lag_seconds_bucket",
            "gestalt_http_request_duration_seconds_count{route=\"/api/v1/topology\",method=\"GET\",status=\"200\"} 1",
        ] {
            assert!(text.contains(family), "{family} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
