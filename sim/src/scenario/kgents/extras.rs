//! The kgents objects besides workloads and services: configuration (config maps, and secrets with real-looking
//! data for redaction tests), the API's autoscaler, and the nightly database backup.

use serde_json::{json, Value};

use super::{secret_env, AGE};
use crate::clock::rfc3339;
use crate::resource::{CONFIGMAPS, CRONJOBS, HPAS, JOBS, SECRETS};
use crate::scenario::Ctx;
use crate::store::StoreError;

pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(super) fn configs(ctx: &mut Ctx) -> Result<(), StoreError> {
    let config_maps = [
        (
            "kgents-triad",
            "kgent-api-config",
            json!({"LOG_FORMAT": "json", "FEATURE_FLAGS": "streaming,memory"}),
        ),
        (
            "kgents-observability",
            "grafana-datasources",
            json!({"datasources.yaml": "apiVersion: 1\ndatasources:\n- name: Prometheus\n  type: prometheus\n  url: http://prometheus:9090\n"}),
        ),
        (
            "kgents-observability",
            "loki-config",
            json!({"loki.yaml": "auth_enabled: false\nserver:\n  http_listen_port: 3100\n"}),
        ),
        (
            "kgents-observability",
            "prometheus-config",
            json!({"prometheus.yml": "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: node\n  kubernetes_sd_configs:\n  - role: node\n"}),
        ),
        (
            "kgents-observability",
            "tempo-config",
            json!({"tempo.yaml": "server:\n  http_listen_port: 3200\n"}),
        ),
        (
            "kgents-observability",
            "otel-collector-config",
            json!({"config.yaml": "receivers:\n  otlp:\n    protocols:\n      grpc: {}\n      http: {}\n"}),
        ),
        (
            "kgents-agents",
            "nats-config",
            json!({"nats.conf": "jetstream {\n  store_dir: /data\n}\ncluster {\n  name: kgents\n}\n"}),
        ),
        ("kgents-gateway", "kong-config", json!({"kong.yml": "_format_version: \"3.0\"\nservices: []\n"})),
    ];
    for (ns, name, data) in config_maps {
        ctx.insert(CONFIGMAPS, json!({"metadata": {"name": name, "namespace": ns, "creationTimestamp": ctx.ts(AGE)}, "data": data}))?;
    }
    let secrets = [
        (
            "kgents-triad",
            "kgent-api-secrets",
            vec![("openai-api-key", "sk-sim-0000000000000000000000000000")],
        ),
        (
            "kgents-triad",
            "postgres-credentials",
            vec![("username", "kgent"), ("password", "correct-horse-battery-staple")],
        ),
        (
            "kgents-observability",
            "grafana-admin",
            vec![("admin-user", "admin"), ("admin-password", "prom-operator")],
        ),
    ];
    for (ns, name, entries) in secrets {
        let data: serde_json::Map<String, Value> =
            entries.iter().map(|(k, v)| ((*k).to_owned(), json!(base64(v.as_bytes())))).collect();
        ctx.insert(SECRETS, json!({"metadata": {"name": name, "namespace": ns, "creationTimestamp": ctx.ts(AGE)}, "type": "Opaque", "data": data}))?;
    }
    Ok(())
}

pub(super) fn autoscaling_and_jobs(ctx: &mut Ctx) -> Result<(), StoreError> {
    let ns = "kgents-triad";
    ctx.insert(HPAS, json!({
        "metadata": {"name": "kgent-api", "namespace": ns, "creationTimestamp": ctx.ts(AGE), "generation": 1},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kgent-api"}, "minReplicas": 2, "maxReplicas": 6,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        "status": {"currentReplicas": 3, "desiredReplicas": 3, "lastScaleTime": ctx.ts(AGE - 5400),
                   "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 41, "averageValue": "103m"}}}],
                   "conditions": [
                       {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size", "lastTransitionTime": ctx.ts(AGE - 5400)},
                       {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", "lastTransitionTime": ctx.ts(AGE)},
                       {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range", "lastTransitionTime": ctx.ts(AGE)}]},
    }))?;
    let template = json!({"spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure", "containers": [
        {"name": "backup", "image": "postgres:16.3", "command": ["/bin/sh", "-c", "pg_dump -h postgres kgents | gzip > /backup/kgents.sql.gz"],
         "env": [secret_env("PGPASSWORD", "postgres-credentials", "password")]}]}}}});
    let scheduled = ctx.now - ctx.now.rem_euclid(86_400) - 86_400 + 3 * 3600;
    let cron = ctx.insert(CRONJOBS, json!({
        "metadata": {"name": "postgres-backup", "namespace": ns, "creationTimestamp": ctx.ts(AGE), "generation": 1},
        "spec": {"schedule": "0 3 * * *", "concurrencyPolicy": "Forbid", "suspend": false, "successfulJobsHistoryLimit": 3,
                 "failedJobsHistoryLimit": 1, "jobTemplate": template},
        "status": {"lastScheduleTime": rfc3339(scheduled), "lastSuccessfulTime": rfc3339(scheduled + 41)},
    }))?;
    let name = format!("postgres-backup-{}", scheduled / 60);
    let (start, done) = (rfc3339(scheduled), rfc3339(scheduled + 41));
    ctx.insert(JOBS, json!({
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": start, "generation": 1,
                     "labels": {"batch.kubernetes.io/job-name": name, "job-name": name},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "postgres-backup", "uid": cron["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
        "spec": template["spec"],
        "status": {"startTime": start, "completionTime": done, "succeeded": 1, "ready": 0, "terminating": 0,
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": done, "lastTransitionTime": done},
                                  {"type": "Complete", "status": "True", "lastProbeTime": done, "lastTransitionTime": done}]},
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_pads_as_the_standard_alphabet_does() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hunter2"), "aHVudGVyMg==");
    }
}
