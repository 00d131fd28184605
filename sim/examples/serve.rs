//! Serves a simulated cluster on loopback and writes a kubeconfig for it, for trying it with kubectl.
//!
//! `cargo run -p sim --example serve -- kgents 127.0.0.1:0 /tmp/sim.kubeconfig`

use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let scenario: sim::Scenario = args.next().as_deref().unwrap_or("kgents").parse()?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let kubeconfig = args.next().unwrap_or_else(|| "/tmp/sim.kubeconfig".to_owned());
    let sim = sim::Sim::new(sim::SimConfig { scenario, ..sim::SimConfig::default() })?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    std::fs::write(&kubeconfig, sim::kubeconfig(listener.local_addr()?))?;
    println!("serving on {} (kubeconfig: {kubeconfig})", listener.local_addr()?);
    sim::serve(listener, sim).await?;
    Ok(())
}
