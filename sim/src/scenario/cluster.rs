//! The cluster's frame: nodes, namespaces (with the objects every namespace gets), and the `kubernetes`
//! service in `default`.

use serde_json::{json, Value};

use super::network::{service, Port, ServiceKind, ServiceSpec};
use super::{Ctx, NodeSlot};
use crate::resource::{CONFIGMAPS, NAMESPACES, NODES, SERVICEACCOUNTS};
use crate::store::StoreError;

/// The Kubernetes version simulated nodes run.
pub(crate) const KUBELET_VERSION: &str = "v1.33.1";
/// How long the simulated cluster has existed.
pub(crate) const CLUSTER_AGE: i64 = 12 * 86_400;

/// A node: capacity, conditions, addresses and node info as a kind node reports them.
pub(crate) fn node(
    ctx: &mut Ctx,
    name: &str,
    control_plane: bool,
    (cpu, memory_ki): (u32, u64),
) -> Result<(), StoreError> {
    let index = ctx.nodes.len() as u32;
    let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(172, 18, 0, 2)) + index).to_string();
    let created = ctx.ts(CLUSTER_AGE - i64::from(index) * 17);
    let jitter = ctx.rng.below(40) as i64;
    let heartbeat = ctx.ts(jitter);
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    });
    let mut taints = json!([]);
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        taints = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    let cidr = format!("10.{}.{}.0/24", 244 + index / 256, index % 256);
    let resources = json!({
        "cpu": cpu.to_string(),
        "ephemeral-storage": "102626232Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format!("{memory_ki}Ki"),
        "pods": "110",
    });
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": heartbeat, "lastTransitionTime": created})
    };
    let (boot_id, machine_id) = (ctx.rng.uuid(), ctx.rng.hex(32));
    let node = json!({
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": created,
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": format!("kind://docker/kgents/{name}"), "taints": taints},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": boot_id,
                "containerRuntimeVersion": "containerd://2.1.1",
                "kernelVersion": "6.8.0-60-generic",
                "kubeProxyVersion": "",
                "kubeletVersion": KUBELET_VERSION,
                "machineID": machine_id,
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": ctx.rng.uuid(),
            },
        },
    });
    ctx.insert(NODES, node)?;
    ctx.nodes.push(NodeSlot { name: name.to_owned(), ip, index, next_pod: 0, schedulable: !control_plane });
    Ok(())
}

/// A namespace with what every namespace gets: the `default` service account and `kube-root-ca.crt`.
pub(crate) fn namespace(ctx: &mut Ctx, name: &str, labels: &Value, age: i64) -> Result<(), StoreError> {
    let created = ctx.ts(age);
    let mut all_labels = labels.clone();
    all_labels["kubernetes.io/metadata.name"] = json!(name);
    ctx.insert(
        NAMESPACES,
        json!({"metadata": {"name": name, "labels": all_labels, "creationTimestamp": created},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
    )?;
    ctx.insert(
        SERVICEACCOUNTS,
        json!({"metadata": {"name": "default", "namespace": name, "creationTimestamp": created}}),
    )?;
    ctx.insert(
        CONFIGMAPS,
        json!({
            "metadata": {"name": "kube-root-ca.crt", "namespace": name, "creationTimestamp": created,
                         "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIU2ltdWxhdGVkMA0GCSqGSIb3DQEBCwUAMBUxEzARBgNV\n-----END CERTIFICATE-----\n"},
        }),
    )?;
    Ok(())
}

/// `default` and its `kubernetes` service, whose endpoint is the control plane (or a fixed address).
pub(crate) fn default_namespace(ctx: &mut Ctx) -> Result<(), StoreError> {
    namespace(ctx, "default", &json!({}), CLUSTER_AGE)?;
    let api_ip = ctx.nodes.first().map_or_else(|| "172.18.0.2".to_owned(), |n| n.ip.clone());
    let spec = ServiceSpec {
        namespace: "default".into(),
        name: "kubernetes".into(),
        labels: json!({"component": "apiserver", "provider": "kubernetes"}),
        selector: None,
        ports: vec![Port::named("https", 443, 6443)],
        kind: ServiceKind::ClusterIp,
        age: CLUSTER_AGE,
    };
    service(ctx, &spec, &[], Some("10.96.0.1"), &[api_ip])
}
