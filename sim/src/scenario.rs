//! Scenarios: what a simulated cluster contains when it starts, deterministic from a seed.
//!
//! Objects are built as the real controllers would have left them (owner references deployment → replica
//! set → pod with `pod-template-hash`, stateful set pods `<sts>-0`, endpoints and endpoint slices listing
//! ready pod IPs, kubelet-style pod status), because the collector projects exactly those fields and the demo should
//! look like a real cluster, including its unhealthy parts.

mod cluster;
mod events;
mod kgents;
mod multi_agent;
mod network;
mod orchestrator;
mod platform;
mod pod;
mod scale;
mod workload;

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use crate::clock::rfc3339;
use crate::resource::ResourceId;
use crate::rng::Rng;
use crate::store::{Store, StoreError};

/// A starting cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// Nothing but the `default` namespace and the `kubernetes` service.
    Empty,
    /// The kgents layout: 3 nodes, 5 namespaces, 21 services, 7 deployments, 22 pods (two unhealthy).
    Kgents,
    /// About this many pods over ~20 namespaces, in deployments of 10 with a service each, ~30 per node.
    Scale(usize),
    /// An AI agent platform: 7 autoscaled services of 2, postgres, qdrant and NATS stateful sets, a frontend
    /// behind an ingress (5 nodes, 21 pods).
    MultiAgent,
    /// A job orchestrator: postgres, `RabbitMQ` and Redis stateful sets, orchestrator ×3 and workers ×10
    /// (4 nodes, 18 pods).
    Orchestrator,
}

/// A scenario name that is not one of `empty`, `kgents`, `multi-agent`, `orchestrator`, `scale:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scenario {0:?}: expected `empty`, `kgents`, `multi-agent`, `orchestrator` or `scale:N` (N pods)"
)]
pub struct UnknownScenario(String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, UnknownScenario> {
        match s {
            "empty" => Ok(Scenario::Empty),
            "kgents" => Ok(Scenario::Kgents),
            "multi-agent" => Ok(Scenario::MultiAgent),
            "orchestrator" => Ok(Scenario::Orchestrator),
            _ => s
                .strip_prefix("scale:")
                .and_then(|n| n.parse().ok())
                .map(Scenario::Scale)
                .ok_or_else(|| UnknownScenario(s.to_owned())),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scenario::Empty => f.write_str("empty"),
            Scenario::Kgents => f.write_str("kgents"),
            Scenario::Scale(n) => write!(f, "scale:{n}"),
            Scenario::MultiAgent => f.write_str("multi-agent"),
            Scenario::Orchestrator => f.write_str("orchestrator"),
        }
    }
}

/// Writes `scenario` into an empty `store`.
///
/// # Errors
/// A store error means the scenario is inconsistent (a bug), e.g. two objects with one name.
pub fn populate(store: &Store, scenario: &Scenario, seed: u64) -> Result<(), StoreError> {
    let mut ctx = Ctx::new(store, seed);
    match scenario {
        Scenario::Empty => cluster::default_namespace(&mut ctx),
        Scenario::Kgents => kgents::populate(&mut ctx),
        Scenario::Scale(pods) => scale::populate(&mut ctx, *pods),
        Scenario::MultiAgent => multi_agent::populate(&mut ctx),
        Scenario::Orchestrator => orchestrator::populate(&mut ctx),
    }
}

/// A node pods can be placed on, with its pod address range.
#[derive(Debug, Clone)]
pub(crate) struct NodeSlot {
    pub name: String,
    pub ip: String,
    pub index: u32,
    pub next_pod: u32,
    pub schedulable: bool,
}

/// What builders share while a scenario is written: the store, randomness, time and address allocation.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub rng: Rng,
    pub now: i64,
    pub nodes: Vec<NodeSlot>,
    next_node: usize,
    cluster_ips: HashSet<String>,
}

impl<'a> Ctx<'a> {
    fn new(store: &'a Store, seed: u64) -> Self {
        Ctx {
            store,
            rng: Rng::new(seed),
            now: store.clock().now(),
            nodes: Vec::new(),
            next_node: 0,
            cluster_ips: HashSet::new(),
        }
    }

    /// Inserts an object as the simulator (status and timestamps kept).
    pub fn insert(&self, resource: ResourceId, object: Value) -> Result<Arc<Value>, StoreError> {
        self.store.insert(resource, object)
    }

    /// The timestamp `ago` seconds before now.
    pub fn ts(&self, ago: i64) -> String {
        rfc3339(self.now - ago)
    }

    /// The next schedulable node, round robin.
    pub fn schedule(&mut self) -> usize {
        let schedulable: Vec<usize> = (0..self.nodes.len()).filter(|i| self.nodes[*i].schedulable).collect();
        let pick = schedulable[self.next_node % schedulable.len()];
        self.next_node += 1;
        pick
    }

    /// A fresh pod IP from the node's /24 (`10.244.<node>.x`, spilling into `10.245…` past 256 nodes).
    pub fn pod_ip(&mut self, node: usize) -> String {
        let slot = &mut self.nodes[node];
        slot.next_pod += 1;
        let base = u32::from(Ipv4Addr::new(10, 244, 0, 0)) + (slot.index << 8) + slot.next_pod % 254 + 1;
        Ipv4Addr::from(base).to_string()
    }

    /// A fresh, unused service IP in `10.96.0.0/12`.
    pub fn cluster_ip(&mut self) -> String {
        loop {
            let offset = 2 + self.rng.below((1 << 20) - 3) as u32;
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + offset).to_string();
            if !ip.ends_with(".0") && !ip.ends_with(".255") && self.cluster_ips.insert(ip.clone()) {
                return ip;
            }
        }
    }
}

#[cfg(test)]
mod tests;
