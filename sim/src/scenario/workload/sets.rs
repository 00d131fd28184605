//! Stateful sets (`<name>-<i>` pods, each with its own claim) and daemon sets (one pod per node, pinned by
//! node affinity), as their controllers leave them.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{merged, owner, record_pod_events, App};
use crate::resource::{DAEMONSETS, PVCS, STATEFULSETS};
use crate::scenario::pod::{pod, Health, PodPlan};
use crate::scenario::Ctx;
use crate::store::StoreError;

pub(super) fn stateful_set(
    ctx: &mut Ctx,
    app: &App,
    replicas: usize,
    claim: Option<(&'static str, &'static str, &'static str)>,
) -> Result<Vec<Arc<Value>>, StoreError> {
    let labels = app.labels();
    let revision = format!("{}-{}", app.name, ctx.rng.suffix(10));
    let service_name = format!("{}-headless", app.name);
    let ready = (0..replicas).filter(|i| app.health(*i) == Health::Running).count();
    let claim_templates: Vec<Value> = claim
        .iter()
        .map(|(name, size, _)| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                                      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "volumeMode": "Filesystem"},
                                      "status": {"phase": "Pending"}}))
        .collect();
    let sts = ctx.insert(
        STATEFULSETS,
        json!({
            "metadata": {"name": app.name, "namespace": app.namespace, "labels": labels, "generation": 1, "creationTimestamp": ctx.ts(app.age)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": app.selector()}, "serviceName": service_name,
                     "template": {"metadata": {"labels": labels}, "spec": app.template_spec(None)},
                     "volumeClaimTemplates": claim_templates, "podManagementPolicy": "OrderedReady",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                     "revisionHistoryLimit": 10, "minReadySeconds": 0},
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas,
                       "updatedReplicas": replicas, "availableReplicas": ready, "currentRevision": revision,
                       "updateRevision": revision, "collisionCount": 0},
        }),
    )?;
    let mut pods = Vec::with_capacity(replicas);
    for i in 0..replicas {
        let name = format!("{}-{i}", app.name);
        let mut spec = app.template_spec(None);
        if let Some((claim, size, _)) = claim {
            let claim_name = format!("{claim}-{name}");
            let volume_name = format!("pvc-{}", ctx.rng.uuid());
            if let Some(volumes) = spec["volumes"].as_array_mut() {
                volumes.insert(0, json!({"name": claim, "persistentVolumeClaim": {"claimName": claim_name}}));
            }
            ctx.insert(
                PVCS,
                json!({
                    "metadata": {"name": claim_name, "namespace": app.namespace, "labels": app.selector(), "creationTimestamp": ctx.ts(app.age),
                                 "annotations": {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                                                 "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path"},
                                 "finalizers": ["kubernetes.io/pvc-protection"]},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                             "storageClassName": "standard", "volumeMode": "Filesystem", "volumeName": volume_name},
                    "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}},
                }),
            )?;
        }
        let node = ctx.schedule();
        let plan = PodPlan {
            namespace: &app.namespace,
            name: name.clone(),
            generate_name: Some(format!("{}-", app.name)),
            labels: merged(
                &labels,
                &[
                    ("controller-revision-hash", json!(revision)),
                    ("statefulset.kubernetes.io/pod-name", json!(name)),
                    ("apps.kubernetes.io/pod-index", json!(i.to_string())),
                ],
            ),
            annotations: json!({}),
            owner: owner("StatefulSet", &sts),
            spec,
            node,
            age: app.age - 2 - 20 * i as i64,
            health: app.health(i),
            hostname: Some((name, service_name.clone())),
        };
        pods.push(pod(ctx, plan)?);
    }
    record_pod_events(ctx, app, &pods)?;
    Ok(pods)
}

pub(super) fn daemon_set(ctx: &mut Ctx, app: &App) -> Result<Vec<Arc<Value>>, StoreError> {
    let labels = app.labels();
    let revision = ctx.rng.suffix(10);
    let nodes = ctx.nodes.len();
    let ready = (0..nodes).filter(|i| app.health(*i) == Health::Running).count();
    let ds = ctx.insert(
        DAEMONSETS,
        json!({
            "metadata": {"name": app.name, "namespace": app.namespace, "labels": labels, "generation": 1, "creationTimestamp": ctx.ts(app.age),
                         "annotations": {"deprecated.daemonset.template.generation": "1"}},
            "spec": {"selector": {"matchLabels": app.selector()}, "template": {"metadata": {"labels": labels}, "spec": app.template_spec(None)},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                     "revisionHistoryLimit": 10},
            "status": {"currentNumberScheduled": nodes, "desiredNumberScheduled": nodes, "numberAvailable": ready,
                       "numberMisscheduled": 0, "numberReady": ready, "observedGeneration": 1, "updatedNumberScheduled": nodes},
        }),
    )?;
    let mut pods = Vec::with_capacity(nodes);
    for node in 0..nodes {
        let mut spec = app.template_spec(None);
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [ctx.nodes[node].name]}]}]}}});
        let plan = PodPlan {
            namespace: &app.namespace,
            name: format!("{}-{}", app.name, ctx.rng.suffix(5)),
            generate_name: Some(format!("{}-", app.name)),
            labels: merged(
                &labels,
                &[("controller-revision-hash", json!(revision)), ("pod-template-generation", json!("1"))],
            ),
            annotations: json!({}),
            owner: owner("DaemonSet", &ds),
            spec,
            node,
            age: app.age - 2,
            health: app.health(node),
            hostname: None,
        };
        pods.push(pod(ctx, plan)?);
    }
    record_pod_events(ctx, app, &pods)?;
    Ok(pods)
}
