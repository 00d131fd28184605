//! Health: one of four levels per entity, with the human-readable reasons behind it.
//!
//! Why derived and not reported: Kubernetes has no single "health" field. Each kind spreads it over phases,
//! conditions, replica counts and container states, and operators read it through `kubectl get`. The rules in
//! [`pod`] and [`rules`] fold those fields into a level so that the colour on the map agrees with what kubectl
//! prints for the same object (the pod rules start from the very STATUS string kubectl computes, see
//! [`pod_status`]). Health is a pure function of one entity ([`assess`]), which is why it can be recomputed on
//! the receiving side instead of travelling in every patch.
//!
//! The cluster-wide percentage and letter grade are in [`grade`].

pub mod grade;
pub mod pod;
pub mod rules;

use serde::{Deserialize, Serialize};

pub use self::{
    grade::{score, Grade, Score},
    pod::{pod_health, pod_status},
};
use crate::entity::{Details, Entity};

/// How an entity is doing. Ordered from best to worst, with `Unknown` last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthLevel {
    /// Doing what it should.
    Healthy,
    /// Working, but not fully (some replicas unavailable, a pod starting, a node under pressure).
    Degraded,
    /// Not working (crash loop, image pull failure, no ready endpoint, node not ready).
    Unhealthy,
    /// No way to tell (phase unknown, references, endpoints not reported).
    #[default]
    Unknown,
}

impl HealthLevel {
    /// Every level.
    pub const ALL: [HealthLevel; 4] =
        [HealthLevel::Healthy, HealthLevel::Degraded, HealthLevel::Unhealthy, HealthLevel::Unknown];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthLevel::Healthy => "healthy",
            HealthLevel::Degraded => "degraded",
            HealthLevel::Unhealthy => "unhealthy",
            HealthLevel::Unknown => "unknown",
        }
    }

    /// The colour the scene paints this level in, linear RGB in `0..=1`: green, amber, red, grey (distinct in
    /// lightness as well as hue, so the levels stay apart for colour-blind viewers).
    pub fn rgb(self) -> [f32; 3] {
        match self {
            HealthLevel::Healthy => [0.18, 0.70, 0.43],
            HealthLevel::Degraded => [0.94, 0.66, 0.19],
            HealthLevel::Unhealthy => [0.90, 0.28, 0.30],
            HealthLevel::Unknown => [0.55, 0.55, 0.60],
        }
    }
}

/// A level with the reasons that led to it (empty when healthy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Health {
    /// The level.
    pub level: HealthLevel,
    /// Why, in words an operator recognises (`"worker: CrashLoopBackOff (7 restarts, last Error)"`).
    pub reasons: Vec<String>,
}

impl Health {
    /// Healthy, no reasons.
    pub fn healthy() -> Health {
        Health { level: HealthLevel::Healthy, reasons: Vec::new() }
    }

    /// A level with one reason.
    pub fn new(level: HealthLevel, reason: impl Into<String>) -> Health {
        Health { level, reasons: vec![reason.into()] }
    }

    /// Degraded for one reason.
    pub fn degraded(reason: impl Into<String>) -> Health {
        Health::new(HealthLevel::Degraded, reason)
    }

    /// Unhealthy for one reason.
    pub fn unhealthy(reason: impl Into<String>) -> Health {
        Health::new(HealthLevel::Unhealthy, reason)
    }

    /// Unknown for one reason.
    pub fn unknown(reason: impl Into<String>) -> Health {
        Health::new(HealthLevel::Unknown, reason)
    }

    /// The level.
    pub fn level(&self) -> HealthLevel {
        self.level
    }
}

/// The health of an entity, by the rules of its kind (see [`pod`] and [`rules`]).
pub fn assess(entity: &Entity) -> Health {
    match &entity.details {
        Details::Cluster(_) => Health::healthy(),
        Details::Namespace(ns) => rules::namespace(ns),
        Details::Node(node) => rules::node(node),
        Details::Workload(w) => rules::workload(entity.kind, w),
        Details::Job(job) => rules::job(job),
        Details::CronJob(cj) => rules::cronjob(cj),
        Details::Pod(p) => pod_health(p),
        Details::Service(svc) => rules::service(svc),
        Details::Ingress(ing) => rules::ingress(ing),
        Details::Pvc(pvc) => rules::pvc(pvc),
        Details::Hpa(hpa) => rules::hpa(hpa),
        Details::Reference => Health::unknown("reference only: config maps and secrets are not read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{EntityId, Kind};

    #[test]
    fn references_have_unknown_health() {
        let secret = Entity::new(EntityId::new("c", Kind::Secret, "ns", "db-credentials"));
        assert_eq!(assess(&secret).level(), HealthLevel::Unknown);
    }

    #[test]
    fn levels_serialize_in_lowercase() {
        assert_eq!(serde_json::to_string(&HealthLevel::Degraded).unwrap(), "\"degraded\"");
    }
}
