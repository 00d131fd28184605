//! The page's copy of the topology, advanced by diffs without copying it while the panels hold the one drawn last.
//!
//! The page publishes its topology to the panels (an `Arc` in [`crate::View::topology`]) at most every 100 ms and
//! applies diffs in between. With one `Arc`, the first diff after every redraw found it shared and copied the whole
//! topology (`Arc::make_mut`): ~20 ms at 10k entities, several times a second on a busy cluster, for ever on a wall
//! dashboard. So the replica keeps two, left–right style: the one the panels hold, and a spare (the one published
//! before) with the diffs it lacks. Once the panels have let go of the spare, the next diff brings it up to date by
//! replaying those few diffs (microseconds each) and it becomes the current one; a copy happens only while both are
//! still held (just after a snapshot, or when something keeps an old topology alive).

use std::sync::Arc;

use topology::{Diff, DiffError, Topology};

/// The most diffs a spare may lack before it is dropped: replaying more would cost about what a copy costs, and
/// a spare nobody lets go of must not hoard diffs.
const MAX_LACKING: usize = 512;

/// A topology and the diffs that move it forward; see the module docs.
#[derive(Debug)]
pub struct Replica {
    current: Arc<Topology>,
    spare: Option<Spare>,
}

/// An earlier topology and the diffs, oldest first, that make it the current one.
#[derive(Debug)]
struct Spare {
    topology: Arc<Topology>,
    lacking: Vec<Diff>,
}

impl Replica {
    /// A replica of a snapshot.
    pub fn new(topology: Topology) -> Replica {
        Replica { current: Arc::new(topology), spare: None }
    }

    /// The topology with every diff applied; clone the `Arc` to hand it out.
    pub fn current(&self) -> &Arc<Topology> {
        &self.current
    }

    /// Applies a diff. On an error nothing changed and the diff did not fit: the caller should ask for a snapshot.
    ///
    /// # Errors
    /// The [`DiffError`] of [`Topology::apply`].
    pub fn apply(&mut self, diff: Diff) -> Result<(), DiffError> {
        if let Some(current) = Arc::get_mut(&mut self.current) {
            current.apply(&diff)?;
            if let Some(spare) = &mut self.spare {
                spare.lacking.push(diff);
                if spare.lacking.len() > MAX_LACKING {
                    self.spare = None;
                }
            }
            return Ok(());
        }
        // The current one is shared: write into the spare if it is free, else into a copy.
        let mut next =
            self.spare.take().and_then(Spare::catch_up).unwrap_or_else(|| Arc::new((*self.current).clone()));
        Arc::make_mut(&mut next).apply(&diff)?;
        let drawn = std::mem::replace(&mut self.current, next);
        self.spare = Some(Spare { topology: drawn, lacking: vec![diff] });
        Ok(())
    }
}

impl Spare {
    /// The spare brought up to date, if nothing else holds it and its diffs replay.
    fn catch_up(mut self) -> Option<Arc<Topology>> {
        let topology = Arc::get_mut(&mut self.topology)?;
        for diff in &self.lacking {
            if let Err(error) = topology.apply(diff) {
                // Cannot happen while the diffs are the ones the current topology took; a copy is still right.
                leptos::logging::warn!(
                    "replica: the spare topology did not take a diff again ({error}); copying"
                );
                return None;
            }
        }
        Some(self.topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::entity::{Details, PodPhase};
    use topology::{Entity, Kind};

    /// A server-side topology that makes diffs: each call fails or revives one pod.
    struct Server {
        topology: Topology,
        turn: usize,
    }

    impl Server {
        fn new() -> Server {
            Server { topology: topology::sample::kgents(), turn: 0 }
        }

        fn diff(&mut self) -> Diff {
            self.turn += 1;
            let pods: Vec<Entity> =
                self.topology.entities().filter(|e| e.kind == Kind::Pod).cloned().collect();
            let mut pod = pods[self.turn % pods.len()].clone();
            if let Details::Pod(info) = &mut pod.details {
                info.phase =
                    if info.phase == PodPhase::Failed { PodPhase::Running } else { PodPhase::Failed };
            }
            let mut tx = self.topology.transaction();
            tx.upsert(pod).unwrap();
            tx.commit().expect("a change")
        }
    }

    #[test]
    fn diffs_after_a_redraw_go_into_the_spare_once_the_panels_let_it_go() {
        let mut server = Server::new();
        let mut replica = Replica::new(server.topology.clone());
        let first = Arc::as_ptr(replica.current());
        // Drawn: the panels hold the snapshot, so the first diff has to copy.
        let held = Arc::clone(replica.current());
        replica.apply(server.diff()).unwrap();
        replica.apply(server.diff()).unwrap();
        let second = Arc::as_ptr(replica.current());
        assert_ne!(first, second);
        // Drawn again: the panels take the current one and let the snapshot go.
        let held_again = Arc::clone(replica.current());
        drop(held);
        replica.apply(server.diff()).unwrap();
        assert_eq!(Arc::as_ptr(replica.current()), first, "the spare caught up: no copy");
        assert_eq!(**replica.current(), server.topology);
        // And back: what the panels held last is the spare now.
        drop(held_again);
        let _held = Arc::clone(replica.current());
        replica.apply(server.diff()).unwrap();
        assert_eq!(Arc::as_ptr(replica.current()), second);
        assert_eq!(**replica.current(), server.topology);
    }

    #[test]
    fn a_spare_something_still_holds_is_left_alone_and_the_current_one_copied() {
        let mut server = Server::new();
        let mut replica = Replica::new(server.topology.clone());
        let old = Arc::clone(replica.current());
        replica.apply(server.diff()).unwrap();
        let drawn = Arc::clone(replica.current());
        replica.apply(server.diff()).unwrap();
        assert!(!Arc::ptr_eq(replica.current(), &old) && !Arc::ptr_eq(replica.current(), &drawn));
        assert_eq!(**replica.current(), server.topology);
        assert_eq!(*old, topology::sample::kgents(), "what a panel holds never changes under it");
    }

    #[test]
    fn a_spare_is_dropped_rather_than_hoarding_diffs() {
        let mut server = Server::new();
        let mut replica = Replica::new(server.topology.clone());
        let held = Arc::clone(replica.current());
        replica.apply(server.diff()).unwrap();
        drop(held);
        for _ in 1..MAX_LACKING {
            replica.apply(server.diff()).unwrap();
        }
        assert_eq!(replica.spare.as_ref().map(|s| s.lacking.len()), Some(MAX_LACKING));
        replica.apply(server.diff()).unwrap();
        assert!(replica.spare.is_none());
        assert_eq!(**replica.current(), server.topology);
    }

    #[test]
    fn a_diff_that_does_not_fit_changes_nothing_and_a_spare_that_cannot_catch_up_is_replaced_by_a_copy() {
        let mut server = Server::new();
        let mut replica = Replica::new(server.topology.clone());
        let stale = server.diff();
        replica.apply(stale.clone()).unwrap();
        assert!(replica.apply(stale.clone()).is_err(), "applied twice");
        assert_eq!(**replica.current(), server.topology);
        // A spare whose diffs do not replay (it is not the topology they were made for).
        let _held = Arc::clone(replica.current());
        replica.spare = Some(Spare { topology: Arc::new(Topology::new()), lacking: vec![stale] });
        replica.apply(server.diff()).unwrap();
        assert_eq!(**replica.current(), server.topology);
    }
}
