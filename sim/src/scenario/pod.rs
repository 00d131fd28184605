//! Pods as the scheduler, admission and the kubelet leave them: placed on a node, with default tolerations,
//! a projected service-account volume, an IP, conditions and per-container status — healthy, crash looping
//! or stuck pulling an image.

use std::sync::Arc;

use serde_json::{json, Value};

use super::Ctx;
use crate::resource::PODS;
use crate::store::StoreError;

/// How a pod is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// All containers running and ready.
    Running,
    /// The first container keeps crashing: `CrashLoopBackOff` with this many restarts.
    CrashLoop(i64),
    /// The image cannot be pulled: `ImagePullBackOff`, phase `Pending`.
    ImagePull,
}

/// What a pod is made from.
pub(crate) struct PodPlan<'a> {
    pub namespace: &'a str,
    pub name: String,
    pub generate_name: Option<String>,
    pub labels: Value,
    pub annotations: Value,
    pub owner: Value,
    /// The controller's pod template spec (with anything pod-specific, such as affinity, added).
    pub spec: Value,
    pub node: usize,
    pub age: i64,
    pub health: Health,
    /// `(hostname, subdomain)` for stateful set pods.
    pub hostname: Option<(String, String)>,
}

/// Inserts the pod and returns it as stored (with its uid).
pub(crate) fn pod(ctx: &mut Ctx, mut plan: PodPlan) -> Result<Arc<Value>, StoreError> {
    let node = ctx.nodes[plan.node].clone();
    let host_network = plan.spec["hostNetwork"] == true;
    let ip = if host_network { node.ip.clone() } else { ctx.pod_ip(plan.node) };
    let created = ctx.ts(plan.age);
    let started = ctx.ts(plan.age - 4);
    let access = format!("kube-api-access-{}", ctx.rng.suffix(5));
    let mut spec = std::mem::take(&mut plan.spec);
    spec["nodeName"] = json!(node.name);
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        tolerations
            .push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
    }
    spec["tolerations"] = json!(tolerations);
    if let Some(volumes) = spec["volumes"].as_array_mut() {
        volumes.push(json!({"name": access, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}));
    }
    if let Some((hostname, subdomain)) = &plan.hostname {
        spec["hostname"] = json!(hostname);
        spec["subdomain"] = json!(subdomain);
    }
    let containers = spec["containers"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut statuses = Vec::new();
    let mut with_mounts = Vec::new();
    for (i, mut container) in containers.into_iter().enumerate() {
        if let Some(mounts) = container["volumeMounts"].as_array_mut() {
            mounts.push(json!({"name": access, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}));
        }
        statuses.push(container_status(
            ctx,
            &container,
            if i == 0 { plan.health } else { Health::Running },
            &plan,
            &started,
        ));
        with_mounts.push(container);
    }
    spec["containers"] = json!(with_mounts);
    let ready = statuses.iter().all(|s| s["ready"] == true);
    let unready: Vec<&str> =
        statuses.iter().filter(|s| s["ready"] != true).filter_map(|s| s["name"].as_str()).collect();
    let condition = |kind: &str, ok: bool| {
        let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": started});
        if !ok {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!("containers with unready status: [{}]", unready.join(" ")));
        }
        c
    };
    let phase = if plan.health == Health::ImagePull { "Pending" } else { "Running" };
    let mut meta = json!({
        "name": plan.name,
        "namespace": plan.namespace,
        "labels": plan.labels,
        "ownerReferences": [plan.owner],
        "creationTimestamp": created,
    });
    if let Some(prefix) = plan.generate_name {
        meta["generateName"] = json!(prefix);
    }
    if plan.annotations.as_object().is_some_and(|a| !a.is_empty()) {
        meta["annotations"] = plan.annotations;
    }
    let mut pod = json!({
        "metadata": meta,
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": [
                condition("PodReadyToStartContainers", true),
                condition("Initialized", true),
                condition("Ready", ready),
                condition("ContainersReady", ready),
                condition("PodScheduled", true),
            ],
            "hostIP": node.ip,
            "hostIPs": [{"ip": node.ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": created,
            "containerStatuses": statuses,
        },
    });
    pod["status"]["qosClass"] = json!(crate::store::qos_class(&pod));
    ctx.insert(PODS, pod)
}

fn container_status(
    ctx: &mut Ctx,
    container: &Value,
    health: Health,
    plan: &PodPlan,
    started: &str,
) -> Value {
    let name = container["name"].as_str().unwrap_or_default();
    let image = container["image"].as_str().unwrap_or_default();
    let full_image =
        if image.contains('/') { format!("docker.io/{image}") } else { format!("docker.io/library/{image}") };
    let image_id = format!("{}@sha256:{}", full_image.split(':').next().unwrap_or_default(), ctx.rng.hex(64));
    let container_id = format!("containerd://{}", ctx.rng.hex(64));
    match health {
        Health::Running => json!({
            "name": name, "image": full_image, "imageID": image_id, "containerID": container_id,
            "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": started}}, "lastState": {},
        }),
        Health::CrashLoop(restarts) => json!({
            "name": name, "image": full_image, "imageID": image_id, "containerID": container_id,
            "ready": false, "started": false, "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                "back-off 5m0s restarting failed container={name} pod={}_{}", plan.name, plan.namespace)}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": container_id,
                                         "startedAt": ctx.ts(131), "finishedAt": ctx.ts(118)}},
        }),
        Health::ImagePull => json!({
            "name": name, "image": image, "imageID": "",
            "ready": false, "started": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}},
            "lastState": {},
        }),
    }
}
