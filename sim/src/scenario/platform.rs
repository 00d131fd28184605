//! Pieces the platform scenarios (`multi-agent`, `orchestrator`) share: autoscalers, credentials, and a
//! service (plus a headless one for stateful sets) in front of each app.

use std::sync::Arc;

use serde_json::{json, Value};

use super::kgents::extras::base64;
use super::network::{service, Port, ServiceKind, ServiceSpec};
use super::workload::App;
use super::Ctx;
use crate::resource::{HPAS, SECRETS};
use crate::store::StoreError;

/// A CPU-utilisation autoscaler for deployment `name`, currently at `replicas` and settled.
pub(crate) fn autoscaler(
    ctx: &mut Ctx,
    app: &App,
    (min, max): (usize, usize),
    replicas: usize,
    utilisation: u64,
) -> Result<(), StoreError> {
    let settled = ctx.ts(app.age - 600);
    ctx.insert(HPAS, json!({
        "metadata": {"name": app.name, "namespace": app.namespace, "labels": app.labels(), "creationTimestamp": ctx.ts(app.age), "generation": 1},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name}, "minReplicas": min, "maxReplicas": max,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        "status": {"currentReplicas": replicas, "desiredReplicas": replicas,
                   "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": utilisation}}}],
                   "conditions": [
                       {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size", "lastTransitionTime": settled},
                       {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", "lastTransitionTime": settled},
                       {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range", "lastTransitionTime": settled}]},
    }))?;
    Ok(())
}

/// An `Opaque` secret (the simulator holds it; no client of this project reads it).
pub(crate) fn secret(
    ctx: &mut Ctx,
    namespace: &str,
    name: &str,
    entries: &[(&str, &str)],
    age: i64,
) -> Result<(), StoreError> {
    let data: serde_json::Map<String, Value> =
        entries.iter().map(|(k, v)| ((*k).to_owned(), json!(base64(v.as_bytes())))).collect();
    ctx.insert(SECRETS, json!({"metadata": {"name": name, "namespace": namespace, "creationTimestamp": ctx.ts(age)}, "type": "Opaque", "data": data}))?;
    Ok(())
}

/// The app's `ClusterIP` service on `ports` (`(name, port, target)`), and for a stateful set its headless
/// `<name>-headless` governing service.
pub(crate) fn services_for(
    ctx: &mut Ctx,
    app: &App,
    pods: &[Arc<Value>],
    ports: &[(&'static str, u16, u16)],
    headless: bool,
) -> Result<(), StoreError> {
    let ports: Vec<Port> = ports.iter().map(|(n, p, t)| Port::named(n, *p, *t)).collect();
    let mut spec = ServiceSpec {
        namespace: app.namespace.clone(),
        name: app.name.clone(),
        labels: app.labels(),
        selector: Some(app.selector()),
        ports: ports.clone(),
        kind: ServiceKind::ClusterIp,
        age: app.age,
    };
    service(ctx, &spec, pods, None, &[])?;
    if headless {
        spec.name = format!("{}-headless", app.name);
        spec.kind = ServiceKind::Headless;
        spec.ports = ports;
        service(ctx, &spec, pods, None, &[])?;
    }
    Ok(())
}
