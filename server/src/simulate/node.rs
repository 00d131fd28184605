//! Simulated nodes: the Node objects `simulate` registers, and the status a kubelet would heartbeat for them.
//!
//! A new Node gets the taint `node.kubernetes.io/not-ready:NoSchedule` from the API server and its status on
//! create is ignored, so registration is three writes, as a kubelet's: create, then the `status` subresource
//! (Ready, capacity, allocatable, addresses), then removing the not-ready taint (a real cluster's node lifecycle
//! controller would also do it once the node reports Ready; test control planes often do not run one).

use serde_json::{json, Value};

use super::pod::rfc3339;

/// The label every simulated node carries, so people and tests can tell them apart.
pub const SIMULATED_LABEL: &str = "gestalt.dev/simulated";
/// What each simulated node offers.
pub const CPU: &str = "4";
/// Memory of each simulated node.
pub const MEMORY: &str = "16Gi";
/// Pods per simulated node.
pub const PODS: &str = "110";
/// The kubelet version simulated nodes report.
pub const KUBELET_VERSION: &str = "v1.20.2-gestalt-sim";

/// One simulated node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNode {
    /// Its name.
    pub name: String,
    /// 1-based index: the node's IP is `10.200.0.<index>`, its pods' `10.244.<index>.x`.
    pub index: u32,
}

impl SimNode {
    /// The `count` nodes named `<prefix><i>`.
    pub fn all(prefix: &str, count: u32) -> Vec<SimNode> {
        (1..=count).map(|index| SimNode { name: format!("{prefix}{index}"), index }).collect()
    }

    /// The node's internal IP.
    pub fn ip(&self) -> String {
        format!("10.200.{}.{}", self.index / 250, self.index % 250 + 1)
    }

    /// The `n`-th pod IP in this node's /24 (wraps after 253: more than the 110 pods a node takes).
    pub fn pod_ip(&self, n: u32) -> String {
        format!("10.{}.{}.{}", 128 + self.index / 256, self.index % 256, n % 253 + 2)
    }

    /// The Node object to create.
    pub fn object(&self) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": {
                "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", SIMULATED_LABEL: "true"}},
            "spec": {"podCIDR": format!("10.{}.{}.0/24", 128 + self.index / 256, self.index % 256)}
        })
    }

    /// The status a healthy kubelet reports at `now` (heartbeats move `lastHeartbeatTime` only).
    pub fn status(&self, registered: i64, now: i64) -> Value {
        let since = rfc3339(registered);
        let beat = rfc3339(now);
        let cond = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": beat, "lastTransitionTime": since})
        };
        let resources = json!({"cpu": CPU, "memory": MEMORY, "pods": PODS, "ephemeral-storage": "100Gi"});
        json!({
            "capacity": resources, "allocatable": resources,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status (simulated by gestalt-live simulate)"),
            ],
            "addresses": [{"type": "InternalIP", "address": self.ip()}, {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1.0-simulated",
                         "osImage": "gestalt-live simulate", "containerRuntimeVersion": "containerd://simulated",
                         "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "operatingSystem": "linux", "architecture": "amd64"}
        })
    }
}

/// The node's taints without the ones the API server and node controller set until a kubelet reports Ready.
pub fn ready_taints(taints: &[Value]) -> Vec<Value> {
    taints
        .iter()
        .filter(|t| {
            !matches!(
                t["key"].as_str(),
                Some("node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable")
            )
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_have_distinct_addresses_and_a_ready_status() {
        let nodes = SimNode::all("sim-", 3);
        assert_eq!(nodes[2].name, "sim-3");
        assert_eq!(nodes[0].ip(), "10.200.0.2");
        assert_ne!(nodes[0].pod_ip(1), nodes[1].pod_ip(1));
        assert_ne!(nodes[0].pod_ip(1), nodes[0].pod_ip(2));
        let status = nodes[0].status(100, 200);
        let ready = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["lastHeartbeatTime"], "1970-01-01T00:03:20Z");
        assert_eq!(ready["lastTransitionTime"], "1970-01-01T00:01:40Z");
        assert_eq!(status["allocatable"]["pods"], "110");
        assert_eq!(nodes[0].object()["metadata"]["labels"][SIMULATED_LABEL], "true");
    }

    #[test]
    fn readiness_removes_only_the_not_ready_taints() {
        let taints = vec![
            json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}),
            json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}),
            json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
        ];
        assert_eq!(
            ready_taints(&taints),
            vec![json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})]
        );
    }
}
