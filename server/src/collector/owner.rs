//! The owner: the single task that owns the topology.
//!
//! Watchers send it projected [`Update`]s over one channel; it applies everything queued in one
//! [`topology::Transaction`] (so a burst makes one diff), and publishes the [`Diff`] on a `broadcast` channel
//! only when `commit()` says something changed.
//!
//! The topology itself is [`Shared`]: the owner is its only writer and changes it under a write lock, one batch
//! at a time; the hub, the findings engine and the API read the same one under read locks. Why not a copy per
//! reader: a topology of 10k pods is ~25 MB and ~20 ms to copy. Copying on every diff made events wait seconds
//! (p50 6 s); copying once a second put a ~20 ms stall in the event path's p99; and the hub's own replica, kept
//! current from the diffs, was a whole second topology resident for the life of the server (BENCHMARKS.md).
//! A reader holds the lock only as long as it looks (an encoded snapshot, a detector pass); whoever must keep a
//! topology across awaits copies it ([`crate::live::Hub::topology`]).
//! Readiness turns true once every enabled watcher has finished its first list (or was found forbidden or
//! missing, which is reported, not waited for).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use tokio::sync::{broadcast, mpsc, watch};
use topology::entity::{Endpoints, Usage};
use topology::{Details, Diff, Entity, EntityId, Topology, Transaction};

use super::events::{EventLog, EVENT_CAPACITY};
use super::{AddressFamily, EndpointPart, Event, Feed, FeedStatus, Object, Source, Update};

/// How many diffs the broadcast channel holds for a slow receiver before it lags.
pub const DIFF_CAPACITY: usize = 1024;

/// The one topology: written by the owner, read by everyone else (see the module docs).
#[derive(Clone, Default)]
pub struct Shared(Arc<RwLock<Topology>>);

impl Shared {
    /// `topology`, to be owned by an [`Owner`] (or by a stand-in in tests).
    pub fn new(topology: Topology) -> Shared {
        Shared(Arc::new(RwLock::new(topology)))
    }

    /// Reads the current topology. The owner waits while the guard lives: look, don't linger, never await.
    pub fn read(&self) -> RwLockReadGuard<'_, Topology> {
        // The owner changes the topology only through transactions, which leave it consistent op by op; a
        // panic in the owner poisons the lock but leaves a topology worth reading.
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the topology: for the owner, and for stand-ins of it in tests.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Topology> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A committed diff as the owner publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The diff.
    pub diff: Diff,
    /// The entity each op of `diff` is about, in op order (what per-client filters go by; a removed entity can
    /// no longer be looked up by its key).
    pub ids: Vec<EntityId>,
}

/// The owner's state. Public for tests; run it with [`Owner::run`].
pub struct Owner {
    topology: Shared,
    /// What the owner derives from several objects: endpoint counts, config map and secret references.
    derived: Derived,
    /// What every watcher is doing.
    status: BTreeMap<Source, FeedStatus>,
    /// Watchers that have finished a list at least once.
    listed: HashSet<Source>,
    /// Ids seen since a source's `InitStart`, while it relists.
    relisting: HashMap<Source, HashSet<EntityId>>,
    ready_tx: watch::Sender<bool>,
    status_tx: watch::Sender<BTreeMap<Source, FeedStatus>>,
    diff_tx: broadcast::Sender<Arc<Published>>,
    lag: Lag,
    /// The stamps of the batch being applied, kept to reuse the allocation.
    stamps: Vec<(std::time::Instant, Option<std::time::SystemTime>)>,
}

/// How late the owner publishes what the watchers saw, observed when a diff is published (the server's
/// `/metrics` registers these; the owner only observes). Updates that change nothing are not observed: there is
/// no diff to be late.
#[derive(Debug, Clone)]
pub struct Lag {
    /// Receipt by a watcher → the diff leaving the owner (`gestalt_collector_ingest_lag_seconds`).
    pub ingest: Histogram,
    /// The change's own time (by the object's timestamps, watch events only) → the diff leaving the owner
    /// (`gestalt_collector_change_age_seconds`); one-second resolution, see [`super::watch::changed_at`].
    pub change_age: Histogram,
}

impl Default for Lag {
    fn default() -> Self {
        // 0.5 ms … ~16 s, as the server's other latency histograms; the age gets 0.25 s … ~17 min.
        Lag {
            ingest: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            change_age: Histogram::new(exponential_buckets(0.25, 2.0, 13)),
        }
    }
}

/// The receiving ends the rest of the server reads.
pub struct Outputs {
    /// The topology the owner keeps current.
    pub topology: Shared,
    /// True once every enabled watcher has listed.
    pub ready: watch::Receiver<bool>,
    /// Each watcher's status.
    pub status: watch::Receiver<BTreeMap<Source, FeedStatus>>,
    /// Diffs, for the hub.
    pub diffs: broadcast::Sender<Arc<Published>>,
    /// Recent Kubernetes events, filled by the events watchers (not by the owner: they are not topology).
    pub events: EventLog,
    /// The owner's lag histograms, for `/metrics`.
    pub lag: Lag,
}

impl Owner {
    /// An owner starting from `topology` (usually empty, or holding the cluster entity), expecting these
    /// watchers to report.
    pub fn new(topology: Topology, sources: impl IntoIterator<Item = Source>) -> (Owner, Outputs) {
        let topology = Shared::new(topology);
        let status: BTreeMap<Source, FeedStatus> =
            sources.into_iter().map(|s| (s, FeedStatus::Syncing)).collect();
        let ready = status.is_empty();
        let (ready_tx, ready_rx) = watch::channel(ready);
        let (status_tx, status_rx) = watch::channel(status.clone());
        let (diff_tx, _) = broadcast::channel(DIFF_CAPACITY);
        let outputs = Outputs {
            topology: topology.clone(),
            ready: ready_rx,
            status: status_rx,
            diffs: diff_tx.clone(),
            events: EventLog::new(EVENT_CAPACITY),
            lag: Lag::default(),
        };
        let owner = Owner {
            topology,
            derived: Derived::default(),
            status,
            listed: HashSet::new(),
            relisting: HashMap::new(),
            ready_tx,
            status_tx,
            diff_tx,
            lag: outputs.lag.clone(),
            stamps: Vec::new(),
        };
        (owner, outputs)
    }

    /// Applies updates until every sender is gone.
    pub async fn run(mut self, mut updates: mpsc::Receiver<Update>) {
        let mut batch = Vec::new();
        while updates.recv_many(&mut batch, 1024).await > 0 {
            // Drain whatever else is already queued so a burst becomes one diff.
            while let Ok(update) = updates.try_recv() {
                batch.push(update);
            }
            self.apply(batch.drain(..));
        }
    }

    /// Applies a batch and returns its diff, if any (for tests; [`Owner::run`] publishes it only).
    #[cfg(test)]
    pub fn apply_batch(&mut self, updates: impl IntoIterator<Item = Update>) -> Option<Diff> {
        self.apply(updates).map(|published| published.diff.clone())
    }

    /// Applies a batch in one transaction and publishes its diff and any change of status. Returns the diff.
    fn apply(&mut self, updates: impl IntoIterator<Item = Update>) -> Option<Arc<Published>> {
        let mut status_changed = false;
        let mut topology = self.topology.write();
        let mut tx = topology.transaction();
        self.stamps.clear();
        for Update { source, event, received, changed } in updates {
            if matches!(event, Event::Apply(_) | Event::Delete(_) | Event::InitApply(_) | Event::Usage(_)) {
                self.stamps.push((received, changed));
            }
            match event {
                Event::Apply(object) => apply(&mut tx, &mut self.derived, object),
                Event::Delete(id) => delete(&mut tx, &mut self.derived, source.feed, &id),
                Event::InitStart => {
                    self.relisting.insert(source, HashSet::new());
                }
                Event::InitApply(object) => {
                    if let Some(seen) = self.relisting.get_mut(&source) {
                        seen.insert(object.id().clone());
                    }
                    apply(&mut tx, &mut self.derived, object);
                }
                Event::InitDone => {
                    let seen = self.relisting.remove(&source).unwrap_or_default();
                    replace(&mut tx, &mut self.derived, &source, &seen);
                    self.listed.insert(source.clone());
                    status_changed |= set_status(&mut self.status, source, &FeedStatus::Ready);
                }
                Event::Usage(usage) => apply_usage(&mut tx, &mut self.derived, usage),
                Event::Status(status) => {
                    if matches!(status, FeedStatus::Forbidden(_) | FeedStatus::Missing) {
                        // Whatever we had from it can no longer be kept up to date.
                        replace(&mut tx, &mut self.derived, &source, &HashSet::new());
                    }
                    status_changed |= set_status(&mut self.status, source, &status);
                }
            }
        }
        let published = tx.commit_with_ids().map(|(diff, ids)| Arc::new(Published { diff, ids }));
        // Readers see the whole batch at once, before its diff goes out.
        drop(topology);
        if let Some(published) = &published {
            // No receiver yet is fine: the hub subscribes when it starts.
            let _ = self.diff_tx.send(published.clone());
            self.observe_lag();
        }
        if status_changed {
            // Every watcher has listed, or cannot (forbidden, missing). One that failed before its first list is
            // still waited for: it retries with backoff.
            let ready = self.status.iter().all(|(source, status)| {
                // Metrics are optional: a cluster without metrics-server is ready without them.
                source.feed == Feed::Metrics
                    || self.listed.contains(source)
                    || matches!(status, FeedStatus::Forbidden(_) | FeedStatus::Missing)
            });
            self.status_tx.send_replace(self.status.clone());
            self.ready_tx.send_if_modified(|r| {
                // Ready once; a later error keeps serving the last good picture.
                let changed = ready && !*r;
                *r |= ready;
                changed
            });
        }
        published
    }
}

impl Owner {
    fn observe_lag(&self) {
        let (now, wall) = (std::time::Instant::now(), std::time::SystemTime::now());
        for (received, changed) in &self.stamps {
            self.lag.ingest.observe(now.duration_since(*received).as_secs_f64());
            if let Some(changed) = changed {
                self.lag.change_age.observe(wall.duration_since(*changed).unwrap_or_default().as_secs_f64());
            }
        }
    }
}

/// State derived from more than one object.
#[derive(Default)]
struct Derived {
    /// Endpoint counts, by the object they come from, folded into the service entity whenever either side changes.
    endpoints: EndpointParts,
    /// The config maps and secrets each pod reads (by name: they are never watched).
    pod_refs: HashMap<EntityId, Vec<EntityId>>,
    /// How many pods read each reference; the reference entity exists while this is positive.
    ref_counts: HashMap<EntityId, u32>,
    /// The usage last published for each pod and node (kept across re-projections, which know none).
    usage: HashMap<EntityId, Usage>,
}

/// The endpoint parts (slices, or one core `Endpoints` per service) and which belong to each service.
#[derive(Default)]
struct EndpointParts {
    parts: HashMap<EntityId, EndpointPart>,
    by_service: HashMap<EntityId, HashSet<EntityId>>,
}

impl EndpointParts {
    /// Stores a part; returns the services whose counts it changed (two when a slice moved to another service).
    fn insert(&mut self, part: EndpointPart) -> Vec<EntityId> {
        let mut changed = vec![part.service.clone()];
        if let Some(old) = self.remove(&part.key).filter(|old| *old != part.service) {
            changed.push(old);
        }
        self.by_service.entry(part.service.clone()).or_default().insert(part.key.clone());
        self.parts.insert(part.key.clone(), part);
        changed
    }

    /// Forgets a part; returns its service.
    fn remove(&mut self, key: &EntityId) -> Option<EntityId> {
        let part = self.parts.remove(key)?;
        if let Some(keys) = self.by_service.get_mut(&part.service) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_service.remove(&part.service);
            }
        }
        Some(part.service)
    }

    fn keys(&self) -> impl Iterator<Item = &EntityId> {
        self.parts.keys()
    }

    /// A service's counts: its parts added up per address family, and the family listing the most endpoints
    /// taken (a dual-stack service lists every pod in an IPv4 and an IPv6 slice). `None` when nothing lists
    /// endpoints for it: unknown, which is not the same as zero.
    fn of(&self, service: &EntityId) -> Option<Endpoints> {
        let mut families: BTreeMap<AddressFamily, Endpoints> = BTreeMap::new();
        for part in self.by_service.get(service)?.iter().filter_map(|k| self.parts.get(k)) {
            let sum = families.entry(part.family).or_default();
            sum.ready += part.counts.ready;
            sum.not_ready += part.counts.not_ready;
        }
        families.into_values().max_by_key(|c| (c.ready + c.not_ready, c.ready))
    }
}

fn set_status(status: &mut BTreeMap<Source, FeedStatus>, source: Source, new: &FeedStatus) -> bool {
    // An error after the first list does not make a feed syncing again; it is reported, readiness stays.
    let old = status.insert(source, new.clone());
    old.as_ref() != Some(new)
}

fn apply(tx: &mut Transaction<'_>, derived: &mut Derived, object: Object) {
    match object {
        Object::Entity(mut entity) => {
            if let Details::Service(svc) = &mut entity.details {
                svc.endpoints = derived.endpoints.of(&entity.id);
            }
            if let Some(usage) = derived.usage.get(&entity.id) {
                entity.usage = Some(*usage);
            }
            upsert(tx, derived, *entity);
        }
        Object::Endpoints(part) => {
            for service in derived.endpoints.insert(*part) {
                refresh_service(tx, &service, derived.endpoints.of(&service));
            }
        }
    }
}

fn delete(tx: &mut Transaction<'_>, derived: &mut Derived, feed: Feed, id: &EntityId) {
    match feed {
        Feed::Kind(_) => remove(tx, derived, id),
        Feed::Endpoints => {
            if let Some(service) = derived.endpoints.remove(id) {
                refresh_service(tx, &service, derived.endpoints.of(&service));
            }
        }
        // The events watcher writes its log itself and sends the owner only its status; metrics send usage.
        Feed::Events | Feed::Metrics => {}
    }
}

/// Ends a relist: removes what the source owns that the new list did not contain.
fn replace(tx: &mut Transaction<'_>, derived: &mut Derived, source: &Source, seen: &HashSet<EntityId>) {
    let in_scope = |id: &EntityId| source.namespace.as_deref().is_none_or(|ns| id.namespace() == ns);
    match source.feed {
        Feed::Kind(kind) => {
            let gone: Vec<EntityId> = tx
                .topology()
                .entities()
                .filter(|e| e.kind == kind && in_scope(&e.id) && !seen.contains(&e.id))
                .map(|e| e.id.clone())
                .collect();
            for id in gone {
                remove(tx, derived, &id);
            }
        }
        Feed::Endpoints => {
            let gone: Vec<EntityId> =
                derived.endpoints.keys().filter(|id| in_scope(id) && !seen.contains(*id)).cloned().collect();
            for id in gone {
                if let Some(service) = derived.endpoints.remove(&id) {
                    refresh_service(tx, &service, derived.endpoints.of(&service));
                }
            }
        }
        Feed::Events | Feed::Metrics => {}
    }
}

/// A metrics poll: publishes usage that moved significantly, clears usage that is no longer reported.
fn apply_usage(tx: &mut Transaction<'_>, derived: &mut Derived, polled: Vec<(EntityId, Usage)>) {
    let polled: HashMap<EntityId, Usage> = polled.into_iter().collect();
    let gone: Vec<EntityId> = derived.usage.keys().filter(|id| !polled.contains_key(*id)).cloned().collect();
    for id in gone {
        derived.usage.remove(&id);
        set_usage(tx, &id, None);
    }
    for (id, usage) in polled {
        let old = derived.usage.get(&id).copied();
        if super::metrics::significant(old, Some(usage)) {
            derived.usage.insert(id.clone(), usage);
            set_usage(tx, &id, Some(usage));
        }
    }
}

fn set_usage(tx: &mut Transaction<'_>, id: &EntityId, usage: Option<Usage>) {
    let Some(mut entity) = tx.topology().get(id).cloned() else { return };
    if entity.usage != usage {
        entity.usage = usage;
        if let Err(error) = tx.upsert(entity) {
            tracing::warn!(%id, %error, "skipping an entity the topology refuses");
        }
    }
}

fn refresh_service(tx: &mut Transaction<'_>, id: &EntityId, counts: Option<Endpoints>) {
    let Some(mut service) = tx.topology().get(id).cloned() else { return };
    if let Details::Service(svc) = &mut service.details {
        svc.endpoints = counts;
        let id = service.id.clone();
        if let Err(error) = tx.upsert(service) {
            tracing::warn!(%id, %error, "skipping an entity the topology refuses");
        }
    }
}

/// Upserts an entity; for a pod, also keeps the config map and secret reference entities it reads.
fn upsert(tx: &mut Transaction<'_>, derived: &mut Derived, entity: Entity) {
    let id = entity.id.clone();
    let refs: Option<Vec<EntityId>> = entity
        .pod()
        .map(|pod| pod.mounts.iter().filter(|r| r.kind.is_reference()).map(|r| id.sibling(r)).collect());
    if let Err(error) = tx.upsert(entity) {
        tracing::warn!(%id, %error, "skipping an entity the topology refuses");
        return;
    }
    if let Some(refs) = refs {
        for r in &refs {
            retain_ref(tx, derived, r);
        }
        for r in derived.pod_refs.insert(id, refs).unwrap_or_default() {
            release_ref(tx, derived, &r);
        }
    }
}

/// Removes an entity; for a pod, releases the references it read.
fn remove(tx: &mut Transaction<'_>, derived: &mut Derived, id: &EntityId) {
    tx.remove(id);
    derived.usage.remove(id);
    for r in derived.pod_refs.remove(id).unwrap_or_default() {
        release_ref(tx, derived, &r);
    }
}

fn retain_ref(tx: &mut Transaction<'_>, derived: &mut Derived, id: &EntityId) {
    let count = derived.ref_counts.entry(id.clone()).or_insert(0);
    *count += 1;
    if *count == 1 {
        if let Err(error) = tx.upsert(Entity::new(id.clone())) {
            tracing::warn!(%id, %error, "skipping a reference the topology refuses");
        }
    }
}

fn release_ref(tx: &mut Transaction<'_>, derived: &mut Derived, id: &EntityId) {
    if let Some(count) = derived.ref_counts.get_mut(id) {
        *count -= 1;
        if *count == 0 {
            derived.ref_counts.remove(id);
            tx.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::{Kind, Labels, RelationKind};

    fn pod(ns: &str, name: &str) -> Object {
        let mut e = Entity::new(EntityId::new("c", Kind::Pod, ns, name));
        e.uid = format!("uid-{name}");
        e.labels = Labels::from_pairs([("app", "web")]);
        Object::Entity(Box::new(e))
    }

    fn service(name: &str) -> Object {
        let mut e = Entity::new(EntityId::new("c", Kind::Service, "ns", name));
        e.uid = format!("uid-{name}");
        if let Details::Service(s) = &mut e.details {
            s.selector = [("app".to_owned(), "web".to_owned())].into();
        }
        Object::Entity(Box::new(e))
    }

    fn source(feed: Feed) -> Source {
        Source { feed, namespace: None }
    }

    fn pods() -> Source {
        source(Feed::Kind(Kind::Pod))
    }

    fn up(source: &Source, event: Event) -> Update {
        Update::new(source.clone(), event)
    }

    fn names(owner: &Owner, kind: Kind) -> Vec<String> {
        owner.topology.read().entities().filter(|e| e.kind == kind).map(|e| e.id.to_string()).collect()
    }

    fn listed(source: &Source, objects: Vec<Object>) -> Vec<Update> {
        let mut out = vec![up(source, Event::InitStart)];
        out.extend(objects.into_iter().map(|o| up(source, Event::InitApply(o))));
        out.push(up(source, Event::InitDone));
        out
    }

    fn count(histogram: &Histogram) -> u64 {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("h", "h", histogram.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text.lines().find_map(|l| l.strip_prefix("h_count ")).unwrap().parse().unwrap()
    }

    #[test]
    fn lag_is_observed_for_what_a_published_diff_carries_and_only_then() {
        let (mut owner, outputs) = Owner::new(Topology::new(), [pods()]);
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a"), pod("ns", "b")]));
        // The two listed pods, not the list's start and end.
        assert_eq!(count(&outputs.lag.ingest), 2);
        assert_eq!(count(&outputs.lag.change_age), 0);
        let mut changed = pod("ns", "a");
        if let Object::Entity(e) = &mut changed {
            e.labels = Labels::from_pairs([("app", "api")]);
        }
        let mut update = up(&pods(), Event::Apply(changed));
        update.changed = Some(std::time::SystemTime::now());
        owner.apply_batch([update.clone()]);
        assert_eq!((count(&outputs.lag.ingest), count(&outputs.lag.change_age)), (3, 1));
        // The same again changes nothing: no diff, nothing to be late.
        owner.apply_batch([update]);
        assert_eq!((count(&outputs.lag.ingest), count(&outputs.lag.change_age)), (3, 1));
    }

    #[test]
    fn a_relist_removes_what_the_new_list_lacks() {
        let (mut owner, _outputs) = Owner::new(Topology::new(), [pods()]);
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a"), pod("ns", "b")]));
        // Watch missed b's deletion (410 Gone), then relisted: b must not linger as a ghost.
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a"), pod("ns", "c")]));
        assert_eq!(names(&owner, Kind::Pod), ["c/pod/ns/a", "c/pod/ns/c"]);
    }

    #[test]
    fn a_relist_of_one_namespace_leaves_the_others_alone() {
        let a = Source { feed: Feed::Kind(Kind::Pod), namespace: Some("a".into()) };
        let b = Source { feed: Feed::Kind(Kind::Pod), namespace: Some("b".into()) };
        let (mut owner, _outputs) = Owner::new(Topology::new(), [a.clone(), b.clone()]);
        owner.apply_batch(listed(&a, vec![pod("a", "x")]));
        owner.apply_batch(listed(&b, vec![pod("b", "y")]));
        owner.apply_batch(listed(&a, vec![]));
        assert_eq!(names(&owner, Kind::Pod), ["c/pod/b/y"]);
    }

    #[test]
    fn a_burst_is_one_diff_and_a_no_op_publishes_nothing() {
        let (mut owner, outputs) = Owner::new(Topology::new(), [pods()]);
        let mut diffs = outputs.diffs.subscribe();
        let diff = owner.apply_batch(listed(&pods(), vec![pod("ns", "a"), pod("ns", "b")])).unwrap();
        assert_eq!((diff.base_seq, diff.seq), (0, 1));
        let published = diffs.try_recv().unwrap();
        assert_eq!(published.diff, diff);
        let a = EntityId::new("c", Kind::Pod, "ns", "a");
        assert_eq!(published.ids, [a.clone(), EntityId::new("c", Kind::Pod, "ns", "b")]);
        assert_eq!((outputs.topology.read().len(), outputs.topology.read().seq()), (2, 1));
        // The same objects again change nothing: no diff, no new sequence number.
        assert!(owner.apply_batch([up(&pods(), Event::Apply(pod("ns", "a")))]).is_none());
        assert!(diffs.try_recv().is_err());
        assert_eq!(outputs.topology.read().seq(), 1);
        // A deletion is a change, named by the id the topology no longer holds.
        assert!(owner.apply_batch([up(&pods(), Event::Delete(a.clone()))]).is_some());
        assert_eq!(diffs.try_recv().unwrap().ids, [a]);
        assert_eq!(outputs.topology.read().len(), 1);
    }

    #[test]
    fn ready_waits_for_every_watcher_but_not_for_a_forbidden_one() {
        let services = source(Feed::Kind(Kind::Service));
        let (mut owner, outputs) = Owner::new(Topology::new(), [pods(), services.clone()]);
        assert!(!*outputs.ready.borrow());
        owner.apply_batch(listed(&services, vec![service("web")]));
        assert!(!*outputs.ready.borrow(), "pods have not listed yet");
        owner.apply_batch([up(&pods(), Event::Status(FeedStatus::Forbidden("pods is forbidden".into())))]);
        assert!(*outputs.ready.borrow());
        assert_eq!(outputs.status.borrow()[&pods()], FeedStatus::Forbidden("pods is forbidden".into()));
        assert_eq!(outputs.status.borrow()[&services], FeedStatus::Ready);
        assert_eq!(names(&owner, Kind::Service), ["c/service/ns/web"]);
    }

    #[test]
    fn a_watcher_that_failed_before_its_first_list_is_still_waited_for() {
        let (mut owner, outputs) = Owner::new(Topology::new(), [pods()]);
        owner.apply_batch([up(&pods(), Event::Status(FeedStatus::Error("connection refused".into())))]);
        assert!(!*outputs.ready.borrow());
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a")]));
        assert!(*outputs.ready.borrow());
        // A later failure keeps serving the last good picture: still ready.
        owner.apply_batch([up(&pods(), Event::Status(FeedStatus::Error("410 Gone".into())))]);
        assert!(*outputs.ready.borrow());
        assert_eq!(outputs.status.borrow()[&pods()], FeedStatus::Error("410 Gone".into()));
    }

    fn part(key: &str, service: &str, family: AddressFamily, ready: u32, not_ready: u32) -> Object {
        Object::Endpoints(Box::new(EndpointPart {
            key: EntityId::new("c", Kind::Service, "ns", key),
            service: EntityId::new("c", Kind::Service, "ns", service),
            family,
            counts: Endpoints { ready, not_ready },
        }))
    }

    #[test]
    fn endpoint_counts_fold_into_their_service_whichever_comes_first() {
        let services = source(Feed::Kind(Kind::Service));
        let endpoints = source(Feed::Endpoints);
        let id = EntityId::new("c", Kind::Service, "ns", "web");
        let counts = Endpoints { ready: 2, not_ready: 1 };
        let core = || part("web", "web", AddressFamily::Core, 2, 1);
        let (mut owner, _outputs) = Owner::new(Topology::new(), [services.clone(), endpoints.clone()]);
        owner.apply_batch([up(&endpoints, Event::Apply(core()))]);
        owner.apply_batch([up(&services, Event::Apply(service("web")))]);
        assert_eq!(owner.topology.read().get(&id).unwrap().service().unwrap().endpoints, Some(counts));
        owner.apply_batch([up(&endpoints, Event::Delete(id.clone()))]);
        assert_eq!(owner.topology.read().get(&id).unwrap().service().unwrap().endpoints, None);
        owner.apply_batch([up(&endpoints, Event::Apply(core()))]);
        assert_eq!(owner.topology.read().get(&id).unwrap().service().unwrap().endpoints, Some(counts));
        // A relist without it clears the counts, the service stays.
        owner.apply_batch(listed(&endpoints, vec![]));
        assert_eq!(owner.topology.read().get(&id).unwrap().service().unwrap().endpoints, None);
    }

    #[test]
    fn slices_add_up_per_service_and_a_dual_stack_service_counts_each_pod_once() {
        let services = source(Feed::Kind(Kind::Service));
        let endpoints = source(Feed::Endpoints);
        let (mut owner, _outputs) = Owner::new(Topology::new(), [services.clone(), endpoints.clone()]);
        owner.apply_batch([
            up(&services, Event::Apply(service("web"))),
            up(&services, Event::Apply(service("api"))),
        ]);
        let counts = |owner: &Owner, name: &str| {
            owner
                .topology
                .read()
                .get(&EntityId::new("c", Kind::Service, "ns", name))
                .unwrap()
                .service()
                .unwrap()
                .endpoints
        };
        let v4 = AddressFamily::Ipv4;
        owner.apply_batch(listed(
            &endpoints,
            vec![
                part("web-a", "web", v4, 100, 0),
                part("web-b", "web", v4, 3, 2),
                part("web-6", "web", AddressFamily::Ipv6, 103, 2),
                part("api-a", "api", v4, 0, 0),
            ],
        ));
        assert_eq!(counts(&owner, "web"), Some(Endpoints { ready: 103, not_ready: 2 }));
        // A slice with no endpoints says zero, which is not unknown.
        assert_eq!(counts(&owner, "api"), Some(Endpoints { ready: 0, not_ready: 0 }));
        // One slice changes, one goes: the rest still counts.
        owner.apply_batch([up(&endpoints, Event::Apply(part("web-b", "web", v4, 5, 0)))]);
        assert_eq!(counts(&owner, "web"), Some(Endpoints { ready: 105, not_ready: 0 }));
        owner.apply_batch([up(&endpoints, Event::Delete(EntityId::new("c", Kind::Service, "ns", "web-a")))]);
        assert_eq!(
            counts(&owner, "web"),
            Some(Endpoints { ready: 103, not_ready: 2 }),
            "the IPv6 slice now lists more"
        );
        // A slice relabelled to another service leaves the first one.
        owner.apply_batch([up(&endpoints, Event::Apply(part("web-6", "api", AddressFamily::Ipv6, 1, 0)))]);
        assert_eq!(counts(&owner, "web"), Some(Endpoints { ready: 5, not_ready: 0 }));
        assert_eq!(counts(&owner, "api"), Some(Endpoints { ready: 1, not_ready: 0 }));
        // A relist keeps exactly what it lists.
        owner.apply_batch(listed(&endpoints, vec![part("api-a", "api", v4, 2, 0)]));
        assert_eq!(counts(&owner, "web"), None);
        assert_eq!(counts(&owner, "api"), Some(Endpoints { ready: 2, not_ready: 0 }));
    }

    fn pod_mounting(name: &str, refs: &[(Kind, &str)]) -> Object {
        let Object::Entity(mut e) = pod("ns", name) else { unreachable!() };
        if let Details::Pod(p) = &mut e.details {
            p.mounts = refs.iter().map(|(kind, n)| topology::Ref::new(*kind, "ns", *n)).collect();
        }
        Object::Entity(e)
    }

    #[test]
    fn config_maps_and_secrets_exist_while_a_pod_reads_them() {
        let (mut owner, _outputs) = Owner::new(Topology::new(), [pods()]);
        let cfg = (Kind::ConfigMap, "cfg");
        let tls = (Kind::Secret, "tls");
        owner.apply_batch([
            up(&pods(), Event::Apply(pod_mounting("a", &[cfg, tls]))),
            up(&pods(), Event::Apply(pod_mounting("b", &[cfg]))),
        ]);
        assert_eq!(names(&owner, Kind::ConfigMap), ["c/configmap/ns/cfg"]);
        assert_eq!(names(&owner, Kind::Secret), ["c/secret/ns/tls"]);
        assert_eq!(owner.topology.read().relations().filter(|r| r.kind == RelationKind::Mounts).count(), 3);
        // a stops reading the secret: it goes; the config map stays while b reads it.
        owner.apply_batch([up(&pods(), Event::Apply(pod_mounting("a", &[cfg])))]);
        assert!(names(&owner, Kind::Secret).is_empty());
        owner.apply_batch([up(&pods(), Event::Delete(EntityId::new("c", Kind::Pod, "ns", "a")))]);
        assert_eq!(names(&owner, Kind::ConfigMap), ["c/configmap/ns/cfg"]);
        // A relist without b: no ghost pod, no ghost reference.
        owner.apply_batch(listed(&pods(), vec![]));
        assert!(names(&owner, Kind::ConfigMap).is_empty());
        assert!(owner.topology.read().is_empty());
    }

    #[test]
    fn a_service_selects_the_pods_the_owner_holds() {
        let (mut owner, _outputs) = Owner::new(Topology::new(), [pods()]);
        owner.apply_batch([
            up(&source(Feed::Kind(Kind::Service)), Event::Apply(service("web"))),
            up(&pods(), Event::Apply(pod("ns", "a"))),
        ]);
        assert_eq!(owner.topology.read().relations().filter(|r| r.kind == RelationKind::Selects).count(), 1);
    }

    fn usage(cpu: u64, mib: u64) -> topology::entity::Usage {
        topology::entity::Usage { cpu_millis: cpu, memory_bytes: mib << 20 }
    }

    fn metrics() -> Source {
        source(Feed::Metrics)
    }

    #[test]
    fn usage_is_published_when_it_moves_and_survives_a_new_pod_status() {
        let (mut owner, _outputs) = Owner::new(Topology::new(), [pods(), metrics()]);
        let id = EntityId::new("c", Kind::Pod, "ns", "a");
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a")]));
        let diff = owner.apply_batch([up(&metrics(), Event::Usage(vec![(id.clone(), usage(100, 64))]))]);
        assert_eq!(diff.unwrap().ops.len(), 1);
        assert_eq!(owner.topology.read().get(&id).unwrap().usage, Some(usage(100, 64)));
        // Jitter: no diff.
        assert!(owner
            .apply_batch([up(&metrics(), Event::Usage(vec![(id.clone(), usage(103, 65))]))])
            .is_none());
        // The pod watcher re-projects the pod (which knows no usage): the usage stays.
        let Object::Entity(mut changed) = pod("ns", "a") else { unreachable!() };
        changed.labels = Labels::from_pairs([("app", "web"), ("v", "2")]);
        owner.apply_batch([up(&pods(), Event::Apply(Object::Entity(changed)))]);
        assert_eq!(owner.topology.read().get(&id).unwrap().usage, Some(usage(100, 64)));
        // A real change is published; a poll without the pod clears it.
        owner.apply_batch([up(&metrics(), Event::Usage(vec![(id.clone(), usage(300, 64))]))]);
        assert_eq!(owner.topology.read().get(&id).unwrap().usage, Some(usage(300, 64)));
        owner.apply_batch([up(&metrics(), Event::Usage(vec![]))]);
        assert_eq!(owner.topology.read().get(&id).unwrap().usage, None);
    }

    #[test]
    fn usage_that_arrives_before_its_pod_is_applied_when_the_pod_comes() {
        let (mut owner, _outputs) = Owner::new(Topology::new(), [pods(), metrics()]);
        let id = EntityId::new("c", Kind::Pod, "ns", "a");
        owner.apply_batch([up(&metrics(), Event::Usage(vec![(id.clone(), usage(50, 10))]))]);
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a")]));
        assert_eq!(owner.topology.read().get(&id).unwrap().usage, Some(usage(50, 10)));
    }

    #[test]
    fn readiness_never_waits_for_metrics() {
        let (mut owner, outputs) = Owner::new(Topology::new(), [pods(), metrics()]);
        owner.apply_batch([up(
            &metrics(),
            Event::Status(FeedStatus::Error("503 Service Unavailable".into())),
        )]);
        assert!(!*outputs.ready.borrow());
        owner.apply_batch(listed(&pods(), vec![pod("ns", "a")]));
        assert!(*outputs.ready.borrow(), "metrics failing must not hold readiness");
        assert_eq!(outputs.status.borrow()[&metrics()], FeedStatus::Error("503 Service Unavailable".into()));
        assert_eq!(owner.topology.read().len(), 1);
    }

    #[tokio::test]
    async fn the_owner_task_drains_its_channel_and_stops_when_the_watchers_are_gone() {
        let (owner, outputs) = Owner::new(Topology::new(), [pods()]);
        let (tx, rx) = mpsc::channel(16);
        for update in listed(&pods(), vec![pod("ns", "a"), pod("ns", "b")]) {
            tx.send(update).await.unwrap();
        }
        drop(tx);
        owner.run(rx).await;
        assert_eq!(outputs.topology.read().len(), 2);
        assert_eq!(outputs.topology.read().seq(), 1, "one burst, one diff");
        assert!(*outputs.ready.borrow());
    }
}
