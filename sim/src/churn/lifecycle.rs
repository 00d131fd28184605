//! Objects that come and go: jobs a cron job starts and that complete (old ones pruned past the cron job's
//! history limit, their pods garbage-collected), and preview namespaces with an app of their own that are
//! deleted, everything in them with them, after a while.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::controllers::{controlled_by, ignore_gone, in_namespace, name, owner_ref, reconcile, uid};
use super::events::{record, Note};
use super::kubelet::{self, Identity, Start};
use super::scheduler::{create_pod, place};
use super::workloads::{new_replica_set, rs_pod, scaled_event};
use super::{Change, ChangeKind, Churn, Result, Work};
use crate::clock::rfc3339;
use crate::resource::{CONFIGMAPS, CRONJOBS, DEPLOYMENTS, JOBS, NAMESPACES, PODS, SERVICEACCOUNTS, SERVICES};
use crate::select::Filter;
use crate::store::{Preconditions, Store};

/// The label preview namespaces carry.
pub(crate) const PREVIEW_LABEL: &str = "gestalt.dev/preview";
/// At most this many preview namespaces exist at once.
const MAX_PREVIEWS: usize = 2;

/// A cron job (not suspended, no job running: `concurrencyPolicy: Forbid`) starts its job.
pub(super) fn start_job(churn: &mut Churn, store: &Store, now: i64) -> Result<Option<Change>> {
    let crons: Vec<Arc<Value>> = store
        .list(CRONJOBS, &Filter::default(), None, None)?
        .items
        .into_iter()
        .filter(|c| {
            c["spec"]["suspend"] != true && c["status"]["active"].as_array().is_none_or(Vec::is_empty)
        })
        .collect();
    let Some(cron) = churn.pick(&crons).cloned() else { return Ok(None) };
    let ns = cron["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
    let job_name = format!("{}-{}", name(&cron), now / 60);
    if store.get(JOBS, Some(&ns), &job_name).is_ok() {
        return Ok(None);
    }
    let Some(placement) = place(store, &mut churn.rng)? else { return Ok(None) };
    let mut spec = cron["spec"]["jobTemplate"]["spec"].clone();
    spec["completions"] = json!(1);
    spec["parallelism"] = json!(1);
    let labels = json!({"batch.kubernetes.io/job-name": job_name, "job-name": job_name});
    let job = store.insert(JOBS, json!({
        "metadata": {"name": job_name, "namespace": ns, "labels": labels, "creationTimestamp": rfc3339(now),
                     "ownerReferences": [owner_ref(&cron)], "annotations": {"batch.kubernetes.io/job-tracking": ""}},
        "spec": spec,
        "status": {"active": 1, "ready": 1, "terminating": 0, "startTime": rfc3339(now), "uncountedTerminatedPods": {}},
    }))?;
    let mut pod_labels = labels.clone();
    pod_labels["batch.kubernetes.io/controller-uid"] = json!(uid(&job));
    pod_labels["controller-uid"] = json!(uid(&job));
    let pod_name = format!("{job_name}-{}", churn.rng.suffix(5));
    let generate_name = format!("{job_name}-");
    let id = Identity {
        namespace: &ns,
        name: &pod_name,
        generate_name: &generate_name,
        labels: pod_labels,
        owner: owner_ref(&job),
    };
    create_pod(store, &mut churn.rng, now, &job["spec"]["template"], &id, &placement, Start::Running)?;
    record(
        store,
        now,
        &job,
        &Note::normal("job-controller", "SuccessfulCreate", format!("Created pod: {pod_name}")),
    )?;
    record(
        store,
        now,
        &cron,
        &Note::normal("cronjob-controller", "SuccessfulCreate", format!("Created job {job_name}")),
    )?;
    let active = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "namespace": ns, "uid": uid(&job),
                         "resourceVersion": job["metadata"]["resourceVersion"]}]);
    ignore_gone(store.modify(CRONJOBS, Some(&ns), name(&cron), |c| {
        c["status"]["active"] = active;
        c["status"]["lastScheduleTime"] = json!(rfc3339(now - now % 60));
    }))?;
    let delay = churn.delay(20, 90);
    churn.later(now, delay, Work::JobFinish { namespace: ns.clone(), job: job_name.clone() });
    Ok(Some(Change::new(ChangeKind::JobStarted, Some(&ns), format!("job/{job_name}"), now)))
}

/// The job's pod exits 0: the pod `Succeeded`, the job `Complete`, the cron job sees it; jobs past the cron
/// job's `successfulJobsHistoryLimit` are deleted (and their pods with them).
pub(super) fn finish_job(
    churn: &mut Churn,
    store: &Store,
    now: i64,
    ns: &str,
    job_name: &str,
) -> Result<Option<Change>> {
    let Ok(job) = store.get(JOBS, Some(ns), job_name) else { return Ok(None) };
    for pod in in_namespace(store, PODS, ns)?.iter().filter(|p| controlled_by(p, uid(&job))) {
        ignore_gone(store.modify(PODS, Some(ns), name(pod), |p| kubelet::complete(p, now)))?;
    }
    let at = rfc3339(now);
    let job = store.modify(JOBS, Some(ns), job_name, |j| {
        let started = j["status"]["startTime"].clone();
        j["status"] = json!({"startTime": started, "completionTime": at, "succeeded": 1, "ready": 0, "terminating": 0,
                             "uncountedTerminatedPods": {},
                             "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": at, "lastTransitionTime": at},
                                            {"type": "Complete", "status": "True", "lastProbeTime": at, "lastTransitionTime": at}]});
    })?;
    record(store, now, &job, &Note::normal("job-controller", "Completed", "Job completed".into()))?;
    let owner = &job["metadata"]["ownerReferences"][0];
    if let Ok(cron) = store.get(CRONJOBS, Some(ns), owner["name"].as_str().unwrap_or_default()) {
        let message = format!("Saw completed job: {job_name}, condition: Complete");
        record(store, now, &cron, &Note::normal("cronjob-controller", "SawCompletedJob", message))?;
        ignore_gone(store.modify(CRONJOBS, Some(ns), name(&cron), |c| {
            if let Some(status) = c["status"].as_object_mut() {
                status.remove("active");
            }
            c["status"]["lastSuccessfulTime"] = json!(at);
        }))?;
        prune_jobs(store, now, &cron)?;
    }
    reconcile(store, ns, now, &mut churn.rng)?;
    Ok(Some(Change::new(ChangeKind::JobCompleted, Some(ns), format!("job/{job_name}"), now)))
}

fn prune_jobs(store: &Store, now: i64, cron: &Value) -> Result<()> {
    let ns = cron["metadata"]["namespace"].as_str().unwrap_or_default();
    let limit = cron["spec"]["successfulJobsHistoryLimit"].as_u64().unwrap_or(3) as usize;
    let mut done: Vec<Arc<Value>> = in_namespace(store, JOBS, ns)?
        .into_iter()
        .filter(|j| controlled_by(j, uid(cron)) && j["status"]["succeeded"].as_i64().unwrap_or(0) > 0)
        .collect();
    done.sort_by(|a, b| {
        let at = |j: &Value| j["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_owned();
        (at(a), name(a).to_owned()).cmp(&(at(b), name(b).to_owned()))
    });
    let excess = done.len().saturating_sub(limit);
    for job in &done[..excess] {
        ignore_gone(store.delete(JOBS, Some(ns), name(job), &Preconditions::default()))?;
        record(
            store,
            now,
            cron,
            &Note::normal("cronjob-controller", "SuccessfulDelete", format!("Deleted job {}", name(job))),
        )?;
    }
    Ok(())
}

/// An unused service IP in the upper half of `10.96.0.0/16`.
fn cluster_ip(churn: &mut Churn, store: &Store) -> Result<String> {
    let used: BTreeSet<String> = store
        .list(SERVICES, &Filter::default(), None, None)?
        .items
        .iter()
        .filter_map(|s| s["spec"]["clusterIP"].as_str().map(str::to_owned))
        .collect();
    loop {
        let ip = format!("10.96.{}.{}", 128 + churn.rng.below(127), 1 + churn.rng.below(254));
        if !used.contains(&ip) {
            return Ok(ip);
        }
    }
}

/// A preview environment: a namespace with a two-replica web deployment and its service.
pub(super) fn create_preview(churn: &mut Churn, store: &Store, now: i64) -> Result<Option<Change>> {
    let previews = store
        .list(NAMESPACES, &Filter::default(), None, None)?
        .items
        .iter()
        .filter(|ns| ns["metadata"]["labels"][PREVIEW_LABEL] == "true")
        .count();
    if previews >= MAX_PREVIEWS {
        return Ok(None);
    }
    let Some(placement) = place(store, &mut churn.rng)? else { return Ok(None) };
    let ns = format!("preview-{}", churn.rng.suffix(5));
    let at = rfc3339(now);
    store.insert(NAMESPACES, json!({
        "metadata": {"name": ns, "creationTimestamp": at,
                     "labels": {"kubernetes.io/metadata.name": ns, PREVIEW_LABEL: "true", "app.kubernetes.io/part-of": "preview"}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
    }))?;
    store.insert(
        SERVICEACCOUNTS,
        json!({"metadata": {"name": "default", "namespace": ns, "creationTimestamp": at}}),
    )?;
    store.insert(CONFIGMAPS, json!({"metadata": {"name": "kube-root-ca.crt", "namespace": ns, "creationTimestamp": at},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIU2ltdWxhdGVkMA0GCSqGSIb3DQEBCwUAMBUxEzARBgNV\n-----END CERTIFICATE-----\n"}}))?;
    let labels = json!({"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "preview"});
    let template = json!({"metadata": {"labels": labels}, "spec": {
        "containers": [{"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {}, "schedulerName": "default-scheduler"}});
    let deploy = store.insert(DEPLOYMENTS, json!({
        "metadata": {"name": "web", "namespace": ns, "labels": labels, "creationTimestamp": at,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "template": template,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {},
    }))?;
    let rs = new_replica_set(churn, store, now, &deploy, 1, 2)?;
    scaled_event(store, now, &deploy, name(&rs), 0, 2)?;
    rs_pod(churn, store, now, &rs, &placement, Start::Running)?;
    if let Some(second) = place(store, &mut churn.rng)? {
        rs_pod(churn, store, now, &rs, &second, Start::Running)?;
    }
    let ip = cluster_ip(churn, store)?;
    store.insert(SERVICES, json!({
        "metadata": {"name": "web", "namespace": ns, "labels": labels, "creationTimestamp": at},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}],
                 "selector": {"app.kubernetes.io/name": "web"}, "sessionAffinity": "None", "type": "ClusterIP"},
        "status": {"loadBalancer": {}},
    }))?;
    reconcile(store, &ns, now, &mut churn.rng)?;
    let delay = churn.delay(600, 1800);
    churn.later(now, delay, Work::NamespaceTerminate { namespace: ns.clone() });
    Ok(Some(Change::new(ChangeKind::NamespaceCreated, None, format!("namespace/{ns}"), now)))
}

/// `kubectl delete namespace`: the namespace is `Terminating` while its content is removed.
pub(super) fn terminate(churn: &mut Churn, store: &Store, now: i64, ns: &str) -> Option<Change> {
    let at = rfc3339(now);
    let terminating = store.modify(NAMESPACES, None, ns, |n| {
        n["metadata"]["deletionTimestamp"] = json!(at);
        n["status"]["phase"] = json!("Terminating");
    });
    terminating.ok()?;
    let delay = churn.delay(3, 8);
    churn.later(now, delay, Work::NamespaceDelete { namespace: ns.to_owned() });
    Some(Change::new(ChangeKind::NamespaceTerminating, None, format!("namespace/{ns}"), now))
}

/// The namespace controller has emptied the namespace: it and everything in it are gone.
pub(super) fn delete(store: &Store, now: i64, ns: &str) -> Result<Option<Change>> {
    match store.delete(NAMESPACES, None, ns, &Preconditions::default()) {
        Ok(_) => Ok(Some(Change::new(ChangeKind::NamespaceDeleted, None, format!("namespace/{ns}"), now))),
        Err(crate::store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
