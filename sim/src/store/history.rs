//! The bounded history of changes that watches resume from.
//!
//! The real API server keeps a window of recent events per resource (its watch cache) and answers a watch
//! from before that window with `410 Expired`, which makes clients relist. This ring does the same with one
//! window for all resources: it holds at most `capacity` events and remembers the newest revision it has
//! dropped, below which no watch can start.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Event;

/// A bounded ring of events in revision order.
#[derive(Debug)]
pub(crate) struct History {
    ring: VecDeque<Arc<Event>>,
    capacity: usize,
    evicted: u64,
}

impl History {
    /// An empty history keeping at most `capacity` events.
    pub(crate) fn new(capacity: usize) -> Self {
        History { ring: VecDeque::with_capacity(capacity.min(65_536)), capacity, evicted: 0 }
    }

    /// Records an event, dropping the oldest when full.
    pub(crate) fn push(&mut self, event: Arc<Event>) {
        if self.capacity == 0 {
            self.evicted = event.revision;
            return;
        }
        if self.ring.len() == self.capacity {
            if let Some(old) = self.ring.pop_front() {
                self.evicted = old.revision;
            }
        }
        self.ring.push_back(event);
    }

    /// The oldest revision a watch can start from: every change after it is still held.
    pub(crate) fn oldest(&self) -> u64 {
        self.evicted
    }

    /// The events after `revision`, or `None` when some of them were already dropped.
    pub(crate) fn since(&self, revision: u64) -> Option<impl Iterator<Item = &Arc<Event>>> {
        if revision < self.evicted {
            return None;
        }
        let start = self.ring.partition_point(|e| e.revision <= revision);
        Some(self.ring.range(start..))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::PODS;
    use crate::store::EventType;

    fn event(revision: u64) -> Arc<Event> {
        Arc::new(Event::new(EventType::Added, PODS, revision, Arc::new(json!({})), None))
    }

    fn revisions(history: &History, from: u64) -> Option<Vec<u64>> {
        history.since(from).map(|events| events.map(|e| e.revision).collect())
    }

    #[test]
    fn a_full_ring_drops_its_oldest_event() {
        let mut history = History::new(3);
        for r in 1..=5 {
            history.push(event(r));
        }
        assert_eq!(history.oldest(), 2);
        assert_eq!(revisions(&history, 2), Some(vec![3, 4, 5]));
        assert_eq!(revisions(&history, 4), Some(vec![5]));
        assert_eq!(revisions(&history, 5), Some(vec![]));
    }

    #[test]
    fn a_revision_before_the_window_is_too_old() {
        let mut history = History::new(2);
        for r in 1..=4 {
            history.push(event(r));
        }
        assert_eq!(revisions(&history, 1), None);
        assert_eq!(revisions(&history, 0), None);
    }

    #[test]
    fn nothing_is_too_old_before_the_ring_fills() {
        let mut history = History::new(10);
        history.push(event(1));
        assert_eq!(revisions(&history, 0), Some(vec![1]));
    }

    #[test]
    fn a_zero_capacity_history_serves_only_the_present() {
        let mut history = History::new(0);
        history.push(event(1));
        history.push(event(2));
        assert_eq!(revisions(&history, 1), None);
        assert_eq!(revisions(&history, 2), Some(vec![]));
    }
}
