//! What the non-pod kinds carry: the few status fields that decide health and the by-name references that become
//! relations. Each struct mirrors one Kubernetes kind and keeps only what the map, the inspector or the health
//! rules read, so that the collector's projection at the edge stays a short, testable function.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cond, Resources};
use crate::{id::Ref, selector::LabelSelector};

/// The cluster entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The API server's `gitVersion`, when known.
    pub version: Option<String>,
}

/// A namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamespaceInfo {
    /// `status.phase == Terminating`.
    pub terminating: bool,
}

/// A node condition that signals trouble when true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodePressure {
    /// `MemoryPressure`.
    Memory,
    /// `DiskPressure`.
    Disk,
    /// `PIDPressure`.
    Pid,
    /// `NetworkUnavailable`.
    NetworkUnavailable,
}

impl NodePressure {
    /// The condition type as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodePressure::Memory => "MemoryPressure",
            NodePressure::Disk => "DiskPressure",
            NodePressure::Pid => "PIDPressure",
            NodePressure::NetworkUnavailable => "NetworkUnavailable",
        }
    }
}

/// A node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The `Ready` condition.
    pub ready: Cond,
    /// Pressure conditions that are true, sorted.
    pub pressures: Vec<NodePressure>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// `status.allocatable`.
    pub allocatable: Resources,
}

/// Replica counts of a workload, named after the deployment fields (a daemonset maps `desiredNumberScheduled` to
/// `desired`, `numberReady` to `ready`, and so on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Replicas {
    /// `spec.replicas`.
    pub desired: u32,
    /// `status.replicas`: pods that exist.
    pub current: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    /// `status.availableReplicas`.
    pub available: u32,
    /// `status.updatedReplicas`.
    pub updated: u32,
}

/// A deployment, replicaset, statefulset or daemonset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadInfo {
    /// Replica counts.
    pub replicas: Replicas,
    /// `spec.selector`.
    pub selector: LabelSelector,
    /// Daemon sets only: `status.numberMisscheduled`, pods running on nodes that should not run them (a node's
    /// labels or taints changed under them). Zero for the other kinds.
    #[serde(default)]
    pub misscheduled: u32,
    /// Deployments only: the `Progressing` condition is false with `ProgressDeadlineExceeded`, the controller's
    /// own verdict that the rollout is stuck (it flips back when a new rollout progresses).
    #[serde(default)]
    pub progress_deadline_exceeded: bool,
}

/// The state a job's conditions add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobState {
    /// Neither complete nor failed.
    #[default]
    Running,
    /// `Complete` condition true.
    Complete,
    /// `Failed` condition true.
    Failed,
    /// `spec.suspend`.
    Suspended,
}

/// A job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobInfo {
    /// `spec.completions`.
    pub completions: Option<u32>,
    /// Pods running.
    pub active: u32,
    /// Pods that succeeded.
    pub succeeded: u32,
    /// Pods that failed.
    pub failed: u32,
    /// The folded conditions.
    pub state: JobState,
}

/// A cron job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CronJobInfo {
    /// `spec.schedule`.
    pub schedule: String,
    /// `spec.suspend`.
    pub suspended: bool,
    /// Jobs running now.
    pub active: u32,
    /// `status.lastScheduleTime`, unix seconds.
    pub last_schedule: Option<i64>,
}

/// `spec.type` of a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceType {
    /// A virtual IP inside the cluster.
    #[default]
    ClusterIp,
    /// Plus a port on every node.
    NodePort,
    /// Plus an external load balancer.
    LoadBalancer,
    /// A DNS alias, no endpoints.
    ExternalName,
}

/// Endpoint counts from the service's `EndpointSlices`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoints {
    /// Ready addresses.
    pub ready: u32,
    /// Addresses not ready (failing readiness or terminating).
    pub not_ready: u32,
}

/// A service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// `spec.type`.
    pub service_type: ServiceType,
    /// `spec.clusterIP: None`.
    pub headless: bool,
    /// `spec.selector`; empty when the endpoints are managed elsewhere.
    pub selector: BTreeMap<String, String>,
    /// Endpoint counts, `None` when unknown.
    pub endpoints: Option<Endpoints>,
}

/// An ingress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IngressInfo {
    /// `spec.ingressClassName`.
    pub class: Option<String>,
    /// Rule hosts.
    pub hosts: Vec<String>,
    /// Backend service names (default backend and rules), sorted, without duplicates.
    pub backends: Vec<String>,
    /// `status.loadBalancer.ingress` is non-empty.
    pub has_address: bool,
}

/// `status.phase` of a persistent volume claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PvcPhase {
    /// Not bound yet.
    #[default]
    Pending,
    /// Bound to a volume.
    Bound,
    /// Its volume is gone.
    Lost,
}

/// A persistent volume claim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PvcInfo {
    /// The phase.
    pub phase: PvcPhase,
    /// `status.capacity.storage`, bytes.
    pub capacity_bytes: Option<u64>,
    /// `spec.storageClassName`.
    pub storage_class: Option<String>,
}

/// A horizontal pod autoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HpaInfo {
    /// `spec.scaleTargetRef`, in the HPA's namespace.
    pub target: Ref,
    /// `spec.minReplicas`.
    pub min_replicas: u32,
    /// `spec.maxReplicas`.
    pub max_replicas: u32,
    /// `status.currentReplicas`.
    pub current_replicas: u32,
    /// `status.desiredReplicas`.
    pub desired_replicas: u32,
    /// The `AbleToScale` condition.
    pub able_to_scale: Cond,
    /// The `ScalingActive` condition (false when metrics are missing).
    pub scaling_active: Cond,
}
