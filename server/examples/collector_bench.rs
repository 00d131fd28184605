//! Collector benchmarks against the simulated cluster at `scale:N` (default 10 000 pods), in release mode.
//!
//! Prints `name value unit` lines (see `scripts/bench-collector.sh` and BENCHMARKS.md):
//! - `collector.ready_10k_s`: `collector::start` to the first ready snapshot (discovery + every initial list over
//!   HTTP + projection + the owner's first transaction);
//! - `collector.event_to_topology_p50_ms` / `_p99_ms`: a pod label changed in the simulator's store → a replica
//!   kept from the owner's published diffs holds it, as the hub's does (the simulated API's watch, kube-runtime,
//!   projection, owner transaction, diff broadcast, apply);
//! - `collector.rss_10k_mb`: the resident memory of a separate `gestalt-live serve` process (path in the first
//!   argument) watching the same simulated cluster, 2 s after it is ready — the collector's real footprint without
//!   the simulator's store in the same process — and `collector.rss_10k_steady_mb` 45 s later, once the metrics
//!   polls and the findings engine have run a few times.
//!
//! The server crate is a binary, so the collector's modules are compiled into this example by path.
//!
//! `cargo run --release -p server --example collector_bench -- target/release/gestalt-live [pods] [changes]`

#![allow(dead_code, missing_docs, clippy::pedantic)]

#[path = "../src/cli.rs"]
mod cli;
// `cli` names the `sim` subcommand's arguments.
#[path = "../src/signal.rs"]
mod signal;
#[path = "../src/simulated.rs"]
mod simulated;
// An inline module with a path: `collector.rs` is then found as a normal (non-`mod.rs`) file, so its own
// submodules resolve to `src/collector/*.rs` as they do in the binary.
#[path = "../src"]
mod server_src {
    // `cli` names the security settings, which name `auth`.
    pub mod auth;
    pub mod collector;
}
use server_src::auth;
use server_src::collector;

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use sim::resource::PODS;
use sim::select::Filter;

/// How long after the first reading the steady-state RSS is read.
const STEADY_SECS: u64 = 45;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn settings(kubeconfig: &std::path::Path) -> collector::Settings {
    collector::Settings {
        auth: cli::AuthArgs {
            kubeconfig: Some(kubeconfig.to_path_buf()),
            context: None,
            server: None,
            token_file: None,
            ca_file: None,
            cluster_name: Some("bench".into()),
        },
        selection: collector::watch::Selection::default(),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = args.next();
    let pods: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let changes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(300);
    let label = if pods == 10_000 { "10k".to_owned() } else { format!("{pods}") };

    let simulated =
        sim::Sim::new(sim::SimConfig { scenario: sim::Scenario::Scale(pods), ..sim::SimConfig::default() })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let dir = std::env::temp_dir().join(format!("gestalt-collector-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("site/pkg"))?;
    std::fs::write(dir.join("site/pkg/gestalt-live.js"), "")?;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim::kubeconfig(listener.local_addr()?))?;
    tokio::spawn(sim::serve(listener, simulated.clone()));

    // Start to ready.
    let started = Instant::now();
    let outputs = collector::start(&settings(&kubeconfig)).await?;
    let mut ready = outputs.ready.clone();
    ready.wait_for(|r| *r).await?;
    let ready_s = started.elapsed().as_secs_f64();
    let entities = outputs.topology.read().len();
    eprintln!("collector_bench: ready with {entities} entities in {ready_s:.3} s");
    println!("collector.ready_{label}_s {ready_s:.3} s");

    // Event to topology.
    let all = simulated.store().list(PODS, &Filter::default(), None, None)?;
    let targets: Vec<(String, String)> = all
        .items
        .iter()
        .step_by((all.items.len() / changes.max(1)).max(1))
        .take(changes)
        .map(|p| {
            (
                p["metadata"]["namespace"].as_str().unwrap_or_default().to_owned(),
                p["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // The published path: a replica kept from the owner's diffs, as the hub's clients keep theirs, started from a
    // copy of the owner's topology once the cluster is quiet (subscribed first, so no diff falls in between;
    // those the copy already holds are skipped).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut diffs = outputs.diffs.subscribe();
    let mut replica = outputs.topology.read().clone();
    let mut latencies = Vec::with_capacity(targets.len());
    for (i, (ns, name)) in targets.iter().enumerate() {
        let value = format!("v{i}");
        let id = topology::EntityId::new("bench", topology::Kind::Pod, ns.as_str(), name.as_str());
        let written = Instant::now();
        simulated
            .store()
            .modify(PODS, Some(ns), name, |p| p["metadata"]["labels"]["bench"] = json!(value))?;
        loop {
            let published = tokio::time::timeout(Duration::from_secs(5), diffs.recv())
                .await
                .map_err(|_| format!("the change to {ns}/{name} never reached the topology"))??;
            let diff = &published.diff;
            if diff.seq <= replica.seq() {
                continue;
            }
            replica.apply(diff)?;
            if replica.get(&id).is_some_and(|e| e.labels.iter().any(|(k, v)| k == "bench" && v == value)) {
                latencies.push(written.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
        // Let the owner go idle so each change is measured alone, as a live cluster's sparse events are.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut slowest: Vec<(usize, f64)> = latencies.iter().copied().enumerate().collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let slowest: Vec<String> = slowest.iter().take(5).map(|(i, ms)| format!("#{i} {ms:.1} ms")).collect();
    eprintln!("collector_bench: slowest changes {}", slowest.join(", "));
    latencies.sort_by(f64::total_cmp);
    println!("collector.event_to_topology_p50_ms {:.2} ms", percentile(&latencies, 50.0));
    println!("collector.event_to_topology_p99_ms {:.2} ms", percentile(&latencies, 99.0));

    // The RSS of a real `gestalt-live serve` against the same cluster.
    if let Some(binary) = binary {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = std::process::Command::new(&binary)
            .args(["serve", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--site-root"])
            .arg(dir.join("site"))
            .env("GESTALT_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let readyz = || -> Option<bool> {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            write!(s, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
            let mut r = String::new();
            s.read_to_string(&mut r).ok()?;
            Some(r.starts_with("HTTP/1.1 200"))
        };
        while readyz() != Some(true) {
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("gestalt-live serve did not become ready".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let the initial burst's buffers be returned before reading the steady state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let kb = proc_status_kb(child.id(), "VmRSS:")?;
        let hwm = proc_status_kb(child.id(), "VmHWM:").unwrap_or(0.0);
        eprintln!(
            "collector_bench: gestalt-live serve VmRSS {:.1} MB, peak {:.1} MB",
            kb / 1024.0,
            hwm / 1024.0
        );
        println!("collector.rss_{label}_mb {:.1} MB", kb / 1024.0);
        // And once the periodic work (metrics polls every 15 s, the findings engine) has run a few times: the
        // figure a server that stays up shows. It was 40–90 MB above the one just after ready.
        tokio::time::sleep(Duration::from_secs(STEADY_SECS)).await;
        let steady = proc_status_kb(child.id(), "VmRSS:")?;
        eprintln!(
            "collector_bench: gestalt-live serve VmRSS {:.1} MB after {STEADY_SECS} s more",
            steady / 1024.0
        );
        println!("collector.rss_{label}_steady_mb {:.1} MB", steady / 1024.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// A `kB` line of `/proc/PID/status`.
fn proc_status_kb(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(kb)
}
