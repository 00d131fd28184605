//! Garbage collection by owner references, as the controller-manager's garbage collector does it.
//!
//! Deleting a deployment in a real cluster deletes its replica sets and then their pods: not the API server
//! but the garbage collector does that, in the background, for every object whose owners are all gone. The
//! simulator has no controller-manager, so the store does the collector's work right after the owner's
//! deletion, under the same lock: watchers see the owner's `DELETED` first and then its dependents', the order
//! the real collector produces. A dependent that still has another living owner only loses the dead reference.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::{EventType, Inner, Key, Store};
use crate::resource::{ResourceId, RESOURCES};

/// The reverse of every object's `ownerReferences`: owner uid → (resource, key) of its dependents.
#[derive(Debug, Default)]
pub(crate) struct Dependents(HashMap<String, BTreeSet<(ResourceId, Key)>>);

fn owner_uids(object: &Value) -> impl Iterator<Item = &str> {
    object["metadata"]["ownerReferences"].as_array().into_iter().flatten().filter_map(|r| r["uid"].as_str())
}

impl Dependents {
    /// Records the owners of `object`, stored at `key`.
    pub(crate) fn remember(&mut self, resource: ResourceId, key: &Key, object: &Value) {
        for uid in owner_uids(object) {
            self.0.entry(uid.to_owned()).or_default().insert((resource, key.clone()));
        }
    }

    /// Forgets the owners of `object` (its old version, or a deleted one).
    pub(crate) fn forget(&mut self, resource: ResourceId, key: &Key, object: &Value) {
        for uid in owner_uids(object) {
            if let Some(set) = self.0.get_mut(uid) {
                set.remove(&(resource, key.clone()));
                if set.is_empty() {
                    self.0.remove(uid);
                }
            }
        }
    }

    fn of(&self, uid: &str) -> Vec<(ResourceId, Key)> {
        self.0.get(uid).map(|set| set.iter().cloned().collect()).unwrap_or_default()
    }
}

/// A deleted owner whose dependents are still to be found.
struct Dead {
    uid: String,
    /// Its namespace; `None` for a cluster-scoped owner, whose dependents may live in any namespace.
    namespace: Option<String>,
}

/// The resource whose objects are of `kind` in `api_version`, for resolving an owner reference.
fn resource_of(api_version: &str, kind: &str) -> Option<ResourceId> {
    ResourceId::all().find(|id| {
        let r = id.get();
        r.kind == kind && r.api_version() == api_version && !r.computed
    })
}

impl Store {
    /// Deletes the dependents of `owner` (just deleted), and theirs, recursively.
    pub(super) fn collect_garbage(&self, inner: &mut Inner, owner: &Value) {
        let Some(uid) = owner["metadata"]["uid"].as_str() else { return };
        let namespace = owner["metadata"]["namespace"].as_str().filter(|ns| !ns.is_empty());
        let mut queue =
            VecDeque::from([Dead { uid: uid.to_owned(), namespace: namespace.map(str::to_owned) }]);
        while let Some(dead) = queue.pop_front() {
            for (id, key) in inner.dependents.of(&dead.uid) {
                // Owner references never cross namespaces; a namespaced owner only owns in its own.
                if dead.namespace.as_ref().is_some_and(|ns| *ns != key.namespace) {
                    continue;
                }
                let Some(object) = inner.objects[id.0].get(&key).cloned() else { continue };
                if has_living_owner(inner, &object, &dead.uid, &key.namespace) {
                    self.drop_reference(inner, id, key, &object, &dead.uid);
                } else {
                    let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                    let namespace = id.get().namespaced.then(|| key.namespace.clone());
                    self.commit(inner, id, key, EventType::Deleted, None, Some(object));
                    queue.push_back(Dead { uid, namespace });
                }
            }
        }
    }

    /// Removes the reference to a dead owner from an object that has others.
    fn drop_reference(&self, inner: &mut Inner, id: ResourceId, key: Key, object: &Value, dead: &str) {
        let mut new = object.clone();
        if let Some(refs) = new["metadata"]["ownerReferences"].as_array_mut() {
            refs.retain(|r| r["uid"] != dead);
        }
        new["metadata"]["resourceVersion"] = Value::String((inner.revision + 1).to_string());
        let previous = inner.objects[id.0].get(&key).cloned();
        self.commit(inner, id, key, EventType::Modified, Some(Arc::new(new)), previous);
    }
}

/// Whether an owner of `object` other than `dead` still exists (same uid, not just the same name).
fn has_living_owner(inner: &Inner, object: &Value, dead: &str, namespace: &str) -> bool {
    let refs = object["metadata"]["ownerReferences"].as_array().map(Vec::as_slice).unwrap_or_default();
    refs.iter().filter(|r| r["uid"] != dead).any(|r| {
        let (Some(api_version), Some(kind), Some(name)) =
            (r["apiVersion"].as_str(), r["kind"].as_str(), r["name"].as_str())
        else {
            return false;
        };
        let Some(resource) = resource_of(api_version, kind) else { return false };
        let scope = RESOURCES[resource.0].namespaced.then_some(namespace);
        inner.objects[resource.0]
            .get(&Key::new(scope, name))
            .is_some_and(|o| o["metadata"]["uid"] == r["uid"])
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_index_follows_owner_references_as_they_change() {
        let mut index = Dependents::default();
        let key = Key::new(Some("ns"), "p");
        let owned = |uids: &[&str]| json!({"metadata": {"ownerReferences": uids.iter().map(|u| json!({"uid": u})).collect::<Vec<_>>()}});
        index.remember(crate::resource::PODS, &key, &owned(&["a", "b"]));
        assert_eq!(index.of("a"), [(crate::resource::PODS, key.clone())]);
        index.forget(crate::resource::PODS, &key, &owned(&["a", "b"]));
        index.remember(crate::resource::PODS, &key, &owned(&["b"]));
        assert!(index.of("a").is_empty());
        assert_eq!(index.of("b").len(), 1);
        index.forget(crate::resource::PODS, &key, &owned(&["b"]));
        assert!(index.0.is_empty(), "no empty sets are kept");
    }

    #[test]
    fn owner_kinds_resolve_to_the_resources_serving_them() {
        assert_eq!(resource_of("apps/v1", "ReplicaSet"), Some(crate::resource::REPLICASETS));
        assert_eq!(resource_of("batch/v1", "Job"), Some(crate::resource::JOBS));
        assert_eq!(resource_of("v1", "Service"), Some(crate::resource::SERVICES));
        assert_eq!(resource_of("extensions/v1beta1", "ReplicaSet"), None);
    }
}
