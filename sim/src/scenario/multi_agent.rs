//! `multi-agent`: an AI agent platform on 5 nodes. Seven services (gateway, orchestration, agent, tool,
//! model, vector, execution) run as deployments of 2 with an autoscaler each; postgres and qdrant are stateful
//! sets with volume claims, NATS a three-node `JetStream` cluster; a frontend behind an ingress. Everything
//! healthy at the start: the churn brings the trouble.

use serde_json::{json, Value};

use super::cluster::{default_namespace, namespace, node};
use super::kgents::{config_volume, container, env, mount, secret_env};
use super::network::ingress;
use super::platform::{autoscaler, secret, services_for, Platform};
use super::workload::{deploy, App, Container, Controller};
use super::Ctx;
use crate::resource::CONFIGMAPS;
use crate::store::StoreError;

/// How long ago the platform was installed.
const AGE: i64 = 9 * 86_400;
const PLATFORM: &str = "agent-platform";
const DATA: &str = "agent-data";
const WEB: &str = "agent-web";
const PART_OF: &str = "multi-agent";

/// The seven platform services: (name, image, CPU utilisation the autoscaler sees).
const SERVICES: [(&str, &str, u64); 7] = [
    ("gateway", "ghcr.io/acme-agents/gateway:1.8.2", 38),
    ("orchestration", "ghcr.io/acme-agents/orchestration:2.3.0", 55),
    ("agent", "ghcr.io/acme-agents/agent:2.3.0", 61),
    ("tool", "ghcr.io/acme-agents/tool-runner:0.14.1", 22),
    ("model", "ghcr.io/acme-agents/model-router:1.2.7", 47),
    ("vector", "ghcr.io/acme-agents/vector-service:0.9.4", 30),
    ("execution", "ghcr.io/acme-agents/sandbox-executor:0.6.3", 44),
];

/// The platform's apps share their part-of label and age.
const PLATFORM_APPS: Platform = Platform { part_of: PART_OF, age: AGE };

fn app(namespace: &str, name: &str, controller: Controller, containers: Vec<Container>) -> App {
    PLATFORM_APPS.app(namespace, name, controller, containers)
}

fn platform_env(name: &str) -> Value {
    json!([
        env("SERVICE_NAME", name),
        env("NATS_URL", "nats://nats.agent-data.svc:4222"),
        env("DATABASE_URL", "postgres://agents@postgres.agent-data.svc:5432/agents"),
        secret_env("DATABASE_PASSWORD", "platform-db", "password"),
        env("QDRANT_URL", "http://qdrant.agent-data.svc:6333"),
        env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.agent-platform.svc:4317"),
    ])
}

/// Writes the multi-agent cluster.
pub(crate) fn populate(ctx: &mut Ctx) -> Result<(), StoreError> {
    node(ctx, "agents-control-plane", true, (8, 32_866_304))?;
    for i in 1..=4 {
        node(ctx, &format!("agents-worker-{i}"), false, (16, 65_843_232))?;
    }
    default_namespace(ctx)?;
    for ns in [PLATFORM, DATA, WEB] {
        namespace(ctx, ns, &json!({"app.kubernetes.io/part-of": PART_OF}), AGE + 300)?;
    }
    ctx.insert(CONFIGMAPS, json!({"metadata": {"name": "platform-config", "namespace": PLATFORM, "creationTimestamp": ctx.ts(AGE)},
        "data": {"LOG_LEVEL": "info", "MAX_AGENT_STEPS": "32", "TOOL_TIMEOUT_SECONDS": "120"}}))?;
    for ns in [PLATFORM, DATA] {
        secret(
            ctx,
            ns,
            "platform-db",
            &[("username", "agents"), ("password", "sim-not-a-real-password")],
            AGE,
        )?;
    }
    for (name, image, utilisation) in SERVICES {
        let mut c = container(name, image, vec![("http", 8080), ("metrics", 9464)]);
        c.cpu = ("250m", "1");
        c.memory = ("256Mi", "1Gi");
        c.env = platform_env(name);
        c.mounts = json!([mount("config", "/etc/platform")]);
        let mut service =
            app(PLATFORM, name, Controller::Deployment { replicas: 2, previous_image: None }, vec![c]);
        service.volumes = json!([config_volume("config", "platform-config")]);
        let pods = deploy(ctx, &service)?;
        services_for(ctx, &service, &pods, &[("http", 80, 8080), ("metrics", 9464, 9464)], false)?;
        autoscaler(ctx, &service, (2, 6), 2, utilisation)?;
    }
    data(ctx)?;
    let mut web = container("frontend", "ghcr.io/acme-agents/frontend:3.1.0", vec![("http", 3000)]);
    web.env = json!([env("API_BASE_URL", "http://gateway.agent-platform.svc")]);
    let frontend =
        app(WEB, "frontend", Controller::Deployment { replicas: 2, previous_image: None }, vec![web]);
    let pods = deploy(ctx, &frontend)?;
    services_for(ctx, &frontend, &pods, &[("http", 80, 3000)], false)?;
    ingress(ctx, WEB, "frontend", "agents.example.local", "frontend", 80, AGE)
}

fn data(ctx: &mut Ctx) -> Result<(), StoreError> {
    PLATFORM_APPS.postgres(ctx, DATA, ("postgres:16.4", "agents", "platform-db"), "50Gi")?;
    let mut qd = container("qdrant", "qdrant/qdrant:v1.11.3", vec![("http", 6333), ("grpc", 6334)]);
    qd.memory = ("1Gi", "4Gi");
    PLATFORM_APPS.stateful(
        ctx,
        DATA,
        qd,
        (1, ("storage", "20Gi", "/qdrant/storage")),
        &[("http", 6333, 6333), ("grpc", 6334, 6334)],
    )?;
    let mut nats = container(
        "nats",
        "nats:2.10.20-alpine",
        vec![("client", 4222), ("cluster", 6222), ("monitor", 8222)],
    );
    nats.env = json!([env("SERVER_NAME", "$(POD_NAME)"), {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}]);
    PLATFORM_APPS.stateful(
        ctx,
        DATA,
        nats,
        (3, ("jetstream", "10Gi", "/data")),
        &[("client", 4222, 4222), ("cluster", 6222, 6222), ("monitor", 8222, 8222)],
    )
}
