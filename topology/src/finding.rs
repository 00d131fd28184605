//! Findings: what is wrong in the cluster, how bad it is, and which entities it involves.
//!
//! The types live in the pure core because three parties share them: the server's detectors and history, the
//! REST API that serves them, and the browser panel that lists them. Detection itself ([`detect`]) is a pure
//! function of a topology, the recent events and the time, so the server's engine only has to diff the set of
//! [`Finding::key`]s between two evaluations to know what opened and what resolved.

mod detect;
mod restarts;
mod tiers;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use self::{
    detect::{chain, detect, Thresholds},
    restarts::RestartHistory,
    tiers::{Tier, Tiers, TiersError},
};
use crate::{event::EventRecord, id::EntityId};

/// How bad a finding is, lowest first (so `max` is the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Worth knowing, nothing to do yet.
    Info,
    /// Degraded or about to be.
    Warning,
    /// Broken for some users or some replicas.
    High,
    /// Broken, act now.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [Severity::Info, Severity::Warning, Severity::High, Severity::Critical];

    /// The name as the API and the webhooks spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// This severity raised by `steps` levels, capped at critical.
    #[must_use]
    pub fn raised(self, steps: usize) -> Severity {
        let index = Severity::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Severity::ALL[(index + steps).min(Severity::ALL.len() - 1)]
    }

    /// Parses `info`, `warning`, `high` or `critical` in any case.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule that produced a finding. Its name is the first half of a finding's key, so renaming a variant
/// re-keys every stored finding: don't.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detector {
    /// A container in `CrashLoopBackOff`.
    CrashLoop,
    /// A container was killed by the out-of-memory killer.
    OomKilled,
    /// An image cannot be pulled.
    ImagePull,
    /// A pod has been pending longer than the threshold.
    PendingTooLong,
    /// A running pod restarted several times within a short window (a spike, not a lifetime's total).
    Restarts,
    /// Readiness probes keep failing on a running pod.
    ReadinessFlapping,
    /// A deployment's rollout exceeded its progress deadline.
    RolloutStuck,
    /// A deployment has fewer available replicas than desired.
    UnavailableReplicas,
    /// A stateful set has fewer ready replicas than desired.
    StatefulSetNotReady,
    /// A daemon set is not running where it should.
    DaemonSetMisscheduled,
    /// A job failed.
    JobFailed,
    /// A node is not ready.
    NodeNotReady,
    /// A node reports memory, disk or PID pressure.
    NodePressure,
    /// A service selects pods but has no ready endpoint.
    NoEndpoints,
    /// A persistent volume claim is not bound.
    PvcPending,
    /// A pod uses most of its CPU or memory limit.
    NearLimit,
}

impl Detector {
    /// All detectors.
    pub const ALL: [Detector; 16] = [
        Detector::CrashLoop,
        Detector::OomKilled,
        Detector::ImagePull,
        Detector::PendingTooLong,
        Detector::Restarts,
        Detector::ReadinessFlapping,
        Detector::RolloutStuck,
        Detector::UnavailableReplicas,
        Detector::StatefulSetNotReady,
        Detector::DaemonSetMisscheduled,
        Detector::JobFailed,
        Detector::NodeNotReady,
        Detector::NodePressure,
        Detector::NoEndpoints,
        Detector::PvcPending,
        Detector::NearLimit,
    ];

    /// The kebab-case name used in keys, the API and the webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::CrashLoop => "crash-loop",
            Detector::OomKilled => "oom-killed",
            Detector::ImagePull => "image-pull",
            Detector::PendingTooLong => "pending-too-long",
            Detector::Restarts => "restarts",
            Detector::ReadinessFlapping => "readiness-flapping",
            Detector::RolloutStuck => "rollout-stuck",
            Detector::UnavailableReplicas => "unavailable-replicas",
            Detector::StatefulSetNotReady => "statefulset-not-ready",
            Detector::DaemonSetMisscheduled => "daemonset-misscheduled",
            Detector::JobFailed => "job-failed",
            Detector::NodeNotReady => "node-not-ready",
            Detector::NodePressure => "node-pressure",
            Detector::NoEndpoints => "no-endpoints",
            Detector::PvcPending => "pvc-pending",
            Detector::NearLimit => "near-limit",
        }
    }

    /// The detector with this name.
    pub fn parse(s: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with one entity.
///
/// Messages are built from names, counts and Kubernetes reasons only (plus, for a pending pod, the scheduler's
/// own `FailedScheduling` line): never from environment values, specs or other event messages, which can carry
/// anything a user put there (event messages are attached separately and only
/// for viewers who may see the event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `detector/entity-id`: stable while the cause lasts, so open and resolve are a diff of key sets.
    pub key: String,
    /// The rule.
    pub detector: Detector,
    /// The severity after the criticality tier raised it.
    pub severity: Severity,
    /// The criticality tier that applied.
    pub tier: Tier,
    /// The entity the finding is about.
    pub subject: EntityId,
    /// One line for a human.
    pub message: String,
    /// The causal chain: the subject and what it affects or depends on (ingress → service → pods → node).
    pub entities: Vec<EntityId>,
    /// When it was first seen, unix seconds.
    pub opened: i64,
    /// When it went away, unix seconds; `None` while open.
    pub resolved: Option<i64>,
    /// The recent warning events about the chain that explain it (newest first, a few).
    #[serde(default)]
    pub events: Vec<EventRecord>,
}

impl Finding {
    /// The key of `detector` about `subject`.
    pub fn key_of(detector: Detector, subject: &EntityId) -> String {
        format!("{detector}/{subject}")
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.resolved.is_none()
    }
}

#[cfg(test)]
mod tests;
