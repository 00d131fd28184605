//! The semantic layout: where each entity sits in 3D, so that the picture itself says what is what.
//!
//! - **Y is abstraction.** Ingresses and services on top, workloads below them, replicasets, pods, mounted
//!   claims and config, nodes at the bottom and the cluster entity under everything ([`Layer`], [`layer_y`]).
//! - **X is ownership.** Each namespace gets one band of fixed width [`BAND_WIDTH`]; the cluster-scoped objects
//!   (nodes, the cluster) get the first band of their cluster. Clusters sit side by side, each in a region sized
//!   for a multiple of [`BANDS_PER_STEP`] bands.
//! - **Z is attention.** Inside a band, each layer is a grid whose rows grow away from the viewer (−Z); an
//!   unhealthy entity comes [`ATTENTION_UNHEALTHY`] forward, a degraded one [`ATTENTION_DEGRADED`].
//!
//! **Stability** is the point of the design: a live map that reshuffles on every pod restart is unreadable.
//! A *group* is (cluster, band, layer). Adding or removing one entity re-places only its own group, and moves
//! each member of it by at most one grid cell ([`Layer::cell`], 1.5 for pods), because members are sorted by id
//! and consecutive slots of the serpentine grid are neighbours. Nothing outside the group moves, since band
//! widths do not depend on how many entities a namespace holds (a wide namespace grows deeper, not wider).
//! Bands are ordered by their namespace's creation time (then name), so a namespace created today is appended
//! at the end and moves nothing either; only deleting a namespace (or a cluster region crossing a multiple of
//! [`BANDS_PER_STEP`]) shifts the bands after it, and the scene's interpolation glides them there.
//!
//! **Determinism**: everything is ordered maps and sorted ids, no hashing, so the same topology gives the same
//! layout bit for bit on the server and in the browser. **Incrementality**: [`Layout::apply_diff`] (or
//! [`Layout::apply_keys`], for several diffs at once) re-places only the groups a diff touched (a patch only moves its own entity in Z) and falls back to a full recomputation when
//! the band structure changes or the diff does not follow the layout's sequence number; a property test checks
//! that the result always equals [`Layout::compute`].

mod grid;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

pub use self::grid::{
    attention, layer_y, Layer, ATTENTION_DEGRADED, ATTENTION_UNHEALTHY, BANDS_PER_STEP, BAND_GAP, BAND_PITCH,
    BAND_WIDTH, CLUSTER_GAP,
};
use crate::{
    diff::Diff,
    id::{EntityId, EntityKey, Kind},
    topology::Topology,
};

/// A namespace band (or the cluster-scoped band, whose namespace is empty), for drawing labels and floors.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// The cluster.
    pub cluster: String,
    /// The namespace; empty for the band of cluster-scoped objects.
    pub namespace: String,
    /// Left edge.
    pub x_min: f32,
    /// Right edge.
    pub x_max: f32,
}

/// The X range of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// The cluster.
    pub cluster: String,
    /// Left edge.
    pub x_min: f32,
    /// Right edge.
    pub x_max: f32,
}

/// What an update changed: entities to move (or place for the first time) and entities gone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayoutDelta {
    /// Entities whose position changed or that are new, in id order.
    pub moved: Vec<EntityId>,
    /// Entities no longer laid out.
    pub removed: Vec<EntityId>,
    /// Whether the whole layout was recomputed.
    pub full: bool,
}

/// (cluster, band namespace, layer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    cluster: Arc<str>,
    band: Arc<str>,
    layer: Layer,
}

impl GroupKey {
    fn of(id: &EntityId) -> GroupKey {
        let band = match id.kind() {
            Kind::Namespace => id.name_arc(),
            _ => id.namespace_arc(),
        };
        GroupKey {
            cluster: Arc::clone(id.cluster_arc()),
            band: Arc::clone(band),
            layer: Layer::of(id.kind()),
        }
    }
}

/// One laid-out entity: its grid slot and its attention offset.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Member {
    slot: [f32; 3],
    attention: f32,
}

impl Member {
    fn position(self) -> [f32; 3] {
        [self.slot[0], self.slot[1], self.slot[2] + self.attention]
    }
}

/// Positions of every entity of a topology, with the bands and regions they were placed in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    seq: u64,
    keys: BTreeMap<EntityKey, EntityId>,
    groups: BTreeMap<GroupKey, BTreeMap<EntityId, Member>>,
    bands: Vec<Band>,
    regions: Vec<Region>,
    band_x: BTreeMap<(Arc<str>, Arc<str>), f32>,
}

impl Layout {
    /// Lays out a whole topology.
    pub fn compute(topology: &Topology) -> Layout {
        let mut layout = Layout { seq: topology.seq(), ..Layout::default() };
        for (key, entity) in topology.entries() {
            layout.keys.insert(key, entity.id.clone());
            let member = Member { slot: [f32::NAN; 3], attention: attention(entity.health.level) };
            layout.groups.entry(GroupKey::of(&entity.id)).or_default().insert(entity.id.clone(), member);
        }
        layout.set_bands(topology);
        let all: Vec<GroupKey> = layout.groups.keys().cloned().collect();
        for group in &all {
            layout.place(group, &mut Vec::new());
        }
        layout
    }

    /// Brings the layout up to date after `diff` was applied to `topology` (which must be the state *after* the
    /// diff). Re-places only the groups the diff touched; recomputes everything if the diff does not start at the
    /// layout's sequence number or the band structure changed.
    pub fn apply_diff(&mut self, topology: &Topology, diff: &Diff) -> LayoutDelta {
        if diff.seq != topology.seq() {
            return self.recompute(topology);
        }
        self.apply_keys(topology, diff.base_seq, &diff.ops.iter().map(crate::diff::Op::key).collect())
    }

    /// Brings the layout up to date after any number of diffs, the first based on `base_seq`, were applied to
    /// `topology`, given only the keys they touched. A page that draws at most every 100 ms applies several
    /// diffs between two drawings; what matters is which entities changed, not how often, because each one is
    /// compared with the state `topology` has now. Falls back to a full recomputation as
    /// [`apply_diff`](Layout::apply_diff) does.
    pub fn apply_keys(
        &mut self,
        topology: &Topology,
        base_seq: u64,
        keys: &BTreeSet<EntityKey>,
    ) -> LayoutDelta {
        if base_seq != self.seq {
            return self.recompute(topology);
        }
        let mut delta = LayoutDelta::default();
        let mut touched = BTreeSet::new();
        for &key in keys {
            let old = self.keys.get(&key).cloned();
            let new = topology.by_key(key);
            match (old, new) {
                (Some(old), Some(entity)) if old == entity.id => {
                    let member = self.groups.get_mut(&GroupKey::of(&old)).and_then(|g| g.get_mut(&old));
                    let level = attention(entity.health.level);
                    if let Some(member) = member.filter(|m| m.attention.to_bits() != level.to_bits()) {
                        member.attention = level;
                        delta.moved.push(old);
                    }
                }
                (old, new) => {
                    if let Some(old) = old {
                        let group = GroupKey::of(&old);
                        if let Some(members) = self.groups.get_mut(&group) {
                            members.remove(&old);
                            if members.is_empty() {
                                self.groups.remove(&group);
                            }
                        }
                        self.keys.remove(&key);
                        touched.insert(group);
                        delta.removed.push(old);
                    }
                    if let Some(entity) = new {
                        let group = GroupKey::of(&entity.id);
                        let member =
                            Member { slot: [f32::NAN; 3], attention: attention(entity.health.level) };
                        self.groups.entry(group.clone()).or_default().insert(entity.id.clone(), member);
                        self.keys.insert(key, entity.id.clone());
                        touched.insert(group);
                    }
                }
            }
        }
        self.seq = topology.seq();
        if self.set_bands(topology) {
            let all: Vec<GroupKey> = self.groups.keys().cloned().collect();
            touched.extend(all);
        }
        for group in &touched {
            self.place(group, &mut delta.moved);
        }
        delta.moved.sort();
        delta.moved.dedup();
        delta
    }

    /// Recomputes everything and reports the difference.
    fn recompute(&mut self, topology: &Topology) -> LayoutDelta {
        let new = Layout::compute(topology);
        let mut delta = LayoutDelta { full: true, ..LayoutDelta::default() };
        for (id, position) in new.positions() {
            if self.position(id).is_none_or(|old| old.map(f32::to_bits) != position.map(f32::to_bits)) {
                delta.moved.push(id.clone());
            }
        }
        delta.removed =
            self.positions().filter(|(id, _)| new.position(id).is_none()).map(|(id, _)| id.clone()).collect();
        *self = new;
        delta
    }

    /// The sequence number of the topology this layout reflects.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The number of entities laid out.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is laid out.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Where an entity is, `[x, y, z]`.
    pub fn position(&self, id: &EntityId) -> Option<[f32; 3]> {
        self.groups.get(&GroupKey::of(id))?.get(id).map(|m| m.position())
    }

    /// Every position, grouped by (cluster, band, layer) and in id order inside a group.
    pub fn positions(&self) -> impl Iterator<Item = (&EntityId, [f32; 3])> {
        self.groups.values().flat_map(|members| members.iter().map(|(id, m)| (id, m.position())))
    }

    /// The bands, cluster by cluster, left to right.
    pub fn bands(&self) -> impl Iterator<Item = &Band> {
        self.bands.iter()
    }

    /// The cluster regions, left to right.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.iter()
    }

    /// Recomputes bands and regions from the groups; returns whether they changed.
    fn set_bands(&mut self, topology: &Topology) -> bool {
        let mut clusters: BTreeMap<&Arc<str>, BTreeSet<&Arc<str>>> = BTreeMap::new();
        for group in self.groups.keys() {
            clusters.entry(&group.cluster).or_default().insert(&group.band);
        }
        let (mut bands, mut regions, mut band_x) = (Vec::new(), Vec::new(), BTreeMap::new());
        let mut x = 0.0_f32;
        for (cluster, names) in clusters {
            let mut ordered: Vec<(i64, &Arc<str>)> = names
                .into_iter()
                .filter(|ns| !ns.is_empty())
                .map(|ns| {
                    let id = EntityId::new(Arc::clone(cluster), Kind::Namespace, "", Arc::clone(ns));
                    (topology.get(&id).and_then(|e| e.created).unwrap_or(i64::MAX), ns)
                })
                .collect();
            ordered.sort();
            let empty: Arc<str> = Arc::from("");
            let names = std::iter::once(&empty).chain(ordered.into_iter().map(|(_, ns)| ns));
            let mut count = 0;
            for (j, ns) in names.enumerate() {
                let x_min = x + j as f32 * BAND_PITCH;
                band_x.insert((Arc::clone(cluster), Arc::clone(ns)), x_min);
                bands.push(Band {
                    cluster: cluster.to_string(),
                    namespace: ns.to_string(),
                    x_min,
                    x_max: x_min + BAND_WIDTH,
                });
                count = j + 1;
            }
            let width = (count.div_ceil(BANDS_PER_STEP) * BANDS_PER_STEP) as f32 * BAND_PITCH - BAND_GAP;
            regions.push(Region { cluster: cluster.to_string(), x_min: x, x_max: x + width });
            x += width + CLUSTER_GAP;
        }
        let changed = bands != self.bands || regions != self.regions;
        (self.bands, self.regions, self.band_x) = (bands, regions, band_x);
        changed
    }

    /// Places every member of a group on its grid; pushes those whose slot changed.
    fn place(&mut self, group: &GroupKey, moved: &mut Vec<EntityId>) {
        let x_min =
            self.band_x.get(&(Arc::clone(&group.cluster), Arc::clone(&group.band))).copied().unwrap_or(0.0);
        let Some(members) = self.groups.get_mut(group) else { return };
        for (index, (id, member)) in members.iter_mut().enumerate() {
            let slot = grid::slot(group.layer, x_min, index);
            if slot.map(f32::to_bits) != member.slot.map(f32::to_bits) {
                member.slot = slot;
                moved.push(id.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
