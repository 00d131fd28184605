//! kubectl against the simulated API on a real socket: the proof that a stock client reads it as a cluster.
//!
//! Skipped (loudly) when `/usr/bin/kubectl` is absent.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const KUBECTL: &str = "/usr/bin/kubectl";

struct Cluster {
    sim: sim::Sim,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

async fn start(name: &str) -> Option<Cluster> {
    start_with(name, sim::SimConfig::default()).await
}

async fn start_with(name: &str, config: sim::SimConfig) -> Option<Cluster> {
    if !Path::new(KUBECTL).exists() {
        eprintln!("!!! SKIPPED {name}: {KUBECTL} is not installed, kubectl was not tested !!!");
        return None;
    }
    let sim = sim::Sim::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sim::serve(listener, sim.clone()));
    let dir = std::env::temp_dir().join(format!("gestalt-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim::kubeconfig(addr)).unwrap();
    Some(Cluster { sim, kubeconfig, cache: dir.join("cache") })
}

impl Cluster {
    fn kubectl(&self) -> Command {
        let mut command = Command::new(KUBECTL);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> String {
        let output = tokio::time::timeout(Duration::from_secs(30), self.kubectl().args(args).output())
            .await
            .expect("kubectl finishes in time")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "kubectl {args:?} failed: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(dir) = self.kubeconfig.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_pods_prints_the_kgents_table() {
    let Some(cluster) = start("get").await else { return };
    let out = cluster.run(&["get", "pods", "-A"]).await;
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(lines.len(), 1 + 22, "{out}");
    assert!(lines.iter().any(|l| l.contains("CrashLoopBackOff") && l.contains("7 (")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("kgents-agents") && l.contains("ImagePullBackOff")), "{out}");
    assert!(
        lines.iter().any(|l| l.contains("nats-0") && l.contains("1/1") && l.contains("Running")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_raw_lists_are_paged_with_a_continue_token() {
    let Some(cluster) = start("raw").await else { return };
    let page: Value =
        serde_json::from_str(&cluster.run(&["get", "--raw", "/api/v1/pods?limit=5"]).await).unwrap();
    assert_eq!(page["kind"], "PodList");
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert_eq!(page["metadata"]["remainingItemCount"], 17);
    let token = page["metadata"]["continue"].as_str().expect("a continue token");
    let rest: Value = serde_json::from_str(
        &cluster.run(&["get", "--raw", &format!("/api/v1/pods?limit=50&continue={token}")]).await,
    )
    .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 17);
    assert!(rest["metadata"].get("continue").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_watch_prints_a_pod_created_while_it_watches() {
    let Some(cluster) = start("watch").await else { return };
    let mut child =
        cluster.kubectl().args(["get", "pods", "-A", "-w"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..23 {
            lines.next_line().await.unwrap().expect("the initial table");
        }
        let pod = json!({"metadata": {"name": "watched-pod"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        cluster.sim.store().create(sim::resource::PODS, Some("default"), pod).unwrap();
        loop {
            let line = lines.next_line().await.unwrap().expect("kubectl keeps watching");
            if line.contains("watched-pod") {
                return line;
            }
        }
    })
    .await
    .expect("the new pod appears in time");
    assert!(seen.starts_with("default") && seen.contains("Pending"), "{seen}");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describes_reads_events_and_writes_through_the_api() {
    let Some(cluster) = start("write").await else { return };
    let describe = cluster
        .run(&["describe", "pod", "-n", "kgents-agents", "-l", "app.kubernetes.io/name=agent-orchestrator"])
        .await;
    assert!(
        describe.contains("ImagePullBackOff") && describe.contains("Back-off pulling image"),
        "{describe}"
    );
    cluster.run(&["run", "nginx", "--image=nginx:1.27", "-n", "default"]).await;
    cluster.run(&["label", "pod", "nginx", "-n", "default", "tier=web"]).await;
    let labels = cluster
        .run(&["get", "pod", "nginx", "-n", "default", "-o", "jsonpath={.metadata.labels.tier}"])
        .await;
    assert_eq!(labels, "web");
    let top = cluster.run(&["top", "pods", "-n", "kgents-triad"]).await;
    assert!(top.contains("postgres-0"), "{top}");
    cluster.run(&["delete", "pod", "nginx", "-n", "default"]).await;
    assert!(cluster.sim.store().get(sim::resource::PODS, Some("default"), "nginx").is_err());
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_creates_then_patches_with_default_validation() {
    let Some(cluster) = start("apply").await else { return };
    let manifest = cluster.cache.with_file_name("web.yaml");
    std::fs::write(&manifest, DEPLOYMENT).unwrap();
    let file = manifest.to_str().unwrap();
    assert!(cluster.run(&["apply", "-f", file]).await.contains("created"));
    std::fs::write(&manifest, DEPLOYMENT.replace("nginx:1.27", "nginx:1.28")).unwrap();
    assert!(cluster.run(&["apply", "-f", file]).await.contains("configured"));
    let web = cluster.sim.store().get(sim::resource::DEPLOYMENTS, Some("default"), "web").unwrap();
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        (container["image"].as_str(), container["ports"][0]["containerPort"].as_i64()),
        (Some("nginx:1.28"), Some(80))
    );
    assert_eq!(web["metadata"]["generation"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_a_churning_cluster() {
    let config = sim::SimConfig { scenario: sim::Scenario::MultiAgent, ..sim::SimConfig::default() };
    let Some(cluster) = start_with("churn", config).await else { return };
    // 1 200 changes a minute: one every 50 ms, so a few seconds see rollouts, scaling and faults.
    let churn = sim::churn::spawn(&cluster.sim, 1200).expect("churn on");
    let before = cluster.sim.store().revision();
    let mut tables = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        tables.push(cluster.run(&["get", "pods", "-A"]).await);
    }
    assert!(cluster.sim.store().revision() > before + 20, "the cluster changed while kubectl read it");
    for out in &tables {
        let lines: Vec<&str> = out.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
        assert!(lines.len() > 15, "{out}");
        assert!(lines[1..].iter().all(|l| l.split_whitespace().count() >= 6), "{out}");
    }
    assert_ne!(tables[0], tables[3], "the pods kubectl lists move");
    let events = cluster.run(&["get", "events", "-A", "--field-selector", "reason=ScalingReplicaSet"]).await;
    assert!(events.contains("Scaled"), "the deployment controller's events are there: {events}");
    churn.abort();
}
