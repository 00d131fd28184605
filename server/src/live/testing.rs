//! A stand-in for the topology owner, publishing exactly as it does (topology first, then the diff), so hub,
//! session and router tests drive a real [`Hub`].

use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use topology::diff::Diff;
use topology::protocol::LinkState;
use topology::{Entity, EntityId, Topology};

use super::{Config, Hub, Link};
use crate::collector::owner::Copies;
use crate::metrics::Metrics;

/// The owner's side of a hub under test.
pub struct Owner {
    /// What the owner holds.
    pub topology: Topology,
    topology_tx: watch::Sender<Arc<Topology>>,
    diff_tx: broadcast::Sender<Diff>,
    /// The link state the hub reports.
    pub link: watch::Sender<Link>,
    /// The hub under test.
    pub hub: Hub,
}

impl Owner {
    /// A hub over `topology`, live.
    pub fn new(topology: Topology, config: Config) -> Owner {
        let (topology_tx, topology_rx) = watch::channel(Arc::new(topology.clone()));
        let (diff_tx, diff_rx) = broadcast::channel(64);
        let (link, link_rx) = watch::channel(Link { state: LinkState::Live, message: String::new() });
        let hub = Hub::start(config, Copies::unrequested(topology_rx), diff_rx, link_rx, Metrics::shared());
        Owner { topology, topology_tx, diff_tx, link, hub }
    }

    /// Commits a change as the owner does; returns the diff, if anything changed.
    pub fn change(&mut self, edit: impl FnOnce(&mut topology::Transaction<'_>)) -> Option<Diff> {
        let mut tx = self.topology.transaction();
        edit(&mut tx);
        let diff = tx.commit()?;
        self.topology_tx.send_replace(Arc::new(self.topology.clone()));
        let _ = self.diff_tx.send(diff.clone());
        Some(diff)
    }

    /// Commits a change whose diff the hub never receives; only the owner's copy shows it.
    pub fn change_unseen(&mut self, edit: impl FnOnce(&mut topology::Transaction<'_>)) {
        let mut tx = self.topology.transaction();
        edit(&mut tx);
        tx.commit();
        self.topology_tx.send_replace(Arc::new(self.topology.clone()));
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
        let seq = self.topology.seq();
        for _ in 0..500 {
            if self.hub.since(seq).is_some_and(|f| f.is_empty()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("the hub never reached seq {seq}");
    }
}
