//! Benchmarks of the hot paths of the topology crate at 1k, 10k, 25k and 100k entities: diffing, applying,
//! encoding and decoding, and the layout (full and incremental).
//!
//! Run with `cargo bench -p topology` (or `scripts/bench-topology.sh` for the figures only). Criterion's median
//! of each benchmark lands in `$CARGO_TARGET_DIR/criterion/<group>/<size>/new/estimates.json`.
//! Topologies come from `topology::sample::scale` with a fixed seed, so runs are comparable.

use std::time::Duration;

use criterion::{black_box, BatchSize, BenchmarkGroup, BenchmarkId, Criterion};
use topology::{
    entity::{ContainerState, ContainerStatus, Details, Reason},
    finding::{detect, RestartHistory, Thresholds, Tiers},
    layout::Layout,
    protocol::{encode_diff, encode_snapshot, ServerMsg},
    sample::{pods_for_entities, scale},
    Diff, Entity, EntityId, Kind, Topology,
};

/// Entity counts benchmarked, with their labels in benchmark ids.
const SIZES: [(usize, &str); 4] = [(1_000, "1k"), (10_000, "10k"), (25_000, "25k"), (100_000, "100k")];

fn topology_of(entities: usize) -> Topology {
    scale(pods_for_entities(entities), 42)
}

/// The first pod of the topology.
fn some_pod(topology: &Topology) -> Entity {
    topology
        .entities()
        .find(|e| e.kind == Kind::Pod && e.health.level == topology::HealthLevel::Healthy)
        .unwrap()
        .clone()
}

/// The same pod, crash-looping.
fn crashed(pod: &Entity) -> Entity {
    let mut pod = pod.clone();
    if let Details::Pod(info) = &mut pod.details {
        info.conditions.ready = topology::entity::Cond::False;
        info.containers[0].status = ContainerStatus {
            ready: false,
            restarts: 4,
            state: ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) },
            last_termination: Some(Reason::OOMKilled),
            last_termination_at: None,
        };
    }
    pod
}

/// A brand-new pod next to `pod`.
fn sibling(pod: &Entity) -> Entity {
    let mut new = pod.clone();
    new.id = EntityId::new(pod.id.cluster(), Kind::Pod, pod.id.namespace(), format!("{}-bench", pod.name()));
    new.uid = "bench".into();
    new
}

/// Diffs of one pod going down and coming back, re-based on the fly.
struct Flip {
    down: Diff,
    up: Diff,
    next_down: bool,
}

impl Flip {
    fn new(topology: &Topology, changed: Entity, original: Entity) -> Flip {
        let mut owner = topology.clone();
        let down = record(&mut owner, changed);
        let up = record(&mut owner, original);
        Flip { down, up, next_down: true }
    }

    /// The next diff, starting at `seq`.
    fn next(&mut self, seq: u64) -> &Diff {
        let diff = if self.next_down { &mut self.down } else { &mut self.up };
        self.next_down = !self.next_down;
        diff.base_seq = seq;
        diff.seq = seq + 1;
        diff
    }
}

fn record(owner: &mut Topology, entity: Entity) -> Diff {
    let mut tx = owner.transaction();
    tx.upsert(entity).unwrap();
    tx.commit().unwrap()
}

fn sized<'a>(
    c: &'a mut Criterion,
    name: &str,
    entities: usize,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    if entities >= 100_000 {
        group.sample_size(10);
    }
    group
}

fn bench_diff_and_apply(c: &mut Criterion, topologies: &[(Topology, &str)]) {
    for (topology, label) in topologies {
        let pod = some_pod(topology);
        let mut changed = topology.clone();
        changed.upsert(crashed(&pod)).unwrap();
        changed.set_seq(topology.seq() + 1);
        sized(c, "diff_full_scan", topology.len()).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| Topology::diff(black_box(topology), black_box(&changed)));
        });

        let mut owner = topology.clone();
        let (down, up) = (crashed(&pod), pod.clone());
        let mut flip = false;
        sized(c, "transaction_pod_status", topology.len()).bench_function(
            BenchmarkId::from_parameter(label),
            |b| {
                b.iter(|| {
                    flip = !flip;
                    let mut tx = owner.transaction();
                    tx.upsert(if flip { down.clone() } else { up.clone() }).unwrap();
                    tx.commit()
                });
            },
        );

        let mut replica = topology.clone();
        let mut flips = Flip::new(topology, crashed(&pod), pod.clone());
        sized(c, "apply_pod_status", topology.len()).bench_function(
            BenchmarkId::from_parameter(label),
            |b| {
                b.iter(|| {
                    let diff = flips.next(replica.seq());
                    replica.apply(black_box(diff)).unwrap();
                });
            },
        );
    }
}

fn bench_wire(c: &mut Criterion, topologies: &[(Topology, &str)]) {
    for (topology, label) in topologies {
        let bytes = encode_snapshot(topology).unwrap();
        sized(c, "snapshot_encode", topology.len()).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| encode_snapshot(black_box(topology)).unwrap());
        });
        sized(c, "snapshot_decode", topology.len()).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_batched(
                || (),
                |()| ServerMsg::from_bytes(black_box(&bytes)).unwrap(),
                BatchSize::PerIteration,
            );
        });
        let pod = some_pod(topology);
        let mut owner = topology.clone();
        let diff = record(&mut owner, crashed(&pod));
        let diff_bytes = encode_diff(&diff).unwrap();
        sized(c, "diff_encode", 0).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| encode_diff(black_box(&diff)).unwrap());
        });
        sized(c, "diff_decode", 0).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| ServerMsg::from_bytes(black_box(&diff_bytes)).unwrap());
        });
    }
}

fn bench_layout(c: &mut Criterion, topologies: &[(Topology, &str)]) {
    for (topology, label) in topologies {
        sized(c, "layout_full", topology.len()).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| Layout::compute(black_box(topology)));
        });

        // One pod created, then removed again: its group (the pods of one namespace) is re-placed each time.
        let pod = some_pod(topology);
        let mut with_pod = topology.clone();
        let mut add = record(&mut with_pod, sibling(&pod));
        let mut without_pod = with_pod.clone();
        let mut remove = {
            let mut tx = without_pod.transaction();
            tx.remove(&sibling(&pod).id);
            tx.commit().unwrap()
        };
        let mut layout = Layout::compute(topology);
        let mut adding = true;
        sized(c, "layout_incremental", topology.len()).bench_function(
            BenchmarkId::from_parameter(label),
            |b| {
                b.iter(|| {
                    let (state, diff) =
                        if adding { (&mut with_pod, &mut add) } else { (&mut without_pod, &mut remove) };
                    adding = !adding;
                    diff.base_seq = layout.seq();
                    diff.seq = diff.base_seq + 1;
                    state.set_seq(diff.seq);
                    layout.apply_diff(state, diff)
                });
            },
        );

        // One pod's status flips: only its own Z changes.
        let mut patched = topology.clone();
        let mut flips = Flip::new(topology, crashed(&pod), pod.clone());
        let mut layout = Layout::compute(topology);
        sized(c, "layout_incremental_patch", topology.len()).bench_function(
            BenchmarkId::from_parameter(label),
            |b| {
                b.iter(|| {
                    let diff = flips.next(patched.seq()).clone();
                    patched.apply(&diff).unwrap();
                    layout.apply_diff(&patched, &diff)
                });
            },
        );
    }
}

/// The findings engine's round: the restart history's update and every detector, over the whole topology
/// (it runs on the server's topology in place, so diffs wait for it).
fn bench_findings(c: &mut Criterion, topologies: &[(Topology, &str)]) {
    let (thresholds, tiers) = (Thresholds::default(), Tiers::default());
    for (topology, label) in topologies {
        let mut restarts = RestartHistory::default();
        let mut now = 1_800_000_000;
        sized(c, "findings_detect", topology.len()).bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                now += 1;
                restarts.observe(topology, now, thresholds.restart_window_secs);
                detect(black_box(topology), &[], now, &thresholds, &tiers, &restarts)
            });
        });
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    let topologies: Vec<(Topology, &str)> =
        SIZES.iter().map(|(entities, label)| (topology_of(*entities), *label)).collect();
    bench_diff_and_apply(&mut c, &topologies);
    bench_wire(&mut c, &topologies);
    bench_layout(&mut c, &topologies);
    bench_findings(&mut c, &topologies);
    c.final_summary();
}
