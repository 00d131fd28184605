//! Times the scale scenario: populating N pods, and listing all of them over HTTP on loopback.
//!
//! `cargo run -p sim --release --example bench -- 10000` prints `name value unit` lines (medians of 5 runs).

use std::error::Error;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// One `GET` with a bare HTTP/1.1 client: the whole response, headers included.
async fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let pods: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let mut populate = Vec::new();
    let mut sim = None;
    for _ in 0..5 {
        let started = Instant::now();
        let built = sim::Sim::new(sim::SimConfig {
            scenario: sim::Scenario::Scale(pods),
            ..sim::SimConfig::default()
        })?;
        populate.push(started.elapsed());
        sim = Some(built);
    }
    let sim = sim.expect("five runs");
    println!("sim_populate_{pods}_pods {:.1} ms", median(populate).as_secs_f64() * 1e3);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(sim::serve(listener, sim));
    for (name, accept) in [
        ("json", "application/json"),
        ("table", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        ("metadata", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
    ] {
        let mut samples = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let started = Instant::now();
            size = get(addr, "/api/v1/pods", accept).await?.len();
            samples.push(started.elapsed());
        }
        println!("sim_list_{pods}_pods_{name} {:.1} ms", median(samples).as_secs_f64() * 1e3);
        println!("sim_list_{pods}_pods_{name}_bytes {size} B");
    }
    Ok(())
}
