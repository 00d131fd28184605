//! What a pod entity carries: the parts of `spec` and `status` the map and the inspector show.
//!
//! The split between a container's spec (name, image, resources) and its [`ContainerStatus`] is deliberate: status
//! changes many times an hour, spec almost never, and a diff can then ship one container's status alone (see
//! [`crate::diff::Change::ContainerStatus`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{reason::Reason, Cond, Resources};
use crate::id::Ref;

/// `status.phase`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, not all containers running yet.
    #[default]
    Pending,
    /// Bound to a node, at least one container running or restarting.
    Running,
    /// All containers exited with 0 and will not restart.
    Succeeded,
    /// All containers exited, at least one with a failure.
    Failed,
    /// The node stopped reporting.
    Unknown,
}

impl PodPhase {
    /// The phase as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }

    /// Succeeded or failed: the pod will never run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// The `PodScheduled` condition, folded with its reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheduling {
    /// No verdict yet.
    #[default]
    Pending,
    /// Bound to a node.
    Scheduled,
    /// The scheduler found no node (`reason: Unschedulable`).
    Unschedulable,
    /// Held back by scheduling gates (`reason: SchedulingGated`).
    Gated,
}

/// The pod conditions that decide what kubectl prints and how healthy the pod is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodConditions {
    /// `PodScheduled`.
    pub scheduled: Scheduling,
    /// `Initialized`: every init container finished.
    pub initialized: Cond,
    /// `Ready`: the pod receives traffic.
    pub ready: Cond,
}

/// `state` of a container status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerState {
    /// Not running yet (or backing off), with the kubelet's reason.
    Waiting {
        /// `state.waiting.reason`.
        reason: Option<Reason>,
    },
    /// Running.
    Running,
    /// Exited.
    Terminated {
        /// `state.terminated.reason`.
        reason: Option<Reason>,
        /// The exit code.
        exit_code: i32,
        /// The signal that killed it, 0 if none.
        signal: i32,
    },
}

impl Default for ContainerState {
    fn default() -> Self {
        ContainerState::Waiting { reason: None }
    }
}

/// A container's `status` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// Passes its readiness probe.
    pub ready: bool,
    /// `restartCount`.
    pub restarts: u32,
    /// The current state.
    pub state: ContainerState,
    /// `lastState.terminated.reason`: why the previous run ended (`OOMKilled`, `Error`…).
    pub last_termination: Option<Reason>,
    /// `lastState.terminated.finishedAt`, unix seconds: when it ended. A container keeps its last termination
    /// until it terminates again, so without this an OOM kill from last week would read as news.
    #[serde(default)]
    pub last_termination_at: Option<i64>,
}

/// A container: the spec parts the inspector shows, plus its status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Container {
    /// The container name.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// `resources.requests`.
    pub requests: Resources,
    /// `resources.limits`.
    pub limits: Resources,
    /// The container's status.
    pub status: ContainerStatus,
}

impl Container {
    /// A container with a name and an image, waiting, no resources.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Container { name: name.into(), image: image.into(), ..Container::default() }
    }

    /// Whether only the status differs between the two (same name, image and resources).
    pub fn same_spec(&self, other: &Container) -> bool {
        self.name == other.name
            && self.image == other.image
            && self.requests == other.requests
            && self.limits == other.limits
    }
}

/// Everything a pod entity carries beyond the common fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodInfo {
    /// `status.phase`.
    pub phase: PodPhase,
    /// The conditions that matter.
    pub conditions: PodConditions,
    /// `status.reason` (`Evicted`, `NodeLost`…).
    pub reason: Option<Reason>,
    /// `metadata.deletionTimestamp` is set: the pod is terminating.
    pub deleting: bool,
    /// `spec.nodeName`: the node it runs on.
    pub node: Option<Arc<str>>,
    /// Init containers, in spec order.
    pub init_containers: Vec<Container>,
    /// Containers, in spec order.
    pub containers: Vec<Container>,
    /// What it mounts: persistent volume claims, config maps and secrets, by name.
    pub mounts: Vec<Ref>,
}

impl PodInfo {
    /// Ready containers and all containers, kubectl's READY column (`1/2`).
    pub fn ready_containers(&self) -> (usize, usize) {
        let ready = self.containers.iter().filter(|c| c.status.ready).count();
        (ready, self.containers.len())
    }

    /// Restarts of all containers: of the init containers while the pod initialises, else of the main ones (the
    /// way kubectl's RESTARTS column counts).
    pub fn restarts(&self) -> u32 {
        let init: u32 = self.init_containers.iter().map(|c| c.status.restarts).sum();
        let main: u32 = self.containers.iter().map(|c| c.status.restarts).sum();
        if self.conditions.initialized == Cond::True || self.init_containers.is_empty() {
            main
        } else {
            init + main
        }
    }

    /// The sum of the containers' requests, kubectl describe's "Requests" for the pod.
    pub fn requests(&self) -> Resources {
        self.containers.iter().fold(Resources::default(), |acc, c| acc.plus(c.requests))
    }

    /// The sum of the containers' limits.
    pub fn limits(&self) -> Resources {
        self.containers.iter().fold(Resources::default(), |acc, c| acc.plus(c.limits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_add_up_and_unset_stays_unset() {
        let mut pod = PodInfo::default();
        let mut a = Container::new("a", "img");
        a.requests = Resources { cpu_millis: Some(100), memory_bytes: None };
        let mut b = Container::new("b", "img");
        b.requests = Resources { cpu_millis: Some(250), memory_bytes: None };
        pod.containers = vec![a, b];
        assert_eq!(pod.requests(), Resources { cpu_millis: Some(350), memory_bytes: None });
        assert_eq!(pod.limits(), Resources::default());
    }

    #[test]
    fn ready_counts_like_kubectl() {
        let mut pod = PodInfo::default();
        let mut a = Container::new("a", "img");
        a.status.ready = true;
        pod.containers = vec![a, Container::new("b", "img")];
        assert_eq!(pod.ready_containers(), (1, 2));
    }
}
