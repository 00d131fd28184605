//! Scenario tests: the kgents counts and relations, determinism, and the scale scenario's shape.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::clock::ManualClock;
use crate::resource::{
    CONFIGMAPS, DAEMONSETS, DEPLOYMENTS, ENDPOINTS, ENDPOINTSLICES, EVENTS, NAMESPACES, NODES, PODS,
    REPLICASETS, SECRETS, SERVICES, STATEFULSETS,
};
use crate::select::Filter;
use crate::store::StoreConfig;

const NOW: i64 = 1_714_564_800;

fn built(scenario: &Scenario, seed: u64) -> Store {
    let config = StoreConfig { history: 100_000, watch_buffer: 16, seed };
    let store = Store::new(&config, Arc::new(ManualClock::new(NOW)));
    populate(&store, scenario, seed).unwrap();
    store
}

fn all(store: &Store, resource: ResourceId) -> Vec<Arc<Value>> {
    store.list(resource, &Filter::default(), None, None).unwrap().items
}

fn names(objects: &[Arc<Value>]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn scenario_names_parse_and_print_back() {
    for name in ["empty", "kgents", "scale:10000"] {
        assert_eq!(name.parse::<Scenario>().unwrap().to_string(), name);
    }
    assert!("scale:lots".parse::<Scenario>().is_err());
    assert!("prod".parse::<Scenario>().is_err());
}

#[test]
fn kgents_has_the_planned_counts() {
    let store = built(&Scenario::Kgents, 42);
    let counts =
        [NODES, NAMESPACES, PODS, SERVICES, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, ENDPOINTS, ENDPOINTSLICES]
            .map(|r| store.count(r));
    assert_eq!(counts, [3, 5, 22, 21, 7, 6, 1, 21, 21]);
    let nodes = names(&all(&store, NODES));
    assert_eq!(
        nodes,
        ["/kgents-control-plane", "/kgents-worker", "/kgents-worker2"].map(String::from).into()
    );
    assert!(store.get(SERVICES, Some("default"), "kubernetes").is_ok());
}

#[test]
fn the_same_seed_builds_the_same_cluster_and_another_seed_another() {
    let (a, b, c) = (built(&Scenario::Kgents, 7), built(&Scenario::Kgents, 7), built(&Scenario::Kgents, 8));
    assert_eq!(all(&a, PODS), all(&b, PODS));
    assert_ne!(names(&all(&a, PODS)), names(&all(&c, PODS)));
}

#[test]
fn pods_belong_to_replica_sets_that_belong_to_deployments() {
    let store = built(&Scenario::Kgents, 42);
    let uids: HashMap<String, (String, String)> = [REPLICASETS, STATEFULSETS, DAEMONSETS, DEPLOYMENTS]
        .iter()
        .flat_map(|r| all(&store, *r))
        .map(|o| {
            (
                o["metadata"]["uid"].as_str().unwrap().to_owned(),
                (o["kind"].as_str().unwrap().to_owned(), o["metadata"]["name"].as_str().unwrap().to_owned()),
            )
        })
        .collect();
    for pod in all(&store, PODS) {
        let owner = &pod["metadata"]["ownerReferences"][0];
        let (kind, name) = &uids[owner["uid"].as_str().unwrap()];
        assert_eq!(owner["kind"], kind.as_str());
        let pod_name = pod["metadata"]["name"].as_str().unwrap();
        match kind.as_str() {
            "ReplicaSet" => {
                assert!(
                    pod_name.starts_with(&format!("{name}-")) && pod_name.len() == name.len() + 6,
                    "{pod_name}"
                );
                let hash = &pod["metadata"]["labels"]["pod-template-hash"];
                assert!(name.ends_with(hash.as_str().unwrap()));
            }
            "StatefulSet" => {
                assert!(pod_name.strip_prefix(&format!("{name}-")).unwrap().parse::<u32>().is_ok());
            }
            other => assert_eq!(other, "DaemonSet"),
        }
    }
    for rs in all(&store, REPLICASETS) {
        let owner = &rs["metadata"]["ownerReferences"][0];
        assert_eq!(uids[owner["uid"].as_str().unwrap()].0, "Deployment");
    }
}

#[test]
fn endpoints_list_the_ready_pods_their_service_selects() {
    let store = built(&Scenario::Kgents, 42);
    let pods = all(&store, PODS);
    for svc in all(&store, SERVICES) {
        let Some(selector) = svc["spec"]["selector"].as_object() else { continue };
        let (ns, name) = (svc["metadata"]["namespace"].as_str(), svc["metadata"]["name"].as_str().unwrap());
        let headless = svc["spec"]["clusterIP"] == "None";
        let mut expected: Vec<&str> = pods
            .iter()
            .filter(|p| p["metadata"]["namespace"].as_str() == ns)
            .filter(|p| selector.iter().all(|(k, v)| &p["metadata"]["labels"][k] == v))
            .filter(|p| {
                headless
                    || p["status"]["containerStatuses"].as_array().unwrap().iter().all(|c| c["ready"] == true)
            })
            .map(|p| p["status"]["podIP"].as_str().unwrap())
            .collect();
        let ep = store.get(ENDPOINTS, ns, name).unwrap();
        let mut listed: Vec<&str> = ep["subsets"][0]["addresses"]
            .as_array()
            .map(|a| a.iter().map(|a| a["ip"].as_str().unwrap()).collect())
            .unwrap_or_default();
        expected.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, expected, "{name}");
        assert!(!expected.is_empty() || name == "agent-orchestrator", "{name} selects no ready pod");
    }
}

#[test]
fn health_shows_one_crash_loop_and_one_image_pull_back_off() {
    let store = built(&Scenario::Kgents, 42);
    let reasons: Vec<String> = all(&store, PODS)
        .iter()
        .flat_map(|p| p["status"]["containerStatuses"].as_array().unwrap().clone())
        .filter_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(reasons, ["ImagePullBackOff", "CrashLoopBackOff"]);
    let events = all(&store, EVENTS);
    for reason in ["Scheduled", "Pulled", "Started", "BackOff", "ScalingReplicaSet", "Failed"] {
        assert!(events.iter().any(|e| e["reason"] == reason), "no {reason} event");
    }
}

#[test]
fn secrets_are_there_for_redaction_tests_to_find() {
    let store = built(&Scenario::Kgents, 42);
    let api = all(&store, DEPLOYMENTS).into_iter().find(|d| d["metadata"]["name"] == "kgent-api").unwrap();
    let env = &api["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "DATABASE_PASSWORD" && e["value"] == "hunter2"));
    assert!(env
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["valueFrom"]["secretKeyRef"]["name"] == "kgent-api-secrets"));
    let applied =
        api["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().unwrap();
    assert!(applied.contains("hunter2"), "the annotation repeats the env, as it does in real clusters");
    assert!(store.count(SECRETS) >= 3 && store.count(CONFIGMAPS) >= 5);
}

#[test]
fn scale_spreads_pods_over_namespaces_and_nodes() {
    let store = built(&Scenario::Scale(1000), 1);
    assert_eq!(store.count(PODS), 1000);
    assert_eq!(store.count(NODES), 1 + 1000usize.div_ceil(30));
    assert_eq!(store.count(NAMESPACES), 21);
    assert_eq!((store.count(DEPLOYMENTS), store.count(SERVICES)), (100, 101));
    let pods = all(&store, PODS);
    let ips: BTreeSet<&str> = pods.iter().map(|p| p["status"]["podIP"].as_str().unwrap()).collect();
    assert_eq!(ips.len(), 1000, "pod IPs are unique");
}
