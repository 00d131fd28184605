//! A stand-in for the topology owner, publishing exactly as it does (the shared topology changed first, then
//! the diff sent), so hub, session and router tests drive a real [`Hub`].

use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use topology::diff::Diff;
use topology::protocol::LinkState;
use topology::{Entity, EntityId, Topology};

use super::{Config, Hub, Link};
use crate::collector::owner::{Published, Shared};
use crate::metrics::Metrics;

/// The owner's side of a hub under test.
pub struct Owner {
    /// What the owner holds (and the hub reads).
    pub topology: Shared,
    diff_tx: broadcast::Sender<Arc<Published>>,
    /// The link state the hub reports.
    pub link: watch::Sender<Link>,
    /// The hub under test.
    pub hub: Hub,
}

impl Owner {
    /// A hub over `topology`, live.
    pub fn new(topology: Topology, config: Config) -> Owner {
        let topology = Shared::new(topology);
        let (diff_tx, diff_rx) = broadcast::channel(64);
        let (link, link_rx) = watch::channel(Link { state: LinkState::Live, message: String::new() });
        let hub = Hub::start(config, topology.clone(), diff_rx, link_rx, Metrics::shared());
        Owner { topology, diff_tx, link, hub }
    }

    /// Commits a change as the owner does; returns the diff, if anything changed.
    pub fn change(&mut self, edit: impl FnOnce(&mut topology::Transaction<'_>)) -> Option<Diff> {
        let (diff, ids) = {
            let mut topology = self.topology.write();
            let mut tx = topology.transaction();
            edit(&mut tx);
            tx.commit_with_ids()?
        };
        let _ = self.diff_tx.send(Arc::new(Published { diff: diff.clone(), ids }));
        Some(diff)
    }

    /// Commits a change whose diff the hub never receives; only the topology shows it.
    pub fn change_unseen(&mut self, edit: impl FnOnce(&mut topology::Transaction<'_>)) {
        let mut topology = self.topology.write();
        let mut tx = topology.transaction();
        edit(&mut tx);
        tx.commit();
    }

    /// The topology's sequence number now (the lock is released before this returns: a guard held across an
    /// `.await` would block the owner).
    pub fn seq(&self) -> u64 {
        self.topology.read().seq()
    }

    /// A copy of the topology as it is now.
    pub fn current(&self) -> Topology {
        self.topology.read().clone()
    }

    /// Upserts one entity.
    pub fn upsert(&mut self, entity: Entity) -> Option<Diff> {
        self.change(|tx| {
            tx.upsert(entity).expect("valid entity");
        })
    }

    /// Removes one entity.
    pub fn remove(&mut self, id: &EntityId) -> Option<Diff> {
        self.change(|tx| {
            tx.remove(id);
        })
    }

    /// Waits until the hub has published up to the owner's seq.
    pub async fn settle(&self) {
        let seq = self.seq();
        for _ in 0..500 {
            if self.hub.since(seq).is_some_and(|f| f.is_empty()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("the hub never reached seq {seq}");
    }
}
