//! Redrawing after diffs without redoing the whole map.
//!
//! The page applies every diff to its topology as it arrives but redraws at most every 100 ms, so the scene
//! learns of changes in batches. Recomputing the layout and every entity's animation target per redraw costs
//! ~30 ms at 10k entities on the browser's main thread (a wall display does it several times a second, for
//! weeks); a batch of diffs usually touches a handful of pods. [`Pending`] collects the keys the diffs touched,
//! and [`retarget`] re-lays out only their groups ([`Layout::apply_keys`]) and re-targets only what moved or
//! changed. Anything it cannot do incrementally (a snapshot, a gap in the sequence) falls back to the full path.

use std::collections::{BTreeSet, HashSet};

use topology::interp::Target;
use topology::layout::Layout;
use topology::{Diff, EntityId, EntityKey, HealthLevel, Topology};

use crate::instances;

/// What changed in the page's topology since the scene last drew it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Pending {
    /// Everything (a snapshot, or nothing drawn yet).
    #[default]
    All,
    /// The entities these keys name, touched by diffs since the topology had sequence number `base_seq`.
    Keys {
        /// The sequence number the scene last drew.
        base_seq: u64,
        /// Keys touched since.
        keys: BTreeSet<EntityKey>,
    },
}

impl Pending {
    /// Nothing changed since the scene drew `topology`.
    pub fn drawn(topology: &Topology) -> Pending {
        Pending::Keys { base_seq: topology.seq(), keys: BTreeSet::new() }
    }

    /// A diff was applied.
    pub fn diff(&mut self, diff: &Diff) {
        if let Pending::Keys { keys, .. } = self {
            keys.extend(diff.ops.iter().map(topology::diff::Op::key));
        }
    }
}

/// What the scene must change after a batch of diffs.
#[derive(Debug, Default, PartialEq)]
pub struct Retarget {
    /// New animation targets: entities created, moved or changed (colour, pulse).
    pub set: Vec<(EntityId, Target)>,
    /// Entities gone (they fade out).
    pub removed: Vec<EntityId>,
    /// Touched entities and whether they are now unhealthy (they carry a badge).
    pub unhealthy: Vec<(EntityId, bool)>,
}

/// Brings `layout` up to date with `topology` after the changes in `pending` and says what to re-target; `None`
/// when only the full path will do (then `layout` has been recomputed from `topology`).
pub fn retarget(topology: &Topology, layout: &mut Layout, pending: &Pending) -> Option<Retarget> {
    let Pending::Keys { base_seq, keys } = pending else {
        *layout = Layout::compute(topology);
        return None;
    };
    let delta = layout.apply_keys(topology, *base_seq, keys);
    if delta.full {
        return None;
    }
    let mut out = Retarget { removed: delta.removed, ..Retarget::default() };
    let mut seen = HashSet::new();
    let touched = keys.iter().filter_map(|&key| topology.by_key(key));
    for entity in touched.chain(delta.moved.iter().filter_map(|id| topology.get(id))) {
        if !seen.insert(&entity.id) {
            continue;
        }
        if let Some(target) = instances::target(entity, layout) {
            out.set.push((entity.id.clone(), target));
        }
        out.unhealthy.push((entity.id.clone(), entity.health.level() == HealthLevel::Unhealthy));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use topology::entity::{ContainerState, Reason};
    use topology::sample::kgents;
    use topology::{Details, Entity, Kind};

    use super::*;

    fn key_of(topology: &Topology, id: &EntityId) -> EntityKey {
        topology.key_of(id).unwrap()
    }

    /// Targets kept the way the renderer keeps them: the full path once, then batches applied.
    fn apply(targets: &mut BTreeMap<EntityId, Target>, change: Retarget) {
        for id in change.removed {
            targets.remove(&id);
        }
        targets.extend(change.set);
    }

    #[test]
    fn a_batch_of_diffs_retargets_like_a_full_redraw_and_only_what_changed() {
        let mut topology = kgents();
        let mut layout = Layout::compute(&topology);
        let mut targets: BTreeMap<_, _> = instances::targets(&topology, &layout).into_iter().collect();
        let mut pending = Pending::drawn(&topology);

        // Three diffs between two redraws: a pod created, another crashing, a third deleted.
        let pods: Vec<EntityId> =
            topology.entities().filter(|e| e.kind == Kind::Pod).map(|e| e.id.clone()).take(3).collect();
        let mut new = topology.get(&pods[0]).unwrap().clone();
        new.id = EntityId::new("kgents", Kind::Pod, pods[0].namespace(), "zz-new");
        new.uid = "new".into();
        let mut crashing: Entity = topology.get(&pods[1]).unwrap().clone();
        if let Details::Pod(info) = &mut crashing.details {
            info.containers[0].status.ready = false;
            info.containers[0].status.state =
                ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) };
        }
        let removed_key = key_of(&topology, &pods[2]);
        for change in [Some(new), Some(crashing), None] {
            let mut tx = topology.transaction();
            match change {
                Some(entity) => tx.upsert(entity).unwrap(),
                None => tx.remove(&pods[2]),
            };
            pending.diff(&tx.commit().unwrap());
        }
        let Pending::Keys { keys, .. } = &pending else { panic!("diffs keep the keys") };
        assert!(keys.contains(&removed_key) && keys.len() == 3);

        let change = retarget(&topology, &mut layout, &pending).expect("incremental");
        assert_eq!(change.removed, [pods[2].clone()]);
        assert!(change.unhealthy.contains(&(pods[1].clone(), true)));
        assert!(
            change.set.len() < targets.len() / 4,
            "{} of {} re-targeted",
            change.set.len(),
            targets.len()
        );
        apply(&mut targets, change);
        assert_eq!(layout, Layout::compute(&topology));
        assert_eq!(targets, instances::targets(&topology, &layout).into_iter().collect());
    }

    #[test]
    fn a_snapshot_or_a_gap_in_the_sequence_takes_the_full_path() {
        let topology = kgents();
        let mut layout = Layout::default();
        assert_eq!(retarget(&topology, &mut layout, &Pending::All), None);
        assert_eq!(layout, Layout::compute(&topology));
        let stale = Pending::Keys { base_seq: topology.seq() + 7, keys: BTreeSet::new() };
        assert_eq!(retarget(&topology, &mut layout, &stale), None);
        assert_eq!(layout, Layout::compute(&topology));
        assert_eq!(retarget(&topology, &mut layout, &Pending::drawn(&topology)), Some(Retarget::default()));
    }
}
