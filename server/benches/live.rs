//! `make bench`: the live stream end to end, printed as `name value unit` lines (see BENCHMARKS.md).
//!
//! It runs the real `gestalt-live demo` binary on the simulated cluster `scale:10000`, writes pod status
//! changes into that cluster through its Kubernetes API at a steady rate (each one a unique restart count, so
//! a client can tell which write a diff carries), and times from just before each write is sent to the moment
//! a WebSocket client has decoded the diff carrying it: API write → watch → collector → owner → hub → socket.
//! The clients run in this process, on the same 2 cores as the server, so the figures include their decoding.
//!
//! Phases: 1 client, then 200 clients, at the same write rate; server CPU per event is read from
//! `/proc/PID/stat` in each phase so the cost of more clients shows.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use topology::diff::{Change, Op};
use topology::protocol::{self, ClientMsg, Filters, ServerMsg};

const PODS: usize = 10_000;
const EVENTS_PER_SEC: u64 = 200;
const PHASE: Duration = Duration::from_secs(12);
const WARM_UP: Duration = Duration::from_secs(2);
/// Restart counts the scenario never reaches, so every match is ours.
const FIRST_MARK: u32 = 1_000_000;

type Marks = Arc<Mutex<HashMap<u32, Instant>>>;

struct Demo {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_demo() -> Demo {
    let dir = std::env::temp_dir().join(format!("gestalt-live-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    std::fs::write(dir.join("site/pkg/gestalt-live.js"), "").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gestalt-live"))
        .args(["demo", "--scenario", &format!("scale:{PODS}"), "--listen", &addr.to_string(), "--site-root"])
        .arg(dir.join("site"))
        .arg("--write-kubeconfig")
        .arg(dir.join("kubeconfig"))
        .env("GESTALT_LOG", "warn")
        .env("GESTALT_CHURN", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gestalt-live demo");
    Demo { child, addr, dir }
}

async fn ready(demo: &Demo) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the demo did not become ready");
        if let Ok(mut stream) = tokio::net::TcpStream::connect(demo.addr).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let request = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            if stream.write_all(request.as_bytes()).await.is_ok() {
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response).await;
                if response.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// CPU seconds the process used so far (user + system), from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One client: connects, skips the snapshot, and records the latency of every marked status it sees.
async fn client(
    addr: SocketAddr,
    marks: Marks,
    latencies: Arc<Mutex<Vec<f64>>>,
    sizes: Arc<Mutex<Vec<usize>>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> usize {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/live")).await.unwrap();
    let hello = ClientMsg::hello(None, Filters::default()).to_bytes().unwrap();
    socket.send(Message::Binary(hello.into())).await.unwrap();
    let mut snapshot_bytes = 0;
    let mut stop = stop;
    loop {
        let message = tokio::select! {
            _ = stop.changed() => return snapshot_bytes,
            message = socket.next() => message,
        };
        let Some(Ok(Message::Binary(bytes))) = message else {
            if message.is_none() {
                return snapshot_bytes;
            }
            continue;
        };
        let received = Instant::now();
        // Skip decoding snapshots: [version varint 1][variant 0 = Snapshot].
        if bytes.get(1) == Some(&0) {
            snapshot_bytes = bytes.len();
            continue;
        }
        let Ok(ServerMsg::Diff(diff)) = ServerMsg::from_bytes(&bytes) else { continue };
        let mut found = Vec::new();
        for op in &diff.ops {
            if let Op::Patch { changes, .. } = op {
                for change in changes {
                    if let Change::ContainerStatus { status, .. } = change {
                        if status.restarts >= FIRST_MARK {
                            found.push(status.restarts);
                        }
                    }
                }
            }
        }
        if found.is_empty() {
            continue;
        }
        if diff.ops.len() == 1 {
            sizes.lock().unwrap().push(bytes.len());
        }
        let marks = marks.lock().unwrap();
        let mut latencies = latencies.lock().unwrap();
        for mark in found {
            if let Some(sent) = marks.get(&mark) {
                latencies.push(received.duration_since(*sent).as_secs_f64() * 1000.0);
            }
        }
    }
}

/// Writes marked pod status changes at `EVENTS_PER_SEC` for `duration`.
async fn churn(
    pods: &Api<Pod>,
    targets: &[(String, String, serde_json::Value)],
    marks: &Marks,
    next: &mut u32,
    duration: Duration,
) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / EVENTS_PER_SEC));
    let until = Instant::now() + duration;
    let mut writes = Vec::new();
    while Instant::now() < until {
        tick.tick().await;
        let (ns, name, container) = &targets[*next as usize % targets.len()];
        let mark = *next + FIRST_MARK;
        *next += 1;
        let mut status = container.clone();
        status["restartCount"] = json!(mark);
        let patch = json!({ "status": { "containerStatuses": [status] } });
        let api: Api<Pod> = Api::namespaced(pods.clone().into_client(), ns);
        let name = name.clone();
        marks.lock().unwrap().insert(mark, Instant::now());
        writes.push(tokio::spawn(async move {
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
        }));
    }
    for write in writes {
        if let Ok(Err(error)) = write.await {
            eprintln!("bench-live: a write failed: {error}");
        }
    }
}

struct Phase {
    p50: f64,
    p99: f64,
    seen: usize,
    cpu_per_event_us: f64,
    snapshot_bytes: usize,
    sizes: Vec<usize>,
}

async fn phase(
    demo: &Demo,
    pods: &Api<Pod>,
    targets: &[(String, String, serde_json::Value)],
    clients: usize,
    next: &mut u32,
) -> Phase {
    let marks: Marks = Arc::default();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(client(
            demo.addr,
            marks.clone(),
            latencies.clone(),
            sizes.clone(),
            stop.clone(),
        )));
    }
    // Let every client take its snapshot, then warm up.
    tokio::time::sleep(Duration::from_secs(2) + Duration::from_millis(20 * clients as u64)).await;
    churn(pods, targets, &marks, next, WARM_UP).await;
    latencies.lock().unwrap().clear();
    sizes.lock().unwrap().clear();
    let pid = demo.child.id();
    let cpu_before = cpu_seconds(pid);
    let first = *next;
    churn(pods, targets, &marks, next, PHASE).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    let events = f64::from(*next - first);
    stop_tx.send_replace(true);
    let mut snapshot_bytes = 0;
    for task in tasks {
        snapshot_bytes = snapshot_bytes.max(task.await.unwrap_or(0));
    }
    let mut sorted = latencies.lock().unwrap().clone();
    sorted.sort_by(f64::total_cmp);
    let sizes = sizes.lock().unwrap().clone();
    Phase {
        p50: percentile(&sorted, 50.0),
        p99: percentile(&sorted, 99.0),
        seen: sorted.len(),
        cpu_per_event_us: cpu / events * 1e6,
        snapshot_bytes,
        sizes,
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let demo = start_demo();
    eprintln!("bench-live: starting gestalt-live demo --scenario scale:{PODS}");
    let started = Instant::now();
    ready(&demo).await;
    eprintln!("bench-live: ready after {:.1} s", started.elapsed().as_secs_f64());
    let kubeconfig = Kubeconfig::read_from(demo.dir.join("kubeconfig")).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    let client = Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::all(client);
    let list = pods.list(&ListParams::default().limit(500)).await.unwrap();
    let targets: Vec<(String, String, serde_json::Value)> = list
        .items
        .iter()
        .filter_map(|pod| {
            let status = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
            Some((
                pod.metadata.namespace.clone()?,
                pod.metadata.name.clone()?,
                serde_json::to_value(status).ok()?,
            ))
        })
        .collect();
    assert!(!targets.is_empty(), "no pod with a container status to change");

    // Snapshot encoding of the topology the server really holds.
    let mut next = 0;
    let one = phase(&demo, &pods, &targets, 1, &mut next).await;
    eprintln!("bench-live: 1 client saw {} marked changes", one.seen);
    let many = phase(&demo, &pods, &targets, 200, &mut next).await;
    eprintln!("bench-live: 200 clients saw {} marked changes", many.seen);

    let snapshot = fetch_snapshot(demo.addr).await;
    let mut encode_ms: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            let bytes = protocol::encode_snapshot(&snapshot).unwrap();
            std::hint::black_box(bytes);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    encode_ms.sort_by(f64::total_cmp);
    let mut sizes = one.sizes.clone();
    sizes.sort_unstable();

    println!("live.event_to_client_p50_ms {:.2} ms", one.p50);
    println!("live.event_to_client_p99_ms {:.2} ms", one.p99);
    println!("live.clients_200_p50_ms {:.2} ms", many.p50);
    println!("live.clients_200_p99_ms {:.2} ms", many.p99);
    println!("live.server_cpu_per_event_1_client_us {:.0} us", one.cpu_per_event_us);
    println!("live.server_cpu_per_event_200_clients_us {:.0} us", many.cpu_per_event_us);
    println!("live.bytes_per_pod_change {} bytes", sizes.get(sizes.len() / 2).copied().unwrap_or(0));
    println!("live.snapshot_10k_bytes {} bytes", one.snapshot_bytes);
    println!("live.snapshot_10k_encode_ms {:.2} ms", percentile(&encode_ms, 50.0));
    println!("live.snapshot_10k_entities {} entities", snapshot.len());
}

async fn fetch_snapshot(addr: SocketAddr) -> topology::Topology {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/live")).await.unwrap();
    let hello = ClientMsg::hello(None, Filters::default()).to_bytes().unwrap();
    socket.send(Message::Binary(hello.into())).await.unwrap();
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Binary(bytes) = message {
            if let Ok(ServerMsg::Snapshot(topology)) = ServerMsg::from_bytes(&bytes) {
                return topology;
            }
        }
    }
    panic!("no snapshot");
}
