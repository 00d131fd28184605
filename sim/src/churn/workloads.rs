//! Deployments changing as their controller, the scheduler and `kubectl` change them: rolling updates (a new
//! replica set, pods replaced one by one, the old set scaled to zero, old sets pruned past
//! `revisionHistoryLimit`), a rollout to a missing image and its undo, scaling (within the autoscaler's range
//! when there is one), and a scale-up whose pod waits for a node.

use std::sync::Arc;

use serde_json::{json, Value};

use super::controllers::{controlled_by, ignore_gone, in_namespace, name, owner_ref, reconcile, uid};
use super::events::{record, Note};
use super::kubelet::{self, Identity, Placement, Start};
use super::scheduler::{self, create_pod, delete_pod, place};
use super::{Change, ChangeKind, Churn, Result, Work};
use crate::clock::rfc3339;
use crate::resource::{DEPLOYMENTS, HPAS, PODS, REPLICASETS};
use crate::select::Filter;
use crate::store::{Preconditions, Store, StoreError};

const REVISION: &str = "deployment.kubernetes.io/revision";

/// A replica set's or deployment's revision annotation as a number.
pub(crate) fn revision(object: &Value) -> i64 {
    object["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The next patch release of an image (`app:1.4.2` → `app:1.4.3`, `app:v0.9` → `app:v0.10`); `None` when its
/// tag is not a version (`redis:7.2-alpine` stays and is restarted instead).
pub(crate) fn next_image(image: &str) -> Option<String> {
    let (repo, tag) = image.rsplit_once(':').filter(|(repo, _)| !repo.ends_with('/'))?;
    let digits = tag.strip_prefix('v').unwrap_or(tag);
    let parts: Vec<&str> = digits.split('.').collect();
    if parts.len() < 2 || !parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let last: u64 = parts[parts.len() - 1].parse().ok()?;
    let prefix = if tag.starts_with('v') { "v" } else { "" };
    let head = parts[..parts.len() - 1].join(".");
    Some(format!("{repo}:{prefix}{head}.{}", last + 1))
}

/// The deployments, their replica sets and pods of one deployment.
struct Family {
    deploy: Arc<Value>,
    sets: Vec<Arc<Value>>,
    pods: Vec<Arc<Value>>,
}

impl Family {
    fn read(store: &Store, namespace: &str, deployment: &str) -> Result<Option<Family>> {
        let deploy = match store.get(DEPLOYMENTS, Some(namespace), deployment) {
            Ok(deploy) => deploy,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let sets: Vec<Arc<Value>> = in_namespace(store, REPLICASETS, namespace)?
            .into_iter()
            .filter(|rs| controlled_by(rs, uid(&deploy)))
            .collect();
        let pods = in_namespace(store, PODS, namespace)?
            .into_iter()
            .filter(|p| sets.iter().any(|rs| controlled_by(p, uid(rs))))
            .collect();
        Ok(Some(Family { deploy, sets, pods }))
    }

    fn current(&self) -> Option<&Arc<Value>> {
        let wanted = revision(&self.deploy);
        self.sets.iter().find(|rs| revision(rs) == wanted)
    }

    fn pods_of(&self, rs: &Value) -> Vec<&Arc<Value>> {
        self.pods.iter().filter(|p| controlled_by(p, uid(rs))).collect()
    }

    fn namespace(&self) -> &str {
        self.deploy["metadata"]["namespace"].as_str().unwrap_or_default()
    }

    fn replicas(&self) -> i64 {
        self.deploy["spec"]["replicas"].as_i64().unwrap_or(1)
    }
}

fn target(deploy: &Value) -> String {
    format!("{}/{}", deploy["metadata"]["namespace"].as_str().unwrap_or_default(), name(deploy))
}

/// Deployments no work in flight concerns, that have their current replica set.
fn idle_deployments(churn: &Churn, store: &Store) -> Result<Vec<Arc<Value>>> {
    Ok(store
        .list(DEPLOYMENTS, &Filter::default(), None, None)?
        .items
        .into_iter()
        .filter(|d| !churn.busy(&target(d)) && d["metadata"]["deletionTimestamp"].is_null())
        .collect())
}

/// A pod of replica set `rs`, named as the replica set controller names them.
pub(super) fn rs_pod(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    rs: &Value,
    placement: &Placement,
    start: Start,
) -> Result<Arc<Value>> {
    let rs_name = name(rs);
    let pod_name = format!("{rs_name}-{}", churn.rng.suffix(5));
    let generate_name = format!("{rs_name}-");
    let id = Identity {
        namespace: rs["metadata"]["namespace"].as_str().unwrap_or_default(),
        name: &pod_name,
        generate_name: &generate_name,
        labels: json!({}),
        owner: owner_ref(rs),
    };
    let pod = create_pod(store, &mut churn.rng, now, &rs["spec"]["template"], &id, placement, start)?;
    record(
        store,
        now,
        rs,
        &Note::normal("replicaset-controller", "SuccessfulCreate", format!("Created pod: {}", name(&pod))),
    )?;
    Ok(pod)
}

fn set_rs_replicas(store: &Store, rs: &Value, replicas: i64, desired: i64) -> Result<()> {
    let ns = rs["metadata"]["namespace"].as_str();
    ignore_gone(store.modify(REPLICASETS, ns, name(rs), |rs| {
        rs["spec"]["replicas"] = json!(replicas);
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
            json!(desired.to_string());
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
            json!((desired + (desired + 3) / 4).to_string());
    }))
}

pub(super) fn scaled_event(
    store: &Store,
    now: i64,
    deploy: &Value,
    rs: &str,
    from: i64,
    to: i64,
) -> Result<()> {
    let direction = if to > from { "up" } else { "down" };
    let message = format!("Scaled {direction} replica set {rs} from {from} to {to}");
    record(store, now, deploy, &Note::normal("deployment-controller", "ScalingReplicaSet", message))
}

fn remove_rs_pod(store: &Store, now: i64, rs: &Value, pod: &Value) -> Result<()> {
    delete_pod(store, pod)?;
    let message = format!("Deleted pod: {}", name(pod));
    record(store, now, rs, &Note::normal("replicaset-controller", "SuccessfulDelete", message))
}

/// The pod a replica set controller deletes first when scaling down: unready before ready, newest first.
fn victim<'a>(pods: &[&'a Arc<Value>]) -> Option<&'a Arc<Value>> {
    pods.iter()
        .max_by_key(|p| {
            (
                !kubelet::is_ready(p),
                p["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_owned(),
                name(p).to_owned(),
            )
        })
        .copied()
}

/// Starts a rolling update of an idle deployment: a new template (the next image version, or a restart
/// annotation as `kubectl rollout restart` writes), a new replica set and its first pod. With `bad`, the new
/// image does not exist: the pod fails to pull, and the rollout is undone a few minutes later.
pub(super) fn start_rollout(churn: &mut Churn, store: &Store, now: i64, bad: bool) -> Result<Option<Change>> {
    if bad && churn.in_flight(|w| matches!(w, Work::Rollback { .. })) > 0 {
        return Ok(None);
    }
    let candidates = idle_deployments(churn, store)?;
    let Some(chosen) = churn.pick(&candidates).cloned() else { return Ok(None) };
    let ns = chosen["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
    let Some(family) = Family::read(store, &ns, name(&chosen))? else { return Ok(None) };
    if family.current().is_none() || family.replicas() < 1 {
        return Ok(None);
    }
    let Some(placement) = place(store, &mut churn.rng)? else { return Ok(None) };
    let new_revision =
        family.sets.iter().map(|rs| revision(rs)).chain([revision(&family.deploy)]).max().unwrap_or(0) + 1;
    let mut template = family.deploy["spec"]["template"].clone();
    let image = template["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned();
    match (bad, next_image(&image)) {
        (true, next) => {
            let missing = next.unwrap_or_else(|| format!("{image}-rc{new_revision}"));
            template["spec"]["containers"][0]["image"] = json!(missing);
        }
        (false, Some(next)) => template["spec"]["containers"][0]["image"] = json!(next),
        (false, None) => {
            template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = json!(rfc3339(now));
        }
    }
    let deploy_name = name(&family.deploy).to_owned();
    let deploy = store.modify(DEPLOYMENTS, Some(&ns), &deploy_name, |d| {
        d["spec"]["template"] = template.clone();
        d["metadata"]["annotations"][REVISION] = json!(new_revision.to_string());
    })?;
    let rs = new_replica_set(churn, store, now, &deploy, new_revision, 1)?;
    scaled_event(store, now, &deploy, name(&rs), 0, 1)?;
    let start = if bad { Start::ErrImagePull } else { Start::Running };
    let pod = rs_pod(churn, store, now, &rs, &placement, start)?;
    let (kind, object) = if bad {
        let delay = churn.delay(5, 15);
        churn.later(now, delay, Work::PullBackOff { namespace: ns.clone(), pod: name(&pod).to_owned() });
        let delay = churn.delay(90, 240);
        let replica_set = name(&rs).to_owned();
        churn.later(
            now,
            delay,
            Work::Rollback { namespace: ns.clone(), deployment: deploy_name.clone(), replica_set },
        );
        (ChangeKind::ImagePullFailed, format!("pod/{}", name(&pod)))
    } else {
        let delay = churn.delay(2, 6);
        let replica_set = name(&rs).to_owned();
        churn.later(
            now,
            delay,
            Work::Rollout { namespace: ns.clone(), deployment: deploy_name.clone(), replica_set },
        );
        (ChangeKind::RolloutStarted, format!("deployment/{deploy_name}"))
    };
    reconcile(store, &ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(kind, Some(&ns), object, now)))
}

/// A replica set for the deployment's current template, with a fresh `pod-template-hash`.
pub(super) fn new_replica_set(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    deploy: &Value,
    revision: i64,
    replicas: i64,
) -> Result<Arc<Value>> {
    let hash = churn.rng.suffix(10);
    let rs_name = format!("{}-{hash}", name(deploy));
    let mut template = deploy["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut selector = deploy["spec"]["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    let wanted = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
    let rs = json!({
        "metadata": {"name": rs_name, "namespace": deploy["metadata"]["namespace"], "labels": template["metadata"]["labels"],
                     "creationTimestamp": rfc3339(now), "ownerReferences": [owner_ref(deploy)],
                     "annotations": {"deployment.kubernetes.io/desired-replicas": wanted.to_string(),
                                     "deployment.kubernetes.io/max-replicas": (wanted + (wanted + 3) / 4).to_string(),
                                     REVISION: revision.to_string()}},
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {"replicas": 0, "observedGeneration": 1},
    });
    Ok(store.insert(REPLICASETS, rs)?)
}

/// One step of a rolling update: surge a new pod, or retire an old one; done when only the new set runs.
pub(super) fn rollout_step(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    deployment: &str,
    replica_set: &str,
) -> Result<Option<Change>> {
    let Some(family) = Family::read(store, ns, deployment)? else { return Ok(None) };
    let Some(new) = family.sets.iter().find(|rs| name(rs) == replica_set).cloned() else { return Ok(None) };
    let wanted = family.replicas();
    let new_pods = family.pods_of(&new).len() as i64;
    let old_sets: Vec<&Arc<Value>> =
        family.sets.iter().filter(|rs| name(rs) != replica_set && !family.pods_of(rs).is_empty()).collect();
    let old_pods: i64 = old_sets.iter().map(|rs| family.pods_of(rs).len() as i64).sum();
    let surge = ((wanted + 3) / 4).max(1);
    let work = Work::Rollout {
        namespace: ns.to_owned(),
        deployment: deployment.to_owned(),
        replica_set: replica_set.to_owned(),
    };
    let (mut new_after, mut old_after) = (new_pods, old_pods);
    if new_pods < wanted && new_pods + old_pods < wanted + surge {
        let Some(placement) = place(store, &mut churn.rng)? else {
            churn.later(now, 30, work);
            return Ok(None);
        };
        set_rs_replicas(store, &new, new_pods + 1, wanted)?;
        scaled_event(store, now, &family.deploy, replica_set, new_pods, new_pods + 1)?;
        rs_pod(churn, store, now, &new, &placement, Start::Running)?;
        new_after += 1;
    } else if let Some(old) = old_sets.first() {
        let pods = family.pods_of(old);
        let count = pods.len() as i64;
        if let Some(pod) = victim(&pods) {
            set_rs_replicas(store, old, count - 1, wanted)?;
            scaled_event(store, now, &family.deploy, name(old), count, count - 1)?;
            remove_rs_pod(store, now, old, pod)?;
            old_after -= 1;
        }
    } else {
        // Nothing left to move (someone else finished it): only the history is tidied.
        prune_history(store, &family)?;
        return Ok(None);
    }
    reconcile(store, ns, now, &mut churn.rng)?;
    if new_after >= wanted && old_after == 0 {
        if let Some(family) = Family::read(store, ns, deployment)? {
            prune_history(store, &family)?;
        }
        return Ok(Some(Change::new(
            ChangeKind::RolloutFinished,
            Some(ns),
            format!("deployment/{deployment}"),
            now,
        )));
    }
    let delay = churn.delay(2, 6);
    churn.later(now, delay, work);
    Ok(Some(Change::new(ChangeKind::RolloutProgressed, Some(ns), format!("replicaset/{replica_set}"), now)))
}

/// Deletes the oldest scaled-down replica sets beyond the deployment's `revisionHistoryLimit`.
fn prune_history(store: &Store, family: &Family) -> Result<()> {
    let limit = family.deploy["spec"]["revisionHistoryLimit"].as_u64().unwrap_or(10) as usize;
    let current = revision(&family.deploy);
    let mut old: Vec<&Arc<Value>> = family
        .sets
        .iter()
        .filter(|rs| revision(rs) != current && rs["spec"]["replicas"].as_i64().unwrap_or(0) == 0)
        .collect();
    old.sort_by_key(|rs| revision(rs));
    let excess = old.len().saturating_sub(limit);
    for rs in &old[..excess] {
        ignore_gone(store.delete(
            REPLICASETS,
            Some(family.namespace()),
            name(rs),
            &Preconditions::default(),
        ))?;
    }
    Ok(())
}

/// The kubelet gives up pulling for a while: `ImagePullBackOff`.
pub(super) fn pull_back_off(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    pod: &str,
) -> Result<Option<Change>> {
    let Ok(current) = store.get(PODS, Some(ns), pod) else { return Ok(None) };
    if current["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] != "ErrImagePull" {
        return Ok(None);
    }
    let updated = store.modify(PODS, Some(ns), pod, |p| kubelet::pull_back_off(p, 0))?;
    let container = updated["spec"]["containers"][0]["name"].as_str().unwrap_or_default().to_owned();
    let image = updated["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned();
    record(
        store,
        now,
        &updated,
        &Note::kubelet("BackOff", format!("Back-off pulling image \"{image}\""), false, &container),
    )?;
    record(
        store,
        now,
        &updated,
        &Note::kubelet("Failed", "Error: ImagePullBackOff".into(), true, &container),
    )?;
    reconcile(store, ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(ChangeKind::ImagePullBackOff, Some(ns), format!("pod/{pod}"), now)))
}

/// `kubectl rollout undo`: the previous template comes back (its replica set takes the next revision) and the
/// bad replica set is scaled to zero.
pub(super) fn rollback(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    deployment: &str,
    bad: &str,
) -> Result<Option<Change>> {
    let Some(family) = Family::read(store, ns, deployment)? else { return Ok(None) };
    let Some(bad_rs) = family.sets.iter().find(|rs| name(rs) == bad) else { return Ok(None) };
    let Some(previous) = family.sets.iter().filter(|rs| name(rs) != bad).max_by_key(|rs| revision(rs)) else {
        return Ok(None);
    };
    let new_revision = family.sets.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
    let mut template = previous["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    store.modify(DEPLOYMENTS, Some(ns), deployment, |d| {
        d["spec"]["template"] = template.clone();
        d["metadata"]["annotations"][REVISION] = json!(new_revision.to_string());
    })?;
    let old_revision = revision(previous).to_string();
    ignore_gone(store.modify(REPLICASETS, Some(ns), name(previous), |rs| {
        rs["metadata"]["annotations"][REVISION] = json!(new_revision.to_string());
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = json!(old_revision);
    }))?;
    let bad_pods = family.pods_of(bad_rs);
    set_rs_replicas(store, bad_rs, 0, family.replicas())?;
    scaled_event(store, now, &family.deploy, bad, bad_pods.len() as i64, 0)?;
    for pod in bad_pods {
        remove_rs_pod(store, now, bad_rs, pod)?;
    }
    reconcile(store, ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(ChangeKind::RolledBack, Some(ns), format!("deployment/{deployment}"), now)))
}

/// The autoscaler of a deployment, if one targets it.
fn autoscaler(store: &Store, deploy: &Value) -> Result<Option<Arc<Value>>> {
    let ns = deploy["metadata"]["namespace"].as_str().unwrap_or_default();
    Ok(in_namespace(store, HPAS, ns)?.into_iter().find(|h| {
        h["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            && h["spec"]["scaleTargetRef"]["name"] == name(deploy)
    }))
}

/// The range a deployment is scaled within: its autoscaler's, or around the replicas it first had.
fn range(churn: &mut Churn, deploy: &Value, hpa: Option<&Arc<Value>>) -> (i64, i64) {
    let base = *churn
        .base_replicas
        .entry(uid(deploy).to_owned())
        .or_insert_with(|| deploy["spec"]["replicas"].as_i64().unwrap_or(1).max(1));
    match hpa {
        Some(h) => (
            h["spec"]["minReplicas"].as_i64().unwrap_or(1),
            h["spec"]["maxReplicas"].as_i64().unwrap_or(base),
        ),
        None => ((base / 2).max(1), (base * 2).max(base + 2)),
    }
}

/// An idle deployment picked for scaling, with what scaling it touches.
struct Scalable {
    ns: String,
    family: Family,
    /// Its current replica set.
    rs: Arc<Value>,
    hpa: Option<Arc<Value>>,
    /// The replica range it may move in (its autoscaler's, or around its original size).
    range: (i64, i64),
}

fn scalable(churn: &mut Churn, store: &Store) -> Result<Option<Scalable>> {
    let candidates = idle_deployments(churn, store)?;
    let Some(chosen) = churn.pick(&candidates).cloned() else { return Ok(None) };
    let ns = chosen["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
    let Some(family) = Family::read(store, &ns, name(&chosen))? else { return Ok(None) };
    let Some(rs) = family.current().cloned() else { return Ok(None) };
    let hpa = autoscaler(store, &family.deploy)?;
    let range = range(churn, &family.deploy, hpa.as_ref());
    Ok(Some(Scalable { ns, family, rs, hpa, range }))
}

/// Scales an idle deployment by one replica, back towards the middle of its range when at an edge.
pub(super) fn scale(churn: &mut Churn, store: &Store, now: i64) -> Result<Option<Change>> {
    let Some(Scalable { ns, family, rs, hpa, range: (lo, hi) }) = scalable(churn, store)? else {
        return Ok(None);
    };
    let from = family.replicas();
    let up = if from <= lo {
        true
    } else if from >= hi {
        false
    } else {
        churn.rng.below(2) == 0
    };
    let to = if up { from + 1 } else { from - 1 };
    let placement = if up {
        match place(store, &mut churn.rng)? {
            Some(p) => Some(p),
            None => return Ok(None),
        }
    } else {
        None
    };
    let deploy =
        store.modify(DEPLOYMENTS, Some(&ns), name(&family.deploy), |d| d["spec"]["replicas"] = json!(to))?;
    set_rs_replicas(store, &rs, to, to)?;
    let pods = family.pods_of(&rs);
    scaled_event(store, now, &deploy, name(&rs), pods.len() as i64, to)?;
    if let Some(placement) = placement {
        rs_pod(churn, store, now, &rs, &placement, Start::Running)?;
    } else if let Some(pod) = victim(&pods) {
        remove_rs_pod(store, now, &rs, pod)?;
    }
    if let Some(hpa) = hpa {
        let reason = if up {
            "cpu resource utilization (percentage of request) above target"
        } else {
            "All metrics below target"
        };
        record(
            store,
            now,
            &hpa,
            &Note::normal(
                "horizontal-pod-autoscaler",
                "SuccessfulRescale",
                format!("New size: {to}; reason: {reason}"),
            ),
        )?;
        ignore_gone(
            store.modify(HPAS, Some(&ns), name(&hpa), |h| h["status"]["lastScaleTime"] = json!(rfc3339(now))),
        )?;
    }
    reconcile(store, &ns, now, &mut churn.rng)?;
    let kind = if up { ChangeKind::ScaledUp } else { ChangeKind::ScaledDown };
    Ok(Some(Change::new(kind, Some(&ns), format!("deployment/{}", name(&deploy)), now)))
}

/// Scales an idle deployment up by one whose new pod finds no node for a while.
pub(super) fn unschedulable(churn: &mut Churn, store: &Store, now: i64) -> Result<Option<Change>> {
    if churn.in_flight(|w| matches!(w, Work::Schedule { .. })) > 0 {
        return Ok(None);
    }
    let Some(Scalable { ns, family, rs, range: (_, hi), .. }) = scalable(churn, store)? else {
        return Ok(None);
    };
    let from = family.replicas();
    if from >= hi {
        return Ok(None);
    }
    let deploy = store
        .modify(DEPLOYMENTS, Some(&ns), name(&family.deploy), |d| d["spec"]["replicas"] = json!(from + 1))?;
    set_rs_replicas(store, &rs, from + 1, from + 1)?;
    scaled_event(store, now, &deploy, name(&rs), family.pods_of(&rs).len() as i64, from + 1)?;
    let placement = scheduler::nowhere(store)?;
    let pod = rs_pod(churn, store, now, &rs, &placement, Start::Running)?;
    let delay = churn.delay(45, 150);
    churn.later(now, delay, Work::Schedule { namespace: ns.clone(), pod: name(&pod).to_owned() });
    reconcile(store, &ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(ChangeKind::Unschedulable, Some(&ns), format!("pod/{}", name(&pod)), now)))
}

/// The pending pod is placed (capacity was freed) and starts.
pub(super) fn schedule(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    pod: &str,
) -> Result<Option<Change>> {
    let Ok(current) = store.get(PODS, Some(ns), pod) else { return Ok(None) };
    if current["spec"]["nodeName"].is_string() {
        return Ok(None);
    }
    let Some(Placement::Node { name: node, host_ip, pod_ip }) = place(store, &mut churn.rng)? else {
        churn.later(now, 60, Work::Schedule { namespace: ns.to_owned(), pod: pod.to_owned() });
        return Ok(None);
    };
    let rng = &mut churn.rng;
    let bound = store.modify(PODS, Some(ns), pod, |p| {
        kubelet::bind(p, &node, &host_ip, &pod_ip, Start::Running, now, rng);
    })?;
    scheduler::started(store, now, &bound, Start::Running)?;
    reconcile(store, ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(ChangeKind::Scheduled, Some(ns), format!("pod/{pod}"), now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_bump_their_last_number_and_other_tags_do_not() {
        assert_eq!(next_image("ghcr.io/a/api:0.9.2").as_deref(), Some("ghcr.io/a/api:0.9.3"));
        assert_eq!(next_image("nats:v2.10").as_deref(), Some("nats:v2.11"));
        assert_eq!(next_image("localhost:5000/app:1.9").as_deref(), Some("localhost:5000/app:1.10"));
        assert_eq!(next_image("redis:7.2-alpine"), None);
        assert_eq!(next_image("nginx"), None);
        assert_eq!(next_image("kong:3"), None);
    }

    #[test]
    fn scaling_down_takes_unready_pods_first_then_the_newest() {
        let pod = |name: &str, at: &str, ready: bool| {
            Arc::new(json!({"metadata": {"name": name, "creationTimestamp": at},
                            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        };
        let (a, b, c) = (
            pod("a", "2024-01-01T00:00:00Z", true),
            pod("b", "2024-01-02T00:00:00Z", true),
            pod("c", "2023-01-01T00:00:00Z", false),
        );
        assert_eq!(name(victim(&[&a, &b]).unwrap()), "b");
        assert_eq!(name(victim(&[&a, &b, &c]).unwrap()), "c");
    }
}
