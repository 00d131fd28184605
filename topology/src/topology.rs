//! The topology: every entity of one or more clusters, their derived relations, and a sequence number.
//!
//! Why it looks like this:
//! - **One owner mutates, everyone else reads.** The hub's owner task holds the `Topology`, changes it through a
//!   [`Transaction`] (which records what changed and advances [`Topology::seq`] by one), and publishes the
//!   resulting [`Diff`](crate::Diff). Browsers hold a replica and [`Topology::apply`] those diffs in order.
//! - **Invariants are kept by construction.** Health is recomputed and relations re-derived on every insertion
//!   and change, on the owner and on the replicas alike, so neither travels on the wire and they cannot drift.
//! - **Ordered maps everywhere.** Iteration order is the id order (cluster, namespace, kind, name) on every
//!   platform, which makes snapshots, diffs and the layout deterministic and testable with literal values.
//! - **Keys are owned here.** Each entity gets an [`EntityKey`] on insertion from a counter that never goes back,
//!   so a key is never reused for another entity while a browser may still be animating the old one.

mod index;
mod transaction;

use std::{collections::BTreeMap, fmt};

use serde::{ser::SerializeStruct, Deserialize, Serialize, Serializer};

use self::index::RelationIndex;
pub use self::transaction::Transaction;
use crate::{
    diff::{diff_entity, Op},
    entity::{Entity, EntityError},
    health::{assess, score, Score},
    id::{EntityId, EntityKey},
    relation::Relation,
};

/// Why an entity could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The entity breaks an invariant.
    #[error(transparent)]
    Entity(#[from] EntityError),
    /// Every `u32` key has been handed out.
    #[error("no entity key left")]
    KeysExhausted,
    /// A snapshot names the same key twice.
    #[error("key {0} appears twice")]
    DuplicateKey(EntityKey),
    /// A snapshot names the same id twice.
    #[error("entity {0} appears twice")]
    DuplicateId(String),
}

/// An entity and its key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    pub(crate) key: EntityKey,
    pub(crate) entity: Entity,
}

/// All entities of the clusters being watched, with derived relations and health.
#[derive(Clone, Default)]
pub struct Topology {
    seq: u64,
    next_key: u32,
    entities: BTreeMap<EntityId, Slot>,
    keys: BTreeMap<EntityKey, EntityId>,
    index: RelationIndex,
}

impl Topology {
    /// An empty topology at sequence 0.
    pub fn new() -> Self {
        Topology::default()
    }

    /// The sequence number of the last diff applied or committed.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sets the sequence number without recording anything (for building samples and fixtures; the owner uses
    /// [`Topology::transaction`]).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// The number of entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether there is no entity.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Entities in id order.
    pub fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.values().map(|slot| &slot.entity)
    }

    /// Entities with their keys, in id order.
    pub fn entries(&self) -> impl Iterator<Item = (EntityKey, &Entity)> {
        self.entities.values().map(|slot| (slot.key, &slot.entity))
    }

    /// The entity with this id.
    pub fn get(&self, id: &EntityId) -> Option<&Entity> {
        self.entities.get(id).map(|slot| &slot.entity)
    }

    /// Whether an entity has this id.
    pub fn contains(&self, id: &EntityId) -> bool {
        self.entities.contains_key(id)
    }

    /// The key of the entity with this id.
    pub fn key_of(&self, id: &EntityId) -> Option<EntityKey> {
        self.entities.get(id).map(|slot| slot.key)
    }

    /// The id of the entity with this key.
    pub fn id_of(&self, key: EntityKey) -> Option<&EntityId> {
        self.keys.get(&key)
    }

    /// The entity with this key.
    pub fn by_key(&self, key: EntityKey) -> Option<&Entity> {
        self.keys.get(&key).and_then(|id| self.get(id))
    }

    /// Relations whose both ends exist, ordered by source, kind, target.
    pub fn relations(&self) -> impl Iterator<Item = &Relation> {
        self.index.edges().filter(|r| self.contains(&r.from) && self.contains(&r.to))
    }

    /// Relations leaving this entity whose target exists.
    pub fn relations_from<'a>(&'a self, id: &'a EntityId) -> impl Iterator<Item = &'a Relation> + 'a {
        self.index.edges_from(id).filter(|r| self.contains(&r.to))
    }

    /// The health score of all entities (see [`crate::health::grade`]).
    pub fn score(&self) -> Option<Score> {
        score(self.entities().map(|e| e.health.level))
    }

    /// Inserts or replaces an entity by id, recomputing its health and relations. Returns whether anything
    /// changed. Does not advance [`Topology::seq`]: use a [`Transaction`] to publish changes.
    ///
    /// # Errors
    /// [`TopologyError::Entity`] when the entity is invalid (see [`Entity::validate`]), and
    /// [`TopologyError::KeysExhausted`] after 2³² insertions.
    pub fn upsert(&mut self, entity: Entity) -> Result<bool, TopologyError> {
        self.upsert_recording(entity, None)
    }

    /// Removes an entity and its relations. Does not advance [`Topology::seq`].
    pub fn remove(&mut self, id: &EntityId) -> Option<Entity> {
        let key = self.key_of(id)?;
        self.remove_slot(key).map(|slot| slot.entity)
    }

    /// Starts recording changes; committing the transaction advances the sequence number and yields the diff.
    pub fn transaction(&mut self) -> Transaction<'_> {
        Transaction::new(self)
    }

    /// A copy holding only the entities `admit` accepts, with the same keys and sequence number: what a client
    /// that asked for some namespaces or kinds receives (see [`crate::protocol::Filters`]).
    #[must_use]
    pub fn filtered(&self, admit: impl Fn(&EntityId) -> bool) -> Topology {
        let mut out = Topology { seq: self.seq, next_key: self.next_key, ..Topology::default() };
        for slot in self.entities.values().filter(|slot| admit(&slot.entity.id)) {
            out.insert_slot(slot.key, slot.entity.clone());
        }
        out
    }

    /// Upsert, pushing the ops that describe the change when `ops` is given.
    pub(crate) fn upsert_recording(
        &mut self,
        mut entity: Entity,
        ops: Option<&mut Vec<Op>>,
    ) -> Result<bool, TopologyError> {
        entity.validate()?;
        entity.health = assess(&entity);
        let existing = self.entities.get(&entity.id).map(|slot| (slot.key, slot.entity.uid == entity.uid));
        let mut recorded = Vec::new();
        match existing {
            Some((key, true)) => {
                let changes = diff_entity(&self.entities[&entity.id].entity, &entity);
                if changes.is_empty() {
                    return Ok(false);
                }
                recorded.push(Op::Patch { key, changes });
                self.replace_entity(entity);
            }
            Some((old_key, false)) => {
                let key = self.allocate_key()?;
                self.remove_slot(old_key);
                recorded.push(Op::Remove { key: old_key });
                recorded.push(Op::Create { key, entity: Box::new(entity.clone()) });
                self.insert_slot(key, entity);
            }
            None => {
                let key = self.allocate_key()?;
                if ops.is_some() {
                    recorded.push(Op::Create { key, entity: Box::new(entity.clone()) });
                }
                self.insert_slot(key, entity);
            }
        }
        if let Some(ops) = ops {
            ops.append(&mut recorded);
        }
        Ok(true)
    }

    fn allocate_key(&mut self) -> Result<EntityKey, TopologyError> {
        let key = self.next_key;
        self.next_key = key.checked_add(1).ok_or(TopologyError::KeysExhausted)?;
        Ok(EntityKey(key))
    }

    /// Stores a new entity under a key; the id and the key must be free. Recomputes health and relations.
    pub(crate) fn insert_slot(&mut self, key: EntityKey, mut entity: Entity) {
        entity.health = assess(&entity);
        self.next_key = self.next_key.max(key.0.saturating_add(1));
        self.keys.insert(key, entity.id.clone());
        let id = entity.id.clone();
        self.entities.insert(id.clone(), Slot { key, entity });
        self.index.insert(&self.entities, &self.entities[&id].entity);
    }

    /// Removes the entity with this key and its relations.
    pub(crate) fn remove_slot(&mut self, key: EntityKey) -> Option<Slot> {
        let id = self.keys.remove(&key)?;
        let slot = self.entities.remove(&id)?;
        self.index.remove(&slot.entity);
        Some(slot)
    }

    /// Replaces the entity with the same id (and key), recomputing health and, when needed, relations.
    pub(crate) fn replace_entity(&mut self, mut entity: Entity) {
        entity.health = assess(&entity);
        let id = entity.id.clone();
        let Some(slot) = self.entities.get_mut(&id) else { return };
        let old = std::mem::replace(&mut slot.entity, entity);
        let new = &self.entities[&id].entity;
        if !RelationIndex::same_inputs(&old, new) {
            self.index.remove(&old);
            self.index.insert(&self.entities, &self.entities[&id].entity);
        }
    }

    /// The slot of a key.
    pub(crate) fn slot(&self, key: EntityKey) -> Option<&Slot> {
        self.keys.get(&key).and_then(|id| self.entities.get(id))
    }

    /// The slots in id order (for diffing).
    pub(crate) fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.entities.values()
    }

    /// Sets the sequence number after a diff.
    pub(crate) fn finish_diff(&mut self, seq: u64) {
        self.seq = seq;
    }
}

impl PartialEq for Topology {
    /// Same sequence number and same entities under the same keys; relations and health are derived from these.
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq && self.entities == other.entities
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("seq", &self.seq)
            .field("next_key", &self.next_key)
            .field("entities", &self.entities.values().map(|s| (s.key, &s.entity.id)).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Serialized as `{ seq, next_key, entities: [[key, entity], …] }`; relations are not serialized (they are
/// derived), health is (it is cheap and makes JSON dumps readable) but recomputed on the way in.
impl Serialize for Topology {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Entries<'a>(&'a BTreeMap<EntityId, Slot>);
        impl Serialize for Entries<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.values().map(|slot| (slot.key, &slot.entity)))
            }
        }
        let mut s = serializer.serialize_struct("Topology", 3)?;
        s.serialize_field("seq", &self.seq)?;
        s.serialize_field("next_key", &self.next_key)?;
        s.serialize_field("entities", &Entries(&self.entities))?;
        s.end()
    }
}

/// The serialized shape of a topology, validated entity by entity on the way in.
#[derive(Deserialize)]
#[serde(rename = "Topology")]
struct TopologyRepr {
    seq: u64,
    next_key: u32,
    entities: Vec<(EntityKey, Entity)>,
}

impl<'de> Deserialize<'de> for Topology {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = TopologyRepr::deserialize(deserializer)?;
        Topology::try_from(repr).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<TopologyRepr> for Topology {
    type Error = TopologyError;

    fn try_from(repr: TopologyRepr) -> Result<Self, Self::Error> {
        let mut topology = Topology { seq: repr.seq, next_key: repr.next_key, ..Topology::default() };
        for (key, entity) in repr.entities {
            entity.validate()?;
            if topology.keys.contains_key(&key) {
                return Err(TopologyError::DuplicateKey(key));
            }
            if topology.entities.contains_key(&entity.id) {
                return Err(TopologyError::DuplicateId(entity.id.to_string()));
            }
            topology.insert_slot(key, entity);
        }
        Ok(topology)
    }
}

#[cfg(test)]
mod tests;
