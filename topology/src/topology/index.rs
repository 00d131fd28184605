//! Incremental maintenance of the derived relations.
//!
//! Reference edges (owns, runs on, mounts, routes to, scales) come from one entity's own fields, so inserting or
//! removing that entity adds or removes exactly its [`references`]. `selects` needs both a service and a pod; a
//! scan would cost services × pods per namespace on every snapshot (seconds at 100k entities in a browser).
//! Instead two label indexes meet in the middle: each service with a selector is *anchored* under the first
//! `key=value` pair of its selector, and each pod is listed under every one of its labels. A new pod looks up the
//! services anchored under its labels; a new service looks up the pods listed under its anchor. Either way only
//! plausible pairs are matched in full, so building the relations of a snapshot is linear in its size.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Bound,
    sync::Arc,
};

use super::Slot;
use crate::{
    entity::{Details, Entity},
    id::{EntityId, Kind},
    relation::{references, selects, Relation, RelationKind},
};

/// Ids under one label value.
type ByValue = BTreeMap<String, BTreeSet<EntityId>>;

/// Entity ids by (cluster, namespace), label key and label value.
#[derive(Debug, Clone, Default)]
struct LabelIndex(BTreeMap<(Arc<str>, Arc<str>), BTreeMap<String, ByValue>>);

impl LabelIndex {
    fn insert(&mut self, id: &EntityId, key: &str, value: &str) {
        let by_key = self.0.entry(namespace_of(id)).or_default();
        // Look up before inserting: most keys and values exist already, and `entry` would allocate them.
        if !by_key.contains_key(key) {
            by_key.insert(key.to_owned(), ByValue::new());
        }
        let Some(by_value) = by_key.get_mut(key) else { return };
        match by_value.get_mut(value) {
            Some(ids) => {
                ids.insert(id.clone());
            }
            None => {
                by_value.insert(value.to_owned(), BTreeSet::from([id.clone()]));
            }
        }
    }

    fn remove(&mut self, id: &EntityId, key: &str, value: &str) {
        let ns = namespace_of(id);
        let Some(by_key) = self.0.get_mut(&ns) else { return };
        if let Some(by_value) = by_key.get_mut(key) {
            if let Some(ids) = by_value.get_mut(value) {
                ids.remove(id);
                if ids.is_empty() {
                    by_value.remove(value);
                }
            }
            if by_value.is_empty() {
                by_key.remove(key);
            }
        }
        if by_key.is_empty() {
            self.0.remove(&ns);
        }
    }

    /// The ids listed under `key=value` in the namespace of `id`.
    fn get<'a>(&'a self, id: &EntityId, key: &str, value: &str) -> impl Iterator<Item = &'a EntityId> + 'a {
        self.0
            .get(&namespace_of(id))
            .and_then(|by_key| by_key.get(key))
            .and_then(|by_value| by_value.get(value))
            .into_iter()
            .flatten()
    }
}

/// All derived edges (including those whose target does not exist yet) and the label indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct RelationIndex {
    edges: BTreeSet<Relation>,
    /// Services with a non-empty selector, under its first pair.
    anchors: LabelIndex,
    /// Pods, under each of their labels.
    pods: LabelIndex,
}

impl RelationIndex {
    /// Every derived edge, ordered.
    pub(crate) fn edges(&self) -> impl Iterator<Item = &Relation> {
        self.edges.iter()
    }

    /// The edges leaving `from`.
    pub(crate) fn edges_from<'a>(&'a self, from: &'a EntityId) -> impl Iterator<Item = &'a Relation> + 'a {
        let start = Relation::new(from.clone(), RelationKind::Owns, min_id());
        self.edges.range((Bound::Included(start), Bound::Unbounded)).take_while(move |r| &r.from == from)
    }

    /// Whether the relation-relevant inputs of two versions of an entity are equal, so that replacing one by the
    /// other cannot change any edge.
    pub(crate) fn same_inputs(old: &Entity, new: &Entity) -> bool {
        old.labels == new.labels
            && old.owner == new.owner
            && old.service().map(|s| &s.selector) == new.service().map(|s| &s.selector)
            && match (&old.details, &new.details) {
                (Details::Pod(a), Details::Pod(b)) => a.node == b.node && a.mounts == b.mounts,
                (Details::Ingress(a), Details::Ingress(b)) => a.backends == b.backends,
                (Details::Hpa(a), Details::Hpa(b)) => a.target == b.target,
                _ => true,
            }
    }

    /// Adds the edges of an entity that has just been stored in `entities`.
    pub(crate) fn insert(&mut self, entities: &BTreeMap<EntityId, Slot>, entity: &Entity) {
        self.edges.extend(references(entity));
        let id = &entity.id;
        if let Some(svc) = entity.service() {
            let Some((key, value)) = svc.selector.iter().next() else { return };
            self.anchors.insert(id, key, value);
            let selected: Vec<EntityId> = self
                .pods
                .get(id, key, value)
                .filter(|pod| entities.get(*pod).is_some_and(|slot| selects(entity, &slot.entity)))
                .cloned()
                .collect();
            for pod in selected {
                self.edges.insert(Relation::new(id.clone(), RelationKind::Selects, pod));
            }
        } else if entity.kind == Kind::Pod {
            for (key, value) in &entity.labels {
                self.pods.insert(id, key, value);
            }
            for svc in self.candidate_services(entity) {
                if entities.get(&svc).is_some_and(|slot| selects(&slot.entity, entity)) {
                    self.edges.insert(Relation::new(svc, RelationKind::Selects, id.clone()));
                }
            }
        }
    }

    /// Removes the edges of an entity (already gone from `entities`, or about to be replaced).
    pub(crate) fn remove(&mut self, entity: &Entity) {
        for edge in references(entity) {
            self.edges.remove(&edge);
        }
        let id = &entity.id;
        if let Some(svc) = entity.service() {
            let Some((key, value)) = svc.selector.iter().next() else { return };
            self.anchors.remove(id, key, value);
            let start = Relation::new(id.clone(), RelationKind::Selects, min_id());
            let selected: Vec<Relation> = self
                .edges
                .range(start..)
                .take_while(|r| &r.from == id && r.kind == RelationKind::Selects)
                .cloned()
                .collect();
            for edge in selected {
                self.edges.remove(&edge);
            }
        } else if entity.kind == Kind::Pod {
            for (key, value) in &entity.labels {
                self.pods.remove(id, key, value);
            }
            for svc in self.candidate_services(entity) {
                self.edges.remove(&Relation::new(svc, RelationKind::Selects, id.clone()));
            }
        }
    }

    /// Services of the pod's namespace anchored under one of its labels.
    fn candidate_services(&self, pod: &Entity) -> Vec<EntityId> {
        let mut out = Vec::new();
        for (key, value) in &pod.labels {
            out.extend(self.anchors.get(&pod.id, key, value).cloned());
        }
        out
    }
}

fn namespace_of(id: &EntityId) -> (Arc<str>, Arc<str>) {
    (Arc::clone(id.cluster_arc()), Arc::clone(id.namespace_arc()))
}

/// The smallest possible id, the lower bound of a range over a source's edges.
fn min_id() -> EntityId {
    EntityId::new("", Kind::ALL[0], "", "")
}
