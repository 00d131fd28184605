//! Churn tests: determinism, every kind of change (objects that k8s-openapi reads, delivered by the watch),
//! consistency of what the controllers maintain, and boundedness over a long run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::{apps, autoscaling, batch, core, discovery, networking};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::controllers::{controlled_by, selects};
use super::kubelet::is_ready as is_ready_pod;
use super::*;
use crate::clock::ManualClock;
use crate::resource::{self, ResourceId, ENDPOINTS, EVENTS, NAMESPACES, NODES, PODS, REPLICASETS, SERVICES};
use crate::scenario::{populate, Scenario};
use crate::select::Filter;
use crate::store::{StoreConfig, WatchFrom};

const NOW: i64 = 1_714_564_800;
/// 30 changes a minute: one every two seconds.
const STEP: i64 = 2;

fn cluster(scenario: &Scenario, seed: u64, history: usize) -> Store {
    let config = StoreConfig { history, watch_buffer: 1 << 16, seed };
    let store = Store::new(&config, Arc::new(ManualClock::new(NOW)));
    populate(&store, scenario, seed).unwrap();
    store
}

fn all(store: &Store, resource: ResourceId) -> Vec<Arc<Value>> {
    store.list(resource, &Filter::default(), None, None).unwrap().items
}

/// Runs `steps` steps two simulated seconds apart; returns the changes.
fn run(store: &Store, churn: &mut Churn, steps: usize) -> Vec<Change> {
    (0..steps).filter_map(|i| churn.step(store, NOW + STEP * (i as i64 + 1))).collect()
}

#[test]
fn the_same_seed_and_times_give_the_same_changes_and_another_seed_others() {
    let (a, b, c) = (
        cluster(&Scenario::Kgents, 7, 5000),
        cluster(&Scenario::Kgents, 7, 5000),
        cluster(&Scenario::Kgents, 7, 5000),
    );
    let (mut ca, mut cb, mut cc) = (Churn::new(7), Churn::new(7), Churn::new(8));
    let (changes_a, changes_b, changes_c) =
        (run(&a, &mut ca, 600), run(&b, &mut cb, 600), run(&c, &mut cc, 600));
    assert_eq!(changes_a.len(), 600, "every step changes something");
    assert_eq!(changes_a, changes_b);
    assert_eq!(all(&a, PODS), all(&b, PODS));
    assert_eq!(a.revision(), b.revision());
    assert_ne!(changes_a, changes_c);
    assert_eq!((ca.failures(), cb.failures(), cc.failures()), (0, 0, 0));
}

fn check<T: DeserializeOwned>(object: &Value) -> std::result::Result<(), String> {
    serde_json::from_value::<T>(object.clone()).map(|_| ()).map_err(|e| e.to_string())
}

/// Reads `object` as the k8s-openapi type of `resource`.
fn deserializes(resource: ResourceId, object: &Value) -> std::result::Result<(), String> {
    match resource {
        resource::NAMESPACES => check::<core::v1::Namespace>(object),
        resource::NODES => check::<core::v1::Node>(object),
        resource::PODS => check::<core::v1::Pod>(object),
        resource::SERVICES => check::<core::v1::Service>(object),
        resource::ENDPOINTS => check::<core::v1::Endpoints>(object),
        resource::CONFIGMAPS => check::<core::v1::ConfigMap>(object),
        resource::EVENTS => check::<core::v1::Event>(object),
        resource::PVCS => check::<core::v1::PersistentVolumeClaim>(object),
        resource::SERVICEACCOUNTS => check::<core::v1::ServiceAccount>(object),
        resource::DEPLOYMENTS => check::<apps::v1::Deployment>(object),
        resource::REPLICASETS => check::<apps::v1::ReplicaSet>(object),
        resource::STATEFULSETS => check::<apps::v1::StatefulSet>(object),
        resource::DAEMONSETS => check::<apps::v1::DaemonSet>(object),
        resource::JOBS => check::<batch::v1::Job>(object),
        resource::CRONJOBS => check::<batch::v1::CronJob>(object),
        resource::HPAS => check::<autoscaling::v2::HorizontalPodAutoscaler>(object),
        resource::ENDPOINTSLICES => check::<discovery::v1::EndpointSlice>(object),
        resource::INGRESSES => check::<networking::v1::Ingress>(object),
        other => Err(format!("the churn wrote {other}, which this test does not know")),
    }
}

#[test]
fn every_kind_of_change_happens_and_writes_objects_kubernetes_clients_read_and_watches_see() {
    let store = cluster(&Scenario::Kgents, 3, 5000);
    let mut feed = store.watch(PODS, WatchFrom::Revision(store.revision())).unwrap().receiver;
    let mut churn = Churn::new(3);
    let mut seen: BTreeMap<ChangeKind, usize> = BTreeMap::new();
    let mut written: BTreeSet<&str> = BTreeSet::new();
    for i in 0..4000 {
        let before = store.revision();
        let Some(change) = churn.step(&store, NOW + STEP * (i + 1)) else { continue };
        assert!(store.revision() > before, "{change} wrote nothing");
        *seen.entry(change.kind).or_default() += 1;
        let mut watched = 0;
        loop {
            match feed.try_recv() {
                Ok(event) => {
                    watched += 1;
                    written.insert(event.resource.get().kind);
                    if let Err(e) = deserializes(event.resource, &event.object) {
                        panic!(
                            "{change}: {} {} does not deserialize: {e}\n{}",
                            event.resource,
                            event.kind.as_str(),
                            event.object
                        );
                    }
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                Err(e) => panic!("the watch lost events: {e}"),
            }
        }
        assert!(watched as u64 >= store.revision() - before, "{change}: the watch missed changes");
    }
    let missing: Vec<ChangeKind> = ChangeKind::ALL.into_iter().filter(|k| !seen.contains_key(k)).collect();
    assert!(missing.is_empty(), "never happened: {missing:?} (seen {seen:?})");
    for kind in [
        "Pod",
        "ReplicaSet",
        "Deployment",
        "Event",
        "Endpoints",
        "EndpointSlice",
        "Node",
        "Job",
        "Namespace",
        "Service",
    ] {
        assert!(written.contains(kind), "no {kind} was written");
    }
    assert_eq!(churn.failures(), 0);
}

/// What a real cluster's controllers keep true, checked on the whole store.
fn assert_consistent(store: &Store) {
    let pods = all(store, PODS);
    let live: Vec<&Arc<Value>> = pods
        .iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .collect();
    let uids: BTreeSet<String> = ResourceId::all()
        .filter(|r| !r.get().computed)
        .flat_map(|r| all(store, r))
        .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned))
        .collect();
    for id in ResourceId::all().filter(|r| !r.get().computed) {
        for object in all(store, id) {
            for owner in object["metadata"]["ownerReferences"].as_array().into_iter().flatten() {
                assert!(
                    uids.contains(owner["uid"].as_str().unwrap()),
                    "{id} {} has a dead owner",
                    object["metadata"]["name"]
                );
            }
        }
    }
    for rs in all(store, REPLICASETS) {
        let count = live.iter().filter(|p| controlled_by(p, rs["metadata"]["uid"].as_str().unwrap())).count();
        assert_eq!(rs["spec"]["replicas"].as_u64(), Some(count as u64), "{}", rs["metadata"]["name"]);
        assert_eq!(rs["status"]["replicas"].as_u64(), Some(count as u64), "{}", rs["metadata"]["name"]);
    }
    for svc in all(store, SERVICES) {
        if !svc["spec"]["selector"].is_object() {
            continue;
        }
        let ns = svc["metadata"]["namespace"].as_str();
        let headless = svc["spec"]["clusterIP"] == "None";
        let mut expected: Vec<&str> = live
            .iter()
            .filter(|p| p["metadata"]["namespace"].as_str() == ns && p["status"]["podIP"].is_string())
            .filter(|p| selects(&svc["spec"]["selector"], &p["metadata"]["labels"]))
            .filter(|p| headless || is_ready_pod(p))
            .map(|p| p["status"]["podIP"].as_str().unwrap())
            .collect();
        let name = svc["metadata"]["name"].as_str().unwrap();
        let ep = store.get(ENDPOINTS, ns, name).unwrap();
        let mut listed: Vec<&str> = ep["subsets"][0]["addresses"]
            .as_array()
            .map(|a| a.iter().map(|a| a["ip"].as_str().unwrap()).collect())
            .unwrap_or_default();
        expected.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, expected, "endpoints of {name}");
    }
    let ips: Vec<&str> = live
        .iter()
        .filter(|p| p["spec"]["hostNetwork"] != true)
        .filter_map(|p| p["status"]["podIP"].as_str())
        .collect();
    let unique: BTreeSet<&str> = ips.iter().copied().collect();
    assert_eq!(ips.len(), unique.len(), "pod IPs are unique");
}

#[test]
fn a_long_run_stays_bounded_consistent_and_mostly_healthy() {
    let history = 5000;
    let store = cluster(&Scenario::Kgents, 11, history);
    let start: BTreeMap<ResourceId, usize> = ResourceId::all().map(|r| (r, store.count(r))).collect();
    let unready_at_start: BTreeSet<String> = all(&store, PODS)
        .iter()
        .filter(|p| !is_ready_pod(p))
        .map(|p| p["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect();
    let mut churn = Churn::new(11);
    let mut pods = Vec::new();
    let mut totals = Vec::new();
    for block in 0..20 {
        for i in 0..1000 {
            churn.step(&store, NOW + STEP * (block * 1000 + i + 1));
        }
        let count = |r| store.count(r);
        pods.push(count(PODS));
        assert!((15..=60).contains(&count(PODS)), "pods: {}", count(PODS));
        assert!(
            count(REPLICASETS) <= start[&REPLICASETS] + 7 * 10 + 2 * 11,
            "replica sets: {}",
            count(REPLICASETS)
        );
        assert!(count(NAMESPACES) <= start[&NAMESPACES] + 2, "namespaces: {}", count(NAMESPACES));
        // Events live an hour: 1 800 steps at this rate, a few events each (a new pod alone makes four).
        assert!(count(EVENTS) <= 8000, "events: {}", count(EVENTS));
        assert!(store.revision() - store.oldest_revision() <= history as u64, "the history is bounded");
        let total: usize = ResourceId::all().map(count).sum();
        totals.push(total);
        assert!(total <= 2 * start.values().sum::<usize>() + 8000, "objects: {total}");
        assert_consistent(&store);
        assert!(churn.pending() <= 12, "work in flight: {}", churn.pending());
    }
    assert!(store.revision() > 20_000, "20 000 steps changed things");
    // Past the first simulated hours (the events' TTL), the total does not creep up.
    let early = totals[3..10].iter().max().unwrap();
    let late = totals[10..].iter().max().unwrap();
    assert!(late * 4 <= early * 5, "objects grew from {early} to {late}: {totals:?}");
    // Wound down, every fault the churn caused heals: nodes return, crash loops end, bad rollouts are undone,
    // pending pods are placed, previews go. Only the scenario's own unhealthy pods may stay unready.
    let end = NOW + STEP * 20_000;
    let mut t = end;
    while churn.pending() > 0 && t < end + 86_400 {
        t += STEP;
        churn.heal(&store, t);
    }
    assert_eq!(churn.pending(), 0, "work in flight ends");
    assert!(all(&store, NODES).iter().all(|n| super::scheduler::schedulable(n)
        || !n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"].is_null()));
    let unready: Vec<String> = all(&store, PODS)
        .iter()
        .filter(|p| {
            p["status"]["phase"] != "Succeeded"
                && !is_ready_pod(p)
                && !unready_at_start.contains(p["metadata"]["uid"].as_str().unwrap())
        })
        .map(|p| {
            format!(
                "{} {} {}",
                p["metadata"]["name"], p["status"]["phase"], p["status"]["containerStatuses"][0]["state"]
            )
        })
        .collect();
    assert!(unready.is_empty(), "unready after healing: {unready:#?}");
    assert_consistent(&store);
    assert_eq!(churn.failures(), 0);
    eprintln!("pods per 1000 steps: {pods:?}; objects: {totals:?}");
}

#[test]
fn every_scenario_churns_without_a_failed_step() {
    for scenario in [Scenario::Empty, Scenario::Scale(300), Scenario::MultiAgent, Scenario::Orchestrator] {
        let store = cluster(&scenario, 5, 5000);
        let mut churn = Churn::new(5);
        let changes = run(&store, &mut churn, 1500);
        assert_eq!(churn.failures(), 0, "{scenario}");
        // `empty` has no node: nothing can run, so nothing changes.
        assert_eq!(changes.is_empty(), scenario == Scenario::Empty, "{scenario}");
        assert_consistent(&store);
    }
}

#[test]
fn reconciling_twice_changes_nothing_the_second_time() {
    let store = cluster(&Scenario::Kgents, 1, 5000);
    let mut rng = crate::rng::Rng::new(1);
    for ns in ["kgents-triad", "kgents-agents", "kgents-observability", "kgents-gateway"] {
        super::controllers::reconcile(&store, ns, NOW, &mut rng).unwrap();
        let revision = store.revision();
        super::controllers::reconcile(&store, ns, NOW + 60, &mut rng).unwrap();
        assert_eq!(store.revision(), revision, "{ns}");
    }
}

#[test]
fn a_deleted_preview_namespace_leaves_nothing_behind() {
    let store = cluster(&Scenario::Kgents, 2, 5000);
    let mut churn = Churn::new(2);
    let mut created = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for change in run(&store, &mut churn, 3000) {
        let ns = change.object.trim_start_matches("namespace/").to_owned();
        match change.kind {
            ChangeKind::NamespaceCreated => _ = created.insert(ns),
            ChangeKind::NamespaceDeleted => _ = deleted.insert(ns),
            _ => {}
        }
    }
    assert!(!deleted.is_empty(), "a preview lived and died in 6000 simulated seconds");
    assert!(deleted.is_subset(&created));
    for ns in &deleted {
        for id in ResourceId::all().filter(|r| r.get().namespaced && !r.get().computed) {
            let filter = Filter { namespace: Some(ns.clone()), ..Filter::default() };
            assert!(store.list(id, &filter, None, None).unwrap().items.is_empty(), "{id} left in {ns}");
        }
    }
}

#[test]
fn a_rollout_without_progress_past_its_deadline_is_stuck_until_it_progresses() {
    let revision = json!({"deployment.kubernetes.io/revision": "2"});
    let mut deploy = json!({"metadata": {"name": "web", "generation": 2, "annotations": revision},
                            "spec": {"replicas": 2, "progressDeadlineSeconds": 60}, "status": {}});
    let rs = |available: i64| {
        Arc::new(json!({"metadata": {"name": "web-2", "annotations": revision},
                        "status": {"replicas": 2, "readyReplicas": available, "availableReplicas": available}}))
    };
    let progressing = |deploy: &Value| {
        let conditions = deploy["status"]["conditions"].as_array().unwrap();
        let p = conditions.iter().find(|c| c["type"] == "Progressing").unwrap();
        (p["status"].as_str().unwrap().to_owned(), p["reason"].as_str().unwrap().to_owned())
    };
    let step = |deploy: &mut Value, available: i64, now: i64| {
        let sets = [rs(available)];
        deploy["status"] =
            super::controllers::deployment_status(deploy, &sets.iter().collect::<Vec<_>>(), now);
        progressing(deploy)
    };
    let updated = ("True".to_owned(), "ReplicaSetUpdated".to_owned());
    let stuck = ("False".to_owned(), "ProgressDeadlineExceeded".to_owned());
    assert_eq!(step(&mut deploy, 0, NOW), updated);
    assert_eq!(step(&mut deploy, 1, NOW + 50), updated, "one pod became available: progress");
    assert_eq!(step(&mut deploy, 1, NOW + 100), updated, "50 s since the last progress");
    assert_eq!(step(&mut deploy, 1, NOW + 111), stuck);
    assert_eq!(step(&mut deploy, 1, NOW + 5000), stuck, "stuck stays stuck");
    assert_eq!(step(&mut deploy, 2, NOW + 5001), ("True".to_owned(), "NewReplicaSetAvailable".to_owned()));
}
