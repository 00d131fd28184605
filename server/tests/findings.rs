//! Findings end to end: the real binary runs the demo's simulated cluster (which has a crash-looping and an
//! image-pull-failing pod), the detectors open findings for them, a webhook receiver hears about it, deleting
//! the crash-looping pod through the cluster's API resolves its finding, a viewer scoped to another namespace
//! sees none of it, and the history is still there after a restart on the same database.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{within, Demo};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

const ADMIN: &str = "findings-admin-token-0123456789ab";
const OTHER: &str = "findings-other-team-token-012345";
const OTHER_NS: &str = "kgents-gateway";
/// The demo with two bearer tokens (an admin and a viewer of [`OTHER_NS`]), a findings database in its directory
/// and a JSON webhook to `webhook`.
fn configure<'a>(webhook: SocketAddr, extra: &'a [&'a str]) -> impl FnOnce(&Path, &mut Command) + 'a {
    move |dir, command| {
        std::fs::write(
            dir.join("tokens"),
            format!("{ADMIN} name=admin\n{OTHER} name=other namespaces={OTHER_NS}\n"),
        )
        .unwrap();
        command
            .arg("--auth-token-file")
            .arg(dir.join("tokens"))
            .arg("--findings-db")
            .arg(dir.join("findings.db"))
            .args(["--webhook", &format!("json:http://{webhook}/hook"), "--webhook-min-severity", "warning"])
            .args(extra);
    }
}

async fn start(test: &str, webhook: SocketAddr, extra: &[&str]) -> Demo {
    let demo = Demo::start(test, configure(webhook, extra));
    demo.ready().await;
    demo
}

async fn findings(demo: &Demo, query: &str, token: &str) -> Vec<serde_json::Value> {
    let found = demo.get_json(&format!("/api/v1/findings?{query}"), Some(token)).await;
    found.as_array().cloned().unwrap_or_default()
}

fn by_detector(findings: &[serde_json::Value], detector: &str) -> Option<serde_json::Value> {
    findings.iter().find(|f| f["detector"] == detector).cloned()
}

async fn webhook_receiver() -> (SocketAddr, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detectors_open_notify_resolve_stay_scoped_and_survive_a_restart() {
    let (hook, received) = webhook_receiver().await;
    let demo = start("findings", hook, &[]).await;

    let open = within("the crash-loop and image-pull findings", || async {
        let open = findings(&demo, "state=open", ADMIN).await;
        (by_detector(&open, "crash-loop").is_some() && by_detector(&open, "image-pull").is_some())
            .then_some(open)
    })
    .await;
    let crash = by_detector(&open, "crash-loop").unwrap();
    let pull = by_detector(&open, "image-pull").unwrap();
    assert_eq!(crash["subject"]["namespace"], "kgents-agents");
    assert!(crash["message"].as_str().unwrap().contains("CrashLoopBackOff"), "{crash}");
    assert!(pull["message"].as_str().unwrap().contains("ImagePullBackOff"), "{pull}");
    assert!(crash["entities"].as_array().unwrap().len() > 1, "the chain names more than the pod: {crash}");

    // A viewer of another namespace sees no finding about anything outside it, nor any chain entity.
    let theirs = findings(&demo, "state=all", OTHER).await;
    for f in &theirs {
        assert_eq!(f["subject"]["namespace"], OTHER_NS, "{f}");
        for id in f["entities"].as_array().unwrap() {
            assert_eq!(id["namespace"], OTHER_NS, "{f}");
        }
    }
    assert!(by_detector(&theirs, "crash-loop").is_none());

    // The webhook heard about the crash loop.
    within("the webhook notification", || async {
        let got = received.lock().unwrap().clone();
        got.iter().any(|n| n["event"] == "opened" && n["key"] == crash["key"]).then_some(())
    })
    .await;

    // The cause goes away: the crash-looping pod is deleted.
    let client = demo.kube().await;
    let name = crash["subject"]["name"].as_str().unwrap().to_owned();
    Api::<Pod>::namespaced(client, "kgents-agents").delete(&name, &DeleteParams::default()).await.unwrap();
    let resolved = within("the crash-loop finding to resolve", || async {
        let all = findings(&demo, "state=resolved", ADMIN).await;
        all.into_iter().find(|f| f["key"] == crash["key"])
    })
    .await;
    assert!(resolved["resolved"].as_i64().unwrap() >= resolved["opened"].as_i64().unwrap());
    within("the resolve notification", || async {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|n| n["event"] == "resolved" && n["key"] == crash["key"])
            .then_some(())
    })
    .await;

    // Restart on the same database: the resolved incident is history, the open one keeps its open time.
    let demo = demo.restart(configure(hook, &[]));
    demo.ready().await;
    let history = within("the history after a restart", || async {
        let all = findings(&demo, "state=all", ADMIN).await;
        let keys: BTreeMap<String, usize> = all.iter().fold(BTreeMap::new(), |mut m, f| {
            *m.entry(f["key"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            m
        });
        // The history is readable at once; the open incident is there once the engine resumed it after the
        // collector's first full list, which takes a moment on a busy machine.
        let resumed = all.iter().any(|f| f["key"] == pull["key"] && f["resolved"].is_null());
        (keys.contains_key(crash["key"].as_str().unwrap()) && resumed).then_some(all)
    })
    .await;
    let old = history.iter().find(|f| f["key"] == crash["key"] && f["resolved"] == resolved["resolved"]);
    assert!(old.is_some(), "the resolved incident survived: {history:?}");
    let still = history.iter().find(|f| f["key"] == pull["key"] && f["resolved"].is_null()).unwrap();
    assert_eq!(still["opened"], pull["opened"], "an open incident is resumed, not reopened");
    drop(demo);
}

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

const NS: &str = "kgents-agents";

/// Whether `found` holds a finding for each `detector/c/kind/namespace/name` (the demo's cluster name is not
/// `c`: only the detector and the part after the cluster are compared).
/// What is missing is printed (the test harness shows it only for a failing test).
fn has_all(found: &[serde_json::Value], expected: &[&str]) -> bool {
    let missing: Vec<&str> = expected
        .iter()
        .filter(|want| {
            let (detector, rest) = want.split_once("/c/").unwrap();
            !found.iter().any(|f| {
                let key = f["key"].as_str().unwrap_or_default();
                key.starts_with(&format!("{detector}/")) && key.ends_with(rest)
            })
        })
        .copied()
        .collect();
    if !missing.is_empty() {
        eprintln!("missing: {missing:?}");
    }
    missing.is_empty()
}

/// A `NotReady` node under memory pressure, a failed job, a service whose only endpoint is not ready, an
/// unbound claim and an unschedulable pod with the scheduler's event.
async fn write_node_job_service_claim_and_pod(client: &Client) {
    let post = PostParams::default();
    let status = |value| Patch::Merge(value);
    let nodes: Api<Node> = Api::all(client.clone());
    nodes.create(&post, &object(serde_json::json!({"metadata": {"name": "gl-sick"}}))).await.unwrap();
    let sick = serde_json::json!({"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "KubeletNotReady"},
        {"type": "MemoryPressure", "status": "True"}
    ]}});
    nodes.patch_status("gl-sick", &PatchParams::default(), &status(sick)).await.unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    let job = serde_json::json!({"metadata": {"name": "gl-migrate"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}}});
    jobs.create(&post, &object(job)).await.unwrap();
    let failed =
        serde_json::json!({"status": {"failed": 4, "conditions": [{"type": "Failed", "status": "True"}]}});
    jobs.patch_status("gl-migrate", &PatchParams::default(), &status(failed)).await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    let service = serde_json::json!({"metadata": {"name": "gl-empty"}, "spec": {"selector": {"app": "gl-nothing"},
        "ports": [{"port": 80}]}});
    services.create(&post, &object(service)).await.unwrap();
    // Its slice lists one endpoint, not ready (the cluster's own controller may rewrite it: still none ready).
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
    let empty = serde_json::json!({"metadata": {"name": "gl-empty-x1", "labels": {"kubernetes.io/service-name": "gl-empty"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.9"], "conditions": {"ready": false}}],
        "ports": [{"port": 80}]});
    slices.create(&post, &object(empty)).await.unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let claim = serde_json::json!({"metadata": {"name": "gl-claim"}, "spec": {"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}}}});
    claims.create(&post, &object(claim)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod = serde_json::json!({"metadata": {"name": "gl-waiting"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    pods.create(&post, &object(pod)).await.unwrap();
    let unschedulable = serde_json::json!({"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}});
    pods.patch_status("gl-waiting", &PatchParams::default(), &status(unschedulable)).await.unwrap();
    let event = serde_json::json!({"metadata": {"name": "gl-waiting.1"}, "involvedObject": {"kind": "Pod", "name": "gl-waiting",
        "namespace": NS}, "reason": "FailedScheduling", "type": "Warning", "count": 3,
        "message": "0/3 nodes are available: 3 Insufficient memory."});
    Api::<Event>::namespaced(client.clone(), NS).create(&post, &object(event)).await.unwrap();
}

/// Writes, through the cluster's API, one broken object per remaining detector (the still demo has no
/// controllers to fix or fill them in), checks each opens, then removes each cause and checks each resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_causes_open_controller_node_service_claim_and_pending_findings_and_removing_them_resolves() {
    let (hook, _) = webhook_receiver().await;
    let demo =
        start("findings-written", hook, &["--findings-grace-secs", "0", "--findings-pending-secs", "0"])
            .await;
    within("the demo to answer", || async {
        (!findings(&demo, "state=open", ADMIN).await.is_empty()).then_some(())
    })
    .await;
    let client = demo.kube().await;
    write_node_job_service_claim_and_pod(&client).await;
    let expected = [
        "node-not-ready/c/node//gl-sick",
        "node-pressure/c/node//gl-sick",
        "job-failed/c/job/kgents-agents/gl-migrate",
        "no-endpoints/c/service/kgents-agents/gl-empty",
        "pvc-pending/c/persistentvolumeclaim/kgents-agents/gl-claim",
        "pending-too-long/c/pod/kgents-agents/gl-waiting",
    ];
    let open = within("a finding for every written cause", || async {
        let open = findings(&demo, "state=open", ADMIN).await;
        has_all(&open, &expected).then_some(open)
    })
    .await;
    let pending = open
        .iter()
        .find(|f| f["detector"] == "pending-too-long" && f["subject"]["name"] == "gl-waiting")
        .unwrap();
    assert!(
        pending["message"].as_str().unwrap().ends_with("0/3 nodes are available: 3 Insufficient memory."),
        "{pending}"
    );
    let node =
        open.iter().find(|f| f["detector"] == "node-not-ready" && f["subject"]["name"] == "gl-sick").unwrap();
    assert_eq!(node["severity"], "CRITICAL");
    // A viewer of one namespace never sees node findings (nodes are cluster-scoped).
    assert!(findings(&demo, "state=all", OTHER).await.iter().all(|f| f["subject"]["namespace"] == OTHER_NS));

    let healthy = serde_json::json!({"status": {"conditions": [
        {"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}]}});
    let healthy = Patch::Merge(healthy);
    Api::<Node>::all(client.clone())
        .patch_status("gl-sick", &PatchParams::default(), &healthy)
        .await
        .unwrap();
    let gone = DeleteParams::default();
    Api::<Job>::namespaced(client.clone(), NS).delete("gl-migrate", &gone).await.unwrap();
    Api::<Service>::namespaced(client.clone(), NS).delete("gl-empty", &gone).await.unwrap();
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS).delete("gl-claim", &gone).await.unwrap();
    Api::<Pod>::namespaced(client.clone(), NS).delete("gl-waiting", &gone).await.unwrap();
    within("every written cause's finding to resolve", || async {
        has_all(&findings(&demo, "state=resolved", ADMIN).await, &expected).then_some(())
    })
    .await;
    drop(demo);
}

fn workload_spec(name: &str, replicas: bool) -> serde_json::Value {
    let mut spec = serde_json::json!({"selector": {"matchLabels": {"app": name}}, "template": {
        "metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}});
    if replicas {
        spec["replicas"] = 2.into();
        spec["serviceName"] = name.into();
    }
    serde_json::json!({"metadata": {"name": name}, "spec": spec})
}

/// Now minus `secs`, as the RFC 3339 a status carries.
fn jiff_now_minus(secs: i64) -> String {
    let at = std::time::SystemTime::now() - Duration::from_secs(secs.unsigned_abs());
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    k8s_openapi::jiff::Timestamp::from_second(i64::try_from(secs).unwrap()).unwrap().to_string()
}

/// The deployment controller's `Progressing` condition: stuck, or done.
fn progressing(ok: bool) -> serde_json::Value {
    let (status, reason) =
        if ok { ("True", "NewReplicaSetAvailable") } else { ("False", "ProgressDeadlineExceeded") };
    serde_json::json!([{"type": "Progressing", "status": status, "reason": reason,
        "message": "ReplicaSet \"gl-stuck-1\" has timed out progressing."}])
}

/// Causes that go away without the object going: the rollout progresses again (its event still lingers), and
/// the OOM kill is an hour old.
async fn causes_go_away_while_their_objects_stay(
    demo: &Demo,
    deployments: &Api<Deployment>,
    pods: &Api<Pod>,
) {
    let recovered = serde_json::json!({"status": {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
        "availableReplicas": 2, "conditions": progressing(true)}});
    deployments.patch_status("gl-stuck", &PatchParams::default(), &Patch::Merge(recovered)).await.unwrap();
    let old_kill = serde_json::json!({"status": {"containerStatuses": [{"name": "c", "image": "busybox", "imageID": "",
        "ready": true, "restartCount": 6, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": jiff_now_minus(3600)}}}]}});
    pods.patch_status("gl-oom", &PatchParams::default(), &Patch::Merge(old_kill)).await.unwrap();
    // The load goes: usage falls back well under the limit at the next metrics poll.
    let calm = serde_json::json!({"metadata": {"annotations": {sim::metrics::LOAD_ANNOTATION: null}}});
    pods.patch("gl-hot", &PatchParams::default(), &Patch::Merge(calm)).await.unwrap();
    within("the recovered rollout, the old OOM kill and the calmed pod to resolve", || async {
        let resolved = findings(demo, "state=resolved", ADMIN).await;
        has_all(
            &resolved,
            &[
                "rollout-stuck/c/deployment/kgents-agents/gl-stuck",
                "oom-killed/c/pod/kgents-agents/gl-oom",
                "near-limit/c/pod/kgents-agents/gl-hot",
            ],
        )
        .then_some(())
    })
    .await;
}

/// The workload and pod-status detectors, on causes written through the cluster's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_workload_and_pod_status_causes_open_their_findings_and_resolve_when_deleted() {
    let (hook, _) = webhook_receiver().await;
    let demo = start("findings-workloads", hook, &["--findings-grace-secs", "0"]).await;
    within("the demo to answer", || async {
        (!findings(&demo, "state=open", ADMIN).await.is_empty()).then_some(())
    })
    .await;
    let client = demo.kube().await;
    let (post, patch) = (PostParams::default(), PatchParams::default());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    // This cluster runs no controllers (no churn): the tests write the deployment controller's verdicts.
    for name in ["gl-api", "gl-stuck"] {
        deployments.create(&post, &object(workload_spec(name, true))).await.unwrap();
        let mut unavailable =
            serde_json::json!({"status": {"replicas": 2, "updatedReplicas": 1, "availableReplicas": 0}});
        if name == "gl-stuck" {
            unavailable["status"]["conditions"] = progressing(false);
        }
        deployments.patch_status(name, &patch, &Patch::Merge(unavailable)).await.unwrap();
    }
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    statefulsets.create(&post, &object(workload_spec("gl-db", true))).await.unwrap();
    let not_ready = serde_json::json!({"status": {"replicas": 2, "readyReplicas": 1}});
    statefulsets.patch_status("gl-db", &patch, &Patch::Merge(not_ready)).await.unwrap();
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    daemonsets.create(&post, &object(workload_spec("gl-agent", false))).await.unwrap();
    let short = serde_json::json!({"status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 2,
        "numberReady": 2, "numberMisscheduled": 0}});
    daemonsets.patch_status("gl-agent", &patch, &Patch::Merge(short)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for name in ["gl-oom", "gl-flap"] {
        let pod = serde_json::json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        pods.create(&post, &object(pod)).await.unwrap();
    }
    // Running at 97% of its memory limit, as the simulated metrics-server reports it.
    let hot = serde_json::json!({"metadata": {"name": "gl-hot", "annotations": {sim::metrics::LOAD_ANNOTATION: "0.97"}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}}}]}});
    pods.create(&post, &object(hot)).await.unwrap();
    let hot_running = serde_json::json!({"status": {"phase": "Running", "containerStatuses": [{"name": "c",
        "image": "busybox", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
    pods.patch_status("gl-hot", &patch, &Patch::Merge(hot_running)).await.unwrap();
    // Killed for memory three times; once the engine has seen that, three more restarts make a spike (the
    // restart detector counts restarts within its window, not the lifetime total).
    let finished = jiff_now_minus(60);
    let oom = |restarts: u32| {
        serde_json::json!({"status": {"phase": "Running", "containerStatuses": [{"name": "c",
        "image": "busybox", "imageID": "", "ready": true, "restartCount": restarts, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": finished}}}]}})
    };
    pods.patch_status("gl-oom", &patch, &Patch::Merge(oom(3))).await.unwrap();
    within("the OOM kill seen", || async {
        has_all(&findings(&demo, "state=open", ADMIN).await, &["oom-killed/c/pod/kgents-agents/gl-oom"])
            .then_some(())
    })
    .await;
    pods.patch_status("gl-oom", &patch, &Patch::Merge(oom(6))).await.unwrap();
    let running = serde_json::json!({"status": {"phase": "Running", "containerStatuses": [{"name": "c", "image": "busybox",
        "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}});
    pods.patch_status("gl-flap", &patch, &Patch::Merge(running)).await.unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let probe = serde_json::json!({"metadata": {"name": "gl-flap.1"}, "involvedObject": {"kind": "Pod", "name": "gl-flap",
        "namespace": NS}, "reason": "Unhealthy", "type": "Warning", "count": 5,
        "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"});
    events.create(&post, &object(probe)).await.unwrap();
    let deadline = serde_json::json!({"metadata": {"name": "gl-stuck.1"}, "involvedObject": {"kind": "Deployment",
        "name": "gl-stuck", "namespace": NS}, "reason": "ProgressDeadlineExceeded", "type": "Warning", "count": 1,
        "message": "Deployment does not have minimum availability."});
    events.create(&post, &object(deadline)).await.unwrap();

    let expected = [
        "unavailable-replicas/c/deployment/kgents-agents/gl-api",
        "rollout-stuck/c/deployment/kgents-agents/gl-stuck",
        "statefulset-not-ready/c/statefulset/kgents-agents/gl-db",
        "daemonset-misscheduled/c/daemonset/kgents-agents/gl-agent",
        "oom-killed/c/pod/kgents-agents/gl-oom",
        "restarts/c/pod/kgents-agents/gl-oom",
        "readiness-flapping/c/pod/kgents-agents/gl-flap",
        "near-limit/c/pod/kgents-agents/gl-hot",
    ];
    within("a finding for every written cause", || async {
        has_all(&findings(&demo, "state=open", ADMIN).await, &expected).then_some(())
    })
    .await;
    causes_go_away_while_their_objects_stay(&demo, &deployments, &pods).await;
    let gone = DeleteParams::default();
    deployments.delete("gl-api", &gone).await.unwrap();
    deployments.delete("gl-stuck", &gone).await.unwrap();
    statefulsets.delete("gl-db", &gone).await.unwrap();
    daemonsets.delete("gl-agent", &gone).await.unwrap();
    pods.delete("gl-oom", &gone).await.unwrap();
    pods.delete("gl-flap", &gone).await.unwrap();
    pods.delete("gl-hot", &gone).await.unwrap();
    within("every written cause's finding to resolve", || async {
        has_all(&findings(&demo, "state=resolved", ADMIN).await, &expected).then_some(())
    })
    .await;
    drop(demo);
}
