//! Tests of the topology: relations kept incrementally, transactions, diffs and their properties.

use proptest::{collection::vec, prelude::*};

use super::*;
use crate::{
    diff::{Change, DiffError},
    entity::{ContainerState, ContainerStatus, Details, PodPhase, Reason},
    fixtures::{arb_mutation, arb_topology, mutate},
    id::Kind,
    relation::RelationKind,
    sample::kgents,
    Diff,
};

fn pod_id(name: &str) -> EntityId {
    EntityId::new("kgents", Kind::Pod, "kgents-triad", name)
}

fn crash(topology: &Topology, name: &str) -> Entity {
    let mut pod = topology.get(&pod_id(name)).unwrap().clone();
    if let Details::Pod(info) = &mut pod.details {
        info.containers[0].status = ContainerStatus {
            ready: false,
            restarts: 1,
            state: ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) },
            last_termination: Some(Reason::OOMKilled),
            last_termination_at: None,
        };
    }
    pod
}

#[test]
fn a_deleted_pod_leaves_no_ghost() {
    let mut topology = kgents();
    let id = pod_id("kgent-api-7d9c8b5f6-x2x9k");
    let edges_before = topology.relations().filter(|r| r.from == id || r.to == id).count();
    assert_eq!(
        edges_before, 4,
        "owned by its replicaset, selected by its service, on a node, mounts a secret"
    );
    let key = topology.key_of(&id).unwrap();
    assert!(topology.remove(&id).is_some());
    assert_eq!(topology.get(&id), None);
    assert_eq!(topology.by_key(key), None);
    assert_eq!(topology.relations().filter(|r| r.from == id || r.to == id).count(), 0);
    assert_eq!(topology.filtered(|_| true).relations().count(), topology.relations().count());
}

#[test]
fn an_edge_to_a_node_not_seen_yet_appears_when_the_node_arrives() {
    let kgents = kgents();
    let pod = kgents.get(&pod_id("redis-6b8f7d9c5-t5v8n")).unwrap().clone();
    let node = kgents.get(&EntityId::cluster_scoped("kgents", Kind::Node, "kgents-worker2")).unwrap().clone();
    let mut topology = Topology::new();
    topology.upsert(pod.clone()).unwrap();
    assert_eq!(topology.relations().count(), 0);
    topology.upsert(node.clone()).unwrap();
    let edges: Vec<String> =
        topology.relations().map(|r| format!("{} {} {}", r.from, r.kind.as_str(), r.to)).collect();
    assert_eq!(edges, ["kgents/pod/kgents-triad/redis-6b8f7d9c5-t5v8n runs_on kgents/node//kgents-worker2"]);
    topology.remove(&node.id);
    assert_eq!(topology.relations().count(), 0);
}

#[test]
fn a_service_selects_pods_whatever_the_arrival_order() {
    let kgents = kgents();
    let svc =
        kgents.get(&EntityId::new("kgents", Kind::Service, "kgents-triad", "kgent-api")).unwrap().clone();
    let pods: Vec<Entity> = kgents
        .entities()
        .filter(|e| e.kind == Kind::Pod && e.name().starts_with("kgent-api-"))
        .cloned()
        .collect();
    let mut service_first = Topology::new();
    service_first.upsert(svc.clone()).unwrap();
    let mut pods_first = Topology::new();
    for pod in &pods {
        service_first.upsert(pod.clone()).unwrap();
        pods_first.upsert(pod.clone()).unwrap();
    }
    pods_first.upsert(svc.clone()).unwrap();
    let selects = |t: &Topology| t.relations().filter(|r| r.kind == RelationKind::Selects).count();
    assert_eq!(selects(&service_first), 3);
    assert_eq!(selects(&pods_first), 3);
    let mut relabelled = pods[0].clone();
    relabelled.labels = crate::Labels::from_pairs([("app", "other")]);
    pods_first.upsert(relabelled).unwrap();
    assert_eq!(selects(&pods_first), 2);
}

#[test]
fn a_transaction_advances_seq_by_one_and_its_diff_replays_on_a_replica() {
    let mut owner = kgents();
    let mut replica = owner.clone();
    let pod = crash(&owner, "kgent-api-7d9c8b5f6-x2x9k");
    let mut tx = owner.transaction();
    assert_eq!(tx.upsert(pod), Ok(true));
    let diff = tx.commit().unwrap();
    assert_eq!((diff.base_seq, diff.seq, owner.seq()), (1, 2, 2));
    assert_eq!(diff.ops.len(), 1);
    let Op::Patch { changes, .. } = &diff.ops[0] else { panic!("expected a patch, got {:?}", diff.ops[0]) };
    assert_eq!(changes.iter().map(Change::name).collect::<Vec<_>>(), ["container_status"]);
    replica.apply(&diff).unwrap();
    assert_eq!(replica, owner);
    assert_eq!(
        replica.get(&pod_id("kgent-api-7d9c8b5f6-x2x9k")).unwrap().health.level,
        crate::HealthLevel::Unhealthy
    );
}

#[test]
fn an_unchanged_upsert_records_nothing() {
    let mut topology = kgents();
    let same = topology.get(&pod_id("redis-6b8f7d9c5-t5v8n")).unwrap().clone();
    let mut tx = topology.transaction();
    assert_eq!(tx.upsert(same), Ok(false));
    assert_eq!(tx.commit(), None);
    assert_eq!(topology.seq(), 1);
}

#[test]
fn a_dropped_transaction_still_advances_seq_so_replicas_resync() {
    let mut owner = kgents();
    let mut replica = owner.clone();
    {
        let mut tx = owner.transaction();
        tx.remove(&pod_id("redis-6b8f7d9c5-t5v8n"));
    }
    assert_eq!(owner.seq(), 2);
    let diff = owner.transaction().commit();
    assert_eq!(diff, None);
    let next = Topology::diff(&owner, &owner);
    assert_eq!(replica.apply(&next), Err(DiffError::OutOfOrder { base: 2, current: 1 }));
}

#[test]
fn recreating_under_the_same_name_is_a_new_key() {
    let mut topology = kgents();
    let id = pod_id("postgres-0");
    let old_key = topology.key_of(&id).unwrap();
    let mut reborn = topology.get(&id).unwrap().clone();
    reborn.uid = "new-uid".into();
    let mut tx = topology.transaction();
    tx.upsert(reborn).unwrap();
    let diff = tx.commit().unwrap();
    let new_key = topology.key_of(&id).unwrap();
    assert!(new_key > old_key);
    assert!(
        matches!(&diff.ops[..], [Op::Remove { key: a }, Op::Create { key: b, .. }] if *a == old_key && *b == new_key)
    );
}

#[test]
fn each_op_is_named_by_the_entity_it_is_about_even_once_that_is_gone() {
    let mut topology = kgents();
    let (crashing, reborn_id, gone) =
        (pod_id("redis-6b8f7d9c5-t5v8n"), pod_id("postgres-0"), pod_id("kgent-api-7d9c8b5f6-x2x9k"));
    let crashed = crash(&topology, "redis-6b8f7d9c5-t5v8n");
    let mut reborn = topology.get(&reborn_id).unwrap().clone();
    reborn.uid = "new-uid".into();
    let unchanged = topology.get(&gone).unwrap().clone();
    let mut tx = topology.transaction();
    tx.upsert(unchanged).unwrap();
    tx.upsert(crashed).unwrap();
    tx.upsert(reborn).unwrap();
    // Patched, then removed in the same batch: after the commit its key names nothing.
    let mut patched = tx.topology().get(&gone).unwrap().clone();
    patched.labels = crate::Labels::from_pairs([("app", "renamed")]);
    tx.upsert(patched).unwrap();
    assert!(tx.remove(&gone));
    assert!(!tx.remove(&gone));
    let (diff, ids) = tx.commit_with_ids().unwrap();
    assert_eq!(ids, [crashing, reborn_id.clone(), reborn_id, gone.clone(), gone]);
    assert_eq!(diff.ops.len(), ids.len());
    assert!(matches!(
        &diff.ops[..],
        [Op::Patch { .. }, Op::Remove { .. }, Op::Create { .. }, Op::Patch { .. }, Op::Remove { .. }]
    ));
}

#[test]
fn a_bad_diff_changes_nothing() {
    let topology = kgents();
    let key = topology.key_of(&pod_id("postgres-0")).unwrap();
    let svc_key = topology.key_of(&EntityId::new("kgents", Kind::Service, "kgents-triad", "redis")).unwrap();
    let cases = [
        (vec![Op::Remove { key }, Op::Remove { key }], DiffError::UnknownKey(key)),
        (
            vec![
                Op::Remove { key },
                Op::Patch { key: svc_key, changes: vec![Change::PodPhase(PodPhase::Failed)] },
            ],
            DiffError::ChangeDoesNotFit { key: svc_key, change: "pod_phase" },
        ),
        (
            vec![Op::Create {
                key: EntityKey(9999),
                entity: Box::new(topology.by_key(key).unwrap().clone()),
            }],
            DiffError::IdInUse("kgents/pod/kgents-triad/postgres-0".into()),
        ),
        (vec![Op::Create { key, entity: Box::new(Entity::new(pod_id("fresh"))) }], DiffError::KeyInUse(key)),
    ];
    for (ops, error) in cases {
        let mut copy = topology.clone();
        assert_eq!(copy.apply(&Diff { base_seq: 1, seq: 2, ops }), Err(error));
        assert_eq!(copy, topology);
    }
    let mut copy = topology.clone();
    let stale = Diff { base_seq: 1, seq: 1, ops: vec![Op::Remove { key }] };
    assert_eq!(copy.apply(&stale), Err(DiffError::SeqNotAdvanced(1)));
    let backwards = Diff { base_seq: 1, seq: 0, ops: vec![] };
    assert_eq!(copy.apply(&backwards), Err(DiffError::Backwards { base: 1, seq: 0 }));
}

#[test]
fn snapshots_round_trip_through_postcard_and_json() {
    let topology = kgents();
    let bytes = postcard::to_allocvec(&topology).unwrap();
    assert_eq!(postcard::from_bytes::<Topology>(&bytes).unwrap(), topology);
    let json = serde_json::to_string(&topology).unwrap();
    let back: Topology = serde_json::from_str(&json).unwrap();
    assert_eq!(back, topology);
    assert_eq!(back.relations().count(), topology.relations().count());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn applying_the_diff_of_two_random_topologies_gives_the_second(a in arb_topology(24), b in arb_topology(24)) {
        let mut b = b;
        b.set_seq(a.seq() + 1);
        let diff = Topology::diff(&a, &b);
        let mut replica = a.clone();
        replica.apply(&diff).unwrap();
        prop_assert_eq!(&replica, &b);
        prop_assert_eq!(replica.relations().collect::<Vec<_>>(), b.relations().collect::<Vec<_>>());
    }

    #[test]
    fn a_transaction_diff_turns_the_replica_into_the_owner(
        start in arb_topology(20),
        batches in vec(vec(arb_mutation(), 1..6), 1..5),
    ) {
        let mut owner = start.clone();
        let mut replica = start;
        for batch in &batches {
            let before = owner.clone();
            if let Some(diff) = mutate(&mut owner, batch) {
                let mut via_diff = before.clone();
                via_diff.apply(&Topology::diff(&before, &owner)).unwrap();
                prop_assert_eq!(&via_diff, &owner);
                replica.apply(&diff).unwrap();
            }
            prop_assert_eq!(&replica, &owner);
        }
        // Incremental relations equal a derivation from scratch.
        let rebuilt = owner.filtered(|_| true);
        prop_assert_eq!(owner.relations().collect::<Vec<_>>(), rebuilt.relations().collect::<Vec<_>>());
    }

    #[test]
    fn the_diff_of_equal_topologies_is_empty(a in arb_topology(24)) {
        let diff = Topology::diff(&a, &a.clone());
        prop_assert!(diff.is_empty());
        prop_assert_eq!((diff.base_seq, diff.seq), (a.seq(), a.seq()));
    }

    #[test]
    fn an_out_of_order_diff_is_rejected_and_changes_nothing(
        a in arb_topology(16),
        batch in vec(arb_mutation(), 1..4),
        skew in 1..3_u64,
    ) {
        let mut owner = a.clone();
        if let Some(diff) = mutate(&mut owner, &batch) {
            let mut replica = a.clone();
            replica.set_seq(a.seq() + skew);
            let before = replica.clone();
            prop_assert_eq!(
                replica.apply(&diff),
                Err(DiffError::OutOfOrder { base: a.seq(), current: a.seq() + skew })
            );
            prop_assert_eq!(replica, before);
        }
    }
}
