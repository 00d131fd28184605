//! Faults, and their healing: containers crashing into `CrashLoopBackOff` with growing back-off (then staying
//! up), OOM kills, and a node that stops reporting (its pods marked not ready, tainted unreachable) and comes
//! back before the pods' five-minute tolerations would evict them.
//!
//! Each fault is limited in number and always scheduled to heal, so over weeks the cluster stays mostly green.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::controllers::{ignore_gone, name, reconcile};
use super::events::{record, Note};
use super::kubelet::{self, Exit};
use super::scheduler::{container_started, schedulable};
use super::{Change, ChangeKind, Churn, Result, Work};
use crate::clock::rfc3339;
use crate::resource::{NODES, PODS};
use crate::select::Filter;
use crate::store::Store;

/// Pods a fault may hit: running, ready, controlled by a replica set or stateful set, not already in trouble.
fn healthy_pods(churn: &Churn, store: &Store) -> Result<Vec<Arc<Value>>> {
    Ok(store
        .list(PODS, &Filter::default(), None, None)?
        .items
        .into_iter()
        .filter(|p| {
            let owner = &p["metadata"]["ownerReferences"][0]["kind"];
            (owner == "ReplicaSet" || owner == "StatefulSet")
                && p["status"]["phase"] == "Running"
                && kubelet::is_ready(p)
                && !churn.busy(&format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap_or_default(),
                    name(p)
                ))
        })
        .collect())
}

fn namespace_of(pod: &Value) -> String {
    pod["metadata"]["namespace"].as_str().unwrap_or_default().to_owned()
}

fn container_name(pod: &Value) -> String {
    pod["spec"]["containers"][0]["name"].as_str().unwrap_or_default().to_owned()
}

fn back_off_event(store: &Store, now: i64, pod: &Value) -> Result<()> {
    let (ns, uid) = (namespace_of(pod), pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned());
    let container = container_name(pod);
    let message =
        format!("Back-off restarting failed container {container} in pod {}_{ns}({uid})", name(pod));
    record(store, now, pod, &Note::kubelet("BackOff", message, true, &container))
}

/// A healthy pod's first container crashes (`Error`) or is OOM-killed.
pub(super) fn crash(churn: &mut Churn, store: &Store, now: i64, exit: Exit) -> Result<Option<Change>> {
    let faults = churn.in_flight(|w| matches!(w, Work::CrashRestart { .. } | Work::OomRecover { .. }));
    let candidates = healthy_pods(churn, store)?;
    if faults >= (1 + store.count(PODS) / 40).min(4) {
        return Ok(None);
    }
    let Some(pod) = churn.pick(&candidates).cloned() else { return Ok(None) };
    let ns = namespace_of(&pod);
    let mut delay = 10;
    let crashed = store.modify(PODS, Some(&ns), name(&pod), |p| delay = kubelet::crash(p, 0, exit, now))?;
    back_off_event(store, now, &crashed)?;
    let pod_name = name(&pod).to_owned();
    let kind = match exit {
        Exit::Error => {
            let remaining = 1 + churn.rng.below(5) as u32;
            churn.later(
                now,
                delay,
                Work::CrashRestart { namespace: ns.clone(), pod: pod_name.clone(), remaining },
            );
            ChangeKind::CrashLoopStarted
        }
        Exit::OomKilled => {
            churn.later(now, delay, Work::OomRecover { namespace: ns.clone(), pod: pod_name.clone() });
            ChangeKind::OomKilled
        }
    };
    reconcile(store, &ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(kind, Some(&ns), format!("pod/{pod_name}"), now)))
}

/// After its back-off the container is started again: it fails again (`remaining` more times) or stays up.
pub(super) fn restart(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    pod: &str,
    remaining: u32,
) -> Result<Option<Change>> {
    let Ok(current) = store.get(PODS, Some(ns), pod) else { return Ok(None) };
    if current["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] != "CrashLoopBackOff" {
        return Ok(None);
    }
    let rng = &mut churn.rng;
    let mut delay = 0;
    let updated = store.modify(PODS, Some(ns), pod, |p| {
        kubelet::restart(p, 0, now, rng);
        if remaining > 0 {
            delay = kubelet::crash(p, 0, Exit::Error, now);
        }
    })?;
    let container = container_name(&updated);
    let image = updated["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned();
    container_started(store, now, &updated, &container, &image)?;
    let kind = if remaining > 0 {
        back_off_event(store, now, &updated)?;
        let work =
            Work::CrashRestart { namespace: ns.to_owned(), pod: pod.to_owned(), remaining: remaining - 1 };
        churn.later(now, delay, work);
        ChangeKind::CrashLoopRestarted
    } else {
        ChangeKind::CrashLoopHealed
    };
    reconcile(store, ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(kind, Some(ns), format!("pod/{pod}"), now)))
}

/// The OOM-killed container runs again.
pub(super) fn recover(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    pod: &str,
) -> Result<Option<Change>> {
    let Ok(current) = store.get(PODS, Some(ns), pod) else { return Ok(None) };
    if current["status"]["containerStatuses"][0]["state"]["waiting"].is_null() {
        return Ok(None);
    }
    let rng = &mut churn.rng;
    let updated = store.modify(PODS, Some(ns), pod, |p| kubelet::restart(p, 0, now, rng))?;
    let image = updated["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned();
    container_started(store, now, &updated, &container_name(&updated), &image)?;
    reconcile(store, ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(ChangeKind::OomRecovered, Some(ns), format!("pod/{pod}"), now)))
}

const NODE_CONDITIONS: [(&str, &str, &str, &str); 4] = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
];

/// The node controller's view of a node whose kubelet went silent: every condition `Unknown`, tainted
/// unreachable; or (`reporting`) the kubelet's own healthy report.
pub(crate) fn node_status(node: &mut Value, reporting: bool, now: i64) {
    let at = json!(rfc3339(now));
    if let Some(conditions) = node["status"]["conditions"].as_array_mut() {
        for c in conditions.iter_mut() {
            let Some((_, ok, reason, message)) = NODE_CONDITIONS.iter().find(|(kind, ..)| c["type"] == *kind)
            else {
                continue;
            };
            let (status, reason, message) = if reporting {
                (*ok, *reason, (*message).to_owned())
            } else {
                ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.".to_owned())
            };
            if c["status"] != status {
                c["lastTransitionTime"] = at.clone();
            }
            c["status"] = json!(status);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
            if reporting {
                c["lastHeartbeatTime"] = at.clone();
            }
        }
    }
    let mut taints: Vec<Value> = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["key"] != "node.kubernetes.io/unreachable")
        .collect();
    if !reporting {
        for effect in ["NoSchedule", "NoExecute"] {
            taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": effect, "timeAdded": at}));
        }
    }
    node["spec"]["taints"] = json!(taints);
}

/// Marks every pod on `node` ready or not, and reconciles their namespaces.
fn verdict_on_pods(churn: &mut Churn, store: &Store, now: i64, node: &str, ready: bool) -> Result<()> {
    let pods: Vec<Arc<Value>> = store
        .list(PODS, &Filter::default(), None, None)?
        .items
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == node && p["status"]["phase"] == "Running")
        .collect();
    let mut namespaces = BTreeSet::new();
    for pod in &pods {
        let ns = namespace_of(pod);
        let updated = store.modify(PODS, Some(&ns), name(pod), |p| kubelet::node_verdict(p, ready, now));
        if !ready {
            if let Ok(updated) = &updated {
                record(
                    store,
                    now,
                    updated,
                    &Note::warning("node-controller", "NodeNotReady", "Node is not ready".into()),
                )?;
            }
        }
        ignore_gone(updated)?;
        namespaces.insert(ns);
    }
    for ns in namespaces {
        reconcile(store, &ns, now, &mut churn.rng)?;
    }
    Ok(())
}

/// A worker node stops reporting (one at a time, and only while another worker takes pods).
pub(super) fn node_down(churn: &mut Churn, store: &Store, now: i64) -> Result<Option<Change>> {
    if churn.in_flight(|w| matches!(w, Work::NodeRecover { .. })) > 0 {
        return Ok(None);
    }
    let workers: Vec<Arc<Value>> = store
        .list(NODES, &Filter::default(), None, None)?
        .items
        .into_iter()
        .filter(|n| {
            n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"].is_null() && schedulable(n)
        })
        .collect();
    if workers.len() < 2 {
        return Ok(None);
    }
    let Some(node) = churn.pick(&workers).cloned() else { return Ok(None) };
    let node_name = name(&node).to_owned();
    let updated = store.modify(NODES, None, &node_name, |n| node_status(n, false, now))?;
    let message = format!("Node {node_name} status is now: NodeNotReady");
    record(store, now, &updated, &Note::normal("node-controller", "NodeNotReady", message))?;
    verdict_on_pods(churn, store, now, &node_name, false)?;
    let delay = churn.delay(60, 240);
    churn.later(now, delay, Work::NodeRecover { node: node_name.clone() });
    Ok(Some(Change::new(ChangeKind::NodeNotReady, None, format!("node/{node_name}"), now)))
}

/// The node's kubelet reports again: ready, untainted, its pods ready.
pub(super) fn node_up(churn: &mut Churn, store: &Store, now: i64, node: &str) -> Result<Option<Change>> {
    let Ok(updated) = store.modify(NODES, None, node, |n| node_status(n, true, now)) else { return Ok(None) };
    let message = format!("Node {node} status is now: NodeReady");
    record(store, now, &updated, &Note::normal("kubelet", "NodeReady", message))?;
    verdict_on_pods(churn, store, now, node, true)?;
    Ok(Some(Change::new(ChangeKind::NodeReady, None, format!("node/{node}"), now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_node_is_unknown_and_tainted_until_it_reports_again() {
        let mut node = json!({"spec": {"taints": []}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastTransitionTime": "t0"},
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastTransitionTime": "t0"}]}});
        node_status(&mut node, false, 1_714_564_800);
        assert_eq!(node["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(node["status"]["conditions"][1]["reason"], "NodeStatusUnknown");
        assert_eq!(node["spec"]["taints"].as_array().unwrap().len(), 2);
        assert!(!schedulable(&node));
        node_status(&mut node, true, 1_714_564_900);
        assert_eq!(node["status"]["conditions"][0]["status"], "True");
        assert_eq!(node["status"]["conditions"][0]["lastTransitionTime"], "2024-05-01T12:01:40Z");
        assert_eq!(node["spec"]["taints"], json!([]));
        assert!(schedulable(&node));
    }
}
