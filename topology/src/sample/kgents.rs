//! The `kgents` sample: the demo cluster of the plan, written as tables so it reads like the cluster it is.

use super::build::{Builder, PodSpec, PodState, DAY, EPOCH};
use crate::{
    entity::{Cond, Details, Endpoints, HpaInfo, IngressInfo, PvcInfo, PvcPhase, Replicas, ServiceType},
    id::{Kind, Ref},
    topology::Topology,
};

/// A deployment (with one replicaset) or a statefulset, its pods (in the given states, on the given nodes) and
/// what they mount.
struct App<'a> {
    namespace: &'a str,
    name: &'a str,
    kind: Kind,
    hash: &'a str,
    pods: &'a [(&'a str, PodState, &'a str)],
    image: &'a str,
    mounts: &'a [(Kind, &'a str)],
    /// The deployment's counts when they differ from its one replicaset's (a rollout in progress).
    rollout: Option<Replicas>,
}

/// The `kgents` cluster of the plan: 5 namespaces, 21 services, 7 deployments (8 replicasets: grafana is
/// mid-rollout), 5 statefulsets, 22 pods on 3 nodes, persistent volume claims, config/secret references, an HPA
/// and an ingress. One pod crash-loops (`kgent-worker`, whose deployment is therefore degraded) and one cannot
/// pull its image (grafana's new replicaset), so colour-by-health has something to show.
pub fn kgents() -> Topology {
    let t = EPOCH - 30 * DAY;
    let mut b = Builder::new("kgents", t);
    for (i, ns) in ["default", "kgents-triad", "kgents-observability", "kgents-agents", "kgents-gateway"]
        .into_iter()
        .enumerate()
    {
        b.namespace(ns, t + 60 * i as i64);
    }
    b.node(CP, t, &[("node-role.kubernetes.io/control-plane", "")]);
    b.node(W1, t + 30, &[]);
    b.node(W2, t + 30, &[]);

    let created = EPOCH - 10 * DAY;
    for app in &APPS {
        add_app(&mut b, app, created);
    }
    // grafana is rolling out a new replicaset whose image cannot be pulled; the old pod keeps serving.
    let grafana = Ref::new(Kind::Deployment, "kgents-observability", "grafana");
    let stuck = Replicas { desired: 1, current: 1, ready: 0, available: 0, updated: 1 };
    let rs = b.workload(
        Kind::ReplicaSet,
        "kgents-observability",
        "grafana-7f8d6c9b4",
        "grafana",
        stuck,
        Some(grafana.clone()),
        EPOCH - DAY,
    );
    b.pod(PodSpec {
        namespace: "kgents-observability",
        name: "grafana-7f8d6c9b4-n6w2x".into(),
        owner: rs,
        node: Some(W2),
        labels: &[("app", "grafana"), ("pod-template-hash", "7f8d6c9b4")],
        image: "grafana/grafana:11.4.1-ubuntu-typo",
        state: PodState::ImagePull,
        mounts: vec![Ref::new(Kind::ConfigMap, "kgents-observability", "grafana-dashboards")],
        created: EPOCH - DAY,
    });

    add_services(&mut b, created);
    add_references(&mut b, created);
    b.fill_endpoints();
    let mut topology = b.finish();
    topology.set_seq(1);
    topology
}

/// The nodes of `kgents`.
const CP: &str = "kgents-control-plane";
const W1: &str = "kgents-worker";
const W2: &str = "kgents-worker2";

/// The deployments and statefulsets of `kgents`, one row each: pods as (suffix, state, node).
const APPS: [App<'static>; 12] = [
    App {
        namespace: "kgents-triad",
        name: "kgent-api",
        kind: Kind::Deployment,
        hash: "7d9c8b5f6",
        pods: &[
            ("x2x9k", PodState::Ready, W1),
            ("b8q4m", PodState::Ready, W2),
            ("r7t2n", PodState::Ready, CP),
        ],
        image: "ghcr.io/kgents/api:1.4.2",
        mounts: &[(Kind::Secret, "postgres-credentials")],
        rollout: None,
    },
    App {
        namespace: "kgents-triad",
        name: "kgent-worker",
        kind: Kind::Deployment,
        hash: "5f7b9c4d8",
        pods: &[
            ("h4k2p", PodState::Ready, W1),
            ("m9x7c", PodState::Ready, W2),
            ("q2w8z", PodState::CrashLoop, W1),
        ],
        image: "ghcr.io/kgents/worker:1.4.2",
        mounts: &[(Kind::Secret, "postgres-credentials")],
        rollout: None,
    },
    App {
        namespace: "kgents-triad",
        name: "redis",
        kind: Kind::Deployment,
        hash: "6b8f7d9c5",
        pods: &[("t5v8n", PodState::Ready, W2)],
        image: "redis:7.4",
        mounts: &[],
        rollout: None,
    },
    App {
        namespace: "kgents-triad",
        name: "postgres",
        kind: Kind::StatefulSet,
        hash: "",
        pods: &[("0", PodState::Ready, W1)],
        image: "postgres:17",
        mounts: &[(Kind::PersistentVolumeClaim, "data"), (Kind::Secret, "postgres-credentials")],
        rollout: None,
    },
    App {
        namespace: "kgents-triad",
        name: "qdrant",
        kind: Kind::StatefulSet,
        hash: "",
        pods: &[("0", PodState::Ready, W2)],
        image: "qdrant/qdrant:v1.13",
        mounts: &[(Kind::PersistentVolumeClaim, "storage")],
        rollout: None,
    },
    App {
        namespace: "kgents-observability",
        name: "grafana",
        kind: Kind::Deployment,
        hash: "6c5f9d7b8",
        pods: &[("k8d2f", PodState::Ready, W1)],
        image: "grafana/grafana:11.4.0",
        mounts: &[(Kind::ConfigMap, "grafana-dashboards")],
        rollout: Some(Replicas { desired: 1, current: 2, ready: 1, available: 1, updated: 1 }),
    },
    App {
        namespace: "kgents-observability",
        name: "prometheus",
        kind: Kind::Deployment,
        hash: "5d9f8b7c6",
        pods: &[("w7n4j", PodState::Ready, W2)],
        image: "prom/prometheus:v3.1.0",
        mounts: &[],
        rollout: None,
    },
    App {
        namespace: "kgents-observability",
        name: "otel-collector",
        kind: Kind::Deployment,
        hash: "8c7d6f5b4",
        pods: &[
            ("c4x9m", PodState::Ready, CP),
            ("f2p7q", PodState::Ready, W1),
            ("j5r8s", PodState::Ready, W2),
        ],
        image: "otel/opentelemetry-collector-contrib:0.116.0",
        mounts: &[(Kind::ConfigMap, "otel-collector-config")],
        rollout: None,
    },
    App {
        namespace: "kgents-observability",
        name: "loki",
        kind: Kind::StatefulSet,
        hash: "",
        pods: &[("0", PodState::Ready, W1)],
        image: "grafana/loki:3.3.2",
        mounts: &[(Kind::PersistentVolumeClaim, "storage")],
        rollout: None,
    },
    App {
        namespace: "kgents-observability",
        name: "tempo",
        kind: Kind::StatefulSet,
        hash: "",
        pods: &[("0", PodState::Ready, W2)],
        image: "grafana/tempo:2.6.1",
        mounts: &[(Kind::PersistentVolumeClaim, "storage")],
        rollout: None,
    },
    App {
        namespace: "kgents-agents",
        name: "nats",
        kind: Kind::StatefulSet,
        hash: "",
        pods: &[("0", PodState::Ready, CP), ("1", PodState::Ready, W1), ("2", PodState::Ready, W2)],
        image: "nats:2.10",
        mounts: &[(Kind::PersistentVolumeClaim, "jetstream"), (Kind::ConfigMap, "nats-config")],
        rollout: None,
    },
    App {
        namespace: "kgents-gateway",
        name: "kong",
        kind: Kind::Deployment,
        hash: "9f8e7d6c5",
        pods: &[("z3m6p", PodState::Ready, W1), ("v8k2d", PodState::Ready, W2)],
        image: "kong:3.9",
        mounts: &[],
        rollout: None,
    },
];

fn add_app(b: &mut Builder, app: &App<'_>, created: i64) {
    let ns = app.namespace;
    let n = app.pods.len() as u32;
    let up = app.pods.iter().filter(|(_, state, _)| *state == PodState::Ready).count() as u32;
    let replicas = Replicas { desired: n, current: n, ready: up, available: up, updated: n };
    let owner = if app.kind == Kind::Deployment {
        let counts = app.rollout.unwrap_or(replicas);
        let deployment = b.workload(Kind::Deployment, ns, app.name, app.name, counts, None, created);
        let rs_name = format!("{}-{}", app.name, app.hash);
        b.workload(Kind::ReplicaSet, ns, &rs_name, app.name, replicas, Some(deployment), created)
    } else {
        b.workload(app.kind, ns, app.name, app.name, replicas, None, created)
    };
    for (suffix, state, node) in app.pods {
        let (name, hash_label) = if app.kind == Kind::Deployment {
            (format!("{}-{}-{suffix}", app.name, app.hash), app.hash)
        } else {
            (format!("{}-{suffix}", app.name), "")
        };
        let mounts = app
            .mounts
            .iter()
            .map(|(kind, target)| match kind {
                Kind::PersistentVolumeClaim => Ref::new(*kind, ns, format!("{target}-{name}")),
                _ => Ref::new(*kind, ns, *target),
            })
            .collect();
        let labels: &[(&str, &str)] = if hash_label.is_empty() {
            &[("app", app.name)]
        } else {
            &[("app", app.name), ("pod-template-hash", hash_label)]
        };
        b.pod(PodSpec {
            namespace: ns,
            name,
            owner: owner.clone(),
            node: Some(node),
            labels,
            image: app.image,
            state: *state,
            mounts,
            created,
        });
    }
}

fn add_services(b: &mut Builder, created: i64) {
    let kubernetes = Some(Endpoints { ready: 1, not_ready: 0 });
    b.service("default", "kubernetes", &[], ServiceType::ClusterIp, kubernetes, EPOCH - 30 * DAY);
    let services: [(&str, &str, &str, ServiceType); 20] = [
        ("kgents-triad", "kgent-api", "kgent-api", ServiceType::ClusterIp),
        ("kgents-triad", "kgent-worker", "kgent-worker", ServiceType::ClusterIp),
        ("kgents-triad", "redis", "redis", ServiceType::ClusterIp),
        ("kgents-triad", "postgres", "postgres", ServiceType::ClusterIp),
        ("kgents-triad", "postgres-headless", "postgres", ServiceType::ClusterIp),
        ("kgents-triad", "qdrant", "qdrant", ServiceType::ClusterIp),
        ("kgents-triad", "qdrant-headless", "qdrant", ServiceType::ClusterIp),
        ("kgents-observability", "grafana", "grafana", ServiceType::ClusterIp),
        ("kgents-observability", "loki", "loki", ServiceType::ClusterIp),
        ("kgents-observability", "loki-headless", "loki", ServiceType::ClusterIp),
        ("kgents-observability", "prometheus", "prometheus", ServiceType::ClusterIp),
        ("kgents-observability", "tempo", "tempo", ServiceType::ClusterIp),
        ("kgents-observability", "tempo-headless", "tempo", ServiceType::ClusterIp),
        ("kgents-observability", "otel-collector", "otel-collector", ServiceType::ClusterIp),
        ("kgents-agents", "nats", "nats", ServiceType::ClusterIp),
        ("kgents-agents", "nats-headless", "nats", ServiceType::ClusterIp),
        ("kgents-agents", "nats-monitor", "nats", ServiceType::ClusterIp),
        ("kgents-gateway", "kong-proxy", "kong", ServiceType::LoadBalancer),
        ("kgents-gateway", "kong-admin", "kong", ServiceType::ClusterIp),
        ("kgents-gateway", "kong-metrics", "kong", ServiceType::ClusterIp),
    ];
    for (ns, name, app, service_type) in services {
        b.service(ns, name, &[("app", app)], service_type, None, created);
    }
}

fn add_references(b: &mut Builder, created: i64) {
    let refs = [
        (Kind::Secret, "kgents-triad", "postgres-credentials"),
        (Kind::ConfigMap, "kgents-observability", "grafana-dashboards"),
        (Kind::ConfigMap, "kgents-observability", "otel-collector-config"),
        (Kind::ConfigMap, "kgents-agents", "nats-config"),
    ];
    for (kind, ns, name) in refs {
        let mut entity = b.entity(kind, ns, name, created);
        entity.uid = String::new();
        entity.created = None;
        b.add(entity);
    }
    let claims = [
        ("kgents-triad", "data-postgres-0"),
        ("kgents-triad", "storage-qdrant-0"),
        ("kgents-observability", "storage-loki-0"),
        ("kgents-observability", "storage-tempo-0"),
        ("kgents-agents", "jetstream-nats-0"),
        ("kgents-agents", "jetstream-nats-1"),
        ("kgents-agents", "jetstream-nats-2"),
    ];
    for (ns, name) in claims {
        let mut pvc = b.entity(Kind::PersistentVolumeClaim, ns, name, created);
        pvc.details = Details::Pvc(PvcInfo {
            phase: PvcPhase::Bound,
            capacity_bytes: Some(10 << 30),
            storage_class: Some("standard".into()),
        });
        b.add(pvc);
    }
    let mut hpa = b.entity(Kind::HorizontalPodAutoscaler, "kgents-triad", "kgent-api", created);
    hpa.details = Details::Hpa(HpaInfo {
        target: Ref::new(Kind::Deployment, "kgents-triad", "kgent-api"),
        min_replicas: 2,
        max_replicas: 6,
        current_replicas: 3,
        desired_replicas: 3,
        able_to_scale: Cond::True,
        scaling_active: Cond::True,
    });
    b.add(hpa);
    let mut ingress = b.entity(Kind::Ingress, "kgents-gateway", "kgents-public", created);
    ingress.details = Details::Ingress(IngressInfo {
        class: Some("kong".into()),
        hosts: vec!["kgents.local".into()],
        backends: vec!["kong-proxy".into()],
        has_address: true,
    });
    b.add(ingress);
}
