//! A sim scenario as the objects a person would `kubectl apply`: namespaces, service accounts, config maps,
//! services, deployments, stateful sets, daemon sets, jobs, cron jobs, ingresses, autoscalers. Never pods,
//! replica sets, endpoints or events: the cluster's own controllers make those from these, and its scheduler
//! places the pods on the simulated nodes. Never secrets either (the scenarios carry secret data for redaction
//! tests; a test cluster does not need it, and a pod that mounts a missing secret still runs under `simulate`).
//!
//! The objects come from the simulator's own scenario builders (a [`sim::Sim`] built in memory, read back from
//! its store), so the real cluster and the simulated one start from the same manifests. Everything a
//! controller or the API server fills is dropped: status, uid, resource version, timestamps, annotations (the
//! scenario's `last-applied-configuration` included), cluster IPs and node ports. A workload whose pods the
//! simulator shows failing gets the [`super::pod::LABEL`] on its pod template, so `simulate`'s kubelet makes
//! them fail the same way.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use sim::resource::{
    ResourceId, CONFIGMAPS, CRONJOBS, DAEMONSETS, DEPLOYMENTS, HPAS, INGRESSES, JOBS, NAMESPACES, PODS, PVCS,
    REPLICASETS, SERVICEACCOUNTS, SERVICES, STATEFULSETS,
};
use sim::select::Filter;
use sim::store::Store;

use super::pod::Behaviour;

/// What is written, in this order (namespaces first, the things that refer to others last).
const WRITTEN: [ResourceId; 12] = [
    NAMESPACES,
    SERVICEACCOUNTS,
    CONFIGMAPS,
    PVCS,
    SERVICES,
    DEPLOYMENTS,
    STATEFULSETS,
    DAEMONSETS,
    JOBS,
    CRONJOBS,
    INGRESSES,
    HPAS,
];

/// Namespaces every cluster already has, with what the API server put in them.
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// One object to create, and the older group versions to try when the server lacks its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object (with `apiVersion` and `kind`).
    pub object: Value,
    /// The resource's plural name (`deployments`).
    pub plural: &'static str,
    /// Group versions to fall back to, in order (`batch/v1beta1` for cron jobs on servers before 1.21).
    pub fallbacks: &'static [&'static str],
}

impl Manifest {
    /// `kind namespace/name`, for messages.
    pub fn describe(&self) -> String {
        let meta = &self.object["metadata"];
        match meta["namespace"].as_str() {
            Some(ns) => format!(
                "{} {ns}/{}",
                self.object["kind"].as_str().unwrap_or("?"),
                meta["name"].as_str().unwrap_or("?")
            ),
            None => format!(
                "{} {}",
                self.object["kind"].as_str().unwrap_or("?"),
                meta["name"].as_str().unwrap_or("?")
            ),
        }
    }
}

/// The manifests of the scenario held in `store`, in creation order.
pub fn manifests(store: &Store) -> Vec<Manifest> {
    let failing = failing_workloads(store);
    let claims = stateful_set_claims(store);
    let mut out = Vec::new();
    for resource in WRITTEN {
        let Ok(page) = store.list(resource, &Filter::default(), None, None) else { continue };
        for object in page.items {
            let made_by_a_stateful_set = resource == PVCS
                && claims.iter().any(|(ns, prefix)| {
                    object["metadata"]["namespace"] == ns.as_str()
                        && object["metadata"]["name"]
                            .as_str()
                            .and_then(|n| n.strip_prefix(prefix.as_str()))
                            .is_some_and(|ordinal| {
                                !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit())
                            })
                });
            if made_by_a_stateful_set {
                continue;
            }
            if let Some(manifest) = manifest(resource, &object, &failing) {
                out.push(manifest);
            }
        }
    }
    out
}

/// The namespaces the manifests create (not the system ones), where `simulate` also provisions volumes.
pub fn namespaces(manifests: &[Manifest]) -> Vec<String> {
    manifests
        .iter()
        .filter(|m| m.object["kind"] == "Namespace")
        .filter_map(|m| m.object["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

fn manifest(
    resource: ResourceId,
    object: &Value,
    failing: &HashMap<(String, String, String), Behaviour>,
) -> Option<Manifest> {
    let r = resource.get();
    let meta = &object["metadata"];
    let name = meta["name"].as_str()?;
    let namespace = meta["namespace"].as_str();
    // What a controller made (a cron job's jobs, a stateful set's claims) is made again by the real one.
    if meta["ownerReferences"].as_array().is_some_and(|refs| !refs.is_empty()) {
        return None;
    }
    let existing = match resource {
        NAMESPACES => SYSTEM_NAMESPACES.contains(&name),
        SERVICEACCOUNTS => name == "default",
        CONFIGMAPS => name == "kube-root-ca.crt",
        SERVICES => namespace == Some("default") && name == "kubernetes",
        _ => false,
    };
    if existing {
        return None;
    }
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace.filter(|_| r.namespaced) {
        metadata["namespace"] = json!(ns);
    }
    if let Some(labels) = meta["labels"].as_object().filter(|l| !l.is_empty()) {
        metadata["labels"] = Value::Object(labels.clone());
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(r.api_version()));
    out.insert("kind".into(), json!(r.kind));
    out.insert("metadata".into(), metadata);
    for (key, value) in object.as_object()? {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            out.insert(key.clone(), value.clone());
        }
    }
    let mut object = Value::Object(out);
    match resource {
        NAMESPACES => {
            object.as_object_mut()?.remove("spec"); // finalizers: the API server sets them
        }
        SERVICES => clean_service(&mut object["spec"]),
        DEPLOYMENTS | STATEFULSETS | DAEMONSETS | JOBS => {
            clean_template(&mut object["spec"]["template"]);
            for claim in object["spec"]["volumeClaimTemplates"].as_array_mut().into_iter().flatten() {
                if let Some(claim) = claim.as_object_mut() {
                    claim.remove("status");
                }
            }
            if resource == JOBS {
                // The API server generates the selector and the labels that go with it.
                object["spec"].as_object_mut()?.remove("selector");
                if let Some(labels) = object["spec"]["template"]["metadata"]["labels"].as_object_mut() {
                    labels.remove("controller-uid");
                    labels.remove("batch.kubernetes.io/controller-uid");
                }
            }
            let key = (r.kind.to_owned(), namespace.unwrap_or_default().to_owned(), name.to_owned());
            if let Some(label) = failing.get(&key).and_then(|b| b.label()) {
                object["spec"]["template"]["metadata"]["labels"][super::pod::LABEL] = json!(label);
            }
        }
        CRONJOBS => clean_template(&mut object["spec"]["jobTemplate"]["spec"]["template"]),
        PVCS => {
            object["spec"].as_object_mut()?.remove("volumeName");
        }
        _ => {}
    }
    let fallbacks: &'static [&'static str] = match resource {
        CRONJOBS => &["batch/v1beta1"],
        HPAS => &["autoscaling/v2beta2"],
        _ => &[],
    };
    Some(Manifest { object, plural: r.plural, fallbacks })
}

/// Drops what the API server allocates: cluster IPs, node ports, health check ports.
fn clean_service(spec: &mut Value) {
    if let Some(spec) = spec.as_object_mut() {
        for key in ["clusterIP", "clusterIPs", "healthCheckNodePort", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(key);
        }
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.remove("nodePort");
            }
        }
    }
}

/// Drops what admission fills in a pod template (`priority` is refused when it disagrees with the server's
/// priority classes).
fn clean_template(template: &mut Value) {
    if let Some(spec) = template["spec"].as_object_mut() {
        spec.remove("priority");
        spec.remove("nodeName");
    }
    if let Some(meta) = template["metadata"].as_object_mut() {
        meta.remove("creationTimestamp");
        meta.remove("annotations");
    }
}

/// (namespace, `<template>-<statefulset>-`) for every claim template: the stateful set controller names its
/// claims so (and, before 1.23, gives them no owner reference).
fn stateful_set_claims(store: &Store) -> Vec<(String, String)> {
    let Ok(sets) = store.list(STATEFULSETS, &Filter::default(), None, None) else { return Vec::new() };
    let mut out = Vec::new();
    for set in sets.items {
        let ns = set["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = set["metadata"]["name"].as_str().unwrap_or_default();
        for template in set["spec"]["volumeClaimTemplates"].as_array().into_iter().flatten() {
            if let Some(claim) = template["metadata"]["name"].as_str() {
                out.push((ns.to_owned(), format!("{claim}-{name}-")));
            }
        }
    }
    out
}

/// The workloads (kind, namespace, name) whose pods the simulator shows failing, and how.
fn failing_workloads(store: &Store) -> HashMap<(String, String, String), Behaviour> {
    let owner = |object: &Value| -> Option<(String, String)> {
        let refs = object["metadata"]["ownerReferences"].as_array()?;
        let r = refs.iter().find(|r| r["controller"] == true)?;
        Some((r["kind"].as_str()?.to_owned(), r["name"].as_str()?.to_owned()))
    };
    let mut out = HashMap::new();
    let Ok(pods) = store.list(PODS, &Filter::default(), None, None) else { return out };
    for pod in pods.items {
        let Some(behaviour) = observed_behaviour(&pod) else { continue };
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        let Some((mut kind, mut name)) = owner(&pod) else { continue };
        if kind == "ReplicaSet" {
            let Ok(rs) = store.get(REPLICASETS, Some(&ns), &name) else { continue };
            let Some(parent) = owner(&rs) else { continue };
            (kind, name) = parent;
        }
        out.insert((kind, ns, name), behaviour);
    }
    out
}

/// How a simulated pod is failing, from its container statuses.
fn observed_behaviour(pod: &Value) -> Option<Behaviour> {
    let statuses = pod["status"]["containerStatuses"].as_array()?;
    statuses.iter().find_map(|s| match s["state"]["waiting"]["reason"].as_str() {
        Some("ImagePullBackOff" | "ErrImagePull") => Some(Behaviour::ImagePull),
        Some("CrashLoopBackOff") if s["lastState"]["terminated"]["reason"] == "OOMKilled" => {
            Some(Behaviour::OomKilled)
        }
        Some("CrashLoopBackOff") => Some(Behaviour::CrashLoop),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn kgents() -> Vec<Manifest> {
        let sim =
            sim::Sim::new(sim::SimConfig { scenario: sim::Scenario::Kgents, ..sim::SimConfig::default() })
                .unwrap();
        manifests(sim.store())
    }

    fn counts(manifests: &[Manifest]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for m in manifests {
            *out.entry(m.object["kind"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        out
    }

    #[test]
    fn kgents_is_written_as_workloads_never_as_pods_or_secrets() {
        let manifests = kgents();
        let counts = counts(&manifests);
        assert_eq!(counts["Deployment"], 7, "{counts:?}");
        assert_eq!(counts["StatefulSet"], 6, "{counts:?}");
        assert_eq!(counts["DaemonSet"], 1, "{counts:?}");
        assert_eq!(counts["Service"], 20, "the 21 services but `kubernetes`: {counts:?}");
        assert_eq!(counts["CronJob"], 1, "{counts:?}");
        for kind in [
            "Pod",
            "ReplicaSet",
            "Secret",
            "Endpoints",
            "EndpointSlice",
            "Event",
            "Node",
            "Job",
            "PersistentVolumeClaim",
        ] {
            assert!(!counts.contains_key(kind), "{kind} written: {counts:?}");
        }
        // Namespaces first, so that everything else has somewhere to go.
        assert_eq!(manifests[0].object["kind"], "Namespace");
        assert_eq!(namespaces(&manifests).len(), 4);
    }

    #[test]
    fn nothing_the_api_server_or_a_controller_fills_is_kept() {
        let all = serde_json::to_string(&kgents().iter().map(|m| &m.object).collect::<Vec<_>>()).unwrap();
        for leak in [
            "\"status\"",
            "\"uid\"",
            "\"resourceVersion\"",
            "\"clusterIP\"",
            "last-applied-configuration",
            "\"nodeName\"",
            "creationTimestamp",
            "\"priority\"",
        ] {
            assert!(!all.contains(leak), "{leak} kept");
        }
    }

    #[test]
    fn workloads_whose_pods_fail_in_the_sim_carry_the_failure_label() {
        let manifests = kgents();
        let label = |name: &str| {
            let m = manifests
                .iter()
                .find(|m| m.object["metadata"]["name"] == name && m.object["kind"] == "Deployment")
                .unwrap();
            m.object["spec"]["template"]["metadata"]["labels"][super::super::pod::LABEL].clone()
        };
        assert_eq!(label("agent-orchestrator"), "imagepull");
        assert_eq!(label("agent-runner"), "crashloop");
        assert_eq!(label("kong"), Value::Null);
    }

    #[test]
    fn a_cron_job_and_an_autoscaler_fall_back_to_the_versions_1_20_serves() {
        let manifests = kgents();
        let cron = manifests.iter().find(|m| m.object["kind"] == "CronJob").unwrap();
        assert_eq!(cron.fallbacks, ["batch/v1beta1"]);
        assert_eq!(cron.describe(), "CronJob kgents-triad/postgres-backup");
        let hpa = manifests.iter().find(|m| m.object["kind"] == "HorizontalPodAutoscaler").unwrap();
        assert_eq!(hpa.fallbacks, ["autoscaling/v2beta2"]);
    }
}
