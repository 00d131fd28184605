//! The status the controllers keep consistent after every change: replica set, deployment, stateful set and
//! daemon set counts and conditions, autoscaler status, and the endpoints of every service.
//!
//! [`reconcile`] recomputes all of it for one namespace from the pods as they are. It is idempotent: the store
//! drops writes that change nothing, so a namespace whose pods did not move costs reads only and publishes no
//! event, and condition timestamps move only when a condition flips, as in a real cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::kubelet::is_ready;
use super::Result;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::resource::{
    ResourceId, DAEMONSETS, DEPLOYMENTS, ENDPOINTS, ENDPOINTSLICES, HPAS, PODS, REPLICASETS, SERVICES,
    STATEFULSETS,
};
use crate::rng::Rng;
use crate::select::Filter;
use crate::store::{Store, StoreError};

/// Every object of `resource` in `namespace`, in name order.
pub(crate) fn in_namespace(store: &Store, resource: ResourceId, namespace: &str) -> Result<Vec<Arc<Value>>> {
    let filter = Filter { namespace: Some(namespace.to_owned()), ..Filter::default() };
    Ok(store.list(resource, &filter, None, None)?.items)
}

/// The uid of an object.
pub(crate) fn uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or_default()
}

/// The name of an object.
pub(crate) fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Whether `object`'s controller is the object with `owner_uid`.
pub(crate) fn controlled_by(object: &Value, owner_uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid && r["controller"] == true))
}

/// The owner reference a controller puts on what it creates.
pub(crate) fn owner_ref(owner: &Value) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

/// Whether every `matchLabels` pair of `selector` is among `labels`.
pub(crate) fn selects(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|s| s.iter().all(|(k, v)| &labels[k] == v))
}

fn live(pod: &Value) -> bool {
    !matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// Recomputes the controllers' status and the endpoints of `namespace`.
///
/// # Errors
/// A store error other than an object vanishing meanwhile.
pub(crate) fn reconcile(store: &Store, namespace: &str, now: i64, rng: &mut Rng) -> Result<()> {
    let pods = in_namespace(store, PODS, namespace)?;
    let mut by_owner: BTreeMap<&str, Vec<&Arc<Value>>> = BTreeMap::new();
    for pod in pods.iter().filter(|p| live(p)) {
        if let Some(owner) = pod["metadata"]["ownerReferences"][0]["uid"].as_str() {
            by_owner.entry(owner).or_default().push(pod);
        }
    }
    let owned = |uid: &str| by_owner.get(uid).cloned().unwrap_or_default();
    for rs in in_namespace(store, REPLICASETS, namespace)? {
        let mine = owned(uid(&rs));
        let ready = mine.iter().filter(|p| is_ready(p)).count();
        let status = json!({"replicas": mine.len(), "fullyLabeledReplicas": mine.len(), "readyReplicas": ready,
                            "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]});
        write_status(store, REPLICASETS, &rs, status)?;
    }
    let sets = in_namespace(store, REPLICASETS, namespace)?;
    for deploy in in_namespace(store, DEPLOYMENTS, namespace)? {
        let mine: Vec<&Arc<Value>> = sets.iter().filter(|rs| controlled_by(rs, uid(&deploy))).collect();
        let status = deployment_status(&deploy, &mine, now);
        write_status(store, DEPLOYMENTS, &deploy, status)?;
    }
    for sts in in_namespace(store, STATEFULSETS, namespace)? {
        let mine = owned(uid(&sts));
        let ready = mine.iter().filter(|p| is_ready(p)).count();
        let mut status = sts["status"].clone();
        for (field, value) in [
            ("replicas", mine.len()),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("currentReplicas", mine.len()),
            ("updatedReplicas", mine.len()),
        ] {
            status[field] = json!(value);
        }
        write_status(store, STATEFULSETS, &sts, status)?;
    }
    for ds in in_namespace(store, DAEMONSETS, namespace)? {
        let mine = owned(uid(&ds));
        let ready = mine.iter().filter(|p| is_ready(p)).count();
        let mut status = ds["status"].clone();
        status["numberReady"] = json!(ready);
        status["numberAvailable"] = json!(ready);
        match status.as_object_mut() {
            Some(s) if ready < mine.len() => {
                _ = s.insert("numberUnavailable".into(), json!(mine.len() - ready));
            }
            Some(s) => _ = s.remove("numberUnavailable"),
            None => {}
        }
        write_status(store, DAEMONSETS, &ds, status)?;
    }
    autoscalers(store, namespace)?;
    let slices = in_namespace(store, ENDPOINTSLICES, namespace)?;
    for svc in in_namespace(store, SERVICES, namespace)? {
        if svc["spec"]["selector"].is_object() {
            endpoints(store, &svc, &pods, &slices, now, rng)?;
        }
    }
    Ok(())
}

/// The deployment controller's deadline check: it re-examines a rollout when its progress deadline passes, with
/// nothing else changing. Every namespace holding a rollout whose deadline passed without progress is reconciled
/// (which marks it `ProgressDeadlineExceeded`); finished and already stuck rollouts are skipped, so this costs a
/// scan of the deployments and nothing more on a calm cluster.
pub(crate) fn progress_deadlines(store: &Store, now: i64, rng: &mut Rng) -> Result<()> {
    let due: std::collections::BTreeSet<String> = store
        .list(DEPLOYMENTS, &Filter::default(), None, None)?
        .items
        .iter()
        .filter(|d| {
            let conditions = d["status"]["conditions"].as_array();
            let progressing = conditions.and_then(|c| c.iter().find(|c| c["type"] == "Progressing"));
            let Some(p) = progressing.filter(|p| p["reason"] == "ReplicaSetUpdated") else { return false };
            let deadline = d["spec"]["progressDeadlineSeconds"].as_i64().unwrap_or(600);
            p["lastUpdateTime"].as_str().and_then(parse_rfc3339).is_some_and(|at| now - at > deadline)
        })
        .filter_map(|d| d["metadata"]["namespace"].as_str().map(str::to_owned))
        .collect();
    for ns in due {
        reconcile(store, &ns, now, rng)?;
    }
    Ok(())
}

/// Writes `status` unless `object` already has it (the comparison is cheaper than a write that changes nothing).
fn write_status(store: &Store, resource: ResourceId, object: &Value, status: Value) -> Result<()> {
    if object["status"] == status {
        return Ok(());
    }
    let namespace = object["metadata"]["namespace"].as_str();
    ignore_gone(store.modify(resource, namespace, name(object), |o| o["status"] = status))
}

/// A write whose object was deleted meanwhile (by a client, or a namespace going away) is no error.
pub(crate) fn ignore_gone<T>(result: Result<T, StoreError>) -> Result<()> {
    match result {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The `maxUnavailable` of a rolling update: 25 % of the replicas, rounded down.
fn max_unavailable(replicas: i64) -> i64 {
    replicas / 4
}

/// A deployment's status from its replica sets, as the deployment controller computes it.
pub(crate) fn deployment_status(deploy: &Value, sets: &[&Arc<Value>], now: i64) -> Value {
    let wanted = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
    let revision = &deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"];
    let current = sets
        .iter()
        .find(|rs| &rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision);
    let sum = |field: &str| sets.iter().map(|rs| rs["status"][field].as_i64().unwrap_or(0)).sum::<i64>();
    let (replicas, ready, available) = (sum("replicas"), sum("readyReplicas"), sum("availableReplicas"));
    let updated = current.map_or(0, |rs| rs["status"]["replicas"].as_i64().unwrap_or(0));
    let current_available = current.map_or(0, |rs| rs["status"]["availableReplicas"].as_i64().unwrap_or(0));
    let current_name = current.map_or("", |rs| name(rs));
    let old = &deploy["status"]["conditions"];
    let mut available_condition = if available >= wanted - max_unavailable(wanted) {
        condition(
            old,
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        )
    } else {
        let message = "Deployment does not have minimum availability.";
        condition(old, "Available", false, "MinimumReplicasUnavailable", message, now)
    };
    let done = updated == wanted && current_available == wanted && replicas == wanted;
    // The controller's progress deadline: a rollout that made no progress (no replica count moved) for
    // `progressDeadlineSeconds` is reported stuck, and stays so until it progresses again.
    let before = &deploy["status"];
    let moved = [("replicas", replicas), ("updatedReplicas", updated), ("availableReplicas", available)]
        .iter()
        .any(|(field, now)| before[*field].as_i64().unwrap_or(0) != *now);
    let previous = old.as_array().and_then(|c| c.iter().find(|c| c["type"] == "Progressing"));
    let last_progress = previous
        .filter(|_| !moved)
        .and_then(|p| p["lastUpdateTime"].as_str())
        .and_then(parse_rfc3339)
        .unwrap_or(now);
    let deadline = deploy["spec"]["progressDeadlineSeconds"].as_i64().unwrap_or(600);
    let was_stuck = previous.is_some_and(|p| p["reason"] == "ProgressDeadlineExceeded");
    let mut progressing = if done {
        let message = format!("ReplicaSet \"{current_name}\" has successfully progressed.");
        condition(old, "Progressing", true, "NewReplicaSetAvailable", &message, now)
    } else if now - last_progress > deadline || (was_stuck && !moved) {
        let message = format!("ReplicaSet \"{current_name}\" has timed out progressing.");
        condition(old, "Progressing", false, "ProgressDeadlineExceeded", &message, now)
    } else {
        let message = format!("ReplicaSet \"{current_name}\" is progressing.");
        condition(old, "Progressing", true, "ReplicaSetUpdated", &message, now)
    };
    if !done {
        // The last progress, which the deadline counts from.
        progressing["lastUpdateTime"] = json!(rfc3339(last_progress));
    }
    available_condition["lastUpdateTime"] = available_condition["lastTransitionTime"].clone();
    let mut status = json!({"observedGeneration": deploy["metadata"]["generation"], "replicas": replicas,
                            "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                            "conditions": [available_condition, progressing]});
    if wanted > available {
        status["unavailableReplicas"] = json!(wanted - available);
    }
    if deploy["status"]["collisionCount"].is_number() {
        status["collisionCount"] = deploy["status"]["collisionCount"].clone();
    }
    status
}

/// A condition of `kind`, keeping the old one's timestamps unless its status or reason moved.
fn condition(old: &Value, kind: &str, ok: bool, reason: &str, message: &str, now: i64) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old.as_array().and_then(|c| c.iter().find(|c| c["type"] == kind));
    let at = json!(rfc3339(now));
    let transition =
        previous.filter(|p| p["status"] == status).map_or(at.clone(), |p| p["lastTransitionTime"].clone());
    let update = previous
        .filter(|p| p["reason"] == reason && p["message"] == message)
        .map_or(at, |p| p["lastUpdateTime"].clone());
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": update, "lastTransitionTime": transition})
}

/// Autoscalers report the replicas of what they scale.
fn autoscalers(store: &Store, namespace: &str) -> Result<()> {
    for hpa in in_namespace(store, HPAS, namespace)? {
        let target = &hpa["spec"]["scaleTargetRef"];
        if target["kind"] != "Deployment" {
            continue;
        }
        let Ok(deploy) = store.get(DEPLOYMENTS, Some(namespace), target["name"].as_str().unwrap_or_default())
        else {
            continue;
        };
        let mut status = hpa["status"].clone();
        status["currentReplicas"] = deploy["status"]["replicas"].clone();
        status["desiredReplicas"] = deploy["spec"]["replicas"].clone();
        write_status(store, HPAS, &hpa, status)?;
    }
    Ok(())
}

/// The `Endpoints` and the `EndpointSlice` of a selecting service, from the pods it selects (created if the
/// endpoint controllers have not made them yet).
fn endpoints(
    store: &Store,
    svc: &Value,
    pods: &[Arc<Value>],
    slices: &[Arc<Value>],
    now: i64,
    rng: &mut Rng,
) -> Result<()> {
    let namespace = svc["metadata"]["namespace"].as_str().unwrap_or_default();
    let svc_name = name(svc);
    let headless = svc["spec"]["clusterIP"] == "None";
    let selected: Vec<&Arc<Value>> = pods
        .iter()
        .filter(|p| {
            live(p) && p["status"]["podIP"].is_string() && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter(|p| selects(&svc["spec"]["selector"], &p["metadata"]["labels"]))
        .collect();
    let target = |pod: &Value| json!({"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]});
    let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
    for pod in &selected {
        let address = json!({"ip": pod["status"]["podIP"], "nodeName": pod["spec"]["nodeName"], "targetRef": target(pod)});
        if is_ready(pod) || headless {
            ready.push(address);
        } else {
            not_ready.push(address);
        }
    }
    // Values are moved into place (`Value::Array`), not passed through `json!`, which would serialize a copy:
    // this runs for every service of a namespace on every change.
    let ports = Value::Array(
        svc["spec"]["ports"]
            .as_array()
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| json!({"name": p["name"], "port": p["targetPort"], "protocol": p["protocol"]}))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let subsets = if ready.is_empty() && not_ready.is_empty() {
        Value::Array(Vec::new())
    } else {
        let mut subset = serde_json::Map::new();
        subset.insert("ports".into(), ports.clone());
        if !ready.is_empty() {
            subset.insert("addresses".into(), Value::Array(ready));
        }
        if !not_ready.is_empty() {
            subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
        }
        Value::Array(vec![Value::Object(subset)])
    };
    let at = rfc3339(now);
    let labels = svc["metadata"]["labels"].clone();
    let current = store.get(ENDPOINTS, Some(namespace), svc_name).ok();
    let changed = if current.as_ref().is_some_and(|ep| ep["subsets"] == subsets) {
        Ok(Arc::clone(current.as_ref().expect("checked")))
    } else {
        store.modify(ENDPOINTS, Some(namespace), svc_name, |ep| {
            if ep["subsets"] != subsets {
                ep["subsets"] = subsets.clone();
                ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = json!(at);
            }
        })
    };
    if let Err(StoreError::NotFound { .. }) = changed {
        store.insert(ENDPOINTS, json!({"metadata": {"name": svc_name, "namespace": namespace, "labels": labels, "creationTimestamp": at,
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": at}}, "subsets": subsets}))?;
    } else {
        changed?;
    }
    let slice_endpoints: Value = selected
        .iter()
        .map(|pod| {
            let ok = is_ready(pod);
            json!({"addresses": [pod["status"]["podIP"]], "conditions": {"ready": ok, "serving": ok, "terminating": false},
                   "nodeName": pod["spec"]["nodeName"], "targetRef": target(pod)})
        })
        .collect();
    let slice = slices.iter().find(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == svc_name);
    match slice {
        Some(slice) if slice["endpoints"] == slice_endpoints && slice["ports"] == ports => Ok(()),
        Some(slice) => ignore_gone(store.modify(ENDPOINTSLICES, Some(namespace), name(slice), |s| {
            s["endpoints"] = slice_endpoints;
            s["ports"] = ports;
        })),
        None => {
            let mut slice_labels = if labels.is_object() { labels } else { json!({}) };
            slice_labels["kubernetes.io/service-name"] = json!(svc_name);
            slice_labels["endpointslice.kubernetes.io/managed-by"] = json!("endpointslice-controller.k8s.io");
            store.insert(ENDPOINTSLICES, json!({
                "metadata": {"name": format!("{svc_name}-{}", rng.suffix(5)), "generateName": format!("{svc_name}-"),
                             "namespace": namespace, "labels": slice_labels, "creationTimestamp": at,
                             "ownerReferences": [owner_ref(svc)]},
                "addressType": "IPv4", "endpoints": slice_endpoints, "ports": ports,
            }))?;
            Ok(())
        }
    }
}
