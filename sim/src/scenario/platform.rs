//! Pieces the platform scenarios (`multi-agent`, `orchestrator`) share: autoscalers, credentials, and a
//! service (plus a headless one for stateful sets) in front of each app.

use std::sync::Arc;

use serde_json::{json, Value};

use super::kgents::extras::base64;
use super::kgents::{container, env, secret_env};
use super::network::{service, Port, ServiceKind, ServiceSpec};
use super::workload::{deploy, App, Container, Controller};
use super::Ctx;
use crate::resource::{HPAS, SECRETS};
use crate::store::StoreError;

/// What every app of one platform scenario has in common: its `app.kubernetes.io/part-of` and its age.
#[derive(Clone, Copy)]
pub(crate) struct Platform {
    pub part_of: &'static str,
    /// Seconds since it was installed.
    pub age: i64,
}

impl Platform {
    /// An app of this platform, healthy, with events.
    pub(crate) fn app(
        self,
        namespace: &str,
        name: &str,
        controller: Controller,
        containers: Vec<Container>,
    ) -> App {
        App {
            namespace: namespace.into(),
            name: name.into(),
            part_of: self.part_of,
            controller,
            containers,
            volumes: json!([]),
            host_network: false,
            age: self.age,
            unhealthy: vec![],
            events: true,
        }
    }

    /// A stateful set of `replicas` running `c`, with one volume claim template `(name, size, mount path)`, its
    /// service and headless service on `ports` (`(name, port, target)`).
    pub(crate) fn stateful(
        self,
        ctx: &mut Ctx,
        namespace: &str,
        c: Container,
        (replicas, claim): (usize, (&'static str, &'static str, &'static str)),
        ports: &[(&'static str, u16, u16)],
    ) -> Result<(), StoreError> {
        let set =
            self.app(namespace, c.name, Controller::StatefulSet { replicas, claim: Some(claim) }, vec![c]);
        let pods = deploy(ctx, &set)?;
        services_for(ctx, &set, &pods, ports, true)
    }

    /// Postgres as the platforms run it: one replica, database and user `db`, the password from secret
    /// `credentials`, data on a `size` claim.
    pub(crate) fn postgres(
        self,
        ctx: &mut Ctx,
        namespace: &str,
        (image, db, credentials): (&'static str, &str, &str),
        size: &'static str,
    ) -> Result<(), StoreError> {
        let mut pg = container("postgres", image, vec![("postgres", 5432)]);
        pg.cpu = ("500m", "2");
        pg.memory = ("1Gi", "4Gi");
        pg.env = json!([
            env("POSTGRES_DB", db),
            env("POSTGRES_USER", db),
            secret_env("POSTGRES_PASSWORD", credentials, "password"),
            env("PGDATA", "/var/lib/postgresql/data/pgdata")
        ]);
        self.stateful(
            ctx,
            namespace,
            pg,
            (1, ("data", size, "/var/lib/postgresql/data")),
            &[("postgres", 5432, 5432)],
        )
    }
}

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
