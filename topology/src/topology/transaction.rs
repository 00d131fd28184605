//! Recording changes as they are made, so the owner never has to clone the topology to diff it.
//!
//! The owner task applies a batch of watch events to its topology inside a [`Transaction`]; each upsert or
//! removal appends the ops that describe it, and [`Transaction::commit`] advances the sequence number by one and
//! returns the [`Diff`] to publish. If a transaction is dropped without a commit after changing something, the
//! sequence number still advances: replicas then see a gap and resynchronise, instead of silently missing a change.

use super::{Topology, TopologyError};
use crate::{
    diff::{Diff, Op},
    entity::Entity,
    id::EntityId,
};

/// A batch of changes to a topology, committed as one diff.
#[must_use = "commit the transaction to get its diff"]
pub struct Transaction<'a> {
    topology: &'a mut Topology,
    base_seq: u64,
    ops: Vec<Op>,
    /// The entity each op is about, recorded as it is made: a removal's id cannot be looked up afterwards.
    ids: Vec<EntityId>,
}

impl<'a> Transaction<'a> {
    pub(super) fn new(topology: &'a mut Topology) -> Self {
        let base_seq = topology.seq;
        Transaction { topology, base_seq, ops: Vec::new(), ids: Vec::new() }
    }

    /// Inserts or replaces an entity by id and records the ops: a create, a patch of the changed fields, or a
    /// removal and a creation when the uid changed (a new incarnation under the same name). Returns whether
    /// anything changed.
    ///
    /// # Errors
    /// As [`Topology::upsert`]; nothing is recorded then.
    pub fn upsert(&mut self, entity: Entity) -> Result<bool, TopologyError> {
        let id = entity.id.clone();
        let changed = self.topology.upsert_recording(entity, Some(&mut self.ops))?;
        // Every op one upsert records is about its entity (a new incarnation is a removal and a creation).
        self.ids.resize(self.ops.len(), id);
        Ok(changed)
    }

    /// Removes an entity and records it. Returns whether it existed.
    pub fn remove(&mut self, id: &EntityId) -> bool {
        let Some(key) = self.topology.key_of(id) else { return false };
        self.topology.remove_slot(key);
        self.ops.push(Op::Remove { key });
        self.ids.push(id.clone());
        true
    }

    /// The topology as changed so far.
    pub fn topology(&self) -> &Topology {
        self.topology
    }

    /// The ops recorded so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Ends the transaction: `None` if nothing changed, otherwise the sequence number advances by one and the
    /// diff from the old number to the new one is returned.
    pub fn commit(self) -> Option<Diff> {
        self.commit_with_ids().map(|(diff, _)| diff)
    }

    /// As [`Transaction::commit`], with the id of the entity each op is about, in op order: what a publisher
    /// needs to filter a diff by namespace or kind once the topology has moved on (a removed entity's key names
    /// nothing any more).
    pub fn commit_with_ids(mut self) -> Option<(Diff, Vec<EntityId>)> {
        let ops = std::mem::take(&mut self.ops);
        let ids = std::mem::take(&mut self.ids);
        if ops.is_empty() {
            return None;
        }
        self.topology.seq += 1;
        Some((Diff { base_seq: self.base_seq, seq: self.topology.seq, ops }, ids))
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.ops.is_empty() {
            self.topology.seq += 1;
        }
    }
}
