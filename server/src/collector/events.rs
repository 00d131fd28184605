//! Recent Kubernetes Events: a core/v1 `events` watcher per source and the bounded log it fills.
//!
//! Events are a log, not topology (see [`topology::event`]), so they do not go through the owner task: each
//! events watcher projects what it receives with [`event_to_record`] and writes it into the shared [`EventLog`]
//! itself, and tells the owner only about its status (listed, forbidden, failing) so readiness and the
//! collector notices treat it like every other feed. The log keeps the newest [`EVENT_CAPACITY`] events,
//! deduplicated by the event's uid (a repeated event is one record whose `count` grows), and bumps a version
//! that the hub can wait on.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Event as K8sEvent;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};
use topology::event::{truncate, EventRecord, EventType, MAX_MESSAGE, MAX_REASON};
use topology::{EntityId, Kind};

use super::{Event, FeedStatus, Source, Update};

/// How many events the log keeps (the newest by last occurrence).
pub const EVENT_CAPACITY: usize = 1000;

/// Projects one core/v1 Event: its uid (the log's key) and the record. `None` when it has no uid.
///
/// The involved object is resolved to an [`EntityId`] when its kind is one the map shows; the times fall back
/// from `firstTimestamp`/`lastTimestamp` to `eventTime` and `series` (events written through
/// `events.k8s.io/v1` fill only those) and to the creation time.
pub fn event_to_record(cluster: &str, event: &K8sEvent) -> Option<(String, EventRecord)> {
    let uid = event.metadata.uid.clone().filter(|u| !u.is_empty())?;
    let namespace = event.metadata.namespace.clone().unwrap_or_default();
    let involved = involved_id(cluster, &event.involved_object, &namespace);
    let created = event.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second());
    let event_time = event.event_time.as_ref().map(|t| t.0.as_second());
    let series = event.series.as_ref();
    let first_seen = event.first_timestamp.as_ref().map(|t| t.0.as_second()).or(event_time).or(created);
    let last_seen = event
        .last_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .or_else(|| series.and_then(|s| s.last_observed_time.as_ref()).map(|t| t.0.as_second()))
        .or(first_seen)
        .unwrap_or(0);
    let count = event.count.or_else(|| series.and_then(|s| s.count)).unwrap_or(1);
    let record = EventRecord {
        namespace,
        involved,
        reason: truncate(event.reason.as_deref().unwrap_or_default(), MAX_REASON),
        message: truncate(event.message.as_deref().unwrap_or_default().trim_end(), MAX_MESSAGE),
        kind: EventType::from_k8s(event.type_.as_deref()),
        count: u32::try_from(count).unwrap_or(0).max(1),
        first_seen: first_seen.unwrap_or(last_seen).min(last_seen),
        last_seen,
    };
    Some((uid, record))
}

/// The entity an event is about, when the map has that kind.
fn involved_id(
    cluster: &str,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    event_namespace: &str,
) -> Option<EntityId> {
    let kind = match object.kind.as_deref()? {
        "Pod" => Kind::Pod,
        "Node" => Kind::Node,
        "Namespace" => Kind::Namespace,
        "Deployment" => Kind::Deployment,
        "ReplicaSet" => Kind::ReplicaSet,
        "StatefulSet" => Kind::StatefulSet,
        "DaemonSet" => Kind::DaemonSet,
        "Job" => Kind::Job,
        "CronJob" => Kind::CronJob,
        "Service" => Kind::Service,
        "Ingress" => Kind::Ingress,
        "PersistentVolumeClaim" => Kind::PersistentVolumeClaim,
        "HorizontalPodAutoscaler" => Kind::HorizontalPodAutoscaler,
        "ConfigMap" => Kind::ConfigMap,
        _ => return None, // secrets included: an event never names one on the map
    };
    let name = object.name.as_deref().filter(|n| !n.is_empty())?;
    let id = if kind.is_namespaced() {
        let ns = object.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(event_namespace);
        EntityId::new(cluster, kind, ns, name)
    } else {
        EntityId::cluster_scoped(cluster, kind, name)
    };
    id.validate().ok().map(|()| id)
}

/// The bounded log of recent events. Cheap to clone: clones share the log.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Log>>,
    version: watch::Sender<u64>,
}

struct Log {
    capacity: usize,
    /// uid → (order key, record).
    by_uid: HashMap<String, ((i64, u64), EventRecord)>,
    /// (last seen, arrival) → uid, oldest first.
    order: BTreeSet<((i64, u64), String)>,
    arrivals: u64,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").field("len", &self.lock().by_uid.len()).finish_non_exhaustive()
    }
}

impl EventLog {
    /// An empty log keeping at most `capacity` events.
    pub fn new(capacity: usize) -> EventLog {
        let log = Log { capacity, by_uid: HashMap::new(), order: BTreeSet::new(), arrivals: 0 };
        EventLog { inner: Arc::new(Mutex::new(log)), version: watch::channel(0).0 }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while holding the lock leaves a consistent log (every method finishes its edits before it can
        // panic), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest events first (by last occurrence), at most `limit`, those `filter` keeps.
    pub fn recent(&self, limit: usize, filter: impl Fn(&EventRecord) -> bool) -> Vec<EventRecord> {
        let log = self.lock();
        log.order
            .iter()
            .rev()
            .filter_map(|(_, uid)| log.by_uid.get(uid).map(|(_, r)| r))
            .filter(|r| filter(r))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The newest events of these namespaces (all namespaces when empty).
    #[allow(dead_code)] // for the hub's event stream
    pub fn in_namespaces(&self, limit: usize, namespaces: &[String]) -> Vec<EventRecord> {
        self.recent(limit, |r| namespaces.is_empty() || namespaces.contains(&r.namespace))
    }

    /// The newest events about one entity.
    #[allow(dead_code)] // for the hub's inspector
    pub fn about(&self, limit: usize, id: &EntityId) -> Vec<EventRecord> {
        self.recent(limit, |r| r.involved.as_ref() == Some(id))
    }

    /// How many events it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_uid.len()
    }

    /// A receiver whose value grows whenever the log changes: the hub waits on `changed()` to push new events.
    #[allow(dead_code)] // for the hub (its tests use it already)
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Adds or replaces the event with this uid. Returns whether anything changed.
    pub fn upsert(&self, uid: String, record: EventRecord) -> bool {
        let changed = {
            let mut log = self.lock();
            log.upsert(uid, record)
        };
        if changed {
            self.bump();
        }
        changed
    }

    /// Removes the event with this uid (deleted from the API: expired).
    pub fn remove(&self, uid: &str) -> bool {
        let changed = self.lock().remove(uid);
        if changed {
            self.bump();
        }
        changed
    }

    /// Ends a relist of the events `in_scope` selects: those not in `seen` are gone.
    pub fn retain_listed(&self, in_scope: impl Fn(&EventRecord) -> bool, seen: &HashSet<String>) {
        let changed = {
            let mut log = self.lock();
            let gone: Vec<String> = log
                .by_uid
                .iter()
                .filter(|(uid, (_, r))| in_scope(r) && !seen.contains(*uid))
                .map(|(uid, _)| uid.clone())
                .collect();
            for uid in &gone {
                log.remove(uid);
            }
            !gone.is_empty()
        };
        if changed {
            self.bump();
        }
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }
}

impl Log {
    fn upsert(&mut self, uid: String, record: EventRecord) -> bool {
        if let Some((key, old)) = self.by_uid.get(&uid) {
            if *old == record {
                return false;
            }
            let key = *key;
            self.order.remove(&(key, uid.clone()));
        }
        self.arrivals += 1;
        let key = (record.last_seen, self.arrivals);
        self.order.insert((key, uid.clone()));
        self.by_uid.insert(uid, (key, record));
        while self.by_uid.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.by_uid.remove(&oldest);
        }
        true
    }

    fn remove(&mut self, uid: &str) -> bool {
        match self.by_uid.remove(uid) {
            Some((key, _)) => {
                self.order.remove(&(key, uid.to_owned()));
                true
            }
            None => false,
        }
    }
}

/// The events watcher of one source: fills `log`, reports its status to the owner, runs until the owner is
/// gone.
pub async fn task(
    client: Client,
    cluster: Arc<str>,
    source: Source,
    log: EventLog,
    tx: mpsc::Sender<Update>,
) {
    let api: Api<K8sEvent> = match &source.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let in_scope = |r: &EventRecord| source.namespace.as_deref().is_none_or(|ns| r.namespace == ns);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut last_status = FeedStatus::Syncing;
    let mut relisting: Option<HashSet<String>> = None;
    while let Some(item) = stream.next().await {
        let status = match item {
            Ok(watcher::Event::Apply(event)) => {
                if let Some((uid, record)) = event_to_record(&cluster, &event) {
                    log.upsert(uid, record);
                }
                continue;
            }
            Ok(watcher::Event::Delete(event)) => {
                if let Some(uid) = event.metadata.uid.as_deref() {
                    log.remove(uid);
                }
                continue;
            }
            Ok(watcher::Event::Init) => {
                relisting = Some(HashSet::new());
                continue;
            }
            Ok(watcher::Event::InitApply(event)) => {
                if let Some((uid, record)) = event_to_record(&cluster, &event) {
                    if let Some(seen) = relisting.as_mut() {
                        seen.insert(uid.clone());
                    }
                    log.upsert(uid, record);
                }
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                log.retain_listed(in_scope, &relisting.take().unwrap_or_default());
                if last_status != FeedStatus::Ready {
                    tracing::info!(%source, "listed; watching");
                }
                last_status = FeedStatus::Ready;
                Event::InitDone
            }
            Err(error) => {
                let status = super::watch::classify(&error);
                if status == last_status {
                    continue;
                }
                tracing::warn!(%source, %error, "watch failed; retrying with backoff");
                if matches!(status, FeedStatus::Forbidden(_) | FeedStatus::Missing) {
                    // What we had can no longer be kept up to date.
                    log.retain_listed(in_scope, &HashSet::new());
                }
                last_status = status.clone();
                Event::Status(status)
            }
        };
        if tx.send(Update::new(source.clone(), status)).await.is_err() {
            return; // the owner is gone: shutting down
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use serde_json::json;

    fn k8s_event(value: serde_json::Value) -> K8sEvent {
        serde_json::from_value(value).unwrap()
    }

    fn record(ns: &str, reason: &str, last_seen: i64) -> EventRecord {
        EventRecord {
            namespace: ns.into(),
            involved: None,
            reason: reason.into(),
            message: String::new(),
            kind: EventType::Normal,
            count: 1,
            first_seen: last_seen,
            last_seen,
        }
    }

    #[test]
    fn a_kubelet_back_off_becomes_a_warning_about_its_pod() {
        let event = k8s_event(json!({
            "metadata": {"name": "web-1.17a", "namespace": "shop", "uid": "e1",
                         "annotations": {"secret": "hunter2"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "p1",
                               "fieldPath": "spec.containers{web}"},
            "reason": "BackOff", "message": "Back-off restarting failed container web in pod web-1\n",
            "type": "Warning", "count": 7,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z",
            "source": {"component": "kubelet", "host": "node-1"}, "reportingInstance": "node-1"
        }));
        let (uid, r) = event_to_record("c", &event).unwrap();
        assert_eq!(uid, "e1");
        assert_eq!(
            r,
            EventRecord {
                namespace: "shop".into(),
                involved: Some(EntityId::new("c", Kind::Pod, "shop", "web-1")),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container web in pod web-1".into(),
                kind: EventType::Warning,
                count: 7,
                first_seen: 1_767_225_600,
                last_seen: 1_767_225_900,
            }
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("hunter2") && !json.contains("node-1"), "{json}");
    }

    #[test]
    fn an_events_k8s_io_event_takes_its_times_and_count_from_the_series() {
        let event = k8s_event(json!({
            "metadata": {"name": "n.1", "namespace": "default", "uid": "e2"},
            "involvedObject": {"kind": "Node", "name": "node-1"},
            "reason": "NodeNotReady", "type": "Normal",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}
        }));
        let (_, r) = event_to_record("c", &event).unwrap();
        assert_eq!(r.involved, Some(EntityId::cluster_scoped("c", Kind::Node, "node-1")));
        assert_eq!((r.count, r.first_seen, r.last_seen), (3, 1_767_225_600, 1_767_225_660));
    }

    #[test]
    fn objects_the_map_does_not_show_and_secrets_are_not_resolved() {
        let reference = |kind: &str| ObjectReference {
            kind: Some(kind.into()),
            name: Some("x".into()),
            namespace: Some("ns".into()),
            ..ObjectReference::default()
        };
        assert_eq!(involved_id("c", &reference("Lease"), "ns"), None);
        assert_eq!(involved_id("c", &reference("Secret"), "ns"), None);
        assert_eq!(
            involved_id("c", &reference("ReplicaSet"), "ns"),
            Some(EntityId::new("c", Kind::ReplicaSet, "ns", "x"))
        );
        let unnamed = ObjectReference { kind: Some("Pod".into()), ..ObjectReference::default() };
        assert_eq!(involved_id("c", &unnamed, "ns"), None);
        // No uid: nothing to deduplicate by, skipped.
        assert!(event_to_record("c", &k8s_event(json!({"metadata": {"name": "a"}, "involvedObject": {}})))
            .is_none());
    }

    #[test]
    fn a_huge_message_is_cut() {
        let event = k8s_event(json!({
            "metadata": {"name": "a", "namespace": "ns", "uid": "u"}, "involvedObject": {},
            "message": "x".repeat(100_000)
        }));
        let (_, r) = event_to_record("c", &event).unwrap();
        assert!(r.message.len() <= MAX_MESSAGE && r.message.ends_with('…'));
        assert_eq!(r.count, 1);
    }

    #[test]
    fn the_log_is_newest_first_deduplicated_and_bounded() {
        let log = EventLog::new(3);
        let version = log.subscribe();
        assert!(log.upsert("a".into(), record("x", "A", 10)));
        assert!(log.upsert("b".into(), record("y", "B", 30)));
        assert!(log.upsert("c".into(), record("x", "C", 20)));
        // The same event again changes nothing; a repeat (count, last seen) replaces it.
        assert!(!log.upsert("a".into(), record("x", "A", 10)));
        let mut again = record("x", "A", 40);
        again.count = 2;
        assert!(log.upsert("a".into(), again));
        let reasons = |v: Vec<EventRecord>| v.into_iter().map(|r| r.reason).collect::<Vec<_>>();
        assert_eq!(reasons(log.recent(10, |_| true)), ["A", "B", "C"]);
        assert_eq!(log.recent(10, |_| true)[0].count, 2);
        // A fourth evicts the oldest by last occurrence (C at 20).
        assert!(log.upsert("d".into(), record("y", "D", 50)));
        assert_eq!(reasons(log.recent(10, |_| true)), ["D", "A", "B"]);
        assert_eq!(reasons(log.recent(2, |_| true)), ["D", "A"]);
        assert_eq!(reasons(log.in_namespaces(10, &["x".into()])), ["A"]);
        assert_eq!(*version.borrow(), 5);
    }

    #[test]
    fn events_are_found_by_the_entity_they_are_about() {
        let log = EventLog::new(10);
        let pod = EntityId::new("c", Kind::Pod, "ns", "web-1");
        let mut about_pod = record("ns", "Started", 5);
        about_pod.involved = Some(pod.clone());
        log.upsert("1".into(), about_pod);
        log.upsert("2".into(), record("ns", "Other", 6));
        assert_eq!(log.about(10, &pod).len(), 1);
        assert_eq!(log.about(10, &pod)[0].reason, "Started");
    }

    #[test]
    fn a_relist_drops_what_it_lacks_in_its_own_namespace_only() {
        let log = EventLog::new(10);
        log.upsert("a".into(), record("x", "A", 1));
        log.upsert("b".into(), record("x", "B", 2));
        log.upsert("c".into(), record("y", "C", 3));
        log.retain_listed(|r| r.namespace == "x", &HashSet::from(["b".to_owned()]));
        let left: Vec<String> = log.recent(10, |_| true).into_iter().map(|r| r.reason).collect();
        assert_eq!(left, ["C", "B"]);
        assert!(log.remove("c"));
        assert!(!log.remove("c"));
        assert_eq!(log.len(), 1);
    }
}
