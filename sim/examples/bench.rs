//! Times the simulated cluster: populating `scale:N`, listing all its pods over HTTP on loopback, and churn
//! with and without 20 watchers reading every pod change.
//!
//! `cargo run -p sim --release --example bench -- 10000` prints `name value unit` lines (medians of 5 runs
//! for populate and list, of 3 for churn); progress goes to stderr. `scripts/bench-sim.sh` runs it.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long each churn run lasts.
const CHURN_RUN: Duration = Duration::from_secs(3);
/// The cluster the churn runs on: big namespaces (50 pods each) make each change do real work.
const CHURN_SCENARIO: sim::Scenario = sim::Scenario::Scale(1000);
/// The paced runs' rate: 6 000 changes a minute, 200 times the demo's default.
const PACE: f64 = 100.0;

fn median<T: PartialOrd + Copy>(mut samples: Vec<T>) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    samples[samples.len() / 2]
}

/// One `GET` with a bare HTTP/1.1 client: the whole response, headers included.
async fn get(addr: SocketAddr, path: &str, accept: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

/// Counts watch events (`"type":"ADDED|MODIFIED|DELETED"`) in a byte stream cut at arbitrary places.
#[derive(Default)]
struct EventCounter {
    carry: Vec<u8>,
}

impl EventCounter {
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        const PATTERNS: [&[u8]; 3] =
            [b"\"type\":\"ADDED\"", b"\"type\":\"MODIFIED\"", b"\"type\":\"DELETED\""];
        let mut window = std::mem::take(&mut self.carry);
        let old = window.len();
        window.extend_from_slice(bytes);
        // Only matches ending in the new bytes count: one inside the carried tail was counted last time.
        let count = PATTERNS
            .iter()
            .map(|p| {
                window.windows(p.len()).enumerate().filter(|(i, w)| w == p && i + p.len() > old).count()
                    as u64
            })
            .sum();
        let keep = window.len().min(16);
        self.carry = window[window.len() - keep..].to_vec();
        count
    }
}

/// A watcher of every pod: connects, waits for the response head, then counts events until `stop`.
/// Returns whether the server cut it off before then (it fell too far behind).
async fn watcher(
    addr: SocketAddr,
    from: u64,
    events: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { return true };
    let request = format!("GET /api/v1/pods?watch=true&resourceVersion={from}&timeoutSeconds=600 HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return true;
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = ready.send(()).await;
    let mut counter = EventCounter::default();
    let split = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
    events.fetch_add(counter.feed(&head[split..]), Ordering::Relaxed);
    loop {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return !stop.load(Ordering::Relaxed),
            Ok(Ok(n)) => _ = events.fetch_add(counter.feed(&buf[..n]), Ordering::Relaxed),
            Err(_) if stop.load(Ordering::Relaxed) => return false,
            Err(_) => {}
        }
    }
}

/// One churn run on a fresh cluster for [`CHURN_RUN`], with `watchers` watching: as fast as it goes, or at
/// `pace` changes per second (as the runner does, on a timer). Returns (changes per second, watch events
/// delivered per second, watchers cut off).
async fn churn_run(watchers: usize, pace: Option<f64>) -> Result<(f64, f64, usize), Box<dyn Error>> {
    let sim =
        sim::Sim::new(sim::SimConfig { scenario: CHURN_SCENARIO, seed: 7, ..sim::SimConfig::default() })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(sim::serve(listener, sim.clone()));
    let events = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(watchers.max(1));
    let from = sim.store().revision();
    let tasks: Vec<_> = (0..watchers)
        .map(|_| tokio::spawn(watcher(addr, from, Arc::clone(&events), Arc::clone(&stop), ready_tx.clone())))
        .collect();
    for _ in 0..watchers {
        ready_rx.recv().await.ok_or("a watcher never started")?;
    }
    let churning = sim.clone();
    let (changes, elapsed) = tokio::task::spawn_blocking(move || {
        let mut churn = sim::churn::Churn::new(7);
        let mut now = churning.now();
        let started = Instant::now();
        let mut changes = 0u64;
        let mut steps = 0u32;
        while started.elapsed() < CHURN_RUN {
            if let Some(pace) = pace {
                let due = Duration::from_secs_f64(f64::from(steps) / pace);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            steps += 1;
            now += 2;
            changes += u64::from(churn.step(churning.store(), now).is_some());
        }
        (changes, started.elapsed())
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut cut_off = 0;
    for task in tasks {
        cut_off += usize::from(task.await?);
    }
    let seconds = elapsed.as_secs_f64();
    Ok((changes as f64 / seconds, events.load(Ordering::Relaxed) as f64 / seconds, cut_off))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let pods: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let k = format!("{}k", pods / 1000);
    eprintln!("bench-sim: populating scale:{pods} five times");
    let mut populate = Vec::new();
    let mut sim = None;
    for _ in 0..5 {
        let started = Instant::now();
        let built = sim::Sim::new(sim::SimConfig {
            scenario: sim::Scenario::Scale(pods),
            ..sim::SimConfig::default()
        })?;
        populate.push(started.elapsed().as_secs_f64());
        sim = Some(built);
    }
    let sim = sim.expect("five runs");
    println!("sim.populate_{k}_s {:.3} s", median(populate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(sim::serve(listener, sim));
    eprintln!("bench-sim: listing {pods} pods over HTTP, five times per format");
    for (suffix, accept) in [
        ("", "application/json"),
        ("_table", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        ("_metadata", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
    ] {
        let mut samples = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let started = Instant::now();
            size = get(addr, "/api/v1/pods", accept).await?.len();
            samples.push(started.elapsed().as_secs_f64() * 1e3);
        }
        println!("sim.list_{k}_pods{suffix}_ms {:.1} ms", median(samples));
        println!("sim.list_{k}_pods{suffix}_bytes {size} B");
    }
    eprintln!(
        "bench-sim: churn on {CHURN_SCENARIO} for {CHURN_RUN:?}, three runs without and with 20 pod watchers"
    );
    let (mut alone, mut watched, mut delivered, mut cut) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut paced_alone, mut paced_watched, mut paced_delivered) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        alone.push(churn_run(0, None).await?.0);
        let (rate, events, cut_off) = churn_run(20, None).await?;
        watched.push(rate);
        delivered.push(events);
        cut.push(cut_off);
        paced_alone.push(churn_run(0, Some(PACE)).await?.0);
        let (rate, events, cut_off) = churn_run(20, Some(PACE)).await?;
        paced_watched.push(rate);
        paced_delivered.push(events);
        cut.push(cut_off);
    }
    println!("sim.churn_changes_per_s {:.0} changes/s", median(alone));
    println!("sim.churn_20_watchers_changes_per_s {:.0} changes/s", median(watched));
    println!("sim.churn_20_watchers_events_per_s {:.0} events/s", median(delivered));
    println!("sim.churn_paced_{PACE}_changes_per_s {:.1} changes/s", median(paced_alone));
    println!("sim.churn_paced_{PACE}_20_watchers_changes_per_s {:.1} changes/s", median(paced_watched));
    println!("sim.churn_paced_{PACE}_20_watchers_events_per_s {:.0} events/s", median(paced_delivered));
    println!("sim.churn_20_watchers_cut_off {} watchers", cut.iter().max().unwrap_or(&0));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::EventCounter;

    #[test]
    fn events_are_counted_once_across_reads() {
        let stream =
            b"{\"object\":{},\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\",\"object\":{\"type\":\"Ready\"}}\n";
        for size in [1, 5, 13, 17, 100] {
            let mut counter = EventCounter::default();
            let total: u64 = stream.chunks(size).map(|c| counter.feed(c)).sum();
            assert_eq!(total, 2, "chunks of {size}");
        }
    }
}
