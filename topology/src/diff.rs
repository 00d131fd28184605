//! Diffs: how one topology becomes the next, small enough to send on every change.
//!
//! Why this design:
//! - **Sequence numbers make order checkable.** A diff goes from `base_seq` to `seq`; applying it to a topology
//!   whose [`Topology::seq`] is not `base_seq` is an error ([`DiffError::OutOfOrder`]), never a silent
//!   corruption. A replica that sees that error asks for a snapshot.
//! - **Keys, not ids.** Ops name entities by their [`EntityKey`]; only a creation carries the full entity with
//!   its id. A pod status change is then a handful of bytes (see [`crate::protocol`] for the budget).
//! - **Field-level patches.** An [`Op::Patch`] lists only the changed fields ([`Change`]).
//! - **A new uid is a new entity.** When an object is deleted and recreated under the same name, the diff
//!   removes the old key and creates a new one, so the scene fades the old incarnation out and the new one in.
//! - **All or nothing.** [`Topology::apply`] checks the whole diff before touching anything.
//!
//! Ops are ordered removals, then patches, then creations, so a creation may reuse an id freed in the same diff.

mod change;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::change::Change;
pub(crate) use self::change::{apply_change, diff_entity};
use crate::{
    entity::{Entity, EntityError},
    id::{EntityId, EntityKey},
    topology::Topology,
};

/// Why a diff cannot be applied. Nothing is changed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// The diff starts from another sequence number than the topology's.
    #[error("diff from seq {base} cannot apply to a topology at seq {current}")]
    OutOfOrder {
        /// The diff's `base_seq`.
        base: u64,
        /// The topology's `seq`.
        current: u64,
    },
    /// The diff's `seq` is below its `base_seq`.
    #[error("diff goes back from seq {base} to {seq}")]
    Backwards {
        /// The diff's `base_seq`.
        base: u64,
        /// The diff's `seq`.
        seq: u64,
    },
    /// The diff changes entities without advancing the sequence number.
    #[error("diff changes entities but stays at seq {0}")]
    SeqNotAdvanced(u64),
    /// A patch or removal names a key that does not exist.
    #[error("no entity has key {0}")]
    UnknownKey(EntityKey),
    /// A creation uses a key that exists.
    #[error("key {0} is already in use")]
    KeyInUse(EntityKey),
    /// A creation uses an id that exists.
    #[error("entity {0} already exists")]
    IdInUse(String),
    /// A created or patched entity breaks an invariant.
    #[error("invalid entity under key {key}: {source}")]
    Entity {
        /// The key.
        key: EntityKey,
        /// What is wrong.
        #[source]
        source: EntityError,
    },
    /// A change does not fit the entity (a pod change on a service, a container index out of range).
    #[error("change `{change}` does not fit entity {key}")]
    ChangeDoesNotFit {
        /// The key.
        key: EntityKey,
        /// The change's name.
        change: &'static str,
    },
}

/// One step of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A new entity under a new key.
    Create {
        /// The key the owner assigned.
        key: EntityKey,
        /// The entity (its health is recomputed on arrival).
        entity: Box<Entity>,
    },
    /// Changed fields of an existing entity.
    Patch {
        /// Which entity.
        key: EntityKey,
        /// The changed fields.
        changes: Vec<Change>,
    },
    /// An entity is gone.
    Remove {
        /// Which entity.
        key: EntityKey,
    },
}

impl Op {
    /// The key the op is about.
    pub fn key(&self) -> EntityKey {
        match self {
            Op::Create { key, .. } | Op::Patch { key, .. } | Op::Remove { key } => *key,
        }
    }
}

/// The changes from the topology at `base_seq` to the topology at `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// The sequence number this diff applies to.
    pub base_seq: u64,
    /// The sequence number after applying it.
    pub seq: u64,
    /// Removals, patches, creations.
    pub ops: Vec<Op>,
}

impl Diff {
    /// Whether the diff changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What an entity key holds while a diff is being checked.
enum Staged {
    Removed,
    Present(Box<Entity>),
}

impl Topology {
    /// The diff that turns `old` into `new`: ids only in `old` are removed, ids only in `new` created, ids in both
    /// patched field by field when key and uid agree and otherwise removed and re-created.
    pub fn diff(old: &Topology, new: &Topology) -> Diff {
        let (mut removes, mut patches, mut creates) = (Vec::new(), Vec::new(), Vec::new());
        let mut olds = old.slots().peekable();
        let mut news = new.slots().peekable();
        loop {
            let order = match (olds.peek(), news.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(a), Some(b)) => a.entity.id.cmp(&b.entity.id),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let a = olds.next().map(|slot| slot.key);
                    removes.extend(a.map(|key| Op::Remove { key }));
                }
                std::cmp::Ordering::Greater => {
                    let b =
                        news.next().map(|s| Op::Create { key: s.key, entity: Box::new(s.entity.clone()) });
                    creates.extend(b);
                }
                std::cmp::Ordering::Equal => {
                    let (Some(a), Some(b)) = (olds.next(), news.next()) else { break };
                    if a.key != b.key || a.entity.uid != b.entity.uid {
                        removes.push(Op::Remove { key: a.key });
                        creates.push(Op::Create { key: b.key, entity: Box::new(b.entity.clone()) });
                    } else {
                        let changes = diff_entity(&a.entity, &b.entity);
                        if !changes.is_empty() {
                            patches.push(Op::Patch { key: a.key, changes });
                        }
                    }
                }
            }
        }
        removes.append(&mut patches);
        removes.append(&mut creates);
        Diff { base_seq: old.seq(), seq: new.seq(), ops: removes }
    }

    /// Applies a diff whose `base_seq` is this topology's `seq`; afterwards `seq` is the diff's `seq`. Checks the
    /// whole diff first: on error the topology is unchanged.
    ///
    /// # Errors
    /// [`DiffError::OutOfOrder`] when `base_seq` is not this topology's `seq` (ask for a snapshot),
    /// [`DiffError::Backwards`] / [`DiffError::SeqNotAdvanced`] for inconsistent sequence numbers, and the other
    /// variants when an op does not fit the entities (unknown key, id or key in use, misfit change, invalid
    /// entity).
    pub fn apply(&mut self, diff: &Diff) -> Result<(), DiffError> {
        if diff.base_seq != self.seq() {
            return Err(DiffError::OutOfOrder { base: diff.base_seq, current: self.seq() });
        }
        if diff.seq < diff.base_seq {
            return Err(DiffError::Backwards { base: diff.base_seq, seq: diff.seq });
        }
        if diff.seq == diff.base_seq && !diff.ops.is_empty() {
            return Err(DiffError::SeqNotAdvanced(diff.seq));
        }
        let staged = self.stage(diff)?;
        // Free keys and ids first, so that an entity moving to another key never meets itself.
        for (key, state) in &staged {
            let Some(current) = self.slot(*key) else { continue };
            let keep = matches!(state, Staged::Present(e) if e.id == current.entity.id && e.uid == current.entity.uid);
            if !keep {
                self.remove_slot(*key);
            }
        }
        for (key, state) in staged {
            if let Staged::Present(entity) = state {
                if self.slot(key).is_some() {
                    self.replace_entity(*entity);
                } else {
                    self.insert_slot(key, *entity);
                }
            }
        }
        self.finish_diff(diff.seq);
        Ok(())
    }

    /// Simulates the ops in order on copies of the touched entities, without changing `self`.
    fn stage(&self, diff: &Diff) -> Result<BTreeMap<EntityKey, Staged>, DiffError> {
        let mut staged: BTreeMap<EntityKey, Staged> = BTreeMap::new();
        let mut ids: BTreeMap<EntityId, bool> = BTreeMap::new();
        for op in &diff.ops {
            let key = op.key();
            let current = match staged.get(&key) {
                Some(Staged::Present(e)) => Some(&**e),
                Some(Staged::Removed) => None,
                None => self.by_key(key),
            };
            match op {
                Op::Remove { .. } => {
                    let id = current.ok_or(DiffError::UnknownKey(key))?.id.clone();
                    ids.insert(id, false);
                    staged.insert(key, Staged::Removed);
                }
                Op::Create { entity, .. } => {
                    if current.is_some() {
                        return Err(DiffError::KeyInUse(key));
                    }
                    entity.validate().map_err(|source| DiffError::Entity { key, source })?;
                    let id_live = ids.get(&entity.id).copied().unwrap_or_else(|| self.contains(&entity.id));
                    if id_live {
                        return Err(DiffError::IdInUse(entity.id.to_string()));
                    }
                    ids.insert(entity.id.clone(), true);
                    staged.insert(key, Staged::Present(entity.clone()));
                }
                Op::Patch { changes, .. } => {
                    let mut entity = current.ok_or(DiffError::UnknownKey(key))?.clone();
                    for change in changes {
                        apply_change(&mut entity, change)
                            .map_err(|change| DiffError::ChangeDoesNotFit { key, change })?;
                    }
                    entity.validate().map_err(|source| DiffError::Entity { key, source })?;
                    staged.insert(key, Staged::Present(Box::new(entity)));
                }
            }
        }
        Ok(staged)
    }
}
