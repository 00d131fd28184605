//! Tests of the samples: the shape of `kgents`, its health and relations, and the ratios of `scale`.

use std::collections::BTreeMap;

use super::*;
use crate::{health::Grade, health::HealthLevel, relation::RelationKind};

fn count_by_kind(topology: &Topology) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for entity in topology.entities() {
        *counts.entry(entity.kind.as_str()).or_default() += 1;
    }
    counts
}

fn names_with(topology: &Topology, level: HealthLevel) -> Vec<String> {
    topology
        .entities()
        .filter(|e| e.health.level == level)
        .map(|e| format!("{}/{}", e.kind, e.name()))
        .collect()
}

#[test]
fn kgents_has_the_shape_of_the_plan() {
    let topology = kgents();
    let expected: BTreeMap<&str, usize> = [
        ("cluster", 1),
        ("configmap", 3),
        ("deployment", 7),
        ("horizontalpodautoscaler", 1),
        ("ingress", 1),
        ("namespace", 5),
        ("node", 3),
        ("persistentvolumeclaim", 7),
        ("pod", 22),
        ("replicaset", 8),
        ("secret", 1),
        ("service", 21),
        ("statefulset", 5),
    ]
    .into();
    assert_eq!(count_by_kind(&topology), expected);
    assert_eq!(topology.len(), 85);
    assert_eq!(topology.seq(), 1);
}

#[test]
fn kgents_shows_two_failing_pods_and_one_degraded_deployment() {
    let topology = kgents();
    assert_eq!(
        names_with(&topology, HealthLevel::Unhealthy),
        ["replicaset/grafana-7f8d6c9b4", "pod/grafana-7f8d6c9b4-n6w2x", "pod/kgent-worker-5f7b9c4d8-q2w8z"]
    );
    assert_eq!(
        names_with(&topology, HealthLevel::Degraded),
        [
            "service/grafana",
            "deployment/kgent-worker",
            "replicaset/kgent-worker-5f7b9c4d8",
            "service/kgent-worker",
        ]
    );
    let worker = topology.entities().find(|e| e.name() == "kgent-worker-5f7b9c4d8-q2w8z").unwrap();
    assert_eq!(worker.health.reasons, ["kgent-worker: CrashLoopBackOff (7 restarts, last Error)"]);
    let score = topology.score().unwrap();
    assert_eq!((score.healthy, score.degraded, score.unhealthy, score.unknown), (74, 4, 3, 4));
    assert_eq!(format!("{:.1}", score.percent), "93.8");
    assert_eq!(score.grade, Grade::A);
}

#[test]
fn kgents_relations_cover_every_kind() {
    let topology = kgents();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for relation in topology.relations() {
        *counts.entry(relation.kind.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> =
        [("mounts", 0), ("owns", 0), ("routes_to", 0), ("runs_on", 0), ("scales", 0), ("selects", 0)].into();
    assert_eq!(counts.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    assert_eq!(counts["runs_on"], 22);
    assert_eq!(counts["owns"], 8 + 22);
    assert_eq!(counts["routes_to"], 1);
    assert_eq!(counts["scales"], 1);
    assert_eq!(counts["selects"], 36);
    assert_eq!(counts["mounts"], 22);
    assert!(RelationKind::ALL.iter().all(|k| counts.contains_key(k.as_str())));
}

#[test]
fn samples_are_deterministic() {
    assert_eq!(kgents(), kgents());
    assert_eq!(scale(300, 7), scale(300, 7));
    assert_ne!(scale(300, 7), scale(300, 8));
}

#[test]
fn scale_keeps_realistic_ratios() {
    let topology = scale(1000, 42);
    let counts = count_by_kind(&topology);
    assert_eq!(counts["pod"], 1000);
    assert_eq!(counts["deployment"], 100);
    assert_eq!(counts["replicaset"], 100);
    assert_eq!(counts["service"], 100);
    assert_eq!(counts["node"], 34);
    assert_eq!(counts["namespace"], 20);
    assert_eq!(topology.len(), 1 + 20 + 34 + 300 + 1000);
    let unhealthy =
        topology.entities().filter(|e| e.kind == Kind::Pod && e.health.level == HealthLevel::Unhealthy);
    let unhealthy = unhealthy.count();
    assert!((5..=40).contains(&unhealthy), "{unhealthy} unhealthy pods");
    assert_eq!(pods_for_entities(25_000), 18_750);
}
