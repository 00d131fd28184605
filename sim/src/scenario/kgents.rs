//! The `kgents` layout: a kind-like cluster of 3 nodes running the kgents platform in 5 namespaces — 22 pods,
//! 21 services, 7 deployments, 6 stateful sets and a daemon set — with one crash-looping pod and one stuck
//! pulling its image, so health has something to show.
//!
//! It also carries the things a redaction test needs to find: a literal secret-looking env value
//! (`DATABASE_PASSWORD=hunter2`), `secretKeyRef`s, Secrets with data, and `last-applied-configuration`
//! annotations that repeat the env.

pub(super) mod extras;

use std::sync::Arc;

use serde_json::{json, Value};

use super::cluster::{default_namespace, namespace, node};
use super::network::{ingress, service, Port, ServiceKind, ServiceSpec};
use super::pod::Health;
use super::workload::{deploy, App, Container, Controller};
use super::Ctx;
use crate::store::StoreError;

/// How long ago kgents was installed.
const AGE: i64 = 3 * 86_400 + 4 * 3600;
const NAMESPACES: [&str; 4] = ["kgents-triad", "kgents-observability", "kgents-agents", "kgents-gateway"];

pub(super) fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

pub(super) fn secret_env(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

pub(super) fn config_volume(name: &str, config_map: &str) -> Value {
    json!({"name": name, "configMap": {"name": config_map, "defaultMode": 420}})
}

pub(super) fn mount(name: &str, path: &str) -> Value {
    json!({"name": name, "mountPath": path, "readOnly": true})
}

pub(super) fn container(
    name: &'static str,
    image: &'static str,
    ports: Vec<(&'static str, u16)>,
) -> Container {
    Container {
        name,
        image,
        ports,
        cpu: ("100m", "500m"),
        memory: ("128Mi", "256Mi"),
        env: json!([]),
        mounts: json!([]),
    }
}

fn app(
    namespace: &'static str,
    name: &'static str,
    controller: Controller,
    containers: Vec<Container>,
    age: i64,
) -> App {
    App {
        namespace: namespace.into(),
        name: name.into(),
        part_of: "kgents",
        controller,
        containers,
        volumes: json!([]),
        host_network: false,
        age,
        unhealthy: vec![],
        events: true,
    }
}

fn deployment(replicas: usize) -> Controller {
    Controller::Deployment { replicas, previous_image: None }
}

fn stateful(replicas: usize, claim: &'static str, size: &'static str, path: &'static str) -> Controller {
    Controller::StatefulSet { replicas, claim: Some((claim, size, path)) }
}

#[allow(clippy::too_many_lines)] // one table of apps reads best in one place
fn apps() -> Vec<App> {
    let (triad, obs, agents, gateway) = (NAMESPACES[0], NAMESPACES[1], NAMESPACES[2], NAMESPACES[3]);
    let mut api = container("kgent-api", "ghcr.io/kgents/kgent-api:0.9.2", vec![("http", 8080)]);
    api.cpu = ("250m", "1");
    api.memory = ("256Mi", "512Mi");
    api.env = json!([
        env("LOG_LEVEL", "info"),
        env("DATABASE_URL", "postgres://kgent@postgres.kgents-triad.svc:5432/kgents"),
        env("DATABASE_PASSWORD", "hunter2"),
        secret_env("OPENAI_API_KEY", "kgent-api-secrets", "openai-api-key"),
        env("REDIS_URL", "redis://redis.kgents-triad.svc:6379"),
        env("QDRANT_URL", "http://qdrant.kgents-triad.svc:6333"),
    ]);
    api.mounts = json!([mount("config", "/etc/kgent"), mount("secrets", "/var/run/secrets/kgent")]);
    let mut kgent_api = app(
        triad,
        "kgent-api",
        Controller::Deployment { replicas: 3, previous_image: Some("ghcr.io/kgents/kgent-api:0.9.1") },
        vec![api],
        AGE - 3600,
    );
    kgent_api.volumes = json!([config_volume("config", "kgent-api-config"),
                               {"name": "secrets", "secret": {"secretName": "kgent-api-secrets", "defaultMode": 420}}]);

    let mut pg = container("postgres", "postgres:16.3", vec![("postgres", 5432)]);
    pg.cpu = ("500m", "2");
    pg.memory = ("1Gi", "2Gi");
    pg.env = json!([
        env("POSTGRES_DB", "kgents"),
        env("POSTGRES_USER", "kgent"),
        secret_env("POSTGRES_PASSWORD", "postgres-credentials", "password"),
        env("PGDATA", "/var/lib/postgresql/data/pgdata")
    ]);
    let postgres =
        app(triad, "postgres", stateful(1, "data", "20Gi", "/var/lib/postgresql/data"), vec![pg], AGE);
    let mut qd = container("qdrant", "qdrant/qdrant:v1.9.2", vec![("http", 6333), ("grpc", 6334)]);
    qd.memory = ("512Mi", "1Gi");
    let qdrant = app(triad, "qdrant", stateful(1, "storage", "10Gi", "/qdrant/storage"), vec![qd], AGE);
    let redis = app(
        triad,
        "redis",
        deployment(1),
        vec![container("redis", "redis:7.2-alpine", vec![("redis", 6379)])],
        AGE,
    );

    let mut gf = container("grafana", "grafana/grafana:11.0.0", vec![("http", 3000)]);
    gf.env = json!([
        env("GF_SECURITY_ADMIN_USER", "admin"),
        secret_env("GF_SECURITY_ADMIN_PASSWORD", "grafana-admin", "admin-password")
    ]);
    gf.mounts = json!([mount("datasources", "/etc/grafana/provisioning/datasources")]);
    let mut grafana = app(obs, "grafana", deployment(1), vec![gf], AGE - 600);
    grafana.volumes = json!([config_volume("datasources", "grafana-datasources")]);
    let with_config = |mut c: Container, path: &str| {
        c.mounts = json!([mount("config", path)]);
        c
    };
    let mut loki = app(
        obs,
        "loki",
        stateful(1, "storage", "10Gi", "/var/loki"),
        vec![with_config(
            container("loki", "grafana/loki:3.0.0", vec![("http", 3100), ("grpc", 9095)]),
            "/etc/loki",
        )],
        AGE,
    );
    loki.volumes = json!([config_volume("config", "loki-config")]);
    let mut prom_c = with_config(
        container("prometheus", "prom/prometheus:v2.52.0", vec![("web", 9090)]),
        "/etc/prometheus",
    );
    prom_c.memory = ("512Mi", "2Gi");
    let mut prometheus =
        app(obs, "prometheus", stateful(1, "data", "20Gi", "/prometheus"), vec![prom_c], AGE);
    prometheus.volumes = json!([config_volume("config", "prometheus-config")]);
    let mut tempo = app(
        obs,
        "tempo",
        stateful(1, "storage", "10Gi", "/var/tempo"),
        vec![with_config(
            container("tempo", "grafana/tempo:2.4.2", vec![("http", 3200), ("otlp-grpc", 4317)]),
            "/etc/tempo",
        )],
        AGE,
    );
    tempo.volumes = json!([config_volume("config", "tempo-config")]);
    let otel_c = container(
        "otel-collector",
        "otel/opentelemetry-collector-contrib:0.101.0",
        vec![("otlp-grpc", 4317), ("otlp-http", 4318), ("metrics", 8888)],
    );
    let mut otel = app(obs, "otel-collector", deployment(1), vec![with_config(otel_c, "/conf")], AGE);
    otel.volumes = json!([config_volume("config", "otel-collector-config")]);
    let mut exporter_c = container("node-exporter", "prom/node-exporter:v1.8.1", vec![("metrics", 9100)]);
    exporter_c.cpu = ("50m", "200m");
    exporter_c.memory = ("32Mi", "64Mi");
    let mut exporter = app(obs, "node-exporter", Controller::DaemonSet, vec![exporter_c], AGE);
    exporter.host_network = true;

    let mut nats_c = with_config(
        container(
            "nats",
            "nats:2.10.16-alpine",
            vec![("client", 4222), ("cluster", 6222), ("monitor", 8222)],
        ),
        "/etc/nats-config",
    );
    nats_c.env = json!([env("SERVER_NAME", "$(POD_NAME)"), {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}]);
    let mut nats = app(agents, "nats", stateful(3, "nats-js", "5Gi", "/data"), vec![nats_c], AGE);
    nats.volumes = json!([config_volume("config", "nats-config")]);
    let mut orchestrator = app(
        agents,
        "agent-orchestrator",
        deployment(1),
        vec![container("orchestrator", "ghcr.io/kgents/orchestrator:v0.4.0-rc1", vec![("http", 8080)])],
        47 * 60,
    );
    orchestrator.unhealthy = vec![(0, Health::ImagePull)];
    let mut runner_c = container("agent-runner", "ghcr.io/kgents/agent-runner:0.9.2", vec![("http", 8080)]);
    runner_c.env =
        json!([env("NATS_URL", "nats://nats.kgents-agents.svc:4222"), env("AGENT_CONCURRENCY", "4")]);
    let mut runner = app(agents, "agent-runner", deployment(2), vec![runner_c], AGE - 7200);
    runner.unhealthy = vec![(1, Health::CrashLoop(7))];

    let mut kong_c = with_config(
        container(
            "proxy",
            "kong:3.6",
            vec![("proxy", 8000), ("proxy-tls", 8443), ("admin", 8001), ("manager", 8002)],
        ),
        "/kong",
    );
    kong_c.env = json!([
        env("KONG_DATABASE", "off"),
        env("KONG_DECLARATIVE_CONFIG", "/kong/kong.yml"),
        env("KONG_PROXY_LISTEN", "0.0.0.0:8000, 0.0.0.0:8443 ssl")
    ]);
    let mut kong = app(gateway, "kong", deployment(2), vec![kong_c], AGE);
    kong.volumes = json!([config_volume("config", "kong-config")]);

    vec![
        kgent_api,
        postgres,
        qdrant,
        redis,
        grafana,
        loki,
        prometheus,
        tempo,
        otel,
        exporter,
        nats,
        orchestrator,
        runner,
        kong,
    ]
}

fn services(ctx: &mut Ctx, pods: &[Arc<Value>]) -> Result<(), StoreError> {
    use ServiceKind::{ClusterIp, Headless, LoadBalancer};
    let p = Port::named;
    let table: [(&'static str, &'static str, &'static str, ServiceKind, Vec<Port>); 20] = [
        ("kgents-triad", "kgent-api", "kgent-api", ClusterIp, vec![p("http", 8080, 8080)]),
        ("kgents-triad", "postgres", "postgres", ClusterIp, vec![p("postgres", 5432, 5432)]),
        ("kgents-triad", "postgres-headless", "postgres", Headless, vec![p("postgres", 5432, 5432)]),
        ("kgents-triad", "qdrant", "qdrant", ClusterIp, vec![p("http", 6333, 6333), p("grpc", 6334, 6334)]),
        ("kgents-triad", "qdrant-headless", "qdrant", Headless, vec![p("http", 6333, 6333)]),
        ("kgents-triad", "redis", "redis", ClusterIp, vec![p("redis", 6379, 6379)]),
        ("kgents-observability", "grafana", "grafana", ClusterIp, vec![p("http", 80, 3000)]),
        (
            "kgents-observability",
            "loki",
            "loki",
            ClusterIp,
            vec![p("http", 3100, 3100), p("grpc", 9095, 9095)],
        ),
        ("kgents-observability", "loki-headless", "loki", Headless, vec![p("http", 3100, 3100)]),
        ("kgents-observability", "prometheus", "prometheus", ClusterIp, vec![p("web", 9090, 9090)]),
        (
            "kgents-observability",
            "tempo",
            "tempo",
            ClusterIp,
            vec![p("http", 3200, 3200), p("otlp-grpc", 4317, 4317)],
        ),
        (
            "kgents-observability",
            "otel-collector",
            "otel-collector",
            ClusterIp,
            vec![p("otlp-grpc", 4317, 4317), p("otlp-http", 4318, 4318), p("metrics", 8888, 8888)],
        ),
        ("kgents-observability", "node-exporter", "node-exporter", ClusterIp, vec![p("metrics", 9100, 9100)]),
        ("kgents-agents", "nats", "nats", ClusterIp, vec![p("client", 4222, 4222)]),
        (
            "kgents-agents",
            "nats-headless",
            "nats",
            Headless,
            vec![p("client", 4222, 4222), p("cluster", 6222, 6222), p("monitor", 8222, 8222)],
        ),
        ("kgents-agents", "agent-orchestrator", "agent-orchestrator", ClusterIp, vec![p("http", 8080, 8080)]),
        ("kgents-agents", "agent-runner", "agent-runner", ClusterIp, vec![p("http", 8080, 8080)]),
        (
            "kgents-gateway",
            "kong-proxy",
            "kong",
            LoadBalancer,
            vec![p("proxy", 80, 8000), p("proxy-tls", 443, 8443)],
        ),
        ("kgents-gateway", "kong-admin", "kong", ClusterIp, vec![p("admin", 8001, 8001)]),
        ("kgents-gateway", "kong-manager", "kong", ClusterIp, vec![p("manager", 8002, 8002)]),
    ];
    for (namespace, name, app, kind, ports) in table {
        let spec = ServiceSpec {
            namespace: namespace.into(),
            name: name.into(),
            labels: json!({"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "kgents"}),
            selector: Some(json!({"app.kubernetes.io/name": app})),
            ports,
            kind,
            age: AGE,
        };
        let candidates: Vec<Arc<Value>> =
            pods.iter().filter(|p| p["metadata"]["namespace"] == namespace).cloned().collect();
        service(ctx, &spec, &candidates, None, &[])?;
    }
    Ok(())
}

/// Writes the kgents cluster.
pub(crate) fn populate(ctx: &mut Ctx) -> Result<(), StoreError> {
    node(ctx, "kgents-control-plane", true, (8, 16_331_520))?;
    node(ctx, "kgents-worker", false, (8, 16_331_520))?;
    node(ctx, "kgents-worker2", false, (8, 16_331_520))?;
    default_namespace(ctx)?;
    for ns in NAMESPACES {
        namespace(ctx, ns, &json!({"app.kubernetes.io/part-of": "kgents"}), AGE + 120)?;
    }
    extras::configs(ctx)?;
    let mut pods = Vec::new();
    for app in apps() {
        pods.extend(deploy(ctx, &app)?);
    }
    services(ctx, &pods)?;
    ingress(ctx, "kgents-triad", "kgent-api", "api.kgents.local", "kgent-api", 8080, AGE)?;
    ingress(ctx, "kgents-observability", "grafana", "grafana.kgents.local", "grafana", 80, AGE)?;
    extras::autoscaling_and_jobs(ctx)
}
