//! The simulated kubelet: registers the nodes, heartbeats them, and for every pod the scheduler binds to one of
//! them writes the status [`super::pod::status`] gives, and finishes graceful deletions (deleting with grace
//! period 0, as a kubelet does once containers have stopped) so scale-downs and namespace deletions complete.
//! It also acts as a volume provisioner in the scenario's namespaces: a pending claim gets a pre-bound
//! `hostPath` volume (never used: no container runs), so pods of stateful sets schedule.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use serde_json::{json, Value};

use super::node::{ready_taints, SimNode, SIMULATED_LABEL};
use super::pod::{status, Placement};
use super::SimulateError;

/// How often pod statuses are recomputed (they are written only when they change).
const TICK: Duration = Duration::from_millis(500);
/// How often nodes report they are alive (a node controller marks a node unknown after 40 s).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Up to this many nodes, pods are watched per node.
const PER_NODE_WATCHES: usize = 20;
/// How often pending claims are looked for.
const PROVISION: Duration = Duration::from_secs(2);

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Creates the nodes (adopting ones a previous `simulate` made), reports them Ready and lifts the not-ready
/// taint.
///
/// # Errors
/// [`SimulateError::NodeTaken`] when a node of that name exists and is not a simulated one;
/// [`SimulateError::Register`] when the API refuses a write.
pub async fn register(client: &Client, nodes: &[SimNode]) -> Result<(), SimulateError> {
    let api: Api<Node> = Api::all(client.clone());
    let registered = now();
    for node in nodes {
        let fail = |source| SimulateError::Register { node: node.name.clone(), source };
        let object: Node =
            serde_json::from_value(node.object()).map_err(|e| fail(kube::Error::SerdeError(e)))?;
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => tracing::info!(node = %node.name, "registered"),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = api.get(&node.name).await.map_err(fail)?;
                let simulated = existing.metadata.labels.as_ref().and_then(|l| l.get(SIMULATED_LABEL));
                if simulated.map(String::as_str) != Some("true") {
                    return Err(SimulateError::NodeTaken(node.name.clone()));
                }
                tracing::info!(node = %node.name, "already registered by a previous run: adopting it");
            }
            Err(error) => return Err(fail(error)),
        }
        heartbeat(&api, node, registered).await.map_err(fail)?;
        let current = api.get(&node.name).await.map_err(fail)?;
        let taints: Vec<Value> = current
            .spec
            .and_then(|s| s.taints)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .collect();
        let kept = ready_taints(&taints);
        if kept.len() != taints.len() {
            let patch = json!({"spec": {"taints": kept}});
            api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(fail)?;
        }
    }
    Ok(())
}

async fn heartbeat(api: &Api<Node>, node: &SimNode, registered: i64) -> Result<(), kube::Error> {
    let patch = json!({"status": node.status(registered, now())});
    api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}

/// A pod the kubelet runs.
struct Tracked {
    pod: Pod,
    placement: Placement,
    written: Option<Value>,
}

/// Runs the kubelet of `nodes` until the process stops: heartbeats, pod statuses, graceful deletions, and
/// volumes for claims in `provision`.
pub async fn run(client: Client, nodes: Vec<SimNode>, provision: Vec<String>) {
    let by_name: HashMap<String, SimNode> = nodes.iter().map(|n| (n.name.clone(), n.clone())).collect();
    // One watch per node (a field selector takes one node name) keeps the traffic to our pods; past a few dozen
    // nodes one watch of every pod, filtered here, is cheaper for the API server than that many watches.
    let selectors: Vec<Option<String>> = if nodes.len() <= PER_NODE_WATCHES {
        nodes.iter().map(|node| Some(format!("spec.nodeName={}", node.name))).collect()
    } else {
        vec![None]
    };
    let streams = selectors.into_iter().map(|selector| {
        let config = match &selector {
            Some(fields) => watcher::Config::default().fields(fields),
            None => watcher::Config::default(),
        };
        watcher(Api::<Pod>::all(client.clone()), config).default_backoff().boxed()
    });
    let mut pods = futures_util::stream::select_all(streams);
    let mut tracked: HashMap<(String, String), Tracked> = HashMap::new();
    let mut next_ip: HashMap<String, u32> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut provision_tick = tokio::time::interval(PROVISION);
    let node_api: Api<Node> = Api::all(client.clone());
    let registered = now();
    loop {
        tokio::select! {
            item = pods.next() => {
                let Some(item) = item else { return };
                match item {
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                        observe(&client, pod, &by_name, &mut tracked, &mut next_ip).await;
                    }
                    Ok(watcher::Event::Delete(pod)) => {
                        tracked.remove(&key(&pod));
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                    Err(error) => tracing::warn!(%error, "pod watch failed; retrying with backoff"),
                }
            }
            _ = tick.tick() => write_statuses(&client, &mut tracked).await,
            _ = beat.tick() => {
                for node in &nodes {
                    if let Err(error) = heartbeat(&node_api, node, registered).await {
                        tracing::warn!(node = %node.name, %error, "heartbeat failed");
                    }
                }
            }
            _ = provision_tick.tick() => {
                for ns in &provision {
                    provision_volumes(&client, ns).await;
                }
            }
        }
    }
}

fn key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

/// A pod bound to one of our nodes changed: finish its deletion, or track it.
async fn observe(
    client: &Client,
    pod: Pod,
    nodes: &HashMap<String, SimNode>,
    tracked: &mut HashMap<(String, String), Tracked>,
    next_ip: &mut HashMap<String, u32>,
) {
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).and_then(|n| nodes.get(n)) else {
        return;
    };
    let (ns, name) = key(&pod);
    if pod.metadata.deletion_timestamp.is_some() {
        // The containers "stopped" at once: the kubelet's final delete, for this incarnation only.
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::default()
        };
        match Api::<Pod>::namespaced(client.clone(), &ns).delete(&name, &params).await {
            Ok(_) => tracing::debug!(%ns, %name, "deleted"),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(error) => tracing::warn!(%ns, %name, %error, "cannot finish the pod's deletion"),
        }
        tracked.remove(&(ns, name));
        return;
    }
    let uid = pod.metadata.uid.clone();
    if let Some(t) = tracked.get_mut(&(ns.clone(), name.clone())) {
        if t.pod.metadata.uid == uid {
            t.pod = pod;
            return;
        }
    }
    // First sight (or a new incarnation). A pod this kubelet already ran (before a restart of `simulate`) keeps
    // its IP and start time, so its status does not go back to ContainerCreating.
    let status = pod.status.clone().unwrap_or_default();
    let seen = status.start_time.as_ref().map_or_else(now, |t| t.0.as_second());
    let pod_ip = status.pod_ip.clone().unwrap_or_else(|| {
        let n = next_ip.entry(node.name.clone()).or_insert(0);
        *n += 1;
        node.pod_ip(*n)
    });
    let placement = Placement { pod_ip, host_ip: node.ip(), seen };
    tracked.insert((ns, name), Tracked { pod, placement, written: None });
}

/// Writes every tracked pod's status that changed.
async fn write_statuses(client: &Client, tracked: &mut HashMap<(String, String), Tracked>) {
    let now = now();
    let mut gone = Vec::new();
    for ((ns, name), t) in tracked.iter_mut() {
        let desired = status(&t.pod, &t.placement, now);
        if t.written.as_ref() == Some(&desired) {
            continue;
        }
        let patch = json!({"status": desired});
        match Api::<Pod>::namespaced(client.clone(), ns)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => t.written = Some(desired),
            Err(kube::Error::Api(s)) if s.code == 404 => gone.push((ns.clone(), name.clone())),
            Err(error) => tracing::warn!(%ns, %name, %error, "cannot write the pod's status"),
        }
    }
    for key in gone {
        tracked.remove(&key);
    }
}

/// Gives every pending, unbound claim of `namespace` a `hostPath` volume bound to it.
async fn provision_volumes(client: &Client, namespace: &str) {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = claims.list(&ListParams::default()).await else { return };
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for claim in list.items {
        let spec = claim.spec.clone().unwrap_or_default();
        let pending = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
        if !pending || spec.volume_name.is_some() {
            continue;
        }
        let Some(volume) = volume_for(&claim) else { continue };
        match volumes.create(&PostParams::default(), &volume).await {
            Ok(_) => {
                tracing::info!(namespace, claim = ?claim.metadata.name, "provisioned a simulated volume");
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(error) => tracing::warn!(namespace, %error, "cannot provision a volume"),
        }
    }
}

/// A `hostPath` volume pre-bound to `claim`, of the size it asks for.
fn volume_for(claim: &PersistentVolumeClaim) -> Option<PersistentVolume> {
    let uid = claim.metadata.uid.as_deref()?;
    let ns = claim.metadata.namespace.as_deref()?;
    let name = claim.metadata.name.as_deref()?;
    let spec = claim.spec.as_ref()?;
    let size =
        spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).cloned()?;
    let value = json!({
        "metadata": {"name": format!("gestalt-sim-{uid}"), "labels": {SIMULATED_LABEL: "true"}},
        "spec": {"capacity": {"storage": size}, "accessModes": spec.access_modes.clone().unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": spec.storage_class_name.clone().unwrap_or_default(),
                 "volumeMode": spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()),
                 "hostPath": {"path": format!("/var/lib/gestalt-sim/{ns}/{name}")},
                 "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid}}
    });
    serde_json::from_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_is_bound_to_its_claim_and_sized_by_it() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data-postgres-0", "namespace": "db", "uid": "u-1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}
        }))
        .unwrap();
        let volume = serde_json::to_value(volume_for(&claim).unwrap()).unwrap();
        assert_eq!(volume["metadata"]["name"], "gestalt-sim-u-1");
        assert_eq!(volume["spec"]["capacity"]["storage"], "20Gi");
        assert_eq!(volume["spec"]["claimRef"]["uid"], "u-1");
        assert_eq!(volume["spec"]["claimRef"]["name"], "data-postgres-0");
        assert_eq!(volume["spec"]["storageClassName"], "");
        // A claim without a size cannot be matched: none.
        let sizeless: PersistentVolumeClaim = serde_json::from_value(
            json!({"metadata": {"name": "x", "namespace": "db", "uid": "u"}, "spec": {}}),
        )
        .unwrap();
        assert!(volume_for(&sizeless).is_none());
    }
}
