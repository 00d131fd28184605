//! Core v1 Events for what happened to the scenario's objects: scheduling, pulls, starts, back-offs and
//! scaling, as the scheduler, the kubelet and the deployment controller record them.

use serde_json::{json, Value};

use super::pod::Health;
use super::Ctx;
use crate::resource::EVENTS;
use crate::store::StoreError;

/// One event about `object`.
pub(crate) struct Record<'a> {
    pub reason: &'a str,
    pub message: String,
    pub warning: bool,
    pub component: &'a str,
    pub count: i64,
    /// Seconds ago it first and last happened.
    pub first: i64,
    pub last: i64,
    pub field_path: Option<String>,
}

/// Inserts one event about `object`.
pub(crate) fn record(ctx: &mut Ctx, object: &Value, r: &Record) -> Result<(), StoreError> {
    let meta = &object["metadata"];
    let name = format!("{}.{}", meta["name"].as_str().unwrap_or_default(), ctx.rng.hex(16));
    let host = object["spec"]["nodeName"].as_str().filter(|_| r.component == "kubelet");
    let mut involved = json!({
        "kind": object["kind"], "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
        "apiVersion": object["apiVersion"], "resourceVersion": meta["resourceVersion"],
    });
    if let Some(path) = &r.field_path {
        involved["fieldPath"] = json!(path);
    }
    let mut source = json!({"component": r.component});
    if let Some(host) = host {
        source["host"] = json!(host);
    }
    ctx.insert(
        EVENTS,
        json!({
            "metadata": {"name": name, "namespace": meta["namespace"], "creationTimestamp": ctx.ts(r.first)},
            "involvedObject": involved,
            "reason": r.reason,
            "message": r.message,
            "source": source,
            "firstTimestamp": ctx.ts(r.first),
            "lastTimestamp": ctx.ts(r.last),
            "count": r.count,
            "type": if r.warning { "Warning" } else { "Normal" },
            "eventTime": null,
            "reportingComponent": r.component,
            "reportingInstance": host.unwrap_or_default(),
        }),
    )?;
    Ok(())
}

/// The scheduling and kubelet events of a pod `age` seconds old, given how it is doing.
pub(crate) fn pod_events(ctx: &mut Ctx, pod: &Value, health: Health, age: i64) -> Result<(), StoreError> {
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().unwrap_or_default(),
        pod["metadata"]["name"].as_str().unwrap_or_default(),
    );
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let once = |reason: &'static str,
                message: String,
                component: &'static str,
                at: i64,
                field_path: Option<String>| Record {
        reason,
        message,
        warning: false,
        component,
        count: 1,
        first: at,
        last: at,
        field_path,
    };
    record(
        ctx,
        pod,
        &once(
            "Scheduled",
            format!("Successfully assigned {ns}/{name} to {node}"),
            "default-scheduler",
            age,
            None,
        ),
    )?;
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    for (i, c) in containers.iter().enumerate() {
        let cname = c["name"].as_str().unwrap_or_default();
        let image = c["image"].as_str().unwrap_or_default();
        let path = Some(format!("spec.containers{{{cname}}}"));
        let health = if i == 0 { health } else { Health::Running };
        if health == Health::ImagePull {
            let repeated = |reason: &'static str, message: String, warning: bool, count: i64| Record {
                reason,
                message,
                warning,
                component: "kubelet",
                count,
                first: age - 2,
                last: 25,
                field_path: path.clone(),
            };
            record(ctx, pod, &repeated("Pulling", format!("Pulling image \"{image}\""), false, 7))?;
            let not_found = format!(
                "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"
            );
            record(ctx, pod, &repeated("Failed", not_found, true, 7))?;
            record(ctx, pod, &repeated("Failed", "Error: ErrImagePull".into(), true, 7))?;
            record(ctx, pod, &repeated("BackOff", format!("Back-off pulling image \"{image}\""), false, 96))?;
            record(ctx, pod, &repeated("Failed", "Error: ImagePullBackOff".into(), true, 96))?;
            continue;
        }
        let pulled = format!("Container image \"{image}\" already present on machine");
        let restarts = if let Health::CrashLoop(n) = health { n } else { 0 };
        let (first, last) = (age - 2, if restarts > 0 { 131 } else { age - 2 });
        let kubelet = |reason: &'static str, message: String| Record {
            reason,
            message,
            warning: false,
            component: "kubelet",
            count: restarts + 1,
            first,
            last,
            field_path: path.clone(),
        };
        record(ctx, pod, &kubelet("Pulled", pulled))?;
        record(ctx, pod, &kubelet("Created", format!("Created container: {cname}")))?;
        record(ctx, pod, &kubelet("Started", format!("Started container {cname}")))?;
        if restarts > 0 {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
            let back_off = Record {
                reason: "BackOff",
                message: format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})"),
                warning: true,
                component: "kubelet",
                count: restarts * 4 + 3,
                first: age - 60,
                last: 12,
                field_path: path.clone(),
            };
            record(ctx, pod, &back_off)?;
        }
    }
    Ok(())
}

/// `ScalingReplicaSet`, as the deployment controller records a rollout step.
pub(crate) fn scaled(
    ctx: &mut Ctx,
    deployment: &Value,
    replica_set: &str,
    from: usize,
    to: usize,
    ago: i64,
) -> Result<(), StoreError> {
    let direction = if to > from { "up" } else { "down" };
    let record_ = Record {
        reason: "ScalingReplicaSet",
        message: format!("Scaled {direction} replica set {replica_set} from {from} to {to}"),
        warning: false,
        component: "deployment-controller",
        count: 1,
        first: ago,
        last: ago,
        field_path: None,
    };
    record(ctx, deployment, &record_)
}
