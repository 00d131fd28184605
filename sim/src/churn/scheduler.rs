//! Placing and creating pods as the scheduler and the kubelet do, and deleting them as a controller does,
//! with the Events each step leaves.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::controllers::name;
use super::events::{record, Note};
use super::kubelet::{self, Identity, Placement, Start};
use super::Result;
use crate::resource::{NODES, PODS};
use crate::rng::Rng;
use crate::select::Filter;
use crate::store::{Preconditions, Store};

/// Whether a node takes new pods: `Ready=True` and no `NoSchedule`/`NoExecute` taint.
pub(crate) fn schedulable(node: &Value) -> bool {
    let ready = node["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    let tainted = node["spec"]["taints"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute"));
    ready && !tainted
}

/// The node's `InternalIP`.
pub(crate) fn internal_ip(node: &Value) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
        .and_then(|a| a["address"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A free address in the node's `/24` pod CIDR, given the addresses in use.
pub(crate) fn free_ip(cidr: &str, used: &BTreeSet<String>, start: u64) -> Option<String> {
    let prefix = cidr.strip_suffix("0/24")?;
    (0..252).map(|i| format!("{prefix}{}", (start + i) % 252 + 2)).find(|ip| !used.contains(ip))
}

/// The scheduler's message when no node fits, in its words.
pub(crate) fn unschedulable_message(nodes: &[Arc<Value>]) -> String {
    let tainted = nodes.iter().filter(|n| !schedulable(n)).count();
    let full = nodes.len() - tainted;
    let total = nodes.len();
    let mut reasons = Vec::new();
    if tainted > 0 {
        reasons.push(format!(
            "{tainted} node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}"
        ));
    }
    if full > 0 {
        reasons.push(format!("{full} Insufficient memory"));
    }
    format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {tainted} Preemption is not \
         helpful for scheduling, {full} No preemption victims found for incoming pod.",
        reasons.join(", ")
    )
}

/// Picks a schedulable node and a free pod IP on it; `None` when no node takes pods.
pub(crate) fn place(store: &Store, rng: &mut Rng) -> Result<Option<Placement>> {
    let nodes: Vec<Arc<Value>> = store
        .list(NODES, &Filter::default(), None, None)?
        .items
        .into_iter()
        .filter(|n| schedulable(n))
        .collect();
    if nodes.is_empty() {
        return Ok(None);
    }
    let node = &nodes[rng.below(nodes.len() as u64) as usize];
    let node_name = name(node);
    let used: BTreeSet<String> = store
        .list(PODS, &Filter::default(), None, None)?
        .items
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node_name)
        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_owned))
        .collect();
    let cidr = node["spec"]["podCIDR"].as_str().unwrap_or("10.244.0.0/24");
    let Some(pod_ip) = free_ip(cidr, &used, rng.below(252)) else { return Ok(None) };
    Ok(Some(Placement::Node { name: node_name.to_owned(), host_ip: internal_ip(node), pod_ip }))
}

/// Where a pod goes when no node takes it.
pub(crate) fn nowhere(store: &Store) -> Result<Placement> {
    let nodes = store.list(NODES, &Filter::default(), None, None)?.items;
    Ok(Placement::Unschedulable { message: unschedulable_message(&nodes) })
}

/// Creates a pod from `template` and records what the scheduler and kubelet say about it.
pub(crate) fn create_pod(
    store: &Store,
    rng: &mut Rng,
    now: i64,
    template: &Value,
    id: &Identity,
    placement: &Placement,
    start: Start,
) -> Result<Arc<Value>> {
    let pod = kubelet::new_pod(template, id, placement, start, now, rng);
    let pod = store.insert(PODS, pod)?;
    match placement {
        Placement::Unschedulable { message } => {
            record(
                store,
                now,
                &pod,
                &Note::warning("default-scheduler", "FailedScheduling", message.clone()),
            )?;
        }
        Placement::Node { .. } => started(store, now, &pod, start)?,
    }
    Ok(pod)
}

/// The events of a pod just bound and started (or failing to pull).
pub(crate) fn started(store: &Store, now: i64, pod: &Value, start: Start) -> Result<()> {
    let (ns, pod_name) = (pod["metadata"]["namespace"].as_str().unwrap_or_default(), name(pod));
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let message = format!("Successfully assigned {ns}/{pod_name} to {node}");
    record(store, now, pod, &Note::normal("default-scheduler", "Scheduled", message))?;
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    for (i, c) in containers.iter().enumerate() {
        let (container, image) =
            (c["name"].as_str().unwrap_or_default(), c["image"].as_str().unwrap_or_default());
        if i == 0 && start == Start::ErrImagePull {
            record(
                store,
                now,
                pod,
                &Note::kubelet("Pulling", format!("Pulling image \"{image}\""), false, container),
            )?;
            let failed = format!("Failed to pull image \"{image}\": {}", kubelet::pull_error(image));
            record(store, now, pod, &Note::kubelet("Failed", failed, true, container))?;
            record(store, now, pod, &Note::kubelet("Failed", "Error: ErrImagePull".into(), true, container))?;
            continue;
        }
        container_started(store, now, pod, container, image)?;
    }
    Ok(())
}

/// `Pulled`, `Created`, `Started` for one container.
pub(crate) fn container_started(
    store: &Store,
    now: i64,
    pod: &Value,
    container: &str,
    image: &str,
) -> Result<()> {
    let pulled = format!("Container image \"{image}\" already present on machine");
    record(store, now, pod, &Note::kubelet("Pulled", pulled, false, container))?;
    record(
        store,
        now,
        pod,
        &Note::kubelet("Created", format!("Created container: {container}"), false, container),
    )?;
    record(
        store,
        now,
        pod,
        &Note::kubelet("Started", format!("Started container {container}"), false, container),
    )
}

/// Deletes a pod (its controller scaled down); a pod already gone is fine.
pub(crate) fn delete_pod(store: &Store, pod: &Value) -> Result<()> {
    let (ns, pod_name) = (pod["metadata"]["namespace"].as_str(), name(pod));
    super::controllers::ignore_gone(store.delete(PODS, ns, pod_name, &Preconditions::default()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_free_ip_skips_the_used_ones_and_stays_in_the_cidr() {
        let used: BTreeSet<String> = ["10.244.1.2", "10.244.1.3"].map(String::from).into();
        assert_eq!(free_ip("10.244.1.0/24", &used, 0).as_deref(), Some("10.244.1.4"));
        assert_eq!(free_ip("10.244.1.0/24", &used, 251).as_deref(), Some("10.244.1.253"));
        let all: BTreeSet<String> = (2..254).map(|i| format!("10.244.1.{i}")).collect();
        assert_eq!(free_ip("10.244.1.0/24", &all, 7), None);
        assert_eq!(free_ip("10.244.1.0/16", &used, 0), None);
    }

    #[test]
    fn tainted_or_unready_nodes_take_no_pods() {
        let node = |ready: &str, taints: Value| json!({"spec": {"taints": taints}, "status": {"conditions": [{"type": "Ready", "status": ready}]}});
        assert!(schedulable(&node("True", json!([]))));
        assert!(!schedulable(&node("Unknown", json!([]))));
        assert!(!schedulable(&node(
            "True",
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
        )));
        assert!(schedulable(&node("True", json!([{"key": "x", "effect": "PreferNoSchedule"}]))));
    }

    #[test]
    fn the_unschedulable_message_counts_nodes_as_the_scheduler_does() {
        let nodes = vec![
            Arc::new(
                json!({"spec": {"taints": [{"effect": "NoSchedule"}]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            ),
            Arc::new(json!({"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
            Arc::new(json!({"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
        ];
        assert_eq!(
            unschedulable_message(&nodes),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 \
             Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
             2 No preemption victims found for incoming pod."
        );
    }
}
