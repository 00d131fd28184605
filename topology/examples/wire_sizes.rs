//! Prints the wire sizes the benchmarks budget for, as `name value unit` lines on stdout:
//! one pod status change as a complete `ServerMsg::Diff` (in a 25k-entity topology, a million diffs in, so keys
//! and sequence numbers take their realistic 3 bytes each), and snapshots of `kgents` and of 25k entities.
//!
//! `cargo run --release -p topology --example wire_sizes`

use topology::{
    entity::{Cond, ContainerState, ContainerStatus, Details, Reason},
    protocol::{encode_diff, encode_snapshot},
    sample::{kgents, pods_for_entities, scale},
    EntityId, Kind, Topology,
};

/// The bytes of one pod of `topology` starting to crash-loop, as sent on the wire.
fn pod_status_change_bytes(topology: &Topology, pod: &EntityId) -> usize {
    let mut owner = topology.clone();
    owner.set_seq(1_000_000);
    let mut entity = owner.get(pod).expect("the pod exists").clone();
    if let Details::Pod(info) = &mut entity.details {
        info.conditions.ready = Cond::False;
        info.containers[0].status = ContainerStatus {
            ready: false,
            restarts: 4,
            state: ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) },
            last_termination: Some(Reason::OOMKilled),
            last_termination_at: None,
        };
    }
    let mut tx = owner.transaction();
    tx.upsert(entity).expect("a valid pod");
    let diff = tx.commit().expect("a change");
    encode_diff(&diff).expect("encodes").len()
}

fn main() {
    let kgents = kgents();
    let api = EntityId::new("kgents", Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-x2x9k");
    let large = scale(pods_for_entities(25_000), 42);
    // The pod with the largest key: the longest varint.
    let last_pod = large
        .entries()
        .filter(|(_, e)| e.kind == Kind::Pod)
        .max_by_key(|(key, _)| *key)
        .expect("pods")
        .1
        .id
        .clone();
    println!("topology.diff_pod_status_bytes {} bytes", pod_status_change_bytes(&large, &last_pod));
    println!("topology.diff_pod_status_kgents_bytes {} bytes", pod_status_change_bytes(&kgents, &api));
    println!("topology.snapshot_kgents_bytes {} bytes", encode_snapshot(&kgents).expect("encodes").len());
    println!("topology.snapshot_25k_bytes {} bytes", encode_snapshot(&large).expect("encodes").len());
    println!("topology.snapshot_25k_entities {} entities", large.len());
}
