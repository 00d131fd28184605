//! The object store: every simulated object, one global `resourceVersion`, and the change feed watches read.
//!
//! Objects are kept as `serde_json::Value` (no k8s-openapi types: the simulator serves JSON and must hold
//! whatever a client sends) behind `Arc`, so a list or an event shares them instead of copying. One mutex
//! guards the objects, the revision counter and the history together, which is what makes a watch started
//! from revision N see exactly the changes after N: the replay is read and the live feed subscribed under the
//! same lock that every write holds while it publishes.

mod gc;
mod history;
mod strategy;
mod write;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::resource::{ResourceId, RESOURCES};
use crate::rng::Rng;
use crate::select::Filter;
use history::History;
pub(crate) use strategy::qos_class;
pub use write::{Part, Preconditions};

/// How the store is sized.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// How many change events watches can resume from before they get `410 Expired`.
    pub history: usize,
    /// How many events a live watcher may fall behind before it is disconnected.
    pub watch_buffer: usize,
    /// Seeds the uids, so the same scenario gets the same uids.
    pub seed: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { history: 5000, watch_buffer: 4096, seed: 0 }
    }
}

/// Where an object lives: its namespace (`""` when cluster-scoped) and name. Ordered as etcd orders keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl Key {
    /// The key of `name` in `namespace` (`None` for cluster-scoped).
    pub fn new(namespace: Option<&str>, name: &str) -> Key {
        Key { namespace: namespace.unwrap_or_default().to_owned(), name: name.to_owned() }
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event type, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as recorded in the history and sent to live watchers.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventType,
    /// To which resource.
    pub resource: ResourceId,
    /// The revision of the change.
    pub revision: u64,
    /// The object after the change (for a deletion: its last state, at the deletion's revision).
    pub object: Arc<Value>,
    /// The object before the change, so a selecting watch can tell an object leaving its selection.
    pub previous: Option<Arc<Value>>,
    /// The object as JSON, serialized by the first watcher that sends it whole and shared by the others: with
    /// many watchers, the cost of a change is one serialization, not one per watcher.
    encoded: OnceLock<Vec<u8>>,
}

impl Event {
    /// An event about `object`.
    pub fn new(
        kind: EventType,
        resource: ResourceId,
        revision: u64,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) -> Event {
        Event { kind, resource, revision, object, previous, encoded: OnceLock::new() }
    }

    /// The object as compact JSON, serialized once.
    pub fn object_json(&self) -> &[u8] {
        self.encoded.get_or_init(|| serde_json::to_vec(&*self.object).unwrap_or_default())
    }
}

/// Errors of store operations; the API maps each to a Kubernetes `Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such object.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource.
        resource: ResourceId,
        /// The object's name.
        name: String,
    },
    /// An object of that name exists already.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// The resource.
        resource: ResourceId,
        /// The object's name.
        name: String,
    },
    /// A precondition (resourceVersion or uid) does not hold.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {detail}")]
    Conflict {
        /// The resource.
        resource: ResourceId,
        /// The object's name.
        name: String,
        /// What did not match.
        detail: String,
    },
    /// The object fails validation.
    #[error("{} \"{name}\" is invalid: {field}: {detail}", .resource.get().kind)]
    Invalid {
        /// The resource.
        resource: ResourceId,
        /// The object's name.
        name: String,
        /// The invalid field's path.
        field: String,
        /// Why it is invalid.
        detail: String,
    },
    /// The request cannot be served as sent.
    #[error("{0}")]
    BadRequest(String),
    /// A watch from a revision whose changes were already dropped from the history.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision still served.
        oldest: u64,
    },
    /// A continue token from a list whose revision was already dropped from the history.
    #[error(
        "The provided continue parameter is too old to display a consistent list result. You can start a new \
         list without the continue parameter."
    )]
    ContinueExpired,
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// The objects, in key order.
    pub items: Vec<Arc<Value>>,
    /// The revision the list is consistent with (the first page's, for continued lists).
    pub revision: u64,
    /// The token for the next page, when there is one.
    pub continue_token: Option<String>,
    /// How many objects follow, when known (only without selectors, as the real API server does).
    pub remaining: Option<u64>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// With the current state, as synthetic `ADDED` events (`resourceVersion` unset or `"0"`).
    Now,
    /// With the changes after this revision.
    Revision(u64),
}

/// A watch's start: the events to replay and the live feed that continues exactly after them.
#[derive(Debug)]
pub struct Subscription {
    /// Replayed (or synthetic) events, oldest first, for this resource only.
    pub initial: Vec<Arc<Event>>,
    /// Every later change, of every resource.
    pub receiver: broadcast::Receiver<Arc<Event>>,
    /// The store's revision when the watch started: a bookmark may carry it right away.
    pub revision: u64,
}

/// The store. Cheap to share as `Arc<Store>`.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Inner {
    revision: u64,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    /// Who owns what: owner uid → its dependents, kept by every write, so garbage collection never scans.
    dependents: gc::Dependents,
    history: History,
    rng: Rng,
}

impl Store {
    /// An empty store.
    pub fn new(config: &StoreConfig, clock: Arc<dyn Clock>) -> Store {
        let (events, _) = broadcast::channel(config.watch_buffer.max(1));
        Store {
            inner: Mutex::new(Inner {
                revision: 0,
                objects: RESOURCES.iter().map(|_| BTreeMap::new()).collect(),
                dependents: gc::Dependents::default(),
                history: History::new(config.history),
                rng: Rng::new(config.seed ^ 0x5EED_0F0B_1EC7),
            }),
            events,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The clock objects are stamped with.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The current revision (the `resourceVersion` of the latest change).
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// The oldest revision a watch can still start from.
    pub fn oldest_revision(&self) -> u64 {
        self.lock().history.oldest()
    }

    /// How many objects of `resource` exist.
    pub fn count(&self, resource: ResourceId) -> usize {
        self.lock().objects[resource.0].len()
    }

    /// One object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub fn get(&self, resource: ResourceId, namespace: Option<&str>, name: &str) -> Result<Arc<Value>> {
        let inner = self.lock();
        inner.objects[resource.0]
            .get(&Key::new(namespace, name))
            .cloned()
            .ok_or_else(|| StoreError::NotFound { resource, name: name.to_owned() })
    }

    /// A page of the objects `filter` selects, at most `limit` (all when `None`), after `continue_token`.
    ///
    /// A continued list reports the first page's revision but reads the objects as they are now: a client
    /// that watches from that revision then sees every change made while it paged, so it ends consistent.
    ///
    /// # Errors
    /// [`StoreError::BadRequest`] for a malformed token, [`StoreError::ContinueExpired`] when its revision
    /// has left the history.
    pub fn list(
        &self,
        resource: ResourceId,
        filter: &Filter,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListPage> {
        let after = continue_token.map(decode_continue).transpose()?;
        let inner = self.lock();
        let revision = match &after {
            Some((revision, _)) if *revision < inner.history.oldest() => {
                return Err(StoreError::ContinueExpired)
            }
            Some((revision, _)) => *revision,
            None => inner.revision,
        };
        let objects = &inner.objects[resource.0];
        let ns_start = Key::new(filter.namespace.as_deref(), "");
        let start = match &after {
            Some((_, key)) if *key >= ns_start => Bound::Excluded(key.clone()),
            _ => Bound::Included(ns_start),
        };
        let in_namespace = |k: &Key| filter.namespace.as_ref().is_none_or(|ns| &k.namespace == ns);
        let mut range = objects.range((start, Bound::Unbounded)).take_while(|(k, _)| in_namespace(k));
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last = None;
        for (key, object) in range.by_ref() {
            if filter.matches(object) {
                if items.len() == limit {
                    let remaining = filter.selects_everything().then(|| 1 + range.count() as u64);
                    let token = encode_continue(revision, last.expect("limit > 0"));
                    return Ok(ListPage { items, revision, continue_token: Some(token), remaining });
                }
                items.push(Arc::clone(object));
                last = Some(key);
            }
        }
        Ok(ListPage { items, revision, continue_token: None, remaining: None })
    }

    /// Starts a watch of `resource`.
    ///
    /// # Errors
    /// [`StoreError::Expired`] when changes after the revision were already dropped from the history.
    pub fn watch(&self, resource: ResourceId, from: WatchFrom) -> Result<Subscription> {
        let inner = self.lock();
        let initial = match from {
            WatchFrom::Now => inner.objects[resource.0]
                .values()
                .map(|object| {
                    Arc::new(Event::new(
                        EventType::Added,
                        resource,
                        revision_of(object),
                        Arc::clone(object),
                        None,
                    ))
                })
                .collect(),
            WatchFrom::Revision(revision) => inner
                .history
                .since(revision)
                .ok_or(StoreError::Expired { requested: revision, oldest: inner.history.oldest() })?
                .filter(|e| e.resource == resource)
                .cloned()
                .collect(),
        };
        Ok(Subscription { initial, receiver: self.events.subscribe(), revision: inner.revision })
    }
}

/// The `metadata.resourceVersion` of a stored object as a number.
pub fn revision_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// An opaque token: hex of `revision/namespace/name` (neither may contain `/`).
fn encode_continue(revision: u64, key: &Key) -> String {
    format!("{revision}/{}/{}", key.namespace, key.name).bytes().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn decode_continue(token: &str) -> Result<(u64, Key)> {
    let bad = || StoreError::BadRequest(format!("invalid continue token: {token:?}"));
    if token.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '/');
    let (Some(revision), Some(namespace), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let revision = revision.parse().map_err(|_| bad())?;
    Ok((revision, Key { namespace: namespace.to_owned(), name: name.to_owned() }))
}

#[cfg(test)]
mod tests;
