//! Watchers: one kube-runtime pipeline per kind (per namespace with an allowlist), projected at once.
//!
//! Each pipeline is `watcher(api, Config::default()).default_backoff()`; every object is turned into a compact
//! entity by [`super::project`] the moment it arrives and the full object is dropped, so no reflector store of
//! Kubernetes objects exists (this also strips `managedFields`, annotations and env values: the projections
//! never copy them). Events keep kube-runtime's shape (`Init`/`InitApply`/`InitDone`) so the owner can replace
//! a kind's entities wholesale after a relist (e.g. a 410 after an apiserver restart).
//!
//! **Discovery and fallbacks.** Before starting, the group versions we speak are asked for their resources
//! (`/api/v1`, `/apis/<group>/<version>`): a kind the server lacks is reported [`FeedStatus::Missing`] and not
//! watched. A feed tries its versions in order and watches the first one served:
//! - endpoint counts from `discovery.k8s.io/v1` `EndpointSlice`s, then `v1beta1` (1.17–1.20, read as a
//!   `DynamicObject`: k8s-openapi has no `v1beta1` types, and the fields we read kept their shape), then core
//!   `v1` `Endpoints` (deprecated since 1.33, but the only choice on servers without slices). Slices are the
//!   source of truth on current servers: core `Endpoints` stop at 1000 addresses, and the mirroring of slices
//!   into them is going away;
//! - `batch/v1` `CronJob`, falling back to `batch/v1beta1` (servers before 1.21), read the same way;
//! - `autoscaling/v1` HPAs (served everywhere; `v2` adds metric details the model does not carry).
//!
//! A 403 becomes [`FeedStatus::Forbidden`] for that watcher alone; it keeps retrying with backoff (RBAC may be
//! granted later), and the other watchers are unaffected. Secrets are never requested.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use topology::Kind;

use super::{project, Event, Feed, FeedStatus, Object, Source, Update};

/// Every feed the collector can run, with the group version and resource name discovery checks.
/// Secrets are not in it, and never will be: the collector neither needs nor wants their data.
pub const FEEDS: [(Feed, &str, &str); 15] = [
    (Feed::Kind(Kind::Namespace), "v1", "namespaces"),
    (Feed::Kind(Kind::Node), "v1", "nodes"),
    (Feed::Kind(Kind::Pod), "v1", "pods"),
    (Feed::Kind(Kind::Service), "v1", "services"),
    (Feed::Endpoints, "discovery.k8s.io/v1", "endpointslices"),
    (Feed::Events, "v1", "events"),
    (Feed::Kind(Kind::PersistentVolumeClaim), "v1", "persistentvolumeclaims"),
    (Feed::Kind(Kind::Deployment), "apps/v1", "deployments"),
    (Feed::Kind(Kind::ReplicaSet), "apps/v1", "replicasets"),
    (Feed::Kind(Kind::StatefulSet), "apps/v1", "statefulsets"),
    (Feed::Kind(Kind::DaemonSet), "apps/v1", "daemonsets"),
    (Feed::Kind(Kind::Job), "batch/v1", "jobs"),
    (Feed::Kind(Kind::CronJob), "batch/v1", "cronjobs"),
    (Feed::Kind(Kind::Ingress), "networking.k8s.io/v1", "ingresses"),
    (Feed::Kind(Kind::HorizontalPodAutoscaler), "autoscaling/v1", "horizontalpodautoscalers"),
];

/// What a feed falls back to, in order, when its version in [`FEEDS`] is not served: `v1beta1` endpoint slices
/// and cron jobs (servers before 1.21), read as dynamic objects because k8s-openapi has no `v1beta1` types (their
/// JSON has the same shape for every field the projections read), and last the core `Endpoints`.
pub const FALLBACKS: [(Feed, &str, &str); 3] = [
    (Feed::Endpoints, "discovery.k8s.io/v1beta1", "endpointslices"),
    (Feed::Endpoints, "v1", "endpoints"),
    (Feed::Kind(Kind::CronJob), "batch/v1beta1", "cronjobs"),
];

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The server did not answer discovery of the core API: unreachable, wrong CA, bad credentials.
    #[error("cannot reach the API server")]
    Unreachable(#[source] kube::Error),
}

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// Kinds not to watch.
    pub skip: BTreeSet<Kind>,
    /// Ask for initial lists as streaming watches (falling back to paged lists where refused).
    pub streaming_lists: bool,
}

/// The watchers to run and the feeds the server does not serve.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One per watcher.
    pub sources: Vec<Source>,
    /// Feeds the server lacks (reported as missing).
    pub missing: Vec<Source>,
    /// Feeds served only in one of their [`FALLBACKS`]: the group version watched.
    pub fallbacks: BTreeMap<Feed, &'static str>,
}

/// Asks the server which of [`FEEDS`] it serves and plans one watcher per feed (and namespace).
///
/// # Errors
/// [`WatchError::Unreachable`] when even the core API cannot be discovered.
pub async fn plan(client: &Client, selection: &Selection) -> Result<Plan, WatchError> {
    let core = client.list_core_api_resources("v1").await.map_err(WatchError::Unreachable)?;
    let mut served: HashSet<(String, String)> =
        core.resources.into_iter().map(|r| ("v1".to_owned(), r.name)).collect();
    let groups: BTreeSet<&str> =
        FEEDS.iter().chain(&FALLBACKS).map(|(_, gv, _)| *gv).filter(|gv| *gv != "v1").collect();
    for gv in groups {
        match client.list_api_group_resources(gv).await {
            Ok(list) => served.extend(list.resources.into_iter().map(|r| (gv.to_owned(), r.name))),
            Err(error) => tracing::info!(group = gv, %error, "group version not served"),
        }
    }
    let mut plan = Plan::default();
    for (feed, gv, resource) in FEEDS {
        if plan_skips(feed, selection) {
            continue;
        }
        let namespaced = feed == Feed::Events || feed_kind(feed).is_namespaced();
        let sources: Vec<Source> = if namespaced && !selection.namespaces.is_empty() {
            selection.namespaces.iter().map(|ns| Source { feed, namespace: Some(ns.clone()) }).collect()
        } else {
            vec![Source { feed, namespace: None }]
        };
        let fallback = FALLBACKS.iter().find(|(f, gv, resource)| {
            *f == feed && served.contains(&((*gv).to_owned(), (*resource).to_owned()))
        });
        if served.contains(&(gv.to_owned(), resource.to_owned())) {
            plan.sources.extend(sources);
        } else if let Some((_, old, resource)) = fallback {
            tracing::info!(%feed, group_version = old, resource, "not served in its first version: watching this");
            plan.fallbacks.insert(feed, old);
            plan.sources.extend(sources);
        } else {
            tracing::warn!(%feed, group_version = gv, "not served by this API server: skipped");
            plan.missing.extend(sources);
        }
    }
    Ok(plan)
}

/// The entity kind a feed produces or updates (events are about any kind: none of them).
fn feed_kind(feed: Feed) -> Kind {
    match feed {
        Feed::Kind(kind) => kind,
        Feed::Endpoints => Kind::Service,
        // Only used for skipping and scope: events are namespaced, and skipping pods must not skip them.
        Feed::Events | Feed::Metrics => Kind::Cluster,
    }
}

/// Whether the plan leaves a feed out: skipped by the user (`--skip-kinds services` also skips endpoints),
/// or a secret, which is never requested.
fn plan_skips(feed: Feed, selection: &Selection) -> bool {
    let kind = feed_kind(feed);
    kind == Kind::Secret || selection.skip.contains(&kind)
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How one watcher runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Watch this [`FALLBACKS`] version of the feed instead of its first one.
    pub fallback: Option<&'static str>,
    /// Ask for the initial list as a streaming watch.
    pub streaming_lists: bool,
}

/// The watcher task for one source: runs until the owner is gone.
pub fn task(
    client: Client,
    cluster: &Arc<str>,
    source: Source,
    options: Options,
    allow: Arc<[String]>,
    tx: mpsc::Sender<Update>,
) -> Task {
    let Options { fallback, streaming_lists } = options;
    macro_rules! feed {
        ($ty:ty, $project:path) => {{
            let c = Arc::clone(cluster);
            Box::pin(run::<$ty>(api(&client, &source), source, streaming_lists, tx, move |o| {
                $project(&c, o).map(|e| Object::Entity(Box::new(e)))
            }))
        }};
    }
    macro_rules! cluster_feed {
        ($ty:ty, $project:path) => {{
            let c = Arc::clone(cluster);
            Box::pin(run::<$ty>(Api::all(client), source, streaming_lists, tx, move |o| {
                $project(&c, o).map(|e| Object::Entity(Box::new(e)))
            }))
        }};
    }
    match source.feed {
        Feed::Kind(Kind::Namespace) => {
            let c = Arc::clone(cluster);
            Box::pin(run::<Namespace>(Api::all(client), source, streaming_lists, tx, move |o| {
                let e = project::namespace_to_entity(&c, o)?;
                (allow.is_empty() || allow.iter().any(|ns| ns == e.name()))
                    .then(|| Object::Entity(Box::new(e)))
            }))
        }
        Feed::Kind(Kind::Node) => cluster_feed!(Node, project::node_to_entity),
        Feed::Kind(Kind::Pod) => feed!(Pod, project::pod_to_entity),
        Feed::Kind(Kind::Service) => feed!(Service, project::service_to_entity),
        Feed::Endpoints if fallback == Some("v1") => {
            let c = Arc::clone(cluster);
            Box::pin(run::<Endpoints>(api(&client, &source), source, streaming_lists, tx, move |o| {
                project::endpoints_part(&c, o).map(|p| Object::Endpoints(Box::new(p)))
            }))
        }
        Feed::Endpoints if fallback.is_some() => {
            let c = Arc::clone(cluster);
            let api =
                dynamic(client, &source, ("discovery.k8s.io", "v1beta1", "EndpointSlice", "endpointslices"));
            Box::pin(run::<DynamicObject>(api, source, streaming_lists, tx, move |o| {
                project::endpoint_slice_v1beta1_part(&c, o).map(|p| Object::Endpoints(Box::new(p)))
            }))
        }
        Feed::Endpoints => {
            let c = Arc::clone(cluster);
            Box::pin(run::<EndpointSlice>(api(&client, &source), source, streaming_lists, tx, move |o| {
                project::endpoint_slice_part(&c, o).map(|p| Object::Endpoints(Box::new(p)))
            }))
        }
        Feed::Kind(Kind::PersistentVolumeClaim) => feed!(PersistentVolumeClaim, project::pvc_to_entity),
        Feed::Kind(Kind::Deployment) => feed!(Deployment, project::deployment_to_entity),
        Feed::Kind(Kind::ReplicaSet) => feed!(ReplicaSet, project::replicaset_to_entity),
        Feed::Kind(Kind::StatefulSet) => feed!(StatefulSet, project::statefulset_to_entity),
        Feed::Kind(Kind::DaemonSet) => feed!(DaemonSet, project::daemonset_to_entity),
        Feed::Kind(Kind::Job) => feed!(Job, project::job_to_entity),
        Feed::Kind(Kind::CronJob) if fallback.is_some() => {
            let c = Arc::clone(cluster);
            let api = dynamic(client, &source, ("batch", "v1beta1", "CronJob", "cronjobs"));
            Box::pin(run::<DynamicObject>(api, source, streaming_lists, tx, move |o| {
                project::cronjob_v1beta1_to_entity(&c, o).map(|e| Object::Entity(Box::new(e)))
            }))
        }
        Feed::Kind(Kind::CronJob) => feed!(CronJob, project::cronjob_to_entity),
        Feed::Kind(Kind::Ingress) => feed!(Ingress, project::ingress_to_entity),
        Feed::Kind(Kind::HorizontalPodAutoscaler) => feed!(HorizontalPodAutoscaler, project::hpa_to_entity),
        // Events are run by `super::events::task` (they fill a log, not the topology).
        // Metrics are polled by `super::metrics::task`.
        Feed::Events | Feed::Metrics | Feed::Kind(Kind::Cluster | Kind::ConfigMap | Kind::Secret) => {
            Box::pin(async {})
        }
    }
}

/// A dynamic API for a version k8s-openapi has no types for: (group, version, kind, plural).
fn dynamic(
    client: Client,
    source: &Source,
    (group, version, kind, plural): (&str, &str, &str, &str),
) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match &source.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    }
}

fn api<K>(client: &Client, source: &Source) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match &source.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs one watcher: projects every event, sends it to the owner, reports status changes once each. With
/// `streaming` it asks for streaming lists until the server refuses them once, then lists as usual.
async fn run<K>(
    api: Api<K>,
    source: Source,
    mut streaming: bool,
    tx: mpsc::Sender<Update>,
    project: impl Fn(&K) -> Option<Object>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut last_status = FeedStatus::Syncing;
    loop {
        let config =
            if streaming { watcher::Config::default().streaming_lists() } else { watcher::Config::default() };
        let stream = watcher(api.clone(), config).default_backoff();
        let stream = std::pin::pin!(stream);
        match follow(stream, &source, &mut last_status, &tx, &project).await {
            Ended::Refused if streaming => {
                tracing::info!(%source, "streaming lists refused by the server; listing as usual");
                streaming = false;
            }
            Ended::Refused | Ended::Stopped => return,
        }
    }
}

/// Why [`follow`] returned.
enum Ended {
    /// The stream or the owner is gone.
    Stopped,
    /// The server refused a streaming list.
    Refused,
}

/// Whether a watcher error is the server refusing a streaming list: servers without the `WatchList` feature
/// (before 1.27, or with it off) answer a watch with `sendInitialEvents` and `resourceVersionMatch` 422
/// (Invalid) or, older still, 400.
fn refuses_streaming(error: &watcher::Error) -> bool {
    matches!(
        error,
        watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchError(status)
            if matches!(status.code, 400 | 422)
    )
}

async fn follow<K, S>(
    mut stream: Pin<&mut S>,
    source: &Source,
    last_status: &mut FeedStatus,
    tx: &mpsc::Sender<Update>,
    project: &impl Fn(&K) -> Option<Object>,
) -> Ended
where
    K: Resource,
    S: futures_util::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    while let Some(item) = stream.next().await {
        let received = std::time::Instant::now();
        let mut changed = None;
        let event = match item {
            Ok(watcher::Event::Apply(object)) => {
                changed = changed_at(object.meta(), std::time::SystemTime::now());
                project(&object).map(Event::Apply)
            }
            Ok(watcher::Event::Delete(object)) => {
                changed = changed_at(object.meta(), std::time::SystemTime::now());
                project(&object).map(|o| Event::Delete(o.id().clone()))
            }
            Ok(watcher::Event::Init) => Some(Event::InitStart),
            // A listed object's timestamps say when it last changed, not when we learned of it: no age.
            Ok(watcher::Event::InitApply(object)) => project(&object).map(Event::InitApply),
            Ok(watcher::Event::InitDone) => {
                if *last_status != FeedStatus::Ready {
                    tracing::info!(%source, "listed; watching");
                }
                *last_status = FeedStatus::Ready;
                Some(Event::InitDone)
            }
            Err(error) if refuses_streaming(&error) => return Ended::Refused,
            Err(error) => {
                let status = classify(&error);
                if status == *last_status {
                    None
                } else {
                    tracing::warn!(%source, %error, "watch failed; retrying with backoff");
                    *last_status = status.clone();
                    Some(Event::Status(status))
                }
            }
        };
        if let Some(event) = event {
            if tx.send(Update { source: source.clone(), event, received, changed }).await.is_err() {
                return Ended::Stopped; // the owner is gone: shutting down
            }
        }
    }
    Ended::Stopped
}

/// How far back a change time may lie and still be taken for the time of the change a watch event carries.
const CHANGE_HORIZON: std::time::Duration = std::time::Duration::from_secs(300);

/// When the change a watch event carries happened, by the object's metadata: the latest of its creation, its
/// deletion request, and the write times in `managedFields` (the API server stamps the manager that wrote, on
/// every create, update, patch and status update that changes the object, so on a real server that is the time
/// of the write itself). Only a *recent* latest time is used: an event can carry a change none of these
/// stamp (a kubelet-less simulator, a server with managed fields off, a label patch by a manager whose entry
/// did not change), and then the latest stamp is some older write, whose age says nothing about our lag.
/// Condition `lastTransitionTime`s are left out on purpose: they move only when a condition flips, which
/// the status write that carries the flip already stamps in `managedFields`. The times have one-second
/// resolution (RFC 3339 seconds), so the age is for seeing seconds-to-minutes delays upstream of the collector,
/// not milliseconds; a clock skew between the API server and us shows as a constant offset (clamped at 0).
pub fn changed_at(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    now: std::time::SystemTime,
) -> Option<std::time::SystemTime> {
    let managed = meta.managed_fields.iter().flatten().filter_map(|f| f.time.as_ref());
    let latest = meta
        .creation_timestamp
        .iter()
        .chain(meta.deletion_timestamp.iter())
        .chain(managed)
        .map(|t| t.0.as_millisecond())
        .max()?;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(latest).ok()?);
    match now.duration_since(at) {
        Ok(age) if age <= CHANGE_HORIZON => Some(at),
        Ok(_) => None,
        // Stamped in our future: the clocks disagree; count it as now.
        Err(_) => Some(now),
    }
}

/// What a watcher error means for the status: 403 forbidden, 404 missing, anything else an error.
pub fn classify(error: &watcher::Error) -> FeedStatus {
    let code = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status))
        | watcher::Error::WatchError(status) => Some((status.code, status.message.clone())),
        _ => None,
    };
    match code {
        Some((403, message)) => FeedStatus::Forbidden(message),
        Some((404, _)) => FeedStatus::Missing,
        _ => FeedStatus::Error(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, "Reason").with_code(code).boxed())
    }

    #[test]
    fn a_403_is_forbidden_a_404_missing_and_the_rest_an_error() {
        let forbidden = watcher::Error::InitialListFailed(api_error(403, "pods is forbidden"));
        assert_eq!(classify(&forbidden), FeedStatus::Forbidden("pods is forbidden".into()));
        let missing = watcher::Error::WatchStartFailed(api_error(404, "not found"));
        assert_eq!(classify(&missing), FeedStatus::Missing);
        let gone = watcher::Error::WatchError(
            Status::failure("too old resource version", "Expired").with_code(410).boxed(),
        );
        assert!(matches!(classify(&gone), FeedStatus::Error(_)));
        assert!(matches!(classify(&watcher::Error::NoResourceVersion), FeedStatus::Error(_)));
    }

    fn time(secs: i64) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(secs).unwrap(),
        )
    }

    #[test]
    fn a_change_is_dated_by_the_latest_recent_stamp_and_an_old_one_dates_nothing() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
        let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let now = at(10_000);
        let meta = ObjectMeta {
            creation_timestamp: Some(time(1_000)),
            managed_fields: Some(vec![
                ManagedFieldsEntry { time: Some(time(9_990)), ..ManagedFieldsEntry::default() },
                ManagedFieldsEntry { time: Some(time(9_000)), ..ManagedFieldsEntry::default() },
            ]),
            ..ObjectMeta::default()
        };
        assert_eq!(changed_at(&meta, now), Some(at(9_990)));
        // A label patch on an old pod with no managed fields: its creation says nothing about this change.
        let old = ObjectMeta { creation_timestamp: Some(time(1_000)), ..ObjectMeta::default() };
        assert_eq!(changed_at(&old, now), None);
        let deleted = ObjectMeta { deletion_timestamp: Some(time(9_999)), ..old };
        assert_eq!(changed_at(&deleted, now), Some(at(9_999)));
        // The server's clock ahead of ours: no negative age.
        let ahead = ObjectMeta { creation_timestamp: Some(time(10_005)), ..ObjectMeta::default() };
        assert_eq!(changed_at(&ahead, now), Some(now));
        assert_eq!(changed_at(&ObjectMeta::default(), now), None);
    }

    #[test]
    fn a_422_or_400_to_a_watch_start_refuses_streaming_lists_and_nothing_else_does() {
        let invalid = watcher::Error::WatchStartFailed(api_error(422, "resourceVersionMatch is forbidden"));
        assert!(refuses_streaming(&invalid));
        assert!(refuses_streaming(&watcher::Error::WatchStartFailed(api_error(400, "bad"))));
        assert!(!refuses_streaming(&watcher::Error::WatchStartFailed(api_error(403, "forbidden"))));
        assert!(!refuses_streaming(&watcher::Error::InitialListFailed(api_error(422, "list"))));
    }

    #[test]
    fn secrets_are_never_watched() {
        assert!(FEEDS
            .iter()
            .all(|(feed, _, resource)| *feed != Feed::Kind(Kind::Secret) && *resource != "secrets"));
        // And even a future table entry would be filtered out by the plan.
        assert!(plan_skips(Feed::Kind(Kind::Secret), &Selection::default()));
        assert!(plan_skips(
            Feed::Kind(Kind::Pod),
            &Selection { skip: [Kind::Pod].into(), ..Selection::default() }
        ));
        assert!(plan_skips(
            Feed::Endpoints,
            &Selection { skip: [Kind::Service].into(), ..Selection::default() }
        ));
        assert!(!plan_skips(Feed::Kind(Kind::Pod), &Selection::default()));
    }
}
