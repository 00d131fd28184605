//! Projections of literal Kubernetes JSON, one or more per kind, including the secrets that must not leak.

use super::*;
use serde_json::json;
use topology::entity::Reason;

const C: &str = "test";

fn pod(value: serde_json::Value) -> Entity {
    pod_to_entity(C, &serde_json::from_value(value).unwrap()).unwrap()
}

fn pod_info(e: &Entity) -> &PodInfo {
    e.pod().unwrap()
}

fn crashing_pod() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "api-7d9f-abcde", "namespace": "shop", "uid": "u-1",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"app": "api", "pod-template-hash": "7d9f"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"secret\":\"s3cr3t-annotation\"}"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {}}}],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f",
                                 "uid": "rs-1", "controller": true}]
        },
        "spec": {
            "nodeName": "node-a",
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}},
                {"name": "cfg", "configMap": {"name": "api-config"}},
                {"name": "tls", "secret": {"secretName": "api-tls"}}
            ],
            "containers": [{
                "name": "api", "image": "shop/api:1.2",
                "env": [
                    {"name": "DATABASE_PASSWORD", "value": "hunter2"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}}},
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "api-env", "key": "mode"}}}
                ],
                "envFrom": [{"secretRef": {"name": "api-bulk"}}],
                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}}
            }]
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
            ],
            "containerStatuses": [{
                "name": "api", "ready": false, "restartCount": 7, "image": "shop/api:1.2", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
            }]
        }
    })
}

#[test]
fn a_crash_looping_pod_keeps_its_reason_restarts_and_oom_kill() {
    let e = pod(crashing_pod());
    assert_eq!(e.id.to_string(), "test/pod/shop/api-7d9f-abcde");
    assert_eq!(e.uid, "u-1");
    assert_eq!(e.created, Some(1_767_323_045));
    assert_eq!(e.owner, Some(Ref::new(Kind::ReplicaSet, "shop", "api-7d9f")));
    assert_eq!(e.labels.get("app"), Some("api"));
    let p = pod_info(&e);
    assert_eq!(p.phase, PodPhase::Running);
    assert_eq!(p.conditions.scheduled, Scheduling::Scheduled);
    assert_eq!(p.conditions.ready, Cond::False);
    assert_eq!(p.node.as_deref(), Some("node-a"));
    let c = &p.containers[0];
    assert_eq!(c.status.state, ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) });
    assert_eq!(c.status.restarts, 7);
    assert_eq!(c.status.last_termination, Some(Reason::OOMKilled));
    assert_eq!(c.requests, Resources { cpu_millis: Some(250), memory_bytes: Some(128 << 20) });
    assert_eq!(c.limits, Resources { cpu_millis: Some(1000), memory_bytes: Some(1 << 30) });
}

#[test]
fn a_pod_mounts_claims_config_maps_and_secrets_by_name() {
    let e = pod(crashing_pod());
    let mounts: Vec<String> = pod_info(&e).mounts.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
    assert_eq!(
        mounts,
        [
            "persistentvolumeclaim/api-data",
            "configmap/api-config",
            "configmap/api-env",
            "secret/api-bulk",
            "secret/api-tls",
            "secret/api-token"
        ]
    );
    assert!(pod_info(&e).mounts.iter().all(|r| &*r.namespace == "shop"));
}

#[test]
fn env_values_annotations_and_managed_fields_never_reach_the_entity() {
    let json = serde_json::to_string(&pod(crashing_pod())).unwrap();
    assert!(!json.contains("hunter2"), "{json}");
    assert!(!json.contains("DATABASE_PASSWORD"), "{json}");
    assert!(!json.contains("s3cr3t-annotation"), "{json}");
    assert!(!json.contains("last-applied"), "{json}");
    assert!(!json.contains("kubectl"), "{json}");
}

#[test]
fn an_image_pull_back_off_pod_is_pending_with_its_reason() {
    let e = pod(json!({
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "image": "nope:latest"}]},
        "status": {"phase": "Pending",
                   "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "image": "nope:latest",
                                          "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}
    }));
    let p = pod_info(&e);
    assert_eq!(p.phase, PodPhase::Pending);
    assert_eq!(
        p.containers[0].status.state,
        ContainerState::Waiting { reason: Some(Reason::ImagePullBackOff) }
    );
    assert_eq!(p.containers[0].requests, Resources::default());
}

#[test]
fn a_terminated_container_and_a_terminating_pod_are_kept_as_such() {
    let e = pod(json!({
        "metadata": {"name": "w", "namespace": "ns", "deletionTimestamp": "2026-01-02T03:04:05Z"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Failed", "reason": "Evicted",
                   "containerStatuses": [{"name": "c", "ready": false, "restartCount": 1, "image": "", "imageID": "",
                                          "state": {"terminated": {"reason": "Error", "exitCode": 2, "signal": 9}}}]}
    }));
    let p = pod_info(&e);
    assert!(p.deleting);
    assert_eq!(p.reason, Some(Reason::parse("Evicted")));
    assert_eq!(
        p.containers[0].status.state,
        ContainerState::Terminated { reason: Some(Reason::Error), exit_code: 2, signal: 9 }
    );
}

#[test]
fn an_object_without_a_name_or_namespace_is_skipped() {
    assert!(pod_to_entity(C, &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap()).is_none());
    assert!(
        pod_to_entity(C, &serde_json::from_value(json!({"metadata": {"namespace": "x"}})).unwrap()).is_none()
    );
}

#[test]
fn a_node_keeps_readiness_pressure_cordon_and_allocatable() {
    let node: core::Node = serde_json::from_value(json!({
        "metadata": {"name": "node-a", "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "MemoryPressure", "status": "True"},
                {"type": "DiskPressure", "status": "False"},
                {"type": "PIDPressure", "status": "True"}
            ],
            "allocatable": {"cpu": "3500m", "memory": "7Gi", "pods": "110"}
        }
    }))
    .unwrap();
    let e = node_to_entity(C, &node).unwrap();
    assert_eq!(e.id.to_string(), "test/node//node-a");
    let Details::Node(n) = e.details else { panic!() };
    assert_eq!(n.ready, Cond::True);
    assert_eq!(n.pressures, [NodePressure::Memory, NodePressure::Pid]);
    assert!(n.unschedulable);
    assert_eq!(n.allocatable, Resources { cpu_millis: Some(3500), memory_bytes: Some(7 << 30) });
}

#[test]
fn a_namespace_knows_when_it_is_terminating() {
    let ns: core::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "shop"}, "status": {"phase": "Terminating"}}))
            .unwrap();
    let e = namespace_to_entity(C, &ns).unwrap();
    assert_eq!(e.details, Details::Namespace(NamespaceInfo { terminating: true }));
}

#[test]
fn a_service_keeps_type_and_selector_and_endpoints_count_ready_addresses() {
    let svc: core::Service = serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"type": "NodePort", "clusterIP": "None", "selector": {"app": "api"}}
    }))
    .unwrap();
    let e = service_to_entity(C, &svc).unwrap();
    let Details::Service(s) = &e.details else { panic!() };
    assert_eq!(s.service_type, ServiceType::NodePort);
    assert!(s.headless);
    assert_eq!(s.selector.get("app").map(String::as_str), Some("api"));
    assert_eq!(s.endpoints, None);

    let ep: core::Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "shop"},
        "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "notReadyAddresses": [{"ip": "10.0.0.3"}]},
            {"addresses": [{"ip": "10.0.0.4"}]}
        ]
    }))
    .unwrap();
    let part = endpoints_part(C, &ep).unwrap();
    assert_eq!((&part.key, &part.service), (&e.id, &e.id));
    assert_eq!((part.family, part.counts), (AddressFamily::Core, Endpoints { ready: 3, not_ready: 1 }));
}

fn slice_json(api_version: &str) -> serde_json::Value {
    json!({
        "apiVersion": api_version, "kind": "EndpointSlice",
        "metadata": {"name": "api-x7k2p", "namespace": "shop", "labels": {"kubernetes.io/service-name": "api"}},
        "addressType": "IPv6",
        "endpoints": [
            {"addresses": ["fd00::1"], "conditions": {"ready": true}},
            {"addresses": ["fd00::2"]},
            {"addresses": ["fd00::3"], "conditions": {"ready": false}},
            {"addresses": ["fd00::4"], "conditions": {"ready": false, "terminating": true}},
            {"addresses": ["fd00::5"], "conditions": {"ready": false}, "topology": {"kubernetes.io/hostname": "n1"}}
        ]
    })
}

#[test]
fn an_endpoint_slice_counts_for_its_labelled_service_and_skips_terminating_endpoints() {
    let slice: EndpointSlice = serde_json::from_value(slice_json("discovery.k8s.io/v1")).unwrap();
    let part = endpoint_slice_part(C, &slice).unwrap();
    assert_eq!(part.key, EntityId::new(C, Kind::Service, "shop", "api-x7k2p"));
    assert_eq!(part.service, EntityId::new(C, Kind::Service, "shop", "api"));
    assert_eq!(part.family, AddressFamily::Ipv6);
    // An unset `ready` means ready; the terminating endpoint is not counted at all.
    assert_eq!(part.counts, Endpoints { ready: 2, not_ready: 2 });
    // v1beta1 (1.17-1.20) reads the same, `topology` and all.
    let old: DynamicObject = serde_json::from_value(slice_json("discovery.k8s.io/v1beta1")).unwrap();
    assert_eq!(endpoint_slice_v1beta1_part(C, &old), Some(part));
    // No service label: a slice for no service we show.
    let mut json = slice_json("discovery.k8s.io/v1");
    json["metadata"]["labels"] = json!({});
    assert_eq!(endpoint_slice_part(C, &serde_json::from_value(json).unwrap()), None);
}

#[test]
fn workloads_keep_replicas_and_selectors() {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "api"},
                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},
                 "template": {"spec": {"containers": [{"name": "c", "env": [{"name": "P", "value": "hunter2"}]}]}}},
        "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 3}
    }))
    .unwrap();
    let e = deployment_to_entity(C, &d).unwrap();
    assert!(!serde_json::to_string(&e).unwrap().contains("hunter2"));
    let Details::Workload(w) = &e.details else { panic!() };
    assert_eq!(w.replicas, Replicas { desired: 3, current: 3, ready: 2, available: 2, updated: 3 });
    assert_eq!(w.selector.match_expressions[0].operator, Operator::In);

    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "api-7d9f", "namespace": "shop",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "d",
                                          "controller": true}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}}},
        "status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1}
    }))
    .unwrap();
    let e = replicaset_to_entity(C, &rs).unwrap();
    assert_eq!(e.owner, Some(Ref::new(Kind::Deployment, "shop", "api")));
    let Details::Workload(w) = &e.details else { panic!() };
    assert_eq!(w.replicas, Replicas { desired: 2, current: 2, ready: 1, available: 1, updated: 2 });

    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"spec": {"containers": []}}},
        "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 3}
    }))
    .unwrap();
    let Details::Workload(w) = statefulset_to_entity(C, &sts).unwrap().details else { panic!() };
    assert_eq!(w.replicas, Replicas { desired: 3, current: 3, ready: 3, available: 3, updated: 3 });

    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {"containers": []}}},
        "status": {"desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3,
                   "numberAvailable": 3, "updatedNumberScheduled": 4, "numberMisscheduled": 1}
    }))
    .unwrap();
    let Details::Workload(w) = daemonset_to_entity(C, &ds).unwrap().details else { panic!() };
    assert_eq!(w.replicas, Replicas { desired: 4, current: 4, ready: 3, available: 3, updated: 4 });
    assert_eq!(w.misscheduled, 1, "numberMisscheduled is kept for the misscheduled finding");
}

#[test]
fn jobs_fold_their_conditions_and_cron_jobs_keep_their_schedule() {
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "migrate", "namespace": "shop"},
        "spec": {"completions": 1, "template": {"spec": {"containers": []}}},
        "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    }))
    .unwrap();
    let Details::Job(j) = job_to_entity(C, &job).unwrap().details else { panic!() };
    assert_eq!(
        j,
        JobInfo { completions: Some(1), active: 0, succeeded: 0, failed: 3, state: JobState::Failed }
    );

    let cj: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "nightly", "namespace": "shop"},
        "spec": {"schedule": "0 3 * * *", "suspend": true,
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": "1970-01-01T00:01:40Z"}
    }))
    .unwrap();
    let Details::CronJob(c) = cronjob_to_entity(C, &cj).unwrap().details else { panic!() };
    assert_eq!(
        c,
        CronJobInfo { schedule: "0 3 * * *".into(), suspended: true, active: 1, last_schedule: Some(100) }
    );
}

#[test]
fn a_v1beta1_cron_job_reads_like_a_v1_one() {
    let cj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "batch/v1beta1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "shop", "annotations": {"a": "hunter2"}},
        "spec": {"schedule": "*/5 * * * *",
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                     {"name": "c", "image": "i", "env": [{"name": "P", "value": "hunter2"}]}]}}}}},
        "status": {"lastScheduleTime": "1970-01-01T00:01:40Z"}
    }))
    .unwrap();
    let e = cronjob_v1beta1_to_entity(C, &cj).unwrap();
    assert!(!serde_json::to_string(&e).unwrap().contains("hunter2"));
    assert_eq!(e.id.to_string(), "test/cronjob/shop/nightly");
    let Details::CronJob(c) = e.details else { panic!() };
    assert_eq!(
        c,
        CronJobInfo { schedule: "*/5 * * * *".into(), suspended: false, active: 0, last_schedule: Some(100) }
    );
}

#[test]
fn an_ingress_lists_hosts_and_backend_services() {
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ingressClassName": "nginx",
                 "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
                 "rules": [{"host": "shop.example", "http": {"paths": [
                     {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                     {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 80}}}}
                 ]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    }))
    .unwrap();
    let Details::Ingress(i) = ingress_to_entity(C, &ing).unwrap().details else { panic!() };
    assert_eq!(
        i,
        IngressInfo {
            class: Some("nginx".into()),
            hosts: vec!["shop.example".into()],
            backends: vec!["api".into(), "fallback".into(), "web".into()],
            has_address: true
        }
    );
}

#[test]
fn a_claim_and_an_autoscaler_are_projected() {
    let pvc: core::PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "data", "namespace": "shop"},
        "spec": {"storageClassName": "fast"},
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}
    }))
    .unwrap();
    let Details::Pvc(p) = pvc_to_entity(C, &pvc).unwrap().details else { panic!() };
    assert_eq!(
        p,
        PvcInfo {
            phase: PvcPhase::Bound,
            capacity_bytes: Some(10 << 30),
            storage_class: Some("fast".into())
        }
    );

    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                 "minReplicas": 2, "maxReplicas": 10},
        "status": {"currentReplicas": 3, "desiredReplicas": 4}
    }))
    .unwrap();
    let Details::Hpa(h) = hpa_to_entity(C, &hpa).unwrap().details else { panic!() };
    assert_eq!(h.target, Ref::new(Kind::Deployment, "shop", "api"));
    assert_eq!((h.min_replicas, h.max_replicas, h.current_replicas, h.desired_replicas), (2, 10, 3, 4));
}

#[test]
fn quantities_parse_like_kubernetes() {
    let q = |s: &str| Quantity(s.to_owned());
    assert_eq!(cpu_millis(&q("250m")), Some(250));
    assert_eq!(cpu_millis(&q("0.5")), Some(500));
    assert_eq!(cpu_millis(&q("2")), Some(2000));
    assert_eq!(bytes(&q("128Mi")), Some(134_217_728));
    assert_eq!(bytes(&q("1G")), Some(1_000_000_000));
    assert_eq!(bytes(&q("1e3")), Some(1000));
    assert_eq!(bytes(&q("512")), Some(512));
    assert_eq!(bytes(&q("lots")), None);
}
