//! Tests of the layout: literal positions of the sample, stability, and incremental == full.

#![allow(clippy::float_cmp)] // Layout values are exact binary fractions; bit-for-bit determinism is the contract.

use proptest::{collection::vec, prelude::*};

use super::*;
use crate::{
    entity::{ContainerState, Details, Entity},
    fixtures::{arb_entity, arb_mutation, arb_topology, mutate},
    sample::kgents,
};

fn id(kind: Kind, namespace: &str, name: &str) -> EntityId {
    EntityId::new("kgents", kind, namespace, name)
}

fn avg_y(topology: &Topology, layout: &Layout, kind: Kind) -> f32 {
    let ys: Vec<f32> = topology
        .entities()
        .filter(|e| e.kind == kind)
        .filter_map(|e| layout.position(&e.id))
        .map(|p| p[1])
        .collect();
    ys.iter().sum::<f32>() / ys.len() as f32
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[test]
fn services_sit_above_deployments_which_sit_above_pods() {
    let topology = kgents();
    let layout = Layout::compute(&topology);
    let (svc, deploy, pod) = (
        avg_y(&topology, &layout, Kind::Service),
        avg_y(&topology, &layout, Kind::Deployment),
        avg_y(&topology, &layout, Kind::Pod),
    );
    assert!(svc > deploy && deploy > pod, "{svc} {deploy} {pod}");
    assert_eq!((svc, deploy, pod), (10.0, 8.0, 4.0));
    assert_eq!(layout.len(), topology.len());
}

#[test]
fn each_namespace_gets_one_band_in_creation_order() {
    let topology = kgents();
    let layout = Layout::compute(&topology);
    let bands: Vec<(&str, f32, f32)> =
        layout.bands().map(|b| (b.namespace.as_str(), b.x_min, b.x_max)).collect();
    assert_eq!(
        bands,
        [
            ("", 0.0, 12.0),
            ("default", 14.0, 26.0),
            ("kgents-triad", 28.0, 40.0),
            ("kgents-observability", 42.0, 54.0),
            ("kgents-agents", 56.0, 68.0),
            ("kgents-gateway", 70.0, 82.0),
        ]
    );
    let regions: Vec<(&str, f32, f32)> =
        layout.regions().map(|r| (r.cluster.as_str(), r.x_min, r.x_max)).collect();
    assert_eq!(regions, [("kgents", 0.0, 110.0)]);
    for entity in topology.entities() {
        let band_name = if entity.kind == Kind::Namespace { entity.name() } else { entity.namespace() };
        let band = layout.bands().find(|b| b.namespace == band_name).unwrap();
        let x = layout.position(&entity.id).unwrap()[0];
        assert!(band.x_min <= x && x <= band.x_max, "{} at x={x} outside its band", entity.id);
    }
}

#[test]
fn kgents_positions_are_literal() {
    let layout = Layout::compute(&kgents());
    let cases = [
        (EntityId::cluster_scoped("kgents", Kind::Cluster, "kgents"), [6.0, -2.0, 0.0]),
        (EntityId::cluster_scoped("kgents", Kind::Node, "kgents-control-plane"), [1.5, 0.0, 0.0]),
        (EntityId::cluster_scoped("kgents", Kind::Node, "kgents-worker2"), [7.5, 0.0, 0.0]),
        (EntityId::cluster_scoped("kgents", Kind::Namespace, "default"), [20.0, 14.0, 0.0]),
        (id(Kind::Service, "default", "kubernetes"), [15.0, 10.0, 0.0]),
        (id(Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-b8q4m"), [28.75, 4.0, 0.0]),
        (id(Kind::Pod, "kgents-triad", "kgent-worker-5f7b9c4d8-q2w8z"), [36.25, 4.0, 2.0]),
        (id(Kind::Pod, "kgents-triad", "redis-6b8f7d9c5-t5v8n"), [39.25, 4.0, -1.5]),
        (id(Kind::Deployment, "kgents-triad", "kgent-worker"), [31.0, 8.0, 0.75]),
    ];
    for (id, expected) in cases {
        assert_eq!(layout.position(&id), Some(expected), "{id}");
    }
}

#[test]
fn adding_a_pod_moves_only_its_group_and_at_most_one_cell() {
    let mut topology = kgents();
    let before = Layout::compute(&topology);
    let mut pod = topology.get(&id(Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-b8q4m")).unwrap().clone();
    pod.id = id(Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-aaaaa");
    pod.uid = "new".into();
    let mut layout = before.clone();
    let mut tx = topology.transaction();
    tx.upsert(pod).unwrap();
    let diff = tx.commit().unwrap();
    let delta = layout.apply_diff(&topology, &diff);
    assert_eq!(layout, Layout::compute(&topology));
    assert!(!delta.full);
    let mut moved_outside = 0;
    let mut farthest = 0.0_f32;
    for (id, old) in before.positions() {
        let new = layout.position(id).unwrap();
        if id.kind() == Kind::Pod && id.namespace() == "kgents-triad" {
            farthest = farthest.max(distance(old, new));
        } else if old != new {
            moved_outside += 1;
        }
    }
    assert_eq!(moved_outside, 0);
    assert_eq!(farthest, 1.5);
    assert_eq!(delta.moved.len(), 10, "the new pod and the nine triad pods after it");
}

#[test]
fn a_status_patch_moves_only_its_entity_in_z() {
    let mut topology = kgents();
    let mut layout = Layout::compute(&topology);
    let pod_id = id(Kind::Pod, "kgents-triad", "redis-6b8f7d9c5-t5v8n");
    let mut pod: Entity = topology.get(&pod_id).unwrap().clone();
    if let Details::Pod(info) = &mut pod.details {
        info.containers[0].status.ready = false;
        info.containers[0].status.state =
            ContainerState::Waiting { reason: Some(crate::entity::Reason::CrashLoopBackOff) };
    }
    let mut tx = topology.transaction();
    tx.upsert(pod).unwrap();
    let diff = tx.commit().unwrap();
    let delta = layout.apply_diff(&topology, &diff);
    assert_eq!(delta.moved, std::slice::from_ref(&pod_id));
    assert_eq!(layout.position(&pod_id), Some([39.25, 4.0, 0.5]));
    assert_eq!(layout, Layout::compute(&topology));
}

#[test]
fn a_namespace_created_last_appends_a_band_and_moves_nothing() {
    let mut topology = kgents();
    let before = Layout::compute(&topology);
    let mut ns = Entity::new(EntityId::cluster_scoped("kgents", Kind::Namespace, "kgents-new"));
    ns.created = Some(1_800_000_000);
    let mut pod = Entity::new(id(Kind::Pod, "kgents-new", "lonely"));
    pod.created = Some(1_800_000_000);
    let mut tx = topology.transaction();
    tx.upsert(ns).unwrap();
    tx.upsert(pod).unwrap();
    let diff = tx.commit().unwrap();
    let mut layout = before.clone();
    layout.apply_diff(&topology, &diff);
    for (id, old) in before.positions() {
        assert_eq!(layout.position(id), Some(old), "{id} moved");
    }
    let last = layout.bands().last().unwrap();
    assert_eq!((last.namespace.as_str(), last.x_min), ("kgents-new", 84.0));
}

#[test]
fn a_diff_out_of_sequence_falls_back_to_a_full_recompute() {
    let mut topology = kgents();
    let mut layout = Layout::compute(&topology);
    topology.remove(&id(Kind::Pod, "kgents-triad", "postgres-0"));
    topology.set_seq(5);
    let delta = layout.apply_diff(&topology, &crate::Diff { base_seq: 4, seq: 5, ops: vec![] });
    assert!(delta.full);
    assert_eq!(delta.removed, [id(Kind::Pod, "kgents-triad", "postgres-0")]);
    assert_eq!(layout, Layout::compute(&topology));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_incremental_layout_equals_the_full_one_after_random_diffs(
        start in arb_topology(24),
        batches in vec(vec(arb_mutation(), 1..5), 1..6),
    ) {
        let mut topology = start;
        let mut layout = Layout::compute(&topology);
        for batch in &batches {
            let before = layout.clone();
            if let Some(diff) = mutate(&mut topology, batch) {
                let delta = layout.apply_diff(&topology, &diff);
                prop_assert_eq!(&layout, &Layout::compute(&topology));
                for (id, position) in layout.positions() {
                    if before.position(id) != Some(position) {
                        prop_assert!(delta.moved.contains(id), "{} moved without being reported", id);
                    }
                }
                for (id, _) in before.positions() {
                    if layout.position(id).is_none() {
                        prop_assert!(delta.removed.contains(id), "{} removed without being reported", id);
                    }
                }
            }
        }
    }

    // What a page does between two drawings: several diffs applied to the topology, then the layout brought up
    // to date once from the keys they touched.
    #[test]
    fn the_layout_after_several_diffs_at_once_equals_the_full_one(
        start in arb_topology(24),
        batches in vec(vec(arb_mutation(), 1..5), 1..6),
    ) {
        let mut topology = start;
        let mut layout = Layout::compute(&topology);
        let before = layout.clone();
        let base_seq = topology.seq();
        let mut keys = BTreeSet::new();
        for batch in &batches {
            if let Some(diff) = mutate(&mut topology, batch) {
                keys.extend(diff.ops.iter().map(crate::diff::Op::key));
            }
        }
        let delta = layout.apply_keys(&topology, base_seq, &keys);
        prop_assert_eq!(&layout, &Layout::compute(&topology));
        for (id, position) in layout.positions() {
            if before.position(id) != Some(position) {
                prop_assert!(delta.moved.contains(id), "{} moved without being reported", id);
            }
        }
        for (id, _) in before.positions() {
            if layout.position(id).is_none() {
                prop_assert!(delta.removed.contains(id), "{} removed without being reported", id);
            }
        }
    }

    // Layouts are pure functions of the topology, so this also covers removal (from `T + e` back to `T`).
    #[test]
    fn adding_or_removing_an_entity_in_an_existing_band_moves_nothing_outside_its_group(
        topology in arb_topology(30),
        entity in arb_entity(),
    ) {
        let before = Layout::compute(&topology);
        let band = entity.namespace().to_owned();
        prop_assume!(entity.kind != Kind::Namespace && !topology.contains(&entity.id));
        prop_assume!(before.bands().any(|b| b.cluster == entity.id.cluster() && b.namespace == band));
        let layer = Layer::of(entity.kind);
        let (cluster, added) = (entity.id.cluster().to_owned(), entity.id.clone());
        let mut after_topology = topology.clone();
        after_topology.upsert(entity).unwrap();
        let after = Layout::compute(&after_topology);
        prop_assert_eq!(before.bands().collect::<Vec<_>>(), after.bands().collect::<Vec<_>>());
        for (id, old) in before.positions() {
            let new = after.position(id).unwrap();
            let same_group = id.cluster() == cluster
                && Layer::of(id.kind()) == layer
                && (if id.kind() == Kind::Namespace { id.name() } else { id.namespace() }) == band;
            if same_group {
                prop_assert!(distance(old, new) <= layer.cell() + 1e-4, "{} moved {}", id, distance(old, new));
            } else {
                prop_assert_eq!(old, new, "{} is outside the group of {}", id, added);
            }
        }
    }
}
