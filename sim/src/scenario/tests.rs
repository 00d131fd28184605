//! Scenario tests: the kgents counts and relations, determinism, and the scale scenario's shape.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::clock::ManualClock;
use crate::resource::{
    CONFIGMAPS, DAEMONSETS, DEPLOYMENTS, ENDPOINTS, ENDPOINTSLICES, EVENTS, HPAS, INGRESSES, NAMESPACES,
    NODES, PODS, PVCS, REPLICASETS, SECRETS, SERVICES, STATEFULSETS,
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
    for name in ["empty", "kgents", "multi-agent", "orchestrator", "scale:10000"] {
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

/// Owner references resolve (by uid and kind), every controller's selector matches its pods' labels, every
/// service selects at least one ready pod and its endpoints list exactly the ready ones.
fn assert_wired(store: &Store) {
    let uids: HashMap<String, Arc<Value>> = [DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, SERVICES]
        .iter()
        .flat_map(|r| all(store, *r))
        .map(|o| (o["metadata"]["uid"].as_str().unwrap().to_owned(), o))
        .collect();
    for object in [PODS, REPLICASETS, ENDPOINTSLICES].iter().flat_map(|r| all(store, *r)) {
        let name = object["metadata"]["name"].as_str().unwrap();
        let owner = &object["metadata"]["ownerReferences"][0];
        let controller =
            uids.get(owner["uid"].as_str().unwrap()).unwrap_or_else(|| panic!("{name} has no owner"));
        assert_eq!(owner["kind"], controller["kind"], "{name}");
        if let Some(selector) = controller["spec"]["selector"]["matchLabels"].as_object() {
            for (k, v) in selector {
                assert_eq!(&object["metadata"]["labels"][k], v, "{name} is not selected by its controller");
            }
        }
    }
    let pods = all(store, PODS);
    for svc in all(store, SERVICES) {
        let Some(selector) = svc["spec"]["selector"].as_object() else { continue };
        let name = svc["metadata"]["name"].as_str().unwrap();
        let ns = svc["metadata"]["namespace"].as_str();
        let selected: Vec<&str> = pods
            .iter()
            .filter(|p| p["metadata"]["namespace"].as_str() == ns)
            .filter(|p| selector.iter().all(|(k, v)| &p["metadata"]["labels"][k] == v))
            .map(|p| p["status"]["podIP"].as_str().unwrap())
            .collect();
        assert!(!selected.is_empty(), "{name} selects nothing");
        let ep = store.get(ENDPOINTS, ns, name).unwrap();
        let listed = ep["subsets"][0]["addresses"].as_array().unwrap().len();
        assert_eq!(listed, selected.len(), "{name}: every pod is ready in a fresh platform scenario");
    }
}

fn count_named(store: &Store, resource: ResourceId, ns: &str) -> usize {
    all(store, resource).iter().filter(|o| o["metadata"]["namespace"] == ns).count()
}

#[test]
fn multi_agent_has_seven_autoscaled_services_data_stateful_sets_and_a_frontend() {
    let store = built(&Scenario::MultiAgent, 42);
    let counts = [NODES, NAMESPACES, PODS, DEPLOYMENTS, HPAS, STATEFULSETS, PVCS, SERVICES, INGRESSES]
        .map(|r| store.count(r));
    assert_eq!(counts, [5, 4, 21, 8, 7, 3, 5, 15, 1]);
    assert_eq!(count_named(&store, PODS, "agent-platform"), 14);
    let hpas = all(&store, HPAS);
    for deploy in all(&store, DEPLOYMENTS).iter().filter(|d| d["metadata"]["namespace"] == "agent-platform") {
        assert_eq!(deploy["spec"]["replicas"], 2);
        let name = &deploy["metadata"]["name"];
        assert!(
            hpas.iter()
                .any(|h| &h["spec"]["scaleTargetRef"]["name"] == name && h["spec"]["minReplicas"] == 2),
            "{name}"
        );
    }
    let sts: BTreeSet<String> = names(&all(&store, STATEFULSETS));
    assert_eq!(sts, ["agent-data/nats", "agent-data/postgres", "agent-data/qdrant"].map(String::from).into());
    assert!(store.get(PVCS, Some("agent-data"), "jetstream-nats-2").is_ok());
    assert_eq!(
        all(&store, INGRESSES)[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "frontend"
    );
    assert_wired(&store);
}

#[test]
fn orchestrator_has_three_data_stateful_sets_three_orchestrators_and_ten_workers() {
    let store = built(&Scenario::Orchestrator, 42);
    let counts = [NODES, NAMESPACES, PODS, DEPLOYMENTS, STATEFULSETS, PVCS, HPAS].map(|r| store.count(r));
    assert_eq!(counts, [4, 3, 18, 2, 3, 5, 1]);
    let replicas: BTreeSet<(String, i64)> = all(&store, DEPLOYMENTS)
        .iter()
        .chain(all(&store, STATEFULSETS).iter())
        .map(|o| {
            (o["metadata"]["name"].as_str().unwrap().to_owned(), o["spec"]["replicas"].as_i64().unwrap())
        })
        .collect();
    let expected = [("orchestrator", 3), ("worker", 10), ("postgres", 1), ("rabbitmq", 3), ("redis", 1)];
    assert_eq!(replicas, expected.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect());
    assert_eq!(count_named(&store, PODS, "orchestrator"), 13);
    assert_eq!(store.count(REPLICASETS), 3, "the orchestrator's previous rollout left a scaled-down set");
    assert_wired(&store);
}
