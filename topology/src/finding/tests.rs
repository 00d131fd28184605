use super::*;
use crate::entity::Cond;
use crate::entity::{
    Container, ContainerState, Details, Endpoints, IngressInfo, JobInfo, JobState, NodeInfo, NodePressure,
    PodPhase, PvcInfo, PvcPhase, Reason, Replicas, Resources, ServiceInfo, Usage, WorkloadInfo,
};
use crate::event::{EventRecord, EventType};
use crate::id::{EntityId, Kind, Ref};
use crate::{Entity, Topology};

const NOW: i64 = 1_000_000;

fn id(kind: Kind, name: &str) -> EntityId {
    if kind.is_namespaced() {
        EntityId::new("c", kind, "shop", name)
    } else {
        EntityId::cluster_scoped("c", kind, name)
    }
}

fn node(name: &str, ready: Cond, pressures: Vec<NodePressure>) -> Entity {
    let mut e = Entity::new(id(Kind::Node, name));
    e.details = Details::Node(NodeInfo { ready, pressures, ..NodeInfo::default() });
    e
}

fn pod(name: &str, state: ContainerState, restarts: u32) -> Entity {
    let mut e = Entity::new(id(Kind::Pod, name));
    e.created = Some(NOW - 60);
    e.labels = crate::labels::Labels::from_pairs([("app", "web")]);
    e.owner = Some(Ref::new(Kind::ReplicaSet, "shop", "web-1"));
    let mut c = Container::new("main", "registry/web:1");
    c.status.state = state;
    c.status.restarts = restarts;
    let Details::Pod(info) = &mut e.details else { unreachable!() };
    info.phase = PodPhase::Running;
    info.node = Some("n1".into());
    info.containers = vec![c];
    e
}

fn workload(kind: Kind, name: &str, replicas: Replicas) -> Entity {
    let mut e = Entity::new(id(kind, name));
    e.details = Details::Workload(WorkloadInfo { replicas, ..WorkloadInfo::default() });
    e
}

fn service(ready: u32) -> Entity {
    let mut e = Entity::new(id(Kind::Service, "web"));
    let mut info = ServiceInfo::default();
    info.selector.insert("app".into(), "web".into());
    info.endpoints = Some(Endpoints { ready, not_ready: 1 });
    e.details = Details::Service(info);
    e
}

fn shop(extra: Vec<Entity>) -> Topology {
    let mut rs = workload(Kind::ReplicaSet, "web-1", Replicas::default());
    rs.owner = Some(Ref::new(Kind::Deployment, "shop", "web"));
    let mut ingress = Entity::new(id(Kind::Ingress, "front"));
    ingress.details =
        Details::Ingress(IngressInfo { backends: vec!["web".into()], ..IngressInfo::default() });
    let mut entities = vec![
        node("n1", Cond::True, vec![]),
        workload(
            Kind::Deployment,
            "web",
            Replicas { desired: 1, available: 1, ready: 1, current: 1, updated: 1 },
        ),
        rs,
        service(1),
        ingress,
    ];
    entities.extend(extra);
    let mut topology = Topology::new();
    for e in entities {
        topology.upsert(e).unwrap();
    }
    topology
}

fn run(topology: &Topology, events: &[EventRecord]) -> Vec<(String, Severity, String)> {
    detect(topology, events, NOW, &Thresholds::default(), &Tiers::default(), &RestartHistory::default())
        .into_iter()
        .map(|f| (f.key, f.severity, f.message))
        .collect()
}

fn waiting(reason: Reason) -> ContainerState {
    ContainerState::Waiting { reason: Some(reason) }
}

fn event(about: EntityId, reason: &str, message: &str, count: u32) -> EventRecord {
    EventRecord {
        namespace: about.namespace().to_owned(),
        involved: Some(about),
        reason: reason.into(),
        message: message.into(),
        kind: EventType::Warning,
        count,
        first_seen: NOW - 100,
        last_seen: NOW - 10,
    }
}

#[test]
fn a_healthy_shop_has_no_findings() {
    assert_eq!(run(&shop(vec![pod("web-a", ContainerState::Running, 0)]), &[]), vec![]);
}

#[test]
fn a_crash_looping_pod_is_a_high_finding_with_its_whole_chain() {
    let topology = shop(vec![pod("web-a", waiting(Reason::CrashLoopBackOff), 7)]);
    let findings =
        detect(&topology, &[], NOW, &Thresholds::default(), &Tiers::default(), &RestartHistory::default());
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.key, "crash-loop/c/pod/shop/web-a");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.message, "container main is in CrashLoopBackOff (7 restarts)");
    let chain: Vec<String> = f.entities.iter().map(ToString::to_string).collect();
    assert_eq!(
        chain,
        [
            "c/pod/shop/web-a",
            "c/node//n1",
            "c/deployment/shop/web",
            "c/replicaset/shop/web-1",
            "c/service/shop/web",
            "c/ingress/shop/front",
        ]
    );
}

#[test]
fn the_pod_detectors_each_fire_on_their_cause() {
    let mut oom = pod("web-oom", ContainerState::Running, 1);
    let Details::Pod(info) = &mut oom.details else { unreachable!() };
    info.containers[0].status.last_termination = Some(Reason::OOMKilled);
    let mut pending = pod("web-pending", ContainerState::default(), 0);
    pending.created = Some(NOW - 900);
    let Details::Pod(info) = &mut pending.details else { unreachable!() };
    info.phase = PodPhase::Pending;
    info.node = None;
    let mut hot = pod("web-hot", ContainerState::Running, 0);
    hot.usage = Some(Usage { cpu_millis: 10, memory_bytes: 95 });
    let Details::Pod(info) = &mut hot.details else { unreachable!() };
    info.containers[0].limits = Resources { cpu_millis: Some(1000), memory_bytes: Some(100) };
    let topology = shop(vec![
        oom,
        pending,
        hot,
        pod("web-pull", waiting(Reason::ImagePullBackOff), 0),
        pod("web-restarts", ContainerState::Running, 6),
        pod("web-flap", ContainerState::Running, 0),
    ]);
    let events = [
        event(
            id(Kind::Pod, "web-pending"),
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu.",
            4,
        ),
        event(
            id(Kind::Pod, "web-flap"),
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            5,
        ),
    ];
    // web-restarts had not restarted five minutes ago.
    let mut history = RestartHistory::default();
    history.observe(&shop(vec![pod("web-restarts", ContainerState::Running, 0)]), NOW - 300, 600);
    history.observe(&topology, NOW, 600);
    let got: Vec<(String, Severity, String)> =
        detect(&topology, &events, NOW, &Thresholds::default(), &Tiers::default(), &history)
            .into_iter()
            .map(|f| (f.key, f.severity, f.message))
            .collect();
    let expected = [
        ("image-pull/c/pod/shop/web-pull", Severity::High, "container main: ImagePullBackOff for its image"),
        ("near-limit/c/pod/shop/web-hot", Severity::Warning, "memory at 95% of its limit"),
        ("oom-killed/c/pod/shop/web-oom", Severity::High, "container main was OOMKilled (1 restarts)"),
        (
            "pending-too-long/c/pod/shop/web-pending",
            Severity::Warning,
            "pending for 15m: 0/3 nodes are available: 3 Insufficient cpu.",
        ),
        (
            "readiness-flapping/c/pod/shop/web-flap",
            Severity::Warning,
            "readiness probe failed 5 times recently",
        ),
        ("restarts/c/pod/shop/web-restarts", Severity::Warning, "restarted 6 times in the last 10 min"),
    ];
    let expected: Vec<(String, Severity, String)> =
        expected.iter().map(|(k, s, m)| ((*k).to_owned(), *s, (*m).to_owned())).collect();
    assert_eq!(got, expected);
}

#[test]
fn the_controller_node_service_and_claim_detectors_each_fire_on_their_cause() {
    let mut job = Entity::new(id(Kind::Job, "migrate"));
    job.details = Details::Job(JobInfo { state: JobState::Failed, failed: 3, ..JobInfo::default() });
    let mut pvc = Entity::new(id(Kind::PersistentVolumeClaim, "data"));
    pvc.details = Details::Pvc(PvcInfo { phase: PvcPhase::Pending, ..PvcInfo::default() });
    let mut topology = shop(vec![
        job,
        pvc,
        node("n2", Cond::Unknown, vec![NodePressure::Disk, NodePressure::Pid]),
        workload(Kind::StatefulSet, "db", Replicas { desired: 3, ready: 0, ..Replicas::default() }),
        workload(
            Kind::DaemonSet,
            "agent",
            Replicas { desired: 2, current: 1, ready: 1, ..Replicas::default() },
        ),
        workload(Kind::Deployment, "api", Replicas { desired: 4, available: 3, ..Replicas::default() }),
        stuck(workload(Kind::Deployment, "batch", Replicas { desired: 1, ..Replicas::default() })),
    ]);
    topology.upsert(service(0)).unwrap();
    let events =
        [event(id(Kind::Deployment, "batch"), "ProgressDeadlineExceeded", "ReplicaSet has timed out", 1)];
    let got: Vec<(String, Severity)> = run(&topology, &events).into_iter().map(|(k, s, _)| (k, s)).collect();
    let expected = [
        ("daemonset-misscheduled/c/daemonset/shop/agent", Severity::Warning),
        ("job-failed/c/job/shop/migrate", Severity::High),
        ("no-endpoints/c/service/shop/web", Severity::High),
        ("node-not-ready/c/node//n2", Severity::Critical),
        ("node-pressure/c/node//n2", Severity::High),
        ("pvc-pending/c/persistentvolumeclaim/shop/data", Severity::Warning),
        ("rollout-stuck/c/deployment/shop/batch", Severity::High),
        ("statefulset-not-ready/c/statefulset/shop/db", Severity::High),
        ("unavailable-replicas/c/deployment/shop/api", Severity::Warning),
    ];
    let expected: Vec<(String, Severity)> = expected.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_finding_resolves_when_its_cause_goes_away() {
    let broken = shop(vec![pod("web-a", waiting(Reason::CrashLoopBackOff), 7)]);
    assert_eq!(run(&broken, &[]).len(), 1);
    // Running again; its 7 restarts are a lifetime's total, not a spike.
    let fixed = shop(vec![pod("web-a", ContainerState::Running, 7)]);
    assert!(run(&fixed, &[]).is_empty());
}

#[test]
fn a_restart_spike_fires_while_recent_and_resolves_when_the_pod_calms_down() {
    let t = Thresholds::default();
    let at = |restarts| shop(vec![pod("web-a", ContainerState::Running, restarts)]);
    let keys = |topology: &Topology, now, history: &RestartHistory| {
        detect(topology, &[], now, &t, &Tiers::default(), history)
            .into_iter()
            .map(|f| f.key)
            .collect::<Vec<_>>()
    };
    let mut history = RestartHistory::default();
    for (now, restarts) in [(NOW, 40), (NOW + 60, 41), (NOW + 120, 42)] {
        history.observe(&at(restarts), now, t.restart_window_secs);
    }
    assert!(keys(&at(42), NOW + 120, &history).is_empty(), "two recent restarts are not a spike");
    history.observe(&at(43), NOW + 180, t.restart_window_secs);
    assert_eq!(keys(&at(43), NOW + 180, &history), ["restarts/c/pod/shop/web-a"]);
    // No restart for a whole window: resolved, although the pod's total stays 43.
    let later = NOW + 180 + t.restart_window_secs;
    history.observe(&at(43), later, t.restart_window_secs);
    assert!(keys(&at(43), later, &history).is_empty());
}

#[test]
fn tiers_raise_severity_by_the_most_critical_entity_in_the_chain() {
    let tiers = Tiers::from_json(
        r#"{"default": "P3", "namespaces": {"other": "P1"}, "services": {"shop/web": "P0"}}"#,
    )
    .unwrap();
    let topology = shop(vec![pod("web-a", ContainerState::default(), 0), node("n2", Cond::False, vec![])]);
    let mut unready = pod("web-b", waiting(Reason::ErrImagePull), 0);
    unready.labels = crate::labels::Labels::new();
    let mut topology = topology;
    topology.upsert(unready).unwrap();
    let found = detect(&topology, &[], NOW, &Thresholds::default(), &tiers, &RestartHistory::default());
    let got: Vec<(&str, Tier, Severity)> =
        found.iter().map(|f| (f.key.as_str(), f.tier, f.severity)).collect();
    assert_eq!(
        got,
        [
            ("image-pull/c/pod/shop/web-b", Tier::P3, Severity::High),
            ("node-not-ready/c/node//n2", Tier::P3, Severity::Critical),
        ]
    );
    let mut selected = pod("web-c", waiting(Reason::ErrImagePull), 0);
    selected.created = Some(NOW);
    topology.upsert(selected).unwrap();
    let found = detect(&topology, &[], NOW, &Thresholds::default(), &tiers, &RestartHistory::default());
    let web_c = found.iter().find(|f| f.key == "image-pull/c/pod/shop/web-c").unwrap();
    assert_eq!((web_c.tier, web_c.severity), (Tier::P0, Severity::Critical));
    assert_eq!(Tier::P1.raise(Severity::Info), Severity::Warning);
}

#[test]
fn a_tiers_file_with_a_bad_service_key_or_tier_is_refused() {
    assert_eq!(
        Tiers::from_json(r#"{"services": {"web": "P0"}}"#).unwrap_err().to_string(),
        "tiers: service \"web\" is not namespace/name"
    );
    assert!(Tiers::from_json(r#"{"default": "P9"}"#).is_err());
    assert!(Tiers::from_json(r#"{"namespace": {}}"#).is_err());
}

fn stuck(mut deployment: Entity) -> Entity {
    if let Details::Workload(w) = &mut deployment.details {
        w.progress_deadline_exceeded = true;
    }
    deployment
}

#[test]
fn a_rollout_is_stuck_while_the_controller_says_so_not_while_its_event_lingers() {
    let replicas = Replicas { desired: 2, current: 2, ready: 2, available: 2, updated: 2 };
    let events =
        [event(id(Kind::Deployment, "batch"), "ProgressDeadlineExceeded", "ReplicaSet has timed out", 1)];
    let keys = |deployment: Entity| -> Vec<String> {
        run(&shop(vec![deployment]), &events).into_iter().map(|(k, _, _)| k).collect()
    };
    assert_eq!(
        keys(stuck(workload(Kind::Deployment, "batch", replicas))),
        ["rollout-stuck/c/deployment/shop/batch"]
    );
    // Progressing again (the condition flipped), the 10-minute-old event alone is no finding.
    assert_eq!(keys(workload(Kind::Deployment, "batch", replicas)), Vec::<String>::new());
}

#[test]
fn an_oom_kill_is_news_for_its_window_then_history() {
    let window = Thresholds::default().oom_window_secs;
    let killed_at = |at: Option<i64>| {
        let mut oom = pod("web-oom", ContainerState::Running, 1);
        let Details::Pod(info) = &mut oom.details else { unreachable!() };
        info.containers[0].status.last_termination = Some(Reason::OOMKilled);
        info.containers[0].status.last_termination_at = at;
        run(&shop(vec![oom]), &[]).into_iter().map(|(k, _, _)| k).collect::<Vec<_>>()
    };
    let open = ["oom-killed/c/pod/shop/web-oom"];
    assert_eq!(killed_at(Some(NOW - 60)), open);
    assert_eq!(killed_at(Some(NOW - window)), open);
    assert_eq!(killed_at(Some(NOW - window - 1)), Vec::<String>::new(), "last week's kill is not news");
    // A status without `finishedAt` cannot be dated: seen rather than missed.
    assert_eq!(killed_at(None), open);
}

#[test]
fn readiness_flapping_counts_failures_within_its_window_not_the_events_lifetime() {
    let window = Thresholds::default().probe_window_secs;
    let flapping = |count: u32, first_seen: i64, last_seen: i64| {
        let mut e = event(id(Kind::Pod, "web-a"), "Unhealthy", "Readiness probe failed: timeout", count);
        (e.first_seen, e.last_seen) = (first_seen, last_seen);
        !run(&shop(vec![pod("web-a", ContainerState::Running, 0)]), &[e]).is_empty()
    };
    assert!(flapping(3, NOW - 100, NOW - 10), "three failures in the last minutes");
    // 24 failures spread over 24 hours: about one per hour, not a flap now.
    assert!(!flapping(24, NOW - 86_400, NOW - 10));
    // 24 over 2 windows: about 12 in the last one.
    assert!(flapping(24, NOW - 2 * window, NOW));
    // A burst that ended before the window.
    assert!(!flapping(50, NOW - 2 * window, NOW - window - 1));
}

#[test]
fn old_events_explain_nothing() {
    let mut flap = event(id(Kind::Pod, "web-a"), "Unhealthy", "Readiness probe failed: timeout", 9);
    flap.last_seen = NOW - Thresholds::default().event_window_secs - 1;
    assert_eq!(run(&shop(vec![pod("web-a", ContainerState::Running, 0)]), &[flap]), vec![]);
}

#[test]
fn severities_and_detectors_round_trip_through_their_names() {
    for d in Detector::ALL {
        assert_eq!(Detector::parse(d.as_str()), Some(d));
    }
    assert_eq!(Severity::parse(" warning "), Some(Severity::Warning));
    assert_eq!(serde_json::to_string(&Severity::Critical).unwrap(), "\"CRITICAL\"");
    assert_eq!(serde_json::to_string(&Detector::OomKilled).unwrap(), "\"oom-killed\"");
}

#[test]
fn an_event_recorded_in_another_namespace_explains_nothing() {
    let mut flap = event(id(Kind::Pod, "web-a"), "Unhealthy", "Readiness probe failed: timeout", 9);
    flap.namespace = "elsewhere".into();
    assert_eq!(run(&shop(vec![pod("web-a", ContainerState::Running, 0)]), &[flap.clone()]), vec![]);
    flap.namespace = "shop".into();
    assert_eq!(run(&shop(vec![pod("web-a", ContainerState::Running, 0)]), &[flap]).len(), 1);
}

#[test]
fn a_daemonset_with_pods_on_nodes_that_should_not_run_them_is_misscheduled_even_when_all_are_ready() {
    let full = Replicas { desired: 3, current: 3, ready: 3, available: 3, updated: 3 };
    let mut ds = workload(Kind::DaemonSet, "agent", full);
    assert!(run(&shop(vec![ds.clone()]), &[]).is_empty(), "every node runs one, and only those");
    let Details::Workload(w) = &mut ds.details else { unreachable!() };
    w.misscheduled = 2;
    let found = run(&shop(vec![ds]), &[]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "daemonset-misscheduled/c/daemonset/shop/agent");
    assert_eq!(found[0].2, "daemonset agent: 2 pods on nodes that should not run it");
}
