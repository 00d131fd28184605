//! `scale:N`: a big, plain cluster for load tests — N pods over 20 namespaces in deployments of 10, a service
//! each, about 30 pods per node, roughly 1 in 97 pods crash looping. No Events: they would dwarf the rest.

use std::sync::Arc;

use serde_json::{json, Value};

use super::cluster::{default_namespace, namespace, node, CLUSTER_AGE};
use super::network::{service, Port, ServiceKind, ServiceSpec};
use super::pod::Health;
use super::workload::{deploy, App, Container, Controller};
use super::Ctx;
use crate::store::StoreError;

const NAMESPACES: usize = 20;
const REPLICAS: usize = 10;
const PODS_PER_NODE: usize = 30;

/// Writes about `pods` pods.
pub(crate) fn populate(ctx: &mut Ctx, pods: usize) -> Result<(), StoreError> {
    let nodes = pods.div_ceil(PODS_PER_NODE).max(1);
    node(ctx, "scale-control-plane", true, (16, 65_843_232))?;
    for i in 0..nodes {
        node(ctx, &format!("scale-worker-{i:04}"), false, (32, 131_686_464))?;
    }
    default_namespace(ctx)?;
    let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("scale-{i:02}")).collect();
    for ns in &namespaces {
        namespace(ctx, ns, &json!({"app.kubernetes.io/part-of": "scale"}), CLUSTER_AGE - 3600)?;
    }
    let deployments = pods.div_ceil(REPLICAS);
    let mut made = 0;
    for d in 0..deployments {
        let replicas = REPLICAS.min(pods - made);
        let ns = &namespaces[d % NAMESPACES];
        let name = format!("app-{d:04}");
        let unhealthy = (0..replicas)
            .filter(|i| (made + i) % 97 == 96)
            .map(|i| (i, Health::CrashLoop(3 + (i as i64 % 5))))
            .collect();
        made += replicas;
        let app = App {
            namespace: ns.clone(),
            name: name.clone(),
            part_of: "scale",
            controller: Controller::Deployment { replicas, previous_image: None },
            containers: vec![Container {
                name: "app",
                image: "ghcr.io/gestalt/scale-app:1.0.0",
                ports: vec![("http", 8080)],
                cpu: ("50m", "200m"),
                memory: ("64Mi", "128Mi"),
                env: json!([{"name": "APP_NAME", "value": name}]),
                mounts: json!([]),
            }],
            volumes: json!([]),
            host_network: false,
            age: 86_400 + (d as i64 * 37) % 86_400,
            unhealthy,
            events: false,
        };
        let app_pods: Vec<Arc<Value>> = deploy(ctx, &app)?;
        let spec = ServiceSpec {
            namespace: ns.clone(),
            name,
            labels: app.labels(),
            selector: Some(app.selector()),
            ports: vec![Port::named("http", 80, 8080)],
            kind: ServiceKind::ClusterIp,
            age: app.age,
        };
        service(ctx, &spec, &app_pods, None, &[])?;
    }
    Ok(())
}
