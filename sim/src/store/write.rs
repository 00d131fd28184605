//! Writes: create, update, patch, delete, and the simulator's own `insert`/`modify`.
//!
//! Each write takes the lock once, checks preconditions against the stored version, stamps the metadata the
//! server owns (`uid`, `creationTimestamp`, `resourceVersion`, `generation`), and publishes one event. A write
//! that changes nothing is not a change: it keeps the old version and publishes nothing, as etcd does.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::strategy::{invalid_name, prepare_create, really_changed, spec_changed};
use super::{Event, EventType, Inner, Key, Result, Store, StoreError};
use crate::clock::rfc3339;
use crate::patch::{self, PatchKind};
use crate::resource::{ResourceId, NAMESPACES};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object (its status is kept when the resource has a status subresource).
    Main,
    /// Only `.status` (the `/status` subresource).
    Status,
}

/// Preconditions of a delete (`DeleteOptions.preconditions`).
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    /// The uid the object must have.
    pub uid: Option<String>,
    /// The resourceVersion the object must have.
    pub resource_version: Option<String>,
}

/// Whose write it is: a client through the API, or the simulator playing controllers and kubelets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Api,
    Simulator,
}

impl Store {
    /// Creates an object as the API server does: the server sets uid, timestamps and versions, and the
    /// status starts empty (pods `Pending`).
    ///
    /// # Errors
    /// Invalid or missing name, a namespace that does not exist or does not match, or a name taken.
    pub fn create(&self, resource: ResourceId, namespace: Option<&str>, object: Value) -> Result<Arc<Value>> {
        self.add(resource, namespace, object, Origin::Api)
    }

    /// Adds an object as the simulator sees fit: its status and a given `creationTimestamp` are kept, so a
    /// scenario can start with pods that have been running for days.
    ///
    /// # Errors
    /// As [`Store::create`].
    pub fn insert(&self, resource: ResourceId, object: Value) -> Result<Arc<Value>> {
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
        self.add(resource, namespace.as_deref(), object, Origin::Simulator)
    }

    fn add(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        object: Value,
        origin: Origin,
    ) -> Result<Arc<Value>> {
        let Value::Object(mut object) = object else {
            return Err(StoreError::BadRequest("the object must be a JSON object".into()));
        };
        let r = resource.get();
        let mut inner = self.lock();
        let meta = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        let Some(meta) = meta.as_object_mut() else {
            return Err(StoreError::BadRequest("metadata must be an object".into()));
        };
        let name = match (
            meta.get("name").and_then(Value::as_str),
            meta.get("generateName").and_then(Value::as_str),
        ) {
            (Some(name), _) if !name.is_empty() => name.to_owned(),
            (_, Some(prefix)) if !prefix.is_empty() => format!("{prefix}{}", inner.rng.suffix(5)),
            _ => {
                return Err(StoreError::Invalid {
                    resource,
                    name: String::new(),
                    field: "metadata.name".into(),
                    detail: "Required value: name or generateName is required".into(),
                })
            }
        };
        if let Some(why) = invalid_name(&name) {
            let (field, detail) = ("metadata.name".into(), format!("Invalid value: \"{name}\": {why}"));
            return Err(StoreError::Invalid { resource, name, field, detail });
        }
        let namespace = if r.namespaced {
            let body_ns = meta.get("namespace").and_then(Value::as_str).filter(|s| !s.is_empty());
            let ns = match (namespace, body_ns) {
                (Some(path), Some(body)) if path != body => return Err(StoreError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                        .into(),
                )),
                (Some(ns), _) | (None, Some(ns)) => ns.to_owned(),
                (None, None) => return Err(StoreError::BadRequest("a namespace is required".into())),
            };
            if !inner.objects[NAMESPACES.0].contains_key(&Key::new(None, &ns)) {
                return Err(StoreError::NotFound { resource: NAMESPACES, name: ns });
            }
            meta.insert("namespace".into(), Value::String(ns.clone()));
            Some(ns)
        } else {
            meta.remove("namespace");
            None
        };
        let key = Key::new(namespace.as_deref(), &name);
        if inner.objects[resource.0].contains_key(&key) {
            return Err(StoreError::AlreadyExists { resource, name });
        }
        let revision = inner.revision + 1;
        meta.insert("name".into(), Value::String(name));
        meta.insert("uid".into(), Value::String(inner.rng.uuid()));
        meta.insert("resourceVersion".into(), Value::String(revision.to_string()));
        if origin == Origin::Api || !meta.get("creationTimestamp").is_some_and(Value::is_string) {
            meta.insert("creationTimestamp".into(), Value::String(rfc3339(self.clock.now())));
        }
        if r.has_generation {
            meta.insert("generation".into(), Value::from(1));
        } else {
            meta.remove("generation");
        }
        object.insert("kind".into(), Value::String(r.kind.to_owned()));
        object.insert("apiVersion".into(), Value::String(r.api_version()));
        if origin == Origin::Api {
            prepare_create(resource, &mut object);
        }
        let object = Arc::new(Value::Object(object));
        self.commit(&mut inner, resource, key, EventType::Added, Some(Arc::clone(&object)), None);
        Ok(object)
    }

    /// Replaces an object (`PUT`), or only its status. A `metadata.resourceVersion` in the body must match the
    /// stored one; without it the update is unconditional, as Kubernetes allows.
    ///
    /// # Errors
    /// Not found, a name or namespace that does not match, or a resourceVersion conflict.
    pub fn update(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        part: Part,
    ) -> Result<Arc<Value>> {
        if !object.is_object() {
            return Err(StoreError::BadRequest("the object must be a JSON object".into()));
        }
        let body_name = object["metadata"]["name"].as_str().unwrap_or_default();
        if body_name != name {
            return Err(StoreError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let (Some(path), Some(body)) = (namespace, object["metadata"]["namespace"].as_str()) {
            if path != body {
                return Err(StoreError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                        .into(),
                ));
            }
        }
        let expected = object["metadata"]["resourceVersion"].as_str().map(str::to_owned);
        self.replace(resource, namespace, name, expected.as_deref(), part, Origin::Api, |_| object)
    }

    /// Patches an object (`PATCH`), or only its status. A `metadata.resourceVersion` in the patch must match.
    ///
    /// # Errors
    /// Not found, or a resourceVersion conflict.
    pub fn patch(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        name: &str,
        kind: PatchKind,
        patch: &Value,
        part: Part,
    ) -> Result<Arc<Value>> {
        if !patch.is_object() {
            return Err(StoreError::BadRequest("a patch must be a JSON object".into()));
        }
        let expected = patch["metadata"]["resourceVersion"].as_str();
        self.replace(resource, namespace, name, expected, part, Origin::Api, |old| {
            let mut new = old.clone();
            patch::apply(kind, &mut new, patch);
            new
        })
    }

    /// Changes an object as the simulator does (as a controller or kubelet would): `change` may touch any
    /// part, status included; the server-owned metadata is kept.
    ///
    /// # Errors
    /// Not found.
    pub fn modify(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Arc<Value>> {
        self.replace(resource, namespace, name, None, Part::Main, Origin::Simulator, |old| {
            let mut new = old.clone();
            change(&mut new);
            new
        })
    }

    #[allow(clippy::too_many_arguments)] // private: the one place the write variants meet
    fn replace(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        name: &str,
        expected_version: Option<&str>,
        part: Part,
        origin: Origin,
        change: impl FnOnce(&Value) -> Value,
    ) -> Result<Arc<Value>> {
        let r = resource.get();
        let key = Key::new(namespace.filter(|_| r.namespaced), name);
        let mut inner = self.lock();
        let old = inner.objects[resource.0]
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { resource, name: name.to_owned() })?;
        if let Some(expected) = expected_version.filter(|v| !v.is_empty()) {
            if old["metadata"]["resourceVersion"].as_str() != Some(expected) {
                return Err(StoreError::Conflict {
                    resource,
                    name: name.to_owned(),
                    detail:
                        "the object has been modified; please apply your changes to the latest version and \
                             try again"
                            .into(),
                });
            }
        }
        let built = change(&old);
        let mut new = match part {
            Part::Status => {
                let mut new = (*old).clone();
                match built.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => _ = new.as_object_mut().map(|o| o.remove("status")),
                }
                new
            }
            Part::Main => {
                let mut new = built;
                if origin == Origin::Api && r.has_status {
                    match old.get("status") {
                        Some(status) => new["status"] = status.clone(),
                        None => _ = new.as_object_mut().map(|o| o.remove("status")),
                    }
                }
                new
            }
        };
        if !new["metadata"].is_object() {
            new["metadata"] = Value::Object(Map::new());
        }
        for field in ["name", "namespace", "uid", "creationTimestamp", "resourceVersion", "generation"] {
            match old["metadata"].get(field) {
                Some(value) => new["metadata"][field] = value.clone(),
                None => _ = new["metadata"].as_object_mut().map(|m| m.remove(field)),
            }
        }
        new["kind"] = Value::String(r.kind.to_owned());
        new["apiVersion"] = Value::String(r.api_version());
        if !really_changed(&old, &new) {
            return Ok(old);
        }
        if r.has_generation && spec_changed(&old, &new) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = Value::from(generation);
        }
        new["metadata"]["resourceVersion"] = Value::String((inner.revision + 1).to_string());
        let new = Arc::new(new);
        self.commit(&mut inner, resource, key, EventType::Modified, Some(Arc::clone(&new)), Some(old));
        Ok(new)
    }

    /// Deletes an object at once (no graceful termination); deleting a namespace deletes what is in it first,
    /// and the objects it owned are then garbage-collected (background propagation).
    ///
    /// # Errors
    /// Not found, or a precondition that does not hold.
    pub fn delete(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        name: &str,
        preconditions: &Preconditions,
    ) -> Result<Arc<Value>> {
        let key = Key::new(namespace.filter(|_| resource.get().namespaced), name);
        let mut inner = self.lock();
        let old = inner.objects[resource.0]
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { resource, name: name.to_owned() })?;
        let conflict = |detail: String| StoreError::Conflict { resource, name: name.to_owned(), detail };
        let meta = &old["metadata"];
        if let Some(uid) = &preconditions.uid {
            if meta["uid"].as_str() != Some(uid) {
                let actual = meta["uid"].as_str().unwrap_or_default();
                return Err(conflict(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                )));
            }
        }
        if let Some(version) = &preconditions.resource_version {
            if meta["resourceVersion"].as_str() != Some(version) {
                let actual = meta["resourceVersion"].as_str().unwrap_or_default();
                return Err(conflict(format!(
                    "Precondition failed: ResourceVersion in precondition: {version}, ResourceVersion in object \
                     meta: {actual}"
                )));
            }
        }
        if resource == NAMESPACES {
            for id in ResourceId::all().filter(|id| id.get().namespaced) {
                let keys: Vec<Key> =
                    inner.objects[id.0].keys().filter(|k| k.namespace == name).cloned().collect();
                for k in keys {
                    let object = inner.objects[id.0][&k].clone();
                    self.remove(&mut inner, id, k, &object);
                }
            }
        }
        let deleted = self.remove(&mut inner, resource, key, &old);
        self.collect_garbage(&mut inner, &old);
        Ok(deleted)
    }

    fn remove(&self, inner: &mut Inner, resource: ResourceId, key: Key, old: &Arc<Value>) -> Arc<Value> {
        self.commit(inner, resource, key, EventType::Deleted, None, Some(Arc::clone(old)))
    }

    /// Applies a change under the lock: bumps the revision, stores or removes, records and publishes. Returns
    /// the object as published (for a deletion, its last state stamped with the deletion's revision).
    pub(super) fn commit(
        &self,
        inner: &mut Inner,
        resource: ResourceId,
        key: Key,
        kind: EventType,
        object: Option<Arc<Value>>,
        previous: Option<Arc<Value>>,
    ) -> Arc<Value> {
        inner.revision += 1;
        let revision = inner.revision;
        if let Some(previous) = &previous {
            inner.dependents.forget(resource, &key, previous);
        }
        if let Some(object) = &object {
            inner.dependents.remember(resource, &key, object);
        }
        let object = if let Some(object) = object {
            inner.objects[resource.0].insert(key, Arc::clone(&object));
            object
        } else {
            inner.objects[resource.0].remove(&key);
            let mut last = previous.as_deref().cloned().unwrap_or_default();
            last["metadata"]["resourceVersion"] = Value::String(revision.to_string());
            Arc::new(last)
        };
        let event = Arc::new(Event::new(kind, resource, revision, Arc::clone(&object), previous));
        inner.history.push(Arc::clone(&event));
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
        object
    }
}
