//! What a screen reader hears when the cluster changes: short, per namespace, bounded and rate-limited.
//!
//! A topology update can touch hundreds of entities; reading them all out would drown the user. Changes are
//! summarised per namespace, kind and short reason (`kgents-triad: 2 pods CrashLoopBackOff`), recoveries are
//! counted ("kgents-triad: 1 pod recovered"), at most [`MAX_LINES`] lines go out per announcement, and
//! [`Announcer`] lets one announcement out per [`INTERVAL_MS`] (later changes are merged, not queued forever).

use std::collections::BTreeMap;

use leptos::prelude::*;
use topology::{Entity, HealthLevel, Kind, Topology};

use crate::view::View;

/// Lines per announcement; the rest is counted ("and 4 more changes").
pub const MAX_LINES: usize = 3;
/// The least time between two announcements.
pub const INTERVAL_MS: f64 = 5_000.0;

/// The reason's short form: the part before the first `:` (`"CrashLoopBackOff: back-off 5m"` → `CrashLoopBackOff`).
fn short_reason(entity: &Entity) -> String {
    let reason = entity.health.reasons.first().map_or("unhealthy", String::as_str);
    let short = reason.split(':').next().unwrap_or(reason).trim();
    topology::event::truncate(short, 48)
}

/// `pod`/`pods`, the plural the announcements use.
fn noun(kind: Kind, count: usize) -> String {
    if count == 1 {
        kind.as_str().to_owned()
    } else {
        format!("{}s", kind.as_str())
    }
}

/// The changes between two topologies as announcement lines, most important (new failures) first.
pub fn changes(old: &Topology, new: &Topology) -> Vec<String> {
    // (namespace, kind, reason) → count; reason `None` = recovered.
    let mut failed: BTreeMap<(String, Kind, String), usize> = BTreeMap::new();
    let mut recovered: BTreeMap<(String, Kind), usize> = BTreeMap::new();
    for entity in new.entities() {
        let before = old.get(&entity.id).map(|e| e.health.level());
        let now = entity.health.level();
        if now == HealthLevel::Unhealthy && before != Some(HealthLevel::Unhealthy) {
            *failed.entry((namespace_of(entity), entity.kind, short_reason(entity))).or_default() += 1;
        } else if before == Some(HealthLevel::Unhealthy) && now == HealthLevel::Healthy {
            *recovered.entry((namespace_of(entity), entity.kind)).or_default() += 1;
        }
    }
    let failures =
        failed.into_iter().map(|((ns, kind, reason), n)| format!("{ns}: {n} {} {reason}", noun(kind, n)));
    let recoveries =
        recovered.into_iter().map(|((ns, kind), n)| format!("{ns}: {n} {} recovered", noun(kind, n)));
    failures.chain(recoveries).collect()
}

/// Cluster-scoped entities are announced under "cluster".
fn namespace_of(entity: &Entity) -> String {
    if entity.namespace().is_empty() {
        String::from("cluster")
    } else {
        entity.namespace().to_owned()
    }
}

/// Rate limiter and merger: lines offered between two announcements are held (bounded) and go out together.
#[derive(Debug, Default)]
pub struct Announcer {
    pending: Vec<String>,
    dropped: usize,
    last: Option<f64>,
}

impl Announcer {
    /// Adds lines; returns the announcement to make now, if the interval has passed and anything is pending.
    pub fn offer(&mut self, lines: Vec<String>, now_ms: f64) -> Option<String> {
        for line in lines {
            if self.pending.len() < MAX_LINES {
                self.pending.push(line);
            } else {
                self.dropped += 1;
            }
        }
        if self.pending.is_empty() || self.last.is_some_and(|last| now_ms - last < INTERVAL_MS) {
            return None;
        }
        self.last = Some(now_ms);
        let mut text = self.pending.drain(..).collect::<Vec<_>>().join(". ");
        if self.dropped > 0 {
            text = format!("{text}. And {} more changes", self.dropped);
            self.dropped = 0;
        }
        Some(text)
    }
}

/// A visually hidden polite live region fed by successive drawn topologies.
#[component]
pub fn Announcements() -> impl IntoView {
    let view = expect_context::<View>();
    let text = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    {
        let announcer = std::rc::Rc::new(std::cell::RefCell::new(Announcer::default()));
        Effect::new(move |previous: Option<Option<std::sync::Arc<Topology>>>| {
            let current = view.topology.get();
            if let (Some(Some(old)), Some(new)) = (previous.as_ref(), current.as_ref()) {
                let lines = changes(old, new);
                if let Some(message) = announcer.borrow_mut().offer(lines, js_sys::Date::now()) {
                    text.set(message);
                }
            }
            current
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = view;
    view! { <div id="announcements" class="gl-sr-only" role="log" aria-live="polite">{move || text.get()}</div> }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::entity::{Details, PodPhase};

    /// Fails `count` healthy pods of the first such pod's namespace (health is reassessed on upsert, so the
    /// pod's phase is what changes).
    fn fail_pods(topology: &Topology, count: usize) -> (Topology, String) {
        let mut new = topology.clone();
        let pods: Vec<Entity> = topology
            .entities()
            .filter(|e| e.kind == Kind::Pod && e.health.level() == HealthLevel::Healthy)
            .take(count)
            .cloned()
            .collect();
        let namespace = pods[0].namespace().to_owned();
        for mut pod in pods.into_iter().filter(|p| p.namespace() == namespace) {
            if let Details::Pod(info) = &mut pod.details {
                info.phase = PodPhase::Failed;
            }
            new.upsert(pod).unwrap();
        }
        (new, namespace)
    }

    #[test]
    fn new_failures_are_summarised_per_namespace_and_reason() {
        let old = topology::sample::kgents();
        let (new, namespace) = fail_pods(&old, 1);
        assert_eq!(changes(&old, &new), vec![format!("{namespace}: 1 pod Failed")]);
        assert_eq!(changes(&new, &old), vec![format!("{namespace}: 1 pod recovered")]);
        assert!(changes(&old, &old).is_empty());
    }

    #[test]
    fn the_announcer_merges_bounds_and_rate_limits() {
        let mut announcer = Announcer::default();
        assert_eq!(announcer.offer(vec![String::from("a")], 0.0), Some(String::from("a")));
        assert_eq!(announcer.offer(vec![String::from("b")], 1_000.0), None);
        let many = (0..5).map(|i| format!("c{i}")).collect();
        assert_eq!(announcer.offer(many, 2_000.0), None);
        assert_eq!(announcer.offer(Vec::new(), 5_000.0), Some(String::from("b. c0. c1. And 3 more changes")));
        assert_eq!(announcer.offer(Vec::new(), 20_000.0), None);
    }
}
