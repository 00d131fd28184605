//! Restart spikes need a memory: a pod's restart count is cumulative, so "restarted 5 times" stays true for the
//! pod's whole life, long after it calmed down. What matters is how many restarts happened *recently*; the
//! detectors are pure functions of one moment, so the engine keeps this small history between evaluations and
//! passes it in.
//!
//! Bounded: one entry per pod present in the last observation (deleted pods are forgotten), and per pod only the
//! counts seen when they changed within the window, plus the one before it (the count at the window's start),
//! at most [`MAX_SAMPLES`].

use std::collections::{HashMap, HashSet, VecDeque};

use crate::{entity::Details, id::EntityId, topology::Topology};

/// Samples kept per pod at most (a pod restarting every few seconds would otherwise fill the window).
pub const MAX_SAMPLES: usize = 64;

/// Restart counts seen per pod, over time.
#[derive(Debug, Clone, Default)]
pub struct RestartHistory {
    seen: HashMap<EntityId, VecDeque<(i64, u32)>>,
}

impl RestartHistory {
    /// Records the restart count of every pod at `now` (unix seconds), drops what is older than `window_secs`
    /// (keeping the count at the window's start) and forgets pods that are gone.
    pub fn observe(&mut self, topology: &Topology, now: i64, window_secs: i64) {
        let mut present = HashSet::new();
        for entity in topology.entities() {
            let Details::Pod(pod) = &entity.details else { continue };
            let count = pod.restarts();
            present.insert(&entity.id);
            let samples = self.seen.entry(entity.id.clone()).or_default();
            match samples.back() {
                // Fewer restarts than before: the same name, a new pod. Start over.
                Some(&(_, last)) if count < last => {
                    samples.clear();
                    samples.push_back((now, count));
                }
                Some(&(_, last)) if count == last => {}
                _ => samples.push_back((now, count)),
            }
            while samples.len() > MAX_SAMPLES || samples.get(1).is_some_and(|(t, _)| *t <= now - window_secs)
            {
                samples.pop_front();
            }
        }
        self.seen.retain(|id, _| present.contains(id));
    }

    /// How many times `pod` restarted within `window_secs` before `now`, as far as observed (a pod first seen
    /// inside the window counts from that first sight).
    pub fn increase(&self, pod: &EntityId, now: i64, window_secs: i64) -> u32 {
        let Some(samples) = self.seen.get(pod) else { return 0 };
        let Some(&(_, latest)) = samples.back() else { return 0 };
        let start = samples.iter().rev().find(|(t, _)| *t <= now - window_secs).or(samples.front());
        start.map_or(0, |&(_, count)| latest.saturating_sub(count))
    }

    /// Pods remembered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{Container, Entity, PodInfo};
    use crate::id::Kind;

    const WINDOW: i64 = 600;

    fn pods(restarts: &[(&str, u32)]) -> Topology {
        let mut t = Topology::new();
        for (name, count) in restarts {
            let mut e = Entity::new(EntityId::new("c", Kind::Pod, "ns", *name));
            let mut container = Container::default();
            container.status.restarts = *count;
            e.details = Details::Pod(Box::new(PodInfo { containers: vec![container], ..PodInfo::default() }));
            t.upsert(e).unwrap();
        }
        t
    }

    fn id(name: &str) -> EntityId {
        EntityId::new("c", Kind::Pod, "ns", name)
    }

    #[test]
    fn restarts_count_within_the_window_only() {
        let mut h = RestartHistory::default();
        h.observe(&pods(&[("a", 10)]), 0, WINDOW);
        assert_eq!(h.increase(&id("a"), 0, WINDOW), 0, "an old count is not a spike");
        h.observe(&pods(&[("a", 12)]), 100, WINDOW);
        h.observe(&pods(&[("a", 14)]), 200, WINDOW);
        assert_eq!(h.increase(&id("a"), 200, WINDOW), 4);
        // Calm from then on: once 200 is more than a window ago, nothing recent.
        h.observe(&pods(&[("a", 14)]), 700, WINDOW);
        assert_eq!(h.increase(&id("a"), 700, WINDOW), 2, "100 → 700: the restart at 200 is still inside");
        h.observe(&pods(&[("a", 14)]), 801, WINDOW);
        assert_eq!(h.increase(&id("a"), 801, WINDOW), 0);
    }

    #[test]
    fn a_recreated_pod_starts_over_and_deleted_pods_are_forgotten() {
        let mut h = RestartHistory::default();
        h.observe(&pods(&[("a", 7), ("b", 1)]), 0, WINDOW);
        h.observe(&pods(&[("a", 0), ("b", 1)]), 10, WINDOW);
        assert_eq!(h.increase(&id("a"), 10, WINDOW), 0);
        h.observe(&pods(&[("a", 1)]), 20, WINDOW);
        assert_eq!(h.increase(&id("a"), 20, WINDOW), 1);
        assert_eq!(h.len(), 1, "b is gone");
        h.observe(&Topology::new(), 30, WINDOW);
        assert!(h.is_empty());
    }

    #[test]
    fn a_pod_restarting_without_pause_keeps_a_bounded_history() {
        let mut h = RestartHistory::default();
        for i in 0..1000_u32 {
            h.observe(&pods(&[("a", i)]), i64::from(i), WINDOW);
        }
        assert!(h.seen[&id("a")].len() <= MAX_SAMPLES);
        assert!(h.increase(&id("a"), 999, WINDOW) >= 60);
    }
}
