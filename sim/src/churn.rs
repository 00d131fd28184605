//! Churn: the simulated cluster changes by itself, as a real one does, so the demo is alive.
//!
//! A [`Churn`] plays the controllers, the scheduler and the kubelets: rolling updates, scaling, crash loops,
//! OOM kills, bad images, unschedulable pods, nodes dropping out and coming back, jobs, namespaces coming and
//! going. Everything is written through the [`Store`], leaving objects as the real components would (owner
//! references, `pod-template-hash`, container states, conditions, endpoints, Events), so the collector and
//! `kubectl` see a cluster, not a toy.
//!
//! [`Churn::step`] makes one change at a given time and touches no clock, so tests drive it step by step;
//! [`spawn`] runs it on the wall clock at `EVENTS_PER_MIN`. Everything random comes from one [`Rng`] seeded
//! from the simulation's seed, and candidates are always read in key order: the same seed, the same scenario
//! and the same times give the same sequence of changes. Faults heal (a crash loop stops, a node returns, a bad
//! rollout is rolled back), scaling returns to its base and previews are deleted, so the cluster neither
//! degrades nor grows over weeks.

mod controllers;
mod events;
mod faults;
mod kubelet;
mod lifecycle;
mod scheduler;
mod workloads;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::rng::Rng;
use crate::store::{Store, StoreError};
use crate::Sim;

/// Errors of one churn step. The runner logs them and carries on: one odd object (say, one a client edited
/// meanwhile) never stops the churn.
#[derive(Debug, thiserror::Error)]
pub enum ChurnError {
    /// A write to the store failed.
    #[error("a churn write failed")]
    Write(#[from] StoreError),
}

/// Result of churn operations.
pub type Result<T, E = ChurnError> = std::result::Result<T, E>;

/// What kind of change a step made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// A deployment's template changed: a new replica set with a new `pod-template-hash`.
    RolloutStarted,
    /// A rolling update moved one pod from the old replica set to the new one.
    RolloutProgressed,
    /// The new replica set has every replica and the old ones are at zero.
    RolloutFinished,
    /// A deployment gained a replica.
    ScaledUp,
    /// A deployment lost a replica.
    ScaledDown,
    /// A container failed and waits in `CrashLoopBackOff`.
    CrashLoopStarted,
    /// A crash-looping container was restarted and failed again (its back-off grows).
    CrashLoopRestarted,
    /// A crash-looping container started and stayed up.
    CrashLoopHealed,
    /// A container was killed for exceeding its memory limit (`OOMKilled`).
    OomKilled,
    /// The OOM-killed container runs again.
    OomRecovered,
    /// A rollout to an image that does not exist: the new pod fails with `ErrImagePull`.
    ImagePullFailed,
    /// The kubelet backs off pulling: `ImagePullBackOff`.
    ImagePullBackOff,
    /// The bad rollout was undone (`kubectl rollout undo`).
    RolledBack,
    /// A new pod found no node: `Pending`, `PodScheduled=False`, `Unschedulable`.
    Unschedulable,
    /// The pending pod found a node and runs.
    Scheduled,
    /// A node stopped reporting: `Ready=Unknown`, tainted unreachable, its pods not ready.
    NodeNotReady,
    /// The node reports again.
    NodeReady,
    /// A cron job started a job.
    JobStarted,
    /// The job's pod succeeded and the job is complete.
    JobCompleted,
    /// A preview namespace with its own app appeared.
    NamespaceCreated,
    /// A namespace is being deleted (`Terminating`).
    NamespaceTerminating,
    /// The namespace and everything in it are gone.
    NamespaceDeleted,
}

impl ChangeKind {
    /// Every kind, in declaration order.
    pub const ALL: [ChangeKind; 22] = [
        ChangeKind::RolloutStarted,
        ChangeKind::RolloutProgressed,
        ChangeKind::RolloutFinished,
        ChangeKind::ScaledUp,
        ChangeKind::ScaledDown,
        ChangeKind::CrashLoopStarted,
        ChangeKind::CrashLoopRestarted,
        ChangeKind::CrashLoopHealed,
        ChangeKind::OomKilled,
        ChangeKind::OomRecovered,
        ChangeKind::ImagePullFailed,
        ChangeKind::ImagePullBackOff,
        ChangeKind::RolledBack,
        ChangeKind::Unschedulable,
        ChangeKind::Scheduled,
        ChangeKind::NodeNotReady,
        ChangeKind::NodeReady,
        ChangeKind::JobStarted,
        ChangeKind::JobCompleted,
        ChangeKind::NamespaceCreated,
        ChangeKind::NamespaceTerminating,
        ChangeKind::NamespaceDeleted,
    ];
}

/// One change the churn made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The namespace, for a namespaced object.
    pub namespace: Option<String>,
    /// The object it happened to, as `kind/name` (`deployment/web`, `pod/web-…`, `node/worker`).
    pub object: String,
    /// When (the `now` the step was given).
    pub at: i64,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{:?} {ns}/{}", self.kind, self.object),
            None => write!(f, "{:?} {}", self.kind, self.object),
        }
    }
}

impl Change {
    fn new(kind: ChangeKind, namespace: Option<&str>, object: String, at: i64) -> Change {
        Change { kind, namespace: namespace.map(str::to_owned), object, at }
    }
}

/// Work that continues a change later: the next step of a rollout, a crash loop's next restart, a node's
/// return.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Work {
    Rollout { namespace: String, deployment: String, replica_set: String },
    PullBackOff { namespace: String, pod: String },
    Rollback { namespace: String, deployment: String, replica_set: String },
    CrashRestart { namespace: String, pod: String, remaining: u32 },
    OomRecover { namespace: String, pod: String },
    Schedule { namespace: String, pod: String },
    NodeRecover { node: String },
    JobFinish { namespace: String, job: String },
    NamespaceTerminate { namespace: String },
    NamespaceDelete { namespace: String },
}

impl Work {
    /// The object this work is about, so no two changes work on one object at once.
    fn target(&self) -> String {
        match self {
            Work::Rollout { namespace, deployment, .. } | Work::Rollback { namespace, deployment, .. } => {
                format!("{namespace}/{deployment}")
            }
            Work::PullBackOff { namespace, pod }
            | Work::CrashRestart { namespace, pod, .. }
            | Work::OomRecover { namespace, pod }
            | Work::Schedule { namespace, pod } => format!("{namespace}/{pod}"),
            Work::NodeRecover { node } => node.clone(),
            Work::JobFinish { namespace, job } => format!("{namespace}/{job}"),
            Work::NamespaceTerminate { namespace } | Work::NamespaceDelete { namespace } => namespace.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Task {
    due: i64,
    seq: u64,
    work: Work,
}

/// The kinds of change a step may start, with their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Rollout,
    Scale,
    CrashLoop,
    Oom,
    BadRollout,
    Unschedulable,
    NodeDown,
    Job,
    Preview,
}

const STARTS: [(Start, u64); 9] = [
    (Start::Rollout, 16),
    (Start::Scale, 18),
    (Start::CrashLoop, 10),
    (Start::Oom, 7),
    (Start::BadRollout, 5),
    (Start::Unschedulable, 6),
    (Start::NodeDown, 4),
    (Start::Job, 10),
    (Start::Preview, 4),
];

/// How often expired Events are swept, in simulated seconds.
const EXPIRY_INTERVAL: i64 = 60;
/// How often rollouts are checked against their progress deadline, in simulated seconds.
const DEADLINE_INTERVAL: i64 = 5;

/// The churn's state: its randomness, the work in flight and what it remembers of the cluster's shape.
#[derive(Debug)]
pub struct Churn {
    rng: Rng,
    tasks: Vec<Task>,
    seq: u64,
    /// The replicas each deployment had when first scaled (by uid): scaling stays around it.
    base_replicas: BTreeMap<String, i64>,
    next_expiry: Option<i64>,
    next_deadlines: Option<i64>,
    failures: u64,
}

impl Churn {
    /// A churn seeded with `seed` (the simulation's seed: the same seed gives the same changes).
    pub fn new(seed: u64) -> Churn {
        Churn {
            rng: Rng::new(seed ^ 0xC4_0211_5EED),
            tasks: Vec::new(),
            seq: 0,
            base_replicas: BTreeMap::new(),
            next_expiry: None,
            next_deadlines: None,
            failures: 0,
        }
    }

    /// Makes one change at `now` (Unix seconds): continues the earliest due work, or starts something new.
    /// `None` when nothing could change (an empty cluster without nodes) or a write failed (logged).
    pub fn step(&mut self, store: &Store, now: i64) -> Option<Change> {
        if self.next_expiry.is_none_or(|at| now >= at) {
            self.next_expiry = Some(now + EXPIRY_INTERVAL);
            if let Err(error) = events::expire(store, now) {
                self.failures += 1;
                tracing::warn!(error = %error_chain(&error), "churn: expiring events failed");
            }
        }
        if self.next_deadlines.is_none_or(|at| now >= at) {
            self.next_deadlines = Some(now + DEADLINE_INTERVAL);
            if let Err(error) = controllers::progress_deadlines(store, now, &mut self.rng) {
                self.failures += 1;
                tracing::warn!(error = %error_chain(&error), "churn: checking progress deadlines failed");
            }
        }
        match self.try_step(store, now) {
            Ok(change) => change,
            Err(error) => {
                self.failures += 1;
                tracing::warn!(error = %error_chain(&error), "churn: a change failed; carrying on");
                None
            }
        }
    }

    /// Continues work in flight (a crash loop's next restart, a node's return…) without starting anything new:
    /// what a churn being wound down does, and how tests check that every fault heals.
    pub fn heal(&mut self, store: &Store, now: i64) -> Option<Change> {
        match self.follow_ups(store, now) {
            Ok(change) => change,
            Err(error) => {
                self.failures += 1;
                tracing::warn!(error = %error_chain(&error), "churn: a change failed; carrying on");
                None
            }
        }
    }

    fn follow_ups(&mut self, store: &Store, now: i64) -> Result<Option<Change>> {
        while let Some(task) = self.take_due(now) {
            if let Some(change) = self.follow_up(store, now, task)? {
                return Ok(Some(change));
            }
        }
        Ok(None)
    }

    fn try_step(&mut self, store: &Store, now: i64) -> Result<Option<Change>> {
        if let Some(change) = self.follow_ups(store, now)? {
            return Ok(Some(change));
        }
        let total: u64 = STARTS.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.below(total);
        let first = STARTS.iter().position(|(_, w)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        });
        let first = first.unwrap_or(0);
        for i in 0..STARTS.len() {
            let (start, _) = STARTS[(first + i) % STARTS.len()];
            if let Some(change) = self.start(store, now, start)? {
                return Ok(Some(change));
            }
        }
        Ok(None)
    }

    fn start(&mut self, store: &Store, now: i64, start: Start) -> Result<Option<Change>> {
        match start {
            Start::Rollout => workloads::start_rollout(self, store, now, false),
            Start::BadRollout => workloads::start_rollout(self, store, now, true),
            Start::Scale => workloads::scale(self, store, now),
            Start::Unschedulable => workloads::unschedulable(self, store, now),
            Start::Job => lifecycle::start_job(self, store, now),
            Start::CrashLoop => faults::crash(self, store, now, kubelet::Exit::Error),
            Start::Oom => faults::crash(self, store, now, kubelet::Exit::OomKilled),
            Start::NodeDown => faults::node_down(self, store, now),
            Start::Preview => lifecycle::create_preview(self, store, now),
        }
    }

    fn follow_up(&mut self, store: &Store, now: i64, task: Task) -> Result<Option<Change>> {
        match task.work {
            Work::Rollout { namespace, deployment, replica_set } => {
                workloads::rollout_step(self, store, now, &namespace, &deployment, &replica_set)
            }
            Work::PullBackOff { namespace, pod } => {
                workloads::pull_back_off(self, store, now, &namespace, &pod)
            }
            Work::Rollback { namespace, deployment, replica_set } => {
                workloads::rollback(self, store, now, &namespace, &deployment, &replica_set)
            }
            Work::Schedule { namespace, pod } => workloads::schedule(self, store, now, &namespace, &pod),
            Work::JobFinish { namespace, job } => lifecycle::finish_job(self, store, now, &namespace, &job),
            Work::CrashRestart { namespace, pod, remaining } => {
                faults::restart(self, store, now, &namespace, &pod, remaining)
            }
            Work::OomRecover { namespace, pod } => faults::recover(self, store, now, &namespace, &pod),
            Work::NodeRecover { node } => faults::node_up(self, store, now, &node),
            Work::NamespaceTerminate { namespace } => Ok(lifecycle::terminate(self, store, now, &namespace)),
            Work::NamespaceDelete { namespace } => lifecycle::delete(store, now, &namespace),
        }
    }

    /// Schedules `work` `delay` seconds after `now`.
    fn later(&mut self, now: i64, delay: i64, work: Work) {
        self.seq += 1;
        self.tasks.push(Task { due: now + delay.max(1), seq: self.seq, work });
    }

    /// A delay in `lo..=hi` seconds.
    fn delay(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.rng.below((hi - lo + 1).max(1) as u64) as i64
    }

    fn take_due(&mut self, now: i64) -> Option<Task> {
        let index = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.due <= now)
            .min_by_key(|(_, t)| (t.due, t.seq))
            .map(|(i, _)| i)?;
        Some(self.tasks.swap_remove(index))
    }

    /// Whether work in flight concerns `target` (`namespace/name`, or a node's name).
    fn busy(&self, target: &str) -> bool {
        self.tasks.iter().any(|t| t.work.target() == target)
    }

    /// How many pieces of work in flight match.
    fn in_flight(&self, matches: impl Fn(&Work) -> bool) -> usize {
        self.tasks.iter().filter(|t| matches(&t.work)).count()
    }

    /// Picks one of `candidates` (already in a deterministic order).
    fn pick<'a, T>(&mut self, candidates: &'a [T]) -> Option<&'a T> {
        (!candidates.is_empty()).then(|| &candidates[self.rng.below(candidates.len() as u64) as usize])
    }

    /// How many steps failed (each is logged): a client may have changed an object under the churn's feet, so
    /// this is not always a bug, but in a cluster only the churn writes to it stays zero.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// How much work is in flight.
    pub fn pending(&self) -> usize {
        self.tasks.len()
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// The time between two steps at `events_per_min`.
pub fn period(events_per_min: u32) -> Duration {
    Duration::from_secs_f64(60.0 / f64::from(events_per_min.max(1)))
}

/// Runs the churn on `sim` at `events_per_min` on a timer, until the task is aborted; step `i` is given the
/// time `start + i × 60 / events_per_min` seconds, so the same seed and rate give the same changes whatever the
/// timer's jitter. `None` when `events_per_min` is 0: churn off.
pub fn spawn(sim: &Sim, events_per_min: u32) -> Option<tokio::task::JoinHandle<()>> {
    if events_per_min == 0 {
        return None;
    }
    let sim = sim.clone();
    let mut churn = Churn::new(sim.seed());
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period(events_per_min));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        tracing::info!(events_per_min, "churn started");
        // Step `i` happens at `start + i × period`, not at whatever second the timer fired in: the times, and so
        // the changes, depend only on the seed and the rate (a late tick moves nothing but the wall clock).
        let start = sim.now();
        for i in 1_i64.. {
            ticks.tick().await;
            let now = start + i * 60 / i64::from(events_per_min);
            if let Some(change) = churn.step(sim.store(), now) {
                tracing::debug!(%change, "churn");
            }
        }
    }))
}

#[cfg(test)]
mod tests;
