//! Workloads and what their controllers made of them: deployment → replica sets → pods (with
//! `pod-template-hash`), stateful set → `<name>-<i>` pods and their claims, daemon set → one pod per node.

mod sets;

use std::sync::Arc;

use serde_json::{json, Value};

use super::events::{pod_events, scaled};
use super::pod::{pod, Health, PodPlan};
use super::Ctx;
use crate::resource::{DEPLOYMENTS, REPLICASETS};
use crate::store::StoreError;

/// A container of an app's pod template.
pub(crate) struct Container {
    pub name: &'static str,
    pub image: &'static str,
    pub ports: Vec<(&'static str, u16)>,
    /// (request, limit)
    pub cpu: (&'static str, &'static str),
    /// (request, limit)
    pub memory: (&'static str, &'static str),
    /// `env` entries, as JSON.
    pub env: Value,
    /// `volumeMounts`, as JSON.
    pub mounts: Value,
}

/// Which controller runs an app.
pub(crate) enum Controller {
    /// A deployment; with `previous_image`, an earlier rollout left a scaled-down replica set.
    Deployment { replicas: usize, previous_image: Option<&'static str> },
    /// A stateful set, with a volume claim template `(name, size)` mounted at `mount`.
    StatefulSet { replicas: usize, claim: Option<(&'static str, &'static str, &'static str)> },
    /// A daemon set on every node, control plane included.
    DaemonSet,
}

/// An application: its controller, pod template and how its pods are doing.
pub(crate) struct App {
    pub namespace: String,
    pub name: String,
    pub part_of: &'static str,
    pub controller: Controller,
    pub containers: Vec<Container>,
    pub volumes: Value,
    pub host_network: bool,
    pub age: i64,
    /// Pods (by index) that are not healthy.
    pub unhealthy: Vec<(usize, Health)>,
    /// Whether to record the Events of its pods and rollouts.
    pub events: bool,
}

impl App {
    /// The labels of the app's objects, and of its pods (the selector is `app.kubernetes.io/name`).
    pub fn labels(&self) -> Value {
        json!({"app.kubernetes.io/name": self.name, "app.kubernetes.io/part-of": self.part_of})
    }

    /// The service selector for the app's pods.
    pub fn selector(&self) -> Value {
        json!({"app.kubernetes.io/name": self.name})
    }

    fn health(&self, index: usize) -> Health {
        self.unhealthy.iter().find(|(i, _)| *i == index).map_or(Health::Running, |(_, h)| *h)
    }

    fn template_spec(&self, image_override: Option<&str>) -> Value {
        let containers: Vec<Value> = self
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ports: Vec<Value> =
                    c.ports.iter().map(|(name, port)| json!({"name": name, "containerPort": port, "protocol": "TCP"})).collect();
                let mut mounts = c.mounts.clone();
                if let (Controller::StatefulSet { claim: Some((claim, _, path)), .. }, Some(m)) = (&self.controller, mounts.as_array_mut()) {
                    m.push(json!({"name": claim, "mountPath": path}));
                }
                json!({
                    "name": c.name,
                    "image": image_override.filter(|_| i == 0).unwrap_or(c.image),
                    "imagePullPolicy": "IfNotPresent",
                    "ports": ports,
                    "env": c.env,
                    "resources": {"requests": {"cpu": c.cpu.0, "memory": c.memory.0}, "limits": {"cpu": c.cpu.1, "memory": c.memory.1}},
                    "volumeMounts": mounts,
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                })
            })
            .collect();
        let mut spec = json!({
            "containers": containers,
            "volumes": self.volumes,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": if self.host_network { "ClusterFirstWithHostNet" } else { "ClusterFirst" },
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
        });
        if self.host_network {
            spec["hostNetwork"] = json!(true);
        }
        if matches!(self.controller, Controller::DaemonSet) {
            spec["tolerations"] = json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]);
        }
        spec
    }
}

fn owner(kind: &str, object: &Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": object["metadata"]["name"], "uid": object["metadata"]["uid"],
           "controller": true, "blockOwnerDeletion": true})
}

fn merged(base: &Value, extra: &[(&str, Value)]) -> Value {
    let mut out = base.clone();
    for (k, v) in extra {
        out[*k] = v.clone();
    }
    out
}

/// Writes the app's controller objects and pods; returns the pods.
pub(crate) fn deploy(ctx: &mut Ctx, app: &App) -> Result<Vec<Arc<Value>>, StoreError> {
    match &app.controller {
        Controller::Deployment { replicas, previous_image } => {
            deployment(ctx, app, *replicas, *previous_image)
        }
        Controller::StatefulSet { replicas, claim } => sets::stateful_set(ctx, app, *replicas, *claim),
        Controller::DaemonSet => sets::daemon_set(ctx, app),
    }
}

fn deployment(
    ctx: &mut Ctx,
    app: &App,
    replicas: usize,
    previous: Option<&str>,
) -> Result<Vec<Arc<Value>>, StoreError> {
    let labels = app.labels();
    let selector = json!({"matchLabels": app.selector()});
    let revision = if previous.is_some() { 2 } else { 1 };
    let template = json!({"metadata": {"labels": labels}, "spec": app.template_spec(None)});
    let applied = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"annotations": {}, "labels": labels, "name": app.name, "namespace": app.namespace},
        "spec": {"replicas": replicas, "selector": selector, "template": {"metadata": {"labels": labels}, "spec": {"containers": template["spec"]["containers"], "volumes": app.volumes}}},
    });
    let ready = (0..replicas).filter(|i| app.health(*i) == Health::Running).count();
    let hash = ctx.rng.suffix(10);
    let rs_name = format!("{}-{hash}", app.name);
    let status = deployment_status(app, replicas, revision, &rs_name, &ctx.ts(app.age - 30));
    let deploy = ctx.insert(
        DEPLOYMENTS,
        json!({
            "metadata": {"name": app.name, "namespace": app.namespace, "labels": labels, "generation": revision,
                         "creationTimestamp": ctx.ts(app.age + if previous.is_some() { 86_400 } else { 0 }),
                         "annotations": {"deployment.kubernetes.io/revision": revision.to_string(),
                                         "kubectl.kubernetes.io/last-applied-configuration": format!("{applied}\n")}},
            "spec": {"replicas": replicas, "selector": selector, "template": template,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": status,
        }),
    )?;
    if let Some(image) = previous {
        let old_hash = ctx.rng.suffix(10);
        let old_name = format!("{}-{old_hash}", app.name);
        let old = Rs {
            name: &old_name,
            hash: &old_hash,
            count: 0,
            ready: 0,
            revision: 1,
            image: Some(image),
            age: app.age + 86_400,
        };
        replica_set(ctx, app, &deploy, replicas, &old)?;
        if app.events {
            scaled(ctx, &deploy, &old_name, replicas, 0, app.age - 40)?;
        }
    }
    let current =
        Rs { name: &rs_name, hash: &hash, count: replicas, ready, revision, image: None, age: app.age };
    let rs = replica_set(ctx, app, &deploy, replicas, &current)?;
    if app.events {
        scaled(ctx, &deploy, &rs_name, 0, replicas, app.age)?;
    }
    let mut pods = Vec::with_capacity(replicas);
    for i in 0..replicas {
        let name = format!("{rs_name}-{}", ctx.rng.suffix(5));
        let node = ctx.schedule();
        let plan = PodPlan {
            namespace: &app.namespace,
            name,
            generate_name: Some(format!("{rs_name}-")),
            labels: merged(&labels, &[("pod-template-hash", json!(hash))]),
            annotations: json!({}),
            owner: json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs["metadata"]["uid"],
                          "controller": true, "blockOwnerDeletion": true}),
            spec: app.template_spec(None),
            node,
            age: app.age - 2,
            health: app.health(i),
            hostname: None,
        };
        pods.push(pod(ctx, plan)?);
    }
    record_pod_events(ctx, app, &pods)?;
    Ok(pods)
}

/// The status a deployment controller reports: replica counts and the Available/Progressing conditions.
fn deployment_status(app: &App, replicas: usize, revision: u32, rs_name: &str, changed: &str) -> Value {
    let ready = (0..replicas).filter(|i| app.health(*i) == Health::Running).count();
    let stuck = (0..replicas).any(|i| app.health(i) == Health::ImagePull);
    let condition = |kind: &str, ok: bool, reason: &str, message: String| {
        json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message,
               "lastUpdateTime": changed, "lastTransitionTime": changed})
    };
    let available = if ready == replicas {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        let message = "Deployment does not have minimum availability.".into();
        condition("Available", false, "MinimumReplicasUnavailable", message)
    };
    let progressing = if stuck {
        let message = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
        condition("Progressing", false, "ProgressDeadlineExceeded", message)
    } else {
        let message = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
        condition("Progressing", true, "NewReplicaSetAvailable", message)
    };
    let mut status = json!({"observedGeneration": revision, "replicas": replicas, "updatedReplicas": replicas,
                            "readyReplicas": ready, "availableReplicas": ready, "conditions": [available, progressing]});
    if ready < replicas {
        status["unavailableReplicas"] = json!(replicas - ready);
    }
    status
}

/// One replica set of a deployment: the current one, or an old one scaled to zero.
struct Rs<'a> {
    name: &'a str,
    hash: &'a str,
    count: usize,
    ready: usize,
    revision: u32,
    /// The image of an old revision's template; `None` for the current template.
    image: Option<&'a str>,
    age: i64,
}

fn replica_set(
    ctx: &mut Ctx,
    app: &App,
    deploy: &Value,
    replicas: usize,
    rs: &Rs,
) -> Result<Arc<Value>, StoreError> {
    let rs_labels = merged(&app.labels(), &[("pod-template-hash", json!(rs.hash))]);
    let generation = if rs.count > 0 { 1 } else { 2 };
    ctx.insert(
        REPLICASETS,
        json!({
            "metadata": {"name": rs.name, "namespace": app.namespace, "labels": rs_labels, "creationTimestamp": ctx.ts(rs.age),
                         "generation": generation, "ownerReferences": [owner("Deployment", deploy)],
                         "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                         "deployment.kubernetes.io/max-replicas": (replicas + replicas.div_ceil(4)).to_string(),
                                         "deployment.kubernetes.io/revision": rs.revision.to_string()}},
            "spec": {"replicas": rs.count, "selector": {"matchLabels": merged(&app.selector(), &[("pod-template-hash", json!(rs.hash))])},
                     "template": {"metadata": {"labels": rs_labels}, "spec": app.template_spec(rs.image)}},
            "status": {"replicas": rs.count, "fullyLabeledReplicas": rs.count, "readyReplicas": rs.ready,
                       "availableReplicas": rs.ready, "observedGeneration": generation},
        }),
    )
}

fn record_pod_events(ctx: &mut Ctx, app: &App, pods: &[Arc<Value>]) -> Result<(), StoreError> {
    if app.events {
        for (i, p) in pods.iter().enumerate() {
            pod_events(ctx, p, app.health(i), app.age - 2)?;
        }
    }
    Ok(())
}
