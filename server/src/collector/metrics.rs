//! Measured usage from `metrics.k8s.io` (metrics-server), polled, folded into `Entity.usage` by the owner.
//!
//! Why polling and not a watch: `metrics.k8s.io` is an aggregated API that only supports `get` and `list`; its
//! values are windowed averages refreshed every ~15 s by metrics-server, so a list every [`POLL`] sees every
//! change there is. Each poll sends the owner one [`Event::Usage`] with every pod's and node's usage; the owner
//! updates an entity only when its usage moved beyond [`significant`]'s threshold, so the diffs stay small while
//! numbers jitter.
//!
//! Metrics are optional. When the server does not serve `metrics.k8s.io` (most test clusters, the v1.20 control
//! plane of the integration test), refuses us (403) or fails (5xx, a metrics-server that is down), the status of
//! the `metrics` feed says so, usage is cleared rather than left stale, the poll is retried every
//! [`RETRY`] (with jitter, so that many collectors do not knock together), and nothing else is affected:
//! readiness never waits for metrics.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{ListParams, ObjectList};
use kube::Client;
use serde::Deserialize;
use tokio::sync::mpsc;
use topology::entity::Usage;
use topology::{EntityId, Kind};

use super::{Event, Feed, FeedStatus, Source, Update};

/// How often usage is listed while metrics are served.
pub const POLL: Duration = Duration::from_secs(15);
/// How long to wait before asking again when metrics are not available.
pub const RETRY: Duration = Duration::from_secs(300);
/// The group version polled.
pub const GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";

/// The source the metrics poller reports as.
pub fn source() -> Source {
    Source { feed: Feed::Metrics, namespace: None }
}

/// A CPU usage quantity in millicores, rounded (`123456789n`, `1500u`, `250m`, `0.5`).
pub fn cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    let (number, scale) = if let Some(n) = q.strip_suffix('n') {
        (n, 1e-6)
    } else if let Some(u) = q.strip_suffix('u') {
        (u, 1e-3)
    } else if let Some(m) = q.strip_suffix('m') {
        (m, 1.0)
    } else {
        (q, 1e3)
    };
    let value = number.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)?;
    Some((value * scale).round() as u64)
}

/// A memory usage quantity in bytes (`123Ki`, `1Gi`, `512M`, `1000`).
pub fn memory_bytes(q: &str) -> Option<u64> {
    super::project::bytes(&k8s_openapi::apimachinery::pkg::api::resource::Quantity(q.to_owned()))
}

/// What the collector reads of a `PodMetrics` or `NodeMetrics` object, and nothing else. Why not
/// `DynamicObject`: a poll of 10k pods decoded as JSON values built ~12 MB of maps every 15 s for four strings
/// per pod, and that peak stayed in the process's memory between polls.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsObject {
    #[serde(default)]
    metadata: MetricsMeta,
    /// A pod's containers.
    #[serde(default)]
    containers: Vec<ContainerMetrics>,
    /// A node's usage.
    #[serde(default)]
    usage: Quantities,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct MetricsMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Debug, Clone, Deserialize)]
struct ContainerMetrics {
    #[serde(default)]
    usage: Quantities,
}

/// A `usage` map (`{"cpu": "…", "memory": "…"}`).
#[derive(Debug, Clone, Default, Deserialize)]
struct Quantities {
    cpu: Option<String>,
    memory: Option<String>,
}

impl Quantities {
    /// `None` when either is missing or malformed.
    fn usage(&self) -> Option<Usage> {
        Some(Usage {
            cpu_millis: cpu_millis(self.cpu.as_deref()?)?,
            memory_bytes: memory_bytes(self.memory.as_deref()?)?,
        })
    }
}

/// A `PodMetrics` object: the pod's id and the sum of its containers' usage.
pub fn pod_usage(cluster: &str, object: &MetricsObject) -> Option<(EntityId, Usage)> {
    let MetricsMeta { name, namespace } = &object.metadata;
    if name.is_empty() || namespace.is_empty() {
        return None;
    }
    let mut total = Usage::default();
    for container in &object.containers {
        let usage = container.usage.usage()?;
        total.cpu_millis = total.cpu_millis.saturating_add(usage.cpu_millis);
        total.memory_bytes = total.memory_bytes.saturating_add(usage.memory_bytes);
    }
    Some((EntityId::new(cluster, Kind::Pod, namespace.as_str(), name.as_str()), total))
}

/// A `NodeMetrics` object: the node's id and usage.
pub fn node_usage(cluster: &str, object: &MetricsObject) -> Option<(EntityId, Usage)> {
    let name = object.metadata.name.as_str();
    if name.is_empty() {
        return None;
    }
    Some((EntityId::cluster_scoped(cluster, Kind::Node, name), object.usage.usage()?))
}

/// Whether usage moved enough to be worth a diff: CPU by more than max(5 m, 5 %), memory by more than
/// max(1 MiB, 5 %), or it appeared or vanished.
pub fn significant(old: Option<Usage>, new: Option<Usage>) -> bool {
    fn moved(old: u64, new: u64, floor: u64) -> bool {
        old.abs_diff(new) > floor.max(old / 20)
    }
    match (old, new) {
        (Some(old), Some(new)) => {
            moved(old.cpu_millis, new.cpu_millis, 5) || moved(old.memory_bytes, new.memory_bytes, 1 << 20)
        }
        (None, None) => false,
        _ => true,
    }
}

/// Why a poll failed, as the feed status shows it.
fn failure_status(error: &kube::Error) -> FeedStatus {
    match error {
        kube::Error::Api(s) if s.code == 403 => FeedStatus::Forbidden(s.message.clone()),
        kube::Error::Api(s) if s.code == 404 => FeedStatus::Missing,
        other => FeedStatus::Error(other.to_string()),
    }
}

/// A few seconds of jitter, different per process and call.
fn jitter(max: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(32);
    Duration::from_millis(seed % (max.as_millis() as u64).max(1))
}

/// Lists every pod's and node's usage once.
async fn poll(
    client: &Client,
    cluster: &str,
    namespaces: &[String],
) -> Result<Vec<(EntityId, Usage)>, kube::Error> {
    let pod_paths: Vec<String> = if namespaces.is_empty() {
        vec![format!("/apis/{GROUP_VERSION}/pods")]
    } else {
        namespaces.iter().map(|ns| format!("/apis/{GROUP_VERSION}/namespaces/{ns}/pods")).collect()
    };
    let mut out = Vec::new();
    for path in pod_paths {
        out.extend(list(client, path).await?.iter().filter_map(|o| pod_usage(cluster, o)));
    }
    let nodes = list(client, format!("/apis/{GROUP_VERSION}/nodes")).await?;
    out.extend(nodes.iter().filter_map(|o| node_usage(cluster, o)));
    Ok(out)
}

/// One list of metrics objects. Not paged: metrics-server answers every list whole.
async fn list(client: &Client, path: String) -> Result<Vec<MetricsObject>, kube::Error> {
    let request =
        kube::core::Request::new(path).list(&ListParams::default()).map_err(kube::Error::BuildRequest)?;
    let list: ObjectList<MetricsObject> = client.request(request).await?;
    Ok(list.items)
}

/// Whether the server serves `metrics.k8s.io/v1beta1` pods and nodes.
async fn served(client: &Client) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(GROUP_VERSION).await {
        Ok(list) => {
            let has = |name: &str| list.resources.iter().any(|r| r.name == name);
            Ok(has("pods") && has("nodes"))
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

/// The poller: runs until the owner is gone. Give it a client without the default retry of 503s (a poll that
/// fails waits [`RETRY`] for the next one instead).
pub async fn task(client: Client, cluster: Arc<str>, namespaces: Arc<[String]>, tx: mpsc::Sender<Update>) {
    let mut last_status = FeedStatus::Syncing;
    let mut had_usage = false;
    loop {
        let result = match served(&client).await {
            Ok(true) => poll(&client, &cluster, &namespaces).await.map(Some),
            Ok(false) => Ok(None),
            Err(error) => Err(error),
        };
        let (status, usage, wait) = match result {
            Ok(Some(usage)) => (FeedStatus::Ready, Some(usage), POLL),
            Ok(None) => (FeedStatus::Missing, None, RETRY + jitter(RETRY / 10)),
            Err(error) => (failure_status(&error), None, RETRY + jitter(RETRY / 10)),
        };
        let mut updates = Vec::new();
        if status != last_status {
            updates.push(Event::Status(status.clone()));
            last_status = status;
        }
        match usage {
            Some(usage) => {
                had_usage = true;
                updates.push(Event::Usage(usage));
            }
            // Stale numbers are worse than none: clear what an earlier poll set.
            None if had_usage => {
                had_usage = false;
                updates.push(Event::Usage(Vec::new()));
            }
            None => {}
        }
        for event in updates {
            if tx.send(Update::new(source(), event)).await.is_err() {
                return; // the owner is gone: shutting down
            }
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn object(value: Value) -> MetricsObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn cpu_quantities_in_every_unit_metrics_server_writes() {
        assert_eq!(cpu_millis("123456789n"), Some(123));
        assert_eq!(cpu_millis("1500u"), Some(2));
        assert_eq!(cpu_millis("250m"), Some(250));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.5"), Some(500));
        assert_eq!(cpu_millis("lots"), None);
        assert_eq!(cpu_millis("-1"), None);
        assert_eq!(memory_bytes("2Ki"), Some(2048));
    }

    #[test]
    fn a_pods_usage_is_the_sum_of_its_containers() {
        let metrics = object(json!({
            "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": "web-1", "namespace": "shop"}, "timestamp": "2026-01-01T00:00:00Z", "window": "30s",
            "containers": [{"name": "a", "usage": {"cpu": "100000000n", "memory": "1024Ki"}},
                           {"name": "b", "usage": {"cpu": "50m", "memory": "1Mi"}}]
        }));
        assert_eq!(
            pod_usage("c", &metrics),
            Some((
                EntityId::new("c", Kind::Pod, "shop", "web-1"),
                Usage { cpu_millis: 150, memory_bytes: 2 << 20 }
            ))
        );
        let node = object(json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
                                 "metadata": {"name": "n1"}, "usage": {"cpu": "1", "memory": "1Gi"}}));
        assert_eq!(
            node_usage("c", &node),
            Some((
                EntityId::cluster_scoped("c", Kind::Node, "n1"),
                Usage { cpu_millis: 1000, memory_bytes: 1 << 30 }
            ))
        );
        // A malformed quantity skips the object rather than reporting a wrong number.
        let bad = object(json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
                                "metadata": {"name": "n1"}, "usage": {"cpu": "a lot", "memory": "1Gi"}}));
        assert_eq!(node_usage("c", &bad), None);
        let nameless = object(json!({"metadata": {"namespace": "shop"}, "containers": []}));
        assert_eq!(pod_usage("c", &nameless), None);
        let missing = object(json!({"metadata": {"name": "n1"}, "usage": {"cpu": "1"}}));
        assert_eq!(node_usage("c", &missing), None, "no memory: no usage");
    }

    #[test]
    fn a_list_decodes_whatever_else_metrics_server_puts_in_it() {
        let list: ObjectList<MetricsObject> = serde_json::from_value(json!({
            "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"selfLink": "/apis/metrics.k8s.io/v1beta1/pods"},
            "items": [{"metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                                    "creationTimestamp": "2026-01-01T00:00:00Z"},
                       "timestamp": "2026-01-01T00:00:00Z", "window": "30s",
                       "containers": [{"name": "a", "usage": {"cpu": "1m", "memory": "1Ki", "ephemeral": "0"}}]}]
        }))
        .unwrap();
        let usage = list.items.iter().filter_map(|o| pod_usage("c", o)).collect::<Vec<_>>();
        assert_eq!(
            usage,
            [(EntityId::new("c", Kind::Pod, "shop", "web-1"), Usage { cpu_millis: 1, memory_bytes: 1024 })]
        );
    }

    #[test]
    fn only_a_real_change_is_significant() {
        let u = |cpu, mib: u64| Some(Usage { cpu_millis: cpu, memory_bytes: mib << 20 });
        assert!(!significant(u(100, 100), u(104, 100)), "4 m of jitter");
        assert!(!significant(u(1000, 100), u(1040, 100)), "4 % of jitter");
        assert!(significant(u(100, 100), u(110, 100)));
        assert!(!significant(u(100, 100), u(100, 104)), "4 MiB of 100");
        assert!(significant(u(100, 100), u(100, 110)));
        assert!(significant(None, u(1, 1)));
        assert!(significant(u(1, 1), None));
        assert!(!significant(None, None));
    }

    #[test]
    fn failures_map_to_feed_statuses() {
        let api =
            |code: u16| kube::Error::Api(kube::core::Status::failure("no", "Reason").with_code(code).boxed());
        assert_eq!(failure_status(&api(403)), FeedStatus::Forbidden("no".into()));
        assert_eq!(failure_status(&api(404)), FeedStatus::Missing);
        assert!(matches!(failure_status(&api(503)), FeedStatus::Error(_)));
        assert!(jitter(Duration::from_secs(30)) < Duration::from_secs(30));
    }
}
