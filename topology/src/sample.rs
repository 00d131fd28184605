//! Built-in sample topologies: [`kgents`] for demos, screenshots and tests, [`scale`] for benchmarks.
//!
//! Both are deterministic (fixed times, uids from a counter, names from a seeded generator) so tests can assert
//! literal values and benchmark runs are comparable.

mod build;
mod kgents;

use self::build::{Builder, PodSpec, PodState, SplitMix64, DAY, EPOCH};
pub use self::kgents::kgents;
use crate::{
    entity::{Endpoints, Replicas, ServiceType},
    id::Kind,
    topology::Topology,
};

/// The number of pods [`scale`] needs for about `entities` entities (pods are about three quarters of them).
pub fn pods_for_entities(entities: usize) -> usize {
    entities * 3 / 4
}

/// A synthetic cluster `scale` for benchmarks: 20 namespaces, a deployment with one replicaset and a service per
/// 10 pods, a node per 30 pods, and about 2 % crash-looping, 1 % pending and 1 % not-ready pods. About
/// `n_pods × 4/3` entities. The same `seed` gives the same topology.
pub fn scale(n_pods: usize, seed: u64) -> Topology {
    const NAMESPACES: usize = 20;
    let mut rng = SplitMix64::new(seed);
    let t = EPOCH - 30 * DAY;
    let mut b = Builder::new("scale", t);
    let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("team-{i:02}")).collect();
    for (i, ns) in namespaces.iter().enumerate() {
        b.namespace(ns, t + i as i64);
    }
    let nodes: Vec<String> = (0..n_pods.div_ceil(30).max(1)).map(|i| format!("node-{i:04}")).collect();
    for node in &nodes {
        b.node(node, t, &[]);
    }
    let mut placed = 0_usize;
    let mut app_index = 0_usize;
    while placed < n_pods {
        let ns = &namespaces[app_index % NAMESPACES];
        let app = format!("app-{app_index:05}");
        let hash = rng.suffix(9);
        let count = (n_pods - placed).min(10);
        let states: Vec<PodState> = (0..count)
            .map(|_| match rng.below(1000) {
                0..20 => PodState::CrashLoop,
                20..30 => PodState::Pending,
                30..40 => PodState::NotReady,
                _ => PodState::Ready,
            })
            .collect();
        let n = count as u32;
        let up = states.iter().filter(|s| **s == PodState::Ready).count() as u32;
        let replicas = Replicas { desired: n, current: n, ready: up, available: up, updated: n };
        let created = EPOCH - DAY - rng.below(20 * 86_400) as i64;
        let deployment = b.workload(Kind::Deployment, ns, &app, &app, replicas, None, created);
        let rs_name = format!("{app}-{hash}");
        let rs = b.workload(Kind::ReplicaSet, ns, &rs_name, &app, replicas, Some(deployment), created);
        for state in &states {
            let node = &nodes[placed % nodes.len()];
            b.pod(PodSpec {
                namespace: ns,
                name: format!("{rs_name}-{}", rng.suffix(5)),
                owner: rs.clone(),
                node: Some(node),
                labels: &[("app", &app), ("pod-template-hash", &hash)],
                image: "registry.example/app:1.0.0",
                state: *state,
                mounts: Vec::new(),
                created,
            });
            placed += 1;
        }
        let scheduled = states.iter().filter(|s| **s != PodState::Pending).count() as u32;
        let endpoints = Endpoints { ready: up, not_ready: scheduled - up };
        b.service(ns, &app, &[("app", &app)], ServiceType::ClusterIp, Some(endpoints), created);
        app_index += 1;
    }
    let mut topology = b.finish();
    topology.set_seq(1);
    topology
}

#[cfg(test)]
mod tests;
