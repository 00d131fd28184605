//! The detectors: one pass over the topology and the recent events, returning every finding that holds now.
//!
//! Each rule looks at one entity (and the events about it) and says whether something is wrong, how bad it is
//! before tiers, and why in one line. Everything else a finding carries is derived the same way for every rule:
//! its key, its causal chain, its tier and the events that explain it. Durations the objects don't record
//! ("unavailable for a minute") are the server engine's business; a rule here only needs `now` for what the
//! objects do record (a pod's creation time, an event's last occurrence).

use std::collections::{BTreeSet, HashMap};

use super::{Detector, Finding, RestartHistory, Severity, Tiers};
use crate::entity::{
    Cond, ContainerState, Details, JobState, NodePressure, PodInfo, PodPhase, PvcPhase, Reason, ServiceType,
    Usage,
};
use crate::event::{EventRecord, EventType};
use crate::id::{EntityId, Kind};
use crate::relation::RelationKind;
use crate::{Entity, Topology};

/// The knobs of the rules that need one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A pod pending longer than this (seconds since creation) is a finding.
    pub pending_secs: i64,
    /// A running pod that restarted at least this many times within [`Thresholds::restart_window_secs`] is a
    /// finding (a spike; the lifetime total says nothing about now).
    pub restarts: u32,
    /// The restart spike's window (seconds).
    pub restart_window_secs: i64,
    /// Failed readiness probes within [`Thresholds::probe_window_secs`] that make a flapping pod.
    pub probe_failures: u32,
    /// The readiness flapping window (seconds).
    pub probe_window_secs: i64,
    /// How long an `OOMKilled` last termination stays a finding after the container was killed (seconds).
    pub oom_window_secs: i64,
    /// Events older than this (seconds) no longer explain anything.
    pub event_window_secs: i64,
    /// Usage at or above this percentage of the limit is "near".
    pub near_limit_percent: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pending_secs: 300,
            restarts: 3,
            restart_window_secs: 600,
            probe_failures: 3,
            probe_window_secs: 600,
            oom_window_secs: 900,
            event_window_secs: 900,
            near_limit_percent: 90,
        }
    }
}

/// How many entities a chain lists at most (a node's chain names its pods; a big node has hundreds).
pub const MAX_CHAIN: usize = 64;
/// How many events a finding carries at most.
pub const MAX_EVENTS: usize = 5;
/// The longest scheduler message quoted in a pending pod's finding.
const MAX_QUOTE: usize = 200;

struct Graph<'a> {
    out: HashMap<&'a EntityId, Vec<(RelationKind, &'a EntityId)>>,
    inc: HashMap<&'a EntityId, Vec<(RelationKind, &'a EntityId)>>,
}

impl<'a> Graph<'a> {
    fn of(topology: &'a Topology) -> Graph<'a> {
        let mut graph = Graph { out: HashMap::new(), inc: HashMap::new() };
        for r in topology.relations() {
            graph.out.entry(&r.from).or_default().push((r.kind, &r.to));
            graph.inc.entry(&r.to).or_default().push((r.kind, &r.from));
        }
        graph
    }

    fn from(&self, id: &EntityId, kind: RelationKind) -> impl Iterator<Item = &'a EntityId> + '_ {
        self.out.get(id).into_iter().flatten().filter(move |(k, _)| *k == kind).map(|(_, to)| *to)
    }

    fn to(&self, id: &EntityId, kind: RelationKind) -> impl Iterator<Item = &'a EntityId> + '_ {
        self.inc.get(id).into_iter().flatten().filter(move |(k, _)| *k == kind).map(|(_, from)| *from)
    }

    /// The causal chain of `subject`: the pods it affects (itself, its owned pods, the pods it selects, runs
    /// or is mounted by), and from those pods their owners, nodes, the services selecting them and the
    /// ingresses routing to those services. Subject first, then the rest in id order, at most [`MAX_CHAIN`].
    fn chain(&self, subject: &'a EntityId) -> Vec<EntityId> {
        let mut pods: Vec<&EntityId> = Vec::new();
        let mut owned = vec![subject];
        while let Some(id) = owned.pop() {
            if id.kind() == Kind::Pod {
                pods.push(id);
            }
            owned.extend(self.from(id, RelationKind::Owns));
        }
        pods.extend(self.from(subject, RelationKind::Selects));
        pods.extend(self.to(subject, RelationKind::RunsOn));
        pods.extend(self.to(subject, RelationKind::Mounts));
        let mut set: BTreeSet<&EntityId> = BTreeSet::new();
        let mut owners = vec![subject];
        for pod in &pods {
            if set.len() >= MAX_CHAIN {
                break;
            }
            set.insert(pod);
            owners.push(pod);
            set.extend(self.from(pod, RelationKind::RunsOn));
            set.extend(self.from(pod, RelationKind::Mounts));
            for service in self.to(pod, RelationKind::Selects) {
                set.insert(service);
                set.extend(self.to(service, RelationKind::RoutesTo));
            }
        }
        while let Some(id) = owners.pop() {
            for owner in self.to(id, RelationKind::Owns) {
                if set.insert(owner) {
                    owners.push(owner);
                }
            }
        }
        if subject.kind() == Kind::Service {
            set.extend(self.to(subject, RelationKind::RoutesTo));
        }
        set.remove(subject);
        std::iter::once(subject).chain(set).take(MAX_CHAIN).cloned().collect()
    }
}

/// The causal chain of one entity (see [`detect`]); the panel uses it to light an entity's chain.
pub fn chain(topology: &Topology, subject: &EntityId) -> Vec<EntityId> {
    Graph::of(topology).chain(subject)
}

/// What one rule says about one entity, before tiers.
struct Hit {
    detector: Detector,
    severity: Severity,
    message: String,
}

fn hit(detector: Detector, severity: Severity, message: String) -> Hit {
    Hit { detector, severity, message }
}

/// Every finding that holds now, in key order, each opened at `now` (the engine keeps the first time).
///
/// `restarts` is the recent restart history the caller keeps between evaluations (see [`RestartHistory`]); an
/// empty one means no restart spike can be seen.
pub fn detect(
    topology: &Topology,
    events: &[EventRecord],
    now: i64,
    thresholds: &Thresholds,
    tiers: &Tiers,
    restarts: &RestartHistory,
) -> Vec<Finding> {
    let mut about: HashMap<&EntityId, Vec<&EventRecord>> = HashMap::new();
    for event in events.iter().filter(|e| now - e.last_seen <= thresholds.event_window_secs) {
        // An event recorded in another namespace than its object's says nothing about it that the object's
        // viewers should be shown (anyone who may write events there could have written it).
        if let Some(id) = event
            .involved
            .as_ref()
            .filter(|id| id.namespace().is_empty() || id.namespace() == event.namespace)
        {
            about.entry(id).or_default().push(event);
        }
    }
    for list in about.values_mut() {
        list.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
    }
    let no_events = Vec::new();
    let graph = Graph::of(topology);
    let mut findings: Vec<Finding> = topology
        .entities()
        .flat_map(|entity| {
            let events = about.get(&entity.id).unwrap_or(&no_events);
            rules(entity, events, now, thresholds, restarts).into_iter().map(move |h| (entity, h))
        })
        .map(|(entity, hit)| {
            let entities = graph.chain(&entity.id);
            let tier = tiers.of_chain(&entities);
            let explaining = entities
                .iter()
                .filter_map(|id| about.get(id))
                .flatten()
                .filter(|e| e.kind == EventType::Warning)
                .copied();
            let mut explaining: Vec<EventRecord> = explaining.cloned().collect();
            explaining.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
            explaining.truncate(MAX_EVENTS);
            Finding {
                key: Finding::key_of(hit.detector, &entity.id),
                detector: hit.detector,
                severity: tier.raise(hit.severity),
                tier,
                subject: entity.id.clone(),
                message: hit.message,
                entities,
                opened: now,
                resolved: None,
                events: explaining,
            }
        })
        .collect();
    findings.sort_by(|a, b| a.key.cmp(&b.key));
    findings
}

/// What is wrong with a daemon set: pods on nodes that should not run them (`numberMisscheduled`, after a node's
/// labels or taints changed) and nodes that should run one but don't, or whose pod is not ready.
fn daemonset_message(name: &str, w: &crate::entity::WorkloadInfo) -> String {
    let r = w.replicas;
    let mut parts = Vec::new();
    if w.misscheduled > 0 {
        let pods = if w.misscheduled == 1 { "1 pod".to_owned() } else { format!("{} pods", w.misscheduled) };
        parts.push(format!("{pods} on nodes that should not run it"));
    }
    if r.current != r.desired || r.ready < r.desired {
        parts.push(format!("{} scheduled, {} ready of {} nodes", r.current, r.ready, r.desired));
    }
    format!("daemonset {name}: {}", parts.join("; "))
}

fn rules(
    entity: &Entity,
    events: &[&EventRecord],
    now: i64,
    t: &Thresholds,
    restarts: &RestartHistory,
) -> Vec<Hit> {
    let name = entity.name();
    let mut hits = Vec::new();
    match &entity.details {
        Details::Pod(pod) => {
            let spike = restarts.increase(&entity.id, now, t.restart_window_secs);
            pod_rules(pod, entity, events, now, t, spike, &mut hits);
        }
        Details::Workload(w) => {
            let r = w.replicas;
            match entity.kind {
                // The deployment controller's verdict, not the `ProgressDeadlineExceeded` event: the event stays
                // for an hour after a fix, the condition flips back as soon as a rollout progresses (the event
                // still explains the finding while both hold).
                Kind::Deployment if w.progress_deadline_exceeded => hits.push(hit(
                    Detector::RolloutStuck,
                    Severity::High,
                    format!(
                        "deployment {name}: rollout exceeded its progress deadline ({}/{} updated)",
                        r.updated, r.desired
                    ),
                )),
                Kind::Deployment if r.available < r.desired => hits.push(hit(
                    Detector::UnavailableReplicas,
                    if r.available == 0 { Severity::High } else { Severity::Warning },
                    format!(
                        "deployment {name}: {} of {} replicas unavailable",
                        r.desired - r.available,
                        r.desired
                    ),
                )),
                Kind::StatefulSet if r.ready < r.desired => hits.push(hit(
                    Detector::StatefulSetNotReady,
                    if r.ready == 0 { Severity::High } else { Severity::Warning },
                    format!("statefulset {name}: {} of {} replicas ready", r.ready, r.desired),
                )),
                Kind::DaemonSet if w.misscheduled > 0 || r.current != r.desired || r.ready < r.desired => {
                    hits.push(hit(
                        Detector::DaemonSetMisscheduled,
                        Severity::Warning,
                        daemonset_message(name, w),
                    ));
                }
                _ => {}
            }
        }
        Details::Job(job) if job.state == JobState::Failed => hits.push(hit(
            Detector::JobFailed,
            Severity::High,
            format!("job {name} failed ({} failed pods)", job.failed),
        )),
        Details::Node(node) => {
            if node.ready != Cond::True {
                let status = if node.ready == Cond::False { "NotReady" } else { "Unknown" };
                hits.push(hit(
                    Detector::NodeNotReady,
                    Severity::Critical,
                    format!("node {name} is {status}"),
                ));
            }
            let pressures: Vec<&str> = node
                .pressures
                .iter()
                .filter(|p| **p != NodePressure::NetworkUnavailable)
                .map(|p| p.as_str())
                .collect();
            if !pressures.is_empty() {
                hits.push(hit(
                    Detector::NodePressure,
                    Severity::High,
                    format!("node {name} reports {}", pressures.join(", ")),
                ));
            }
        }
        Details::Service(service)
            if service.service_type != ServiceType::ExternalName
                && !service.selector.is_empty()
                && service.endpoints.is_some_and(|e| e.ready == 0) =>
        {
            let not_ready = service.endpoints.map_or(0, |e| e.not_ready);
            hits.push(hit(
                Detector::NoEndpoints,
                Severity::High,
                format!("service {name} has no ready endpoints ({not_ready} not ready)"),
            ));
        }
        Details::Pvc(pvc) if pvc.phase != PvcPhase::Bound => {
            let (severity, state) = if pvc.phase == PvcPhase::Lost {
                (Severity::High, "lost its volume")
            } else {
                (Severity::Warning, "is pending")
            };
            hits.push(hit(Detector::PvcPending, severity, format!("persistent volume claim {name} {state}")));
        }
        _ => {}
    }
    hits
}

/// `recent_restarts`: how many times the pod restarted within the restart window.
fn pod_rules(
    pod: &PodInfo,
    entity: &Entity,
    events: &[&EventRecord],
    now: i64,
    t: &Thresholds,
    recent_restarts: u32,
    hits: &mut Vec<Hit>,
) {
    if pod.deleting || pod.phase.is_terminal() {
        return;
    }
    let containers = || pod.init_containers.iter().chain(&pod.containers);
    let waiting = |wanted: &[Reason]| {
        containers().find_map(|c| match &c.status.state {
            ContainerState::Waiting { reason: Some(r) } if wanted.contains(r) => Some((c, r)),
            _ => None,
        })
    };
    if let Some((c, _)) = waiting(&[Reason::CrashLoopBackOff]) {
        hits.push(hit(
            Detector::CrashLoop,
            Severity::High,
            format!("container {} is in CrashLoopBackOff ({} restarts)", c.name, c.status.restarts),
        ));
    }
    let pull =
        [Reason::ImagePullBackOff, Reason::ErrImagePull, Reason::ErrImageNeverPull, Reason::InvalidImageName];
    if let Some((c, reason)) = waiting(&pull) {
        hits.push(hit(
            Detector::ImagePull,
            Severity::High,
            format!("container {}: {reason} for its image", c.name),
        ));
    }
    // Killed now, or last time within the window; a kill with no time (a status that omits `finishedAt`)
    // counts as recent rather than being missed.
    let oom = containers().find(|c| {
        let recent = c.status.last_termination_at.is_none_or(|at| now - at <= t.oom_window_secs);
        (c.status.last_termination == Some(Reason::OOMKilled) && recent)
            || matches!(&c.status.state, ContainerState::Terminated { reason: Some(Reason::OOMKilled), .. })
    });
    if let Some(c) = oom {
        hits.push(hit(
            Detector::OomKilled,
            Severity::High,
            format!("container {} was OOMKilled ({} restarts)", c.name, c.status.restarts),
        ));
    }
    let failing_wait = containers().any(
        |c| matches!(&c.status.state, ContainerState::Waiting { reason: Some(r) } if r.is_failing_wait()),
    );
    let age = entity.created.map_or(0, |c| now - c);
    if pod.phase == PodPhase::Pending && !failing_wait && age > t.pending_secs {
        let why = events
            .iter()
            .find(|e| e.reason == "FailedScheduling")
            .map(|e| format!(": {}", crate::event::truncate(&e.message, MAX_QUOTE)))
            .or_else(|| pod.reason.as_ref().map(|r| format!(": {r}")))
            .unwrap_or_default();
        hits.push(hit(
            Detector::PendingTooLong,
            Severity::Warning,
            format!("pending for {}m{why}", age / 60),
        ));
    }
    if pod.phase == PodPhase::Running && !failing_wait && recent_restarts >= t.restarts {
        hits.push(hit(
            Detector::Restarts,
            Severity::Warning,
            format!("restarted {recent_restarts} times in the last {} min", t.restart_window_secs / 60),
        ));
    }
    let probe_failures: u32 = events
        .iter()
        .filter(|e| e.reason == "Unhealthy" && e.message.starts_with("Readiness probe failed"))
        .map(|e| within_window(e, now, t.probe_window_secs))
        .sum();
    if pod.phase == PodPhase::Running && probe_failures >= t.probe_failures {
        hits.push(hit(
            Detector::ReadinessFlapping,
            Severity::Warning,
            format!("readiness probe failed {probe_failures} times recently"),
        ));
    }
    near_limit(pod, entity.usage, t, hits);
}

/// How many of an aggregated event's occurrences fell within the last `window` seconds. The event only says
/// how many there were between its first and last time, so a count spread over a longer span is prorated, as
/// if evenly spread (a probe failing for hours, once every few minutes, is not a burst now); the last
/// occurrence always counts.
fn within_window(event: &EventRecord, now: i64, window: i64) -> u32 {
    let start = now - window;
    if event.last_seen < start {
        return 0;
    }
    let span = event.last_seen - event.first_seen;
    if event.first_seen >= start || span <= 0 {
        return event.count;
    }
    let inside = event.last_seen - start;
    let prorated = i64::from(event.count).saturating_mul(inside) / span;
    u32::try_from(prorated).unwrap_or(u32::MAX).clamp(1, event.count)
}

fn near_limit(pod: &PodInfo, usage: Option<Usage>, t: &Thresholds, hits: &mut Vec<Hit>) {
    let Some(usage) = usage else { return };
    let limits = pod.limits();
    let percent =
        |used: u64, limit: Option<u64>| limit.filter(|l| *l > 0).map(|l| used.saturating_mul(100) / l);
    let memory = percent(usage.memory_bytes, limits.memory_bytes).filter(|p| *p >= t.near_limit_percent);
    let cpu = percent(usage.cpu_millis, limits.cpu_millis).filter(|p| *p >= t.near_limit_percent);
    let (severity, what) = match (memory, cpu) {
        (Some(m), _) => (Severity::Warning, format!("memory at {m}% of its limit")),
        (None, Some(c)) => (Severity::Info, format!("CPU at {c}% of its limit (throttled)")),
        (None, None) => return,
    };
    hits.push(hit(Detector::NearLimit, severity, what));
}
