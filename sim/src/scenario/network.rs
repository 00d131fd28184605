//! Services with their `Endpoints` and `EndpointSlices` (listing the selected pods' IPs, ready or not, as the
//! endpoints controllers do), and Ingresses.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::Ctx;
use crate::resource::{ENDPOINTS, ENDPOINTSLICES, INGRESSES, SERVICES};
use crate::store::StoreError;

/// A service port: name, port, and the container port it targets (by number).
#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub name: &'static str,
    pub number: u16,
    pub target: u16,
}

impl Port {
    pub fn named(name: &'static str, port: u16, target: u16) -> Port {
        Port { name, number: port, target }
    }
}

/// How a service is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    ClusterIp,
    Headless,
    LoadBalancer,
}

/// What a service is made from.
pub(crate) struct ServiceSpec {
    pub namespace: String,
    pub name: String,
    pub labels: Value,
    /// The pod selector; `None` for a service with manually managed endpoints.
    pub selector: Option<Value>,
    pub ports: Vec<Port>,
    pub kind: ServiceKind,
    pub age: i64,
}

fn selects(selector: &Map<String, Value>, pod: &Value) -> bool {
    selector.iter().all(|(k, v)| &pod["metadata"]["labels"][k] == v)
}

fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Inserts a service, its `Endpoints` and its `EndpointSlice`. `pods` are candidates (the selector picks);
/// `manual_ips` are endpoint addresses for a selector-less service. Returns the service's load balancer IP.
pub(crate) fn service(
    ctx: &mut Ctx,
    spec: &ServiceSpec,
    pods: &[Arc<Value>],
    cluster_ip: Option<&str>,
    manual_ips: &[String],
) -> Result<(), StoreError> {
    let created = ctx.ts(spec.age);
    let ip = match (spec.kind, cluster_ip) {
        (ServiceKind::Headless, _) => "None".to_owned(),
        (_, Some(ip)) => ip.to_owned(),
        _ => ctx.cluster_ip(),
    };
    let ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| {
            let mut port =
                json!({"name": p.name, "port": p.number, "protocol": "TCP", "targetPort": p.target});
            if spec.kind == ServiceKind::LoadBalancer {
                port["nodePort"] = json!(30_000 + ctx.rng.below(2767));
            }
            port
        })
        .collect();
    let mut svc_spec = json!({
        "clusterIP": ip,
        "clusterIPs": [ip],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": ports,
        "sessionAffinity": "None",
        "type": if spec.kind == ServiceKind::LoadBalancer { "LoadBalancer" } else { "ClusterIP" },
    });
    let mut status = json!({"loadBalancer": {}});
    if spec.kind == ServiceKind::LoadBalancer {
        svc_spec["externalTrafficPolicy"] = json!("Cluster");
        svc_spec["allocateLoadBalancerNodePorts"] = json!(true);
        status = json!({"loadBalancer": {"ingress": [{"ip": "172.18.255.200", "ipMode": "VIP"}]}});
    }
    if let Some(selector) = &spec.selector {
        svc_spec["selector"] = selector.clone();
    }
    if spec.kind == ServiceKind::Headless {
        svc_spec["publishNotReadyAddresses"] = json!(true);
    }
    let service = ctx.insert(
        SERVICES,
        json!({
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels, "creationTimestamp": created},
            "spec": svc_spec,
            "status": status,
        }),
    )?;
    endpoints(ctx, spec, &service, pods, manual_ips, &created)
}

/// The service's `Endpoints` and its `EndpointSlice`, as the endpoint controllers write them.
fn endpoints(
    ctx: &mut Ctx,
    spec: &ServiceSpec,
    service: &Value,
    pods: &[Arc<Value>],
    manual_ips: &[String],
    created: &str,
) -> Result<(), StoreError> {
    let selected: Vec<&Arc<Value>> = match spec.selector.as_ref().and_then(Value::as_object) {
        Some(selector) => {
            pods.iter().filter(|p| p["status"]["podIP"].is_string() && selects(selector, p)).collect()
        }
        None => Vec::new(),
    };
    let headless = spec.kind == ServiceKind::Headless;
    let address = |pod: &Value| {
        json!({"ip": pod["status"]["podIP"], "nodeName": pod["spec"]["nodeName"],
               "targetRef": {"kind": "Pod", "namespace": spec.namespace, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}})
    };
    let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
    for pod in &selected {
        if pod_ready(pod) || headless {
            ready.push(address(pod));
        } else {
            not_ready.push(address(pod));
        }
    }
    ready.extend(manual_ips.iter().map(|ip| json!({"ip": ip})));
    let endpoint_ports: Vec<Value> =
        spec.ports.iter().map(|p| json!({"name": p.name, "port": p.target, "protocol": "TCP"})).collect();
    let mut subset = json!({"ports": endpoint_ports.clone()});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    let subsets = if ready.is_empty() && not_ready.is_empty() { json!([]) } else { json!([subset]) };
    ctx.insert(
        ENDPOINTS,
        json!({
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels, "creationTimestamp": created,
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": created}},
            "subsets": subsets,
        }),
    )?;
    let mut slice_endpoints: Vec<Value> = selected
        .iter()
        .map(|pod| {
            let is_ready = pod_ready(pod);
            json!({"addresses": [pod["status"]["podIP"]],
                   "conditions": {"ready": is_ready, "serving": is_ready, "terminating": false},
                   "nodeName": pod["spec"]["nodeName"],
                   "targetRef": {"kind": "Pod", "namespace": spec.namespace, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}})
        })
        .collect();
    slice_endpoints
        .extend(manual_ips.iter().map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}})));
    let mut slice_labels = spec.labels.clone();
    slice_labels["kubernetes.io/service-name"] = json!(spec.name);
    slice_labels["endpointslice.kubernetes.io/managed-by"] = json!("endpointslice-controller.k8s.io");
    let slice_name = if spec.selector.is_some() {
        format!("{}-{}", spec.name, ctx.rng.suffix(5))
    } else {
        spec.name.clone()
    };
    ctx.insert(
        ENDPOINTSLICES,
        json!({
            "metadata": {"name": slice_name, "namespace": spec.namespace, "labels": slice_labels,
                         "creationTimestamp": created, "generateName": format!("{}-", spec.name),
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": spec.name,
                                              "uid": service["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
            "addressType": "IPv4",
            "endpoints": slice_endpoints,
            "ports": endpoint_ports,
        }),
    )?;
    Ok(())
}

/// An Ingress routing `host` to `service:port` through the `kong` class.
pub(crate) fn ingress(
    ctx: &mut Ctx,
    namespace: &str,
    name: &str,
    host: &str,
    service: &str,
    port: u16,
    age: i64,
) -> Result<(), StoreError> {
    let created = ctx.ts(age);
    ctx.insert(
        INGRESSES,
        json!({
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created, "generation": 1,
                         "annotations": {"konghq.com/strip-path": "true"}},
            "spec": {"ingressClassName": "kong", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": port}}}}]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}},
        }),
    )?;
    Ok(())
}
