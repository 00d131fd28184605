//! `orchestrator`: a job orchestration system on 4 nodes. Postgres, `RabbitMQ` (three nodes) and Redis as
//! stateful sets with volume claims; the orchestrator (3 replicas, an autoscaler) and 10 workers as
//! deployments. Everything healthy at the start: the churn brings the trouble.

use serde_json::json;

use super::cluster::{default_namespace, namespace, node};
use super::kgents::{container, env, secret_env};
use super::platform::{autoscaler, secret, services_for, Platform};
use super::workload::{deploy, App, Container, Controller};
use super::Ctx;
use crate::store::StoreError;

/// How long ago it was installed.
const AGE: i64 = 21 * 86_400;
const APPS: &str = "orchestrator";
const DATA: &str = "orchestrator-data";
const PART_OF: &str = "orchestrator";

/// The orchestrator's apps share their part-of label and age.
const PLATFORM_APPS: Platform = Platform { part_of: PART_OF, age: AGE };

fn app(namespace: &str, name: &str, controller: Controller, containers: Vec<Container>) -> App {
    PLATFORM_APPS.app(namespace, name, controller, containers)
}

/// Writes the orchestrator cluster.
pub(crate) fn populate(ctx: &mut Ctx) -> Result<(), StoreError> {
    node(ctx, "orch-control-plane", true, (4, 16_331_520))?;
    for i in 1..=3 {
        node(ctx, &format!("orch-worker-{i}"), false, (16, 65_843_232))?;
    }
    default_namespace(ctx)?;
    for ns in [APPS, DATA] {
        namespace(ctx, ns, &json!({"app.kubernetes.io/part-of": PART_OF}), AGE + 300)?;
    }
    for ns in [APPS, DATA] {
        secret(
            ctx,
            ns,
            "orchestrator-db",
            &[("username", "orchestrator"), ("password", "sim-not-a-real-password")],
            AGE,
        )?;
        secret(
            ctx,
            ns,
            "rabbitmq-credentials",
            &[
                ("username", "orchestrator"),
                ("password", "sim-not-a-real-password"),
                ("erlang-cookie", "sim-cookie"),
            ],
            AGE,
        )?;
    }
    data(ctx)?;
    let shared_env = || {
        json!([
            env("DATABASE_URL", "postgres://orchestrator@postgres.orchestrator-data.svc:5432/orchestrator"),
            secret_env("DATABASE_PASSWORD", "orchestrator-db", "password"),
            env("AMQP_URL", "amqp://orchestrator@rabbitmq.orchestrator-data.svc:5672/"),
            secret_env("AMQP_PASSWORD", "rabbitmq-credentials", "password"),
            env("REDIS_URL", "redis://redis.orchestrator-data.svc:6379/0"),
        ])
    };
    let mut orch_c = container(
        "orchestrator",
        "ghcr.io/acme-jobs/orchestrator:4.2.1",
        vec![("http", 8080), ("metrics", 9090)],
    );
    orch_c.cpu = ("500m", "2");
    orch_c.memory = ("512Mi", "1Gi");
    orch_c.env = shared_env();
    let orchestrator = app(
        APPS,
        "orchestrator",
        Controller::Deployment { replicas: 3, previous_image: Some("ghcr.io/acme-jobs/orchestrator:4.2.0") },
        vec![orch_c],
    );
    let pods = deploy(ctx, &orchestrator)?;
    services_for(ctx, &orchestrator, &pods, &[("http", 80, 8080), ("metrics", 9090, 9090)], false)?;
    autoscaler(ctx, &orchestrator, (3, 6), 3, 48)?;
    let mut worker_c = container("worker", "ghcr.io/acme-jobs/worker:4.2.1", vec![("metrics", 9090)]);
    worker_c.cpu = ("1", "2");
    worker_c.memory = ("1Gi", "2Gi");
    let mut worker_env = shared_env();
    if let Some(env_list) = worker_env.as_array_mut() {
        env_list.push(env("WORKER_CONCURRENCY", "8"));
    }
    worker_c.env = worker_env;
    let workers =
        app(APPS, "worker", Controller::Deployment { replicas: 10, previous_image: None }, vec![worker_c]);
    let pods = deploy(ctx, &workers)?;
    services_for(ctx, &workers, &pods, &[("metrics", 9090, 9090)], false)
}

/// Postgres, `RabbitMQ` (three nodes) and Redis, each a stateful set with a claim and two services.
fn data(ctx: &mut Ctx) -> Result<(), StoreError> {
    PLATFORM_APPS.postgres(ctx, DATA, ("postgres:15.8", "orchestrator", "orchestrator-db"), "100Gi")?;
    let mut mq = container(
        "rabbitmq",
        "rabbitmq:3.13.7-management",
        vec![("amqp", 5672), ("management", 15672), ("epmd", 4369), ("dist", 25672)],
    );
    mq.memory = ("1Gi", "2Gi");
    mq.env = json!([
        env("RABBITMQ_USE_LONGNAME", "true"),
        secret_env("RABBITMQ_ERLANG_COOKIE", "rabbitmq-credentials", "erlang-cookie"),
        secret_env("RABBITMQ_DEFAULT_PASS", "rabbitmq-credentials", "password")
    ]);
    PLATFORM_APPS.stateful(
        ctx,
        DATA,
        mq,
        (3, ("data", "20Gi", "/var/lib/rabbitmq")),
        &[("amqp", 5672, 5672), ("management", 15672, 15672)],
    )?;
    let redis = container("redis", "redis:7.4.1-alpine", vec![("redis", 6379)]);
    PLATFORM_APPS.stateful(ctx, DATA, redis, (1, ("data", "8Gi", "/data")), &[("redis", 6379, 6379)])
}
