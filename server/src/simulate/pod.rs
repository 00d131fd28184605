//! What a kubelet would report for a pod: a pure function of the pod, where it runs, when the simulated
//! kubelet first saw it, and now.
//!
//! Being a function of time rather than a state machine with stored steps means a restarted `simulate`
//! reports the same thing for the same pod, and the status written only changes at the moments a kubelet's
//! would (started, crashed again, finished), so the API server sees few writes.
//!
//! The label [`LABEL`] on a pod (usually through its template) picks a failure, as kwok's stages do:
//! `crashloop` (exit 1, back-off 10 s doubling to 5 min, restarts growing), `oomkilled` (the same with
//! `OOMKilled`, exit 137) and `imagepull` (`ImagePullBackOff`, never starts).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

/// The label that makes a pod fail in a chosen way.
pub const LABEL: &str = "gestalt.dev/simulate";
/// How long a pod spends in `ContainerCreating` before it runs (or fails).
pub const STARTING_SECONDS: i64 = 2;
/// How long a pod that does not restart (a job's) runs before it completes.
pub const RUN_TO_COMPLETION_SECONDS: i64 = 5;
/// The kubelet's crash back-off: 10 s, doubling, at most 5 min.
const BACKOFF_START: i64 = 10;
const BACKOFF_MAX: i64 = 300;

/// How a simulated pod behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Starts and runs (to completion when its restart policy is not `Always`).
    Run,
    /// Exits 1 at once, every time: `CrashLoopBackOff`.
    CrashLoop,
    /// Is OOM-killed at once, every time: `CrashLoopBackOff` after `OOMKilled`.
    OomKilled,
    /// Its image cannot be pulled: `ImagePullBackOff`.
    ImagePull,
}

impl Behaviour {
    /// From the pod's [`LABEL`]; anything else (or nothing) runs normally.
    pub fn of(pod: &Pod) -> Behaviour {
        match pod.metadata.labels.as_ref().and_then(|l| l.get(LABEL)).map(String::as_str) {
            Some("crashloop") => Behaviour::CrashLoop,
            Some("oomkilled") => Behaviour::OomKilled,
            Some("imagepull") => Behaviour::ImagePull,
            _ => Behaviour::Run,
        }
    }

    /// The label value that selects this behaviour (`None` for [`Behaviour::Run`]).
    pub fn label(self) -> Option<&'static str> {
        match self {
            Behaviour::Run => None,
            Behaviour::CrashLoop => Some("crashloop"),
            Behaviour::OomKilled => Some("oomkilled"),
            Behaviour::ImagePull => Some("imagepull"),
        }
    }
}

/// Where the simulated kubelet runs a pod and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The pod's IP (unset for `hostNetwork` pods: they get the host's).
    pub pod_ip: String,
    /// The node's IP.
    pub host_ip: String,
    /// When the kubelet first saw the pod, unix seconds.
    pub seen: i64,
}

/// RFC 3339 for unix seconds, as the API server writes it.
pub fn rfc3339(seconds: i64) -> Value {
    let time = k8s_openapi::jiff::Timestamp::from_second(seconds)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    serde_json::to_value(Time(time)).unwrap_or(Value::Null)
}

/// How many times a container that crashes at once has restarted `elapsed` seconds after its first start, and
/// the back-off it is in: restarts happen at 0, 10, 30, 70, 150, 310, 610… seconds.
pub fn crash_restarts(elapsed: i64) -> (u32, i64) {
    let (mut restarts, mut at, mut backoff) = (0u32, 0i64, BACKOFF_START);
    while at + backoff <= elapsed {
        at += backoff;
        restarts += 1;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    (restarts, backoff)
}

/// The `status` a kubelet would report at `now`.
pub fn status(pod: &Pod, placement: &Placement, now: i64) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let behaviour = Behaviour::of(pod);
    let restarts_always = spec.restart_policy.as_deref().is_none_or(|p| p == "Always");
    let host_network = spec.host_network == Some(true);
    let pod_ip = if host_network { placement.host_ip.clone() } else { placement.pod_ip.clone() };
    let started = placement.seen + STARTING_SECONDS;
    let elapsed = now - started;
    let seen = rfc3339(placement.seen);
    let init_done = rfc3339(placement.seen + 1);
    let (phase, state, ready, restarts, last) = if elapsed < 0 {
        let waiting = json!({"waiting": {"reason": "ContainerCreating"}});
        ("Pending", waiting, false, 0, None)
    } else {
        match behaviour {
            Behaviour::Run if !restarts_always && elapsed >= RUN_TO_COMPLETION_SECONDS => {
                let done = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(started),
                                                  "finishedAt": rfc3339(started + RUN_TO_COMPLETION_SECONDS)}});
                ("Succeeded", done, false, 0, None)
            }
            Behaviour::Run => ("Running", json!({"running": {"startedAt": rfc3339(started)}}), true, 0, None),
            Behaviour::CrashLoop | Behaviour::OomKilled => {
                let (restarts, backoff) = crash_restarts(elapsed);
                let (reason, code) =
                    if behaviour == Behaviour::OomKilled { ("OOMKilled", 137) } else { ("Error", 1) };
                let crashed = rfc3339(now - (elapsed - crash_at(restarts)));
                let last = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": crashed, "finishedAt": crashed}});
                let waiting = json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off {}s restarting failed container", backoff.min(BACKOFF_MAX))}});
                ("Running", waiting, false, restarts + 1, Some(last))
            }
            Behaviour::ImagePull => {
                let waiting =
                    json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}});
                ("Pending", waiting, false, 0, None)
            }
        }
    };
    let statuses: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            let mut state = state.clone();
            if let Some(waiting) = state.get_mut("waiting") {
                if waiting["reason"] == "ImagePullBackOff" {
                    waiting["message"] = json!(format!("Back-off pulling image \"{image}\""));
                }
            }
            let mut s = json!({"name": c.name, "image": image, "imageID": "", "ready": ready,
                               "restartCount": restarts, "started": ready, "state": state, "lastState": {}});
            if let Some(last) = &last {
                s["lastState"] = last.clone();
            }
            if ready || phase == "Succeeded" {
                s["containerID"] = json!(format!("containerd://{}", short_id(&c.name, placement)));
            }
            s
        })
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": true, "restartCount": 0,
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": seen, "finishedAt": init_done}},
                   "lastState": {}})
        })
        .collect();
    let cond = |kind: &str, ok: bool, reason: Option<&str>| {
        let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null,
                           "lastTransitionTime": if ok { rfc3339(started.max(placement.seen)) } else { seen.clone() }});
        if let Some(reason) = reason.filter(|_| !ok) {
            c["reason"] = json!(reason);
        }
        c
    };
    let not_ready = if phase == "Succeeded" { "PodCompleted" } else { "ContainersNotReady" };
    let mut status = json!({
        "phase": phase,
        "hostIP": placement.host_ip,
        "startTime": seen,
        "qosClass": qos_class(&spec),
        "conditions": [
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": init_done},
            cond("Ready", ready, Some(not_ready)),
            cond("ContainersReady", ready, Some(not_ready)),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": seen},
        ],
        "containerStatuses": statuses,
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    if elapsed >= 0 || host_network {
        status["podIP"] = json!(pod_ip);
        status["podIPs"] = json!([{"ip": pod_ip}]);
    }
    status
}

/// When crash number `restarts` happened, in seconds after the first start.
fn crash_at(restarts: u32) -> i64 {
    let (mut at, mut backoff) = (0, BACKOFF_START);
    for _ in 0..restarts {
        at += backoff;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    at
}

/// A stable fake container id.
fn short_id(container: &str, placement: &Placement) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (container, &placement.pod_ip, placement.seen).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// `Guaranteed`, `Burstable` or `BestEffort`, as the API server would derive it (approximately: requests equal to
/// limits for cpu and memory in every container is guaranteed).
fn qos_class(spec: &k8s_openapi::api::core::v1::PodSpec) -> &'static str {
    let resources: Vec<_> = spec.containers.iter().map(|c| c.resources.clone().unwrap_or_default()).collect();
    let none = resources.iter().all(|r| {
        r.requests.as_ref().is_none_or(std::collections::BTreeMap::is_empty)
            && r.limits.as_ref().is_none_or(std::collections::BTreeMap::is_empty)
    });
    if none {
        return "BestEffort";
    }
    let guaranteed = resources.iter().all(|r| {
        let limits = r.limits.clone().unwrap_or_default();
        let requests = r.requests.clone().unwrap_or_default();
        ["cpu", "memory"]
            .iter()
            .all(|k| limits.contains_key(*k) && requests.get(*k).is_none_or(|q| Some(q) == limits.get(*k)))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(labels: &Value, restart_policy: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "ns", "labels": labels},
            "spec": {"restartPolicy": restart_policy, "nodeName": "n1",
                     "containers": [{"name": "web", "image": "example.invalid/web:1",
                                     "resources": {"requests": {"cpu": "100m"}}}]}
        }))
        .unwrap()
    }

    fn placement() -> Placement {
        Placement { pod_ip: "10.244.1.5".into(), host_ip: "10.200.0.1".into(), seen: 1000 }
    }

    fn at(p: &Pod, elapsed_since_seen: i64) -> Value {
        status(p, &placement(), 1000 + elapsed_since_seen)
    }

    fn condition(status: &Value, kind: &str) -> String {
        status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_pod_is_created_then_runs_ready_with_its_ips() {
        let p = pod(&json!({}), "Always");
        let creating = at(&p, 0);
        assert_eq!(creating["phase"], "Pending");
        assert_eq!(creating["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
        assert_eq!(condition(&creating, "Ready"), "False");
        assert_eq!(condition(&creating, "PodScheduled"), "True");
        assert!(creating.get("podIP").is_none());
        let running = at(&p, STARTING_SECONDS);
        assert_eq!(running["phase"], "Running");
        assert_eq!(running["podIP"], "10.244.1.5");
        assert_eq!(running["hostIP"], "10.200.0.1");
        assert_eq!(running["qosClass"], "Burstable");
        assert_eq!(running["containerStatuses"][0]["ready"], true);
        assert_eq!(running["containerStatuses"][0]["state"]["running"]["startedAt"], "1970-01-01T00:16:42Z");
        for kind in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            assert_eq!(condition(&running, kind), "True", "{kind}");
        }
        // Nothing changes while it keeps running: no write.
        assert_eq!(at(&p, 500), running);
    }

    #[test]
    fn a_crash_loop_restarts_at_the_kubelets_back_off() {
        assert_eq!(crash_restarts(0), (0, 10));
        assert_eq!(crash_restarts(9), (0, 10));
        assert_eq!(crash_restarts(10), (1, 20));
        assert_eq!(crash_restarts(30), (2, 40));
        assert_eq!(crash_restarts(310), (5, 300));
        assert_eq!(crash_restarts(610), (6, 300));
        let p = pod(&json!({LABEL: "crashloop"}), "Always");
        let s = at(&p, STARTING_SECONDS + 31);
        assert_eq!(s["phase"], "Running");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(c["restartCount"], 3);
        assert_eq!(c["ready"], false);
        assert_eq!(condition(&s, "Ready"), "False");
        // The restart count only grows.
        let later = at(&p, STARTING_SECONDS + 400);
        assert!(later["containerStatuses"][0]["restartCount"].as_u64() > c["restartCount"].as_u64());
    }

    #[test]
    fn an_oom_kill_and_an_image_pull_failure_look_as_kubectl_shows_them() {
        let oom = at(&pod(&json!({LABEL: "oomkilled"}), "Always"), STARTING_SECONDS);
        assert_eq!(oom["containerStatuses"][0]["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(oom["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 137);
        let pull = at(&pod(&json!({LABEL: "imagepull"}), "Always"), STARTING_SECONDS + 60);
        assert_eq!(pull["phase"], "Pending");
        let waiting = &pull["containerStatuses"][0]["state"]["waiting"];
        assert_eq!(waiting["reason"], "ImagePullBackOff");
        assert_eq!(waiting["message"], "Back-off pulling image \"example.invalid/web:1\"");
        assert_eq!(pull["containerStatuses"][0]["restartCount"], 0);
        // An unknown value runs normally rather than failing the simulation.
        assert_eq!(Behaviour::of(&pod(&json!({LABEL: "explode"}), "Always")), Behaviour::Run);
    }

    #[test]
    fn a_job_pod_runs_to_completion() {
        let p = pod(&json!({}), "OnFailure");
        assert_eq!(at(&p, STARTING_SECONDS)["phase"], "Running");
        let done = at(&p, STARTING_SECONDS + RUN_TO_COMPLETION_SECONDS);
        assert_eq!(done["phase"], "Succeeded");
        assert_eq!(done["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
        assert_eq!(condition(&done, "Ready"), "False");
    }
}
