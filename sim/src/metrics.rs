//! `metrics.k8s.io`: pod and node usage, computed from the stored pods as metrics-server would report it.
//!
//! Usage is a deterministic function of the seed, the pod, the container and a 30-second window of the
//! clock: it moves like real usage (within the container's requests, never above its limits) yet a test
//! with a manual clock gets the same numbers every time. Only running containers use anything.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::resource::{ResourceId, NODES, NODE_METRICS, PODS};
use crate::rng::{hash_str, mix};
use crate::select::Filter;
use crate::store::Store;

/// How long one usage sample is valid, as metrics-server's window.
const WINDOW_SECONDS: i64 = 30;
/// What a node's system daemons use besides its pods: (millicores, bytes).
const NODE_OVERHEAD: (f64, f64) = (120.0, 700.0 * 1024.0 * 1024.0);

/// Parses a CPU quantity into millicores (`250m`, `1`, `0.5`).
pub fn cpu_millis(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().map(|cores| cores * 1000.0),
    }
}

/// Parses a memory quantity into bytes (`256Mi`, `1Gi`, `512M`, `1000`).
pub fn bytes(q: &str) -> Option<f64> {
    let units: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// A pod annotation only the simulator reads: the share of each container's limit (of its request, where it
/// sets no limit) that its usage holds at, such as `"0.95"`. It puts a pod near its limits on demand, which the
/// usage model never does by itself (real workloads do: a leak, a traffic spike).
pub const LOAD_ANNOTATION: &str = "sim.gestalt-live.dev/load";

/// A fraction in `[0, 1)` for this pod, container and window.
fn noise(seed: u64, uid: &str, container: &str, window: i64, salt: u64) -> f64 {
    let h = mix(seed ^ hash_str(uid) ^ hash_str(container).rotate_left(17) ^ mix(window as u64) ^ salt);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Usage of each running container of `pod`: (name, millicores, bytes).
pub fn container_usage(pod: &Value, seed: u64, now: i64) -> Vec<(String, f64, f64)> {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let window = now.div_euclid(WINDOW_SECONDS);
    let statuses = pod["status"]["containerStatuses"].as_array().map(Vec::as_slice).unwrap_or_default();
    let running =
        |name: &str| statuses.iter().any(|s| s["name"] == name && s["state"]["running"].is_object());
    let load = pod["metadata"]["annotations"][LOAD_ANNOTATION]
        .as_str()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .filter(|l| l.is_finite() && *l >= 0.0);
    let containers = pod["spec"]["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    containers
        .iter()
        .filter_map(|c| {
            let name = c["name"].as_str()?;
            if !running(name) {
                return None;
            }
            let res = &c["resources"];
            let cpu_req = res["requests"]["cpu"].as_str().and_then(cpu_millis).unwrap_or(50.0);
            let mem_req =
                res["requests"]["memory"].as_str().and_then(bytes).unwrap_or(64.0 * 1024.0 * 1024.0);
            let cpu_cap = res["limits"]["cpu"].as_str().and_then(cpu_millis).unwrap_or(f64::MAX);
            let mem_cap = res["limits"]["memory"].as_str().and_then(bytes).unwrap_or(f64::MAX);
            let (cpu, mem) = match load {
                Some(load) => {
                    let of = |cap: f64, request: f64| if cap < f64::MAX { cap } else { request };
                    (of(cpu_cap, cpu_req) * load, of(mem_cap, mem_req) * load)
                }
                None => (
                    cpu_req * (0.1 + 0.8 * noise(seed, uid, name, window, 1)),
                    mem_req * (0.45 + 0.4 * noise(seed, uid, name, window, 2)),
                ),
            };
            let (cpu, mem) = (cpu.min(cpu_cap), mem.min(mem_cap));
            Some((name.to_owned(), cpu, mem))
        })
        .collect()
}

fn usage_json(cpu_millis: f64, bytes: f64) -> Value {
    json!({"cpu": format!("{}n", (cpu_millis * 1e6).round() as u64), "memory": format!("{}Ki", (bytes / 1024.0).round() as u64)})
}

/// The `PodMetrics` or `NodeMetrics` that `filter` selects, in key order.
pub fn compute(store: &Store, resource: ResourceId, filter: &Filter, seed: u64, now: i64) -> Vec<Value> {
    let timestamp = rfc3339(now.div_euclid(WINDOW_SECONDS) * WINDOW_SECONDS);
    let window = format!("{WINDOW_SECONDS}s");
    let everything = Filter::default();
    let pods_filter = if resource == NODE_METRICS { &everything } else { filter };
    let pods = store.list(PODS, pods_filter, None, None).map(|p| p.items).unwrap_or_default();
    if resource == NODE_METRICS {
        let nodes = store.list(NODES, filter, None, None).map(|p| p.items).unwrap_or_default();
        return nodes
            .iter()
            .map(|node| {
                let name = node["metadata"]["name"].as_str().unwrap_or_default();
                let (cpu, mem) = pods
                    .iter()
                    .filter(|p| p["spec"]["nodeName"] == name)
                    .flat_map(|p| container_usage(p, seed, now))
                    .fold(NODE_OVERHEAD, |(c, m), (_, cpu, mem)| (c + cpu, m + mem));
                json!({
                    "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": name, "creationTimestamp": rfc3339(now), "labels": node["metadata"]["labels"]},
                    "timestamp": timestamp, "window": window, "usage": usage_json(cpu, mem),
                })
            })
            .collect();
    }
    pods.iter()
        .filter_map(|pod| {
            let usage = container_usage(pod, seed, now);
            if usage.is_empty() {
                return None;
            }
            let containers: Vec<Value> =
                usage.iter().map(|(name, cpu, mem)| json!({"name": name, "usage": usage_json(*cpu, *mem)})).collect();
            let meta = &pod["metadata"];
            Some(json!({
                "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": rfc3339(now), "labels": meta["labels"]},
                "timestamp": timestamp, "window": window, "containers": containers,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_into_millicores_and_bytes() {
        assert_eq!(cpu_millis("250m"), Some(250.0));
        assert_eq!(cpu_millis("2"), Some(2000.0));
        assert_eq!(cpu_millis("0.5"), Some(500.0));
        assert_eq!(bytes("256Mi"), Some(268_435_456.0));
        assert_eq!(bytes("1G"), Some(1e9));
        assert_eq!(bytes("1000"), Some(1000.0));
        assert_eq!(bytes("lots"), None);
    }

    #[test]
    fn usage_stays_under_limits_and_repeats_within_a_window() {
        let pod = json!({
            "metadata": {"uid": "u1"},
            "spec": {"containers": [
                {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "100m"}}},
                {"name": "crashing"}]},
            "status": {"containerStatuses": [
                {"name": "app", "state": {"running": {}}},
                {"name": "crashing", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        });
        let usage = container_usage(&pod, 1, 1000);
        assert_eq!(usage.len(), 1, "only running containers use anything");
        let (name, cpu, mem) = &usage[0];
        assert_eq!(name, "app");
        assert!(*cpu <= 100.0 && *cpu > 0.0, "{cpu}");
        assert!(*mem >= 0.45 * 268_435_456.0 && *mem < 0.85 * 268_435_456.0, "{mem}");
        assert_eq!(container_usage(&pod, 1, 1001), usage);
        assert_ne!(container_usage(&pod, 1, 1000 + WINDOW_SECONDS), usage);
    }

    #[test]
    fn the_load_annotation_holds_usage_at_a_share_of_the_limit_and_never_above_it() {
        let pod = |load: &str| {
            json!({
                "metadata": {"uid": "u2", "annotations": {LOAD_ANNOTATION: load}},
                "spec": {"containers": [
                    {"name": "capped", "resources": {"limits": {"cpu": "200m", "memory": "100Mi"}}},
                    {"name": "requested", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
                "status": {"containerStatuses": [
                    {"name": "capped", "state": {"running": {}}},
                    {"name": "requested", "state": {"running": {}}}]}
            })
        };
        let mib = 1024.0 * 1024.0;
        let close = |(name, cpu, mem): &(String, f64, f64), want: (&str, f64, f64)| {
            name == want.0 && (cpu - want.1).abs() < 1e-6 && (mem - want.2).abs() < 1.0
        };
        let usage = container_usage(&pod("0.95"), 1, 1000);
        assert!(close(&usage[0], ("capped", 190.0, 95.0 * mib)), "{usage:?}");
        assert!(close(&usage[1], ("requested", 950.0, 0.95 * 1024.0 * mib)), "of the request: {usage:?}");
        assert_eq!(container_usage(&pod("0.95"), 1, 1000 + 5 * WINDOW_SECONDS), usage, "held, not noisy");
        let over = container_usage(&pod("3"), 1, 1000);
        assert!(close(&over[0], ("capped", 200.0, 100.0 * mib)), "never above the limit: {over:?}");
        // Nonsense is ignored: the usual model.
        for bad in ["lots", "-1", "NaN"] {
            let (_, _, mem) = container_usage(&pod(bad), 1, 1000)[1].clone();
            assert!(mem >= 0.45 * 1024.0 * mib && mem < 0.85 * 1024.0 * mib, "{bad}: {mem}");
        }
    }
}
