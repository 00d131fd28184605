//! Pods as the scheduler and the kubelet write them while the cluster lives: created from a controller's
//! template, placed or left unschedulable, started, crashing with growing back-off, OOM-killed, stuck pulling an
//! image, marked not ready by the node controller, completed.
//!
//! Pure functions over pod JSON, so each transition is tested on its own and the churn only decides *which*
//! pod changes and *when*.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::rng::Rng;

/// Where a new pod goes: its node and address, or nowhere yet.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    /// Bound to a node, with the pod IP the node's CNI gave it.
    Node { name: String, host_ip: String, pod_ip: String },
    /// The scheduler found no node: `PodScheduled=False`, reason `Unschedulable`.
    Unschedulable { message: String },
}

/// How a new pod's first container starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Running and ready.
    Running,
    /// Its image cannot be pulled (`ErrImagePull`).
    ErrImagePull,
}

/// The identity of a new pod: where it lives, its labels and its controlling owner.
pub(crate) struct Identity<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub generate_name: &'a str,
    pub labels: Value,
    pub owner: Value,
}

/// The image reference the runtime reports for `image` (`nginx:1` → `docker.io/library/nginx:1`).
pub(crate) fn full_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    if image.contains('/') && (first.contains('.') || first.contains(':')) {
        image.to_owned()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

fn running_status(container: &Value, now: i64, rng: &mut Rng) -> Value {
    let image = container["image"].as_str().unwrap_or_default();
    let full = full_image(image);
    let repo = full.rsplit_once(':').map_or(full.as_str(), |(repo, _)| repo).to_owned();
    json!({
        "name": container["name"], "image": full, "imageID": format!("{repo}@sha256:{}", rng.hex(64)),
        "containerID": format!("containerd://{}", rng.hex(64)), "ready": true, "started": true,
        "restartCount": 0, "state": {"running": {"startedAt": rfc3339(now)}}, "lastState": {},
    })
}

fn pull_failed_status(container: &Value) -> Value {
    let image = container["image"].as_str().unwrap_or_default();
    json!({
        "name": container["name"], "image": image, "imageID": "", "ready": false, "started": false,
        "restartCount": 0, "lastState": {},
        "state": {"waiting": {"reason": "ErrImagePull", "message": pull_error(image)}},
    })
}

/// The runtime's message for an image that does not exist.
pub(crate) fn pull_error(image: &str) -> String {
    let full = full_image(image);
    format!(
        "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
    )
}

fn condition(kind: &str, ok: bool, at: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": at})
}

/// A pod made from `template` (a pod template: labels and spec) as its controller creates it and the
/// scheduler and kubelet then leave it.
pub(crate) fn new_pod(
    template: &Value,
    id: &Identity,
    placement: &Placement,
    start: Start,
    now: i64,
    rng: &mut Rng,
) -> Value {
    let at = rfc3339(now);
    let mut spec = template["spec"].clone();
    let access = format!("kube-api-access-{}", rng.suffix(5));
    let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    let mut volumes = volumes;
    volumes.push(json!({"name": access, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}));
    spec["volumes"] = json!(volumes);
    if let Some(containers) = spec["containers"].as_array_mut() {
        for c in containers {
            let mut mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
            mounts.push(json!({"name": access, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}));
            c["volumeMounts"] = json!(mounts);
        }
    }
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        tolerations
            .push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
    }
    spec["tolerations"] = json!(tolerations);
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    if let (Some(labels), Some(extra)) = (labels.as_object_mut(), id.labels.as_object()) {
        labels.extend(extra.clone());
    }
    let mut pod = json!({
        "metadata": {"name": id.name, "generateName": id.generate_name, "namespace": id.namespace, "labels": labels,
                     "ownerReferences": [id.owner], "creationTimestamp": at},
        "spec": spec,
        "status": {"phase": "Pending"},
    });
    if let Some(annotations) = template["metadata"]["annotations"].as_object().filter(|a| !a.is_empty()) {
        pod["metadata"]["annotations"] = json!(annotations);
    }
    match placement {
        Placement::Unschedulable { message } => {
            pod["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                "lastTransitionTime": at, "reason": "Unschedulable", "message": message}]);
        }
        Placement::Node { name, host_ip, pod_ip } => bind(&mut pod, name, host_ip, pod_ip, start, now, rng),
    }
    pod["status"]["qosClass"] = json!(crate::store::qos_class(&pod));
    pod
}

/// Binds a pod to a node and starts its containers, as the scheduler and then the kubelet do.
pub(crate) fn bind(
    pod: &mut Value,
    node: &str,
    host_ip: &str,
    pod_ip: &str,
    start: Start,
    now: i64,
    rng: &mut Rng,
) {
    let at = rfc3339(now);
    pod["spec"]["nodeName"] = json!(node);
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 && start == Start::ErrImagePull {
                pull_failed_status(c)
            } else {
                running_status(c, now, rng)
            }
        })
        .collect();
    let ready = start == Start::Running;
    let status = &mut pod["status"];
    status["phase"] = json!(if ready { "Running" } else { "Pending" });
    status["hostIP"] = json!(host_ip);
    status["hostIPs"] = json!([{"ip": host_ip}]);
    status["podIP"] = json!(pod_ip);
    status["podIPs"] = json!([{"ip": pod_ip}]);
    status["startTime"] = json!(at);
    status["containerStatuses"] = json!(statuses);
    status["conditions"] = json!([
        condition("PodReadyToStartContainers", true, &at),
        condition("Initialized", true, &at),
        condition("Ready", ready, &at),
        condition("ContainersReady", ready, &at),
        condition("PodScheduled", true, &at),
    ]);
    refresh_readiness(pod, now);
}

/// Sets the `Ready` and `ContainersReady` conditions from the container statuses (and the node controller's
/// verdict, `node_ready`), moving `lastTransitionTime` only when the status flips.
pub(crate) fn refresh_readiness(pod: &mut Value, now: i64) {
    let statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    let unready: Vec<&str> =
        statuses.iter().filter(|s| s["ready"] != true).filter_map(|s| s["name"].as_str()).collect();
    let containers_ready = unready.is_empty() && !statuses.is_empty();
    let node_ok = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .is_none_or(|c| c["reason"] != "NodeNotReady");
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else { return };
    for c in conditions.iter_mut() {
        let (ok, reason, message) = match c["type"].as_str() {
            Some("Ready") if !node_ok => continue,
            Some("ContainersReady" | "Ready") => {
                (containers_ready, "ContainersNotReady", unready_message(&unready))
            }
            _ => continue,
        };
        set_condition(c, ok, reason, &message, now);
    }
}

fn unready_message(unready: &[&str]) -> String {
    format!("containers with unready status: [{}]", unready.join(" "))
}

fn set_condition(c: &mut Value, ok: bool, reason: &str, message: &str, now: i64) {
    let status = if ok { "True" } else { "False" };
    if c["status"] != status {
        c["lastTransitionTime"] = json!(rfc3339(now));
    }
    c["status"] = json!(status);
    if let Some(c) = c.as_object_mut() {
        if ok {
            c.remove("reason");
            c.remove("message");
        } else {
            c.insert("reason".into(), json!(reason));
            c.insert("message".into(), json!(message));
        }
    }
}

/// Why a container stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The process failed (`Error`, exit code 1).
    Error,
    /// The kernel killed it for exceeding its memory limit (`OOMKilled`, 137).
    OomKilled,
}

/// The kubelet's restart back-off after `restarts` restarts: 10 s doubling to 5 min.
pub(crate) fn back_off(restarts: i64) -> i64 {
    (10_i64 << (restarts.clamp(1, 6) - 1)).min(300)
}

/// `5m0s`, `40s`: a duration as Go prints it in back-off messages.
fn go_duration(seconds: i64) -> String {
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s}s"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// Container `index` terminated (`exit`) and waits in `CrashLoopBackOff`; returns the back-off in seconds.
pub(crate) fn crash(pod: &mut Value, index: usize, exit: Exit, now: i64) -> i64 {
    let (ns, name) = (pod["metadata"]["namespace"].clone(), pod["metadata"]["name"].clone());
    let status = &mut pod["status"]["containerStatuses"][index];
    let started =
        status["state"]["running"]["startedAt"].as_str().map_or_else(|| rfc3339(now - 5), str::to_owned);
    let restarts = status["restartCount"].as_i64().unwrap_or(0) + 1;
    let (reason, code) = match exit {
        Exit::Error => ("Error", 1),
        Exit::OomKilled => ("OOMKilled", 137),
    };
    let container = status["name"].as_str().unwrap_or_default().to_owned();
    let delay = back_off(restarts);
    status["lastState"] = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
        "finishedAt": rfc3339(now), "containerID": status["containerID"]}});
    status["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
        "back-off {} restarting failed container={container} pod={}_{}", go_duration(delay),
        name.as_str().unwrap_or_default(), ns.as_str().unwrap_or_default())}});
    status["restartCount"] = json!(restarts);
    status["ready"] = json!(false);
    status["started"] = json!(false);
    refresh_readiness(pod, now);
    delay
}

/// Container `index` is started again after its back-off (a new container id, running, ready).
pub(crate) fn restart(pod: &mut Value, index: usize, now: i64, rng: &mut Rng) {
    let status = &mut pod["status"]["containerStatuses"][index];
    status["containerID"] = json!(format!("containerd://{}", rng.hex(64)));
    status["state"] = json!({"running": {"startedAt": rfc3339(now)}});
    status["ready"] = json!(true);
    status["started"] = json!(true);
    refresh_readiness(pod, now);
}

/// Container `index` still cannot pull its image: `ImagePullBackOff`.
pub(crate) fn pull_back_off(pod: &mut Value, index: usize) {
    let status = &mut pod["status"]["containerStatuses"][index];
    let image = status["image"].as_str().unwrap_or_default().to_owned();
    status["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
}

/// The node controller's verdict on a pod whose node stopped reporting (`ready == false`), or the kubelet's
/// report once it is back.
pub(crate) fn node_verdict(pod: &mut Value, ready: bool, now: i64) {
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else { return };
    if let Some(c) = conditions.iter_mut().find(|c| c["type"] == "Ready") {
        if ready {
            if let Some(c) = c.as_object_mut() {
                c.remove("reason");
            }
        } else {
            set_condition(c, false, "NodeNotReady", "", now);
            if let Some(c) = c.as_object_mut() {
                c.remove("message");
            }
        }
    }
    if ready {
        refresh_readiness(pod, now);
    }
}

/// All containers exited 0: the pod `Succeeded`, as a job's pod ends.
pub(crate) fn complete(pod: &mut Value, now: i64) {
    let at = rfc3339(now);
    if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
        for s in statuses {
            let started = s["state"]["running"]["startedAt"].clone();
            s["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                               "finishedAt": at, "containerID": s["containerID"]}});
            s["ready"] = json!(false);
            s["started"] = json!(false);
        }
    }
    pod["status"]["phase"] = json!("Succeeded");
    if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
        for c in conditions.iter_mut().filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady") {
            set_condition(c, false, "PodCompleted", "", now);
            if let Some(c) = c.as_object_mut() {
                c.remove("message");
            }
        }
    }
}

/// Whether the pod is ready (its `Ready` condition is `True`).
pub(crate) fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_564_800;

    fn running() -> Value {
        let template = json!({"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}});
        let id = Identity {
            namespace: "shop",
            name: "web-abc-x2k4p",
            generate_name: "web-abc-",
            labels: json!({"pod-template-hash": "abc"}),
            owner: json!({"kind": "ReplicaSet", "name": "web-abc", "uid": "u"}),
        };
        let placement =
            Placement::Node { name: "n1".into(), host_ip: "172.18.0.3".into(), pod_ip: "10.244.1.9".into() };
        new_pod(&template, &id, &placement, Start::Running, NOW, &mut Rng::new(1))
    }

    #[test]
    fn a_new_pod_runs_ready_on_its_node_with_its_template_labels() {
        let pod = running();
        assert_eq!(pod["status"]["phase"], "Running");
        assert!(is_ready(&pod));
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert_eq!(pod["metadata"]["labels"], json!({"app": "web", "pod-template-hash": "abc"}));
        assert_eq!(pod["status"]["containerStatuses"][0]["image"], "docker.io/library/nginx:1.27");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
    }

    #[test]
    fn crashes_back_off_exponentially_and_a_restart_heals() {
        let mut pod = running();
        assert_eq!(crash(&mut pod, 0, Exit::Error, NOW), 10);
        assert!(!is_ready(&pod));
        assert_eq!(crash(&mut pod, 0, Exit::Error, NOW + 10), 20);
        let delay = crash(&mut pod, 0, Exit::OomKilled, NOW + 30);
        assert_eq!(delay, 40);
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["restartCount"], 3);
        assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(status["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
        restart(&mut pod, 0, NOW + 70, &mut Rng::new(2));
        assert!(is_ready(&pod));
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 3);
        assert_eq!((back_off(5), back_off(6), back_off(60)), (160, 300, 300));
    }

    #[test]
    fn an_unreachable_node_makes_its_pods_unready_until_it_returns() {
        let mut pod = running();
        node_verdict(&mut pod, false, NOW);
        assert!(!is_ready(&pod));
        refresh_readiness(&mut pod, NOW + 1);
        assert!(!is_ready(&pod), "the kubelet cannot overrule the node controller while the node is away");
        node_verdict(&mut pod, true, NOW + 60);
        assert!(is_ready(&pod));
    }

    #[test]
    fn unschedulable_and_unpullable_pods_stay_pending() {
        let template = json!({"metadata": {"labels": {}}, "spec": {"containers": [{"name": "c", "image": "ghcr.io/x/y:9"}]}});
        let id = |name| Identity {
            namespace: "ns",
            name,
            generate_name: "p-",
            labels: json!({}),
            owner: json!({}),
        };
        let unplaced = Placement::Unschedulable { message: "0/3 nodes are available".into() };
        let pod = new_pod(&template, &id("a"), &unplaced, Start::Running, NOW, &mut Rng::new(1));
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["conditions"][0]["reason"], "Unschedulable");
        assert!(pod["spec"]["nodeName"].is_null());
        let node = Placement::Node { name: "n".into(), host_ip: "1.1.1.1".into(), pod_ip: "10.0.0.1".into() };
        let mut pod = new_pod(&template, &id("b"), &node, Start::ErrImagePull, NOW, &mut Rng::new(1));
        assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull");
        pull_back_off(&mut pod, 0);
        assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ImagePullBackOff");
        assert_eq!(pod["status"]["phase"], "Pending");
    }

    #[test]
    fn a_completed_pod_succeeded_and_is_not_ready() {
        let mut pod = running();
        complete(&mut pod, NOW + 30);
        assert_eq!(pod["status"]["phase"], "Succeeded");
        assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
        assert!(!is_ready(&pod));
    }

    #[test]
    fn images_get_the_registry_the_runtime_reports() {
        assert_eq!(full_image("nginx:1"), "docker.io/library/nginx:1");
        assert_eq!(full_image("grafana/loki:3"), "docker.io/grafana/loki:3");
        assert_eq!(full_image("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
    }
}
