//! `gestalt-live sim`: the simulated cluster on its own, for kubectl, other tools, or a `serve` elsewhere.
//!
//! `demo` runs the same simulated cluster in-process behind the web page; this command serves only the
//! Kubernetes API, on loopback (it has no authentication), writes a kubeconfig for it and lets it churn, so
//! anything that speaks Kubernetes can be pointed at a living cluster without one.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

/// Flags of `gestalt-live sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to serve the Kubernetes API on: loopback only (the simulated API has no authentication).
    /// Port 0 picks a free one; the kubeconfig has the real address.
    #[arg(long, default_value = "127.0.0.1:0", env = "GESTALT_SIM_LISTEN")]
    pub listen: SocketAddr,
    /// What the simulated cluster contains: `kgents`, `multi-agent`, `orchestrator`, `scale:N` (N pods) or
    /// `empty`.
    #[arg(long, default_value = "kgents", env = "GESTALT_SCENARIO")]
    pub scenario: sim::Scenario,
    /// Seeds names, uids, usage and churn: the same seed gives the same cluster and the same changes.
    #[arg(long, default_value_t = 42, env = "GESTALT_SEED")]
    pub seed: u64,
    /// Where to write the kubeconfig that reaches the simulated cluster.
    #[arg(long, env = "GESTALT_WRITE_KUBECONFIG")]
    pub write_kubeconfig: PathBuf,
    /// Changes per minute (rollouts, scaling, crash loops, node failures, jobs…); 0 keeps the cluster still.
    #[arg(long, default_value_t = 30, env = "GESTALT_CHURN", value_name = "EVENTS_PER_MIN")]
    pub churn: u32,
}

/// Errors of `gestalt-live sim`.
#[derive(Debug, thiserror::Error)]
pub enum SimulatedError {
    /// The simulated API has no authentication, so it never listens beyond loopback.
    #[error("refusing to serve the simulated cluster on {0}: use a loopback address such as 127.0.0.1")]
    NotLoopback(SocketAddr),
    /// The scenario could not be built.
    #[error("cannot build the simulated cluster")]
    Build(#[source] sim::SimError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write the kubeconfig {}", path.display())]
    WriteKubeconfig {
        /// Where it was to go.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The API server stopped with an error.
    #[error("the simulated cluster stopped")]
    Serve(#[source] sim::SimError),
}

/// Runs the simulated cluster until Ctrl-C or SIGTERM.
///
/// # Errors
/// A non-loopback address, a scenario that cannot be built, an address that cannot be bound, a kubeconfig
/// that cannot be written, or the server failing.
pub async fn run(args: SimArgs) -> Result<(), SimulatedError> {
    run_until(args, shutdown_signal()).await
}

/// Runs the simulated cluster until `stop` completes.
async fn run_until(args: SimArgs, stop: impl Future<Output = ()>) -> Result<(), SimulatedError> {
    if !args.listen.ip().is_loopback() {
        return Err(SimulatedError::NotLoopback(args.listen));
    }
    let config =
        sim::SimConfig { scenario: args.scenario.clone(), seed: args.seed, ..sim::SimConfig::default() };
    let simulated = sim::Sim::new(config).map_err(SimulatedError::Build)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| SimulatedError::Bind { addr: args.listen, source })?;
    let addr = listener.local_addr().map_err(|source| SimulatedError::Bind { addr: args.listen, source })?;
    write_kubeconfig(&args.write_kubeconfig, addr)?;
    let churn = sim::churn::spawn(&simulated, args.churn);
    tracing::info!(%addr, scenario = %args.scenario, churn_per_min = args.churn, seed = args.seed, "simulated cluster ready");
    println!("{}", kubectl_line(&args.write_kubeconfig));
    let served = tokio::select! {
        served = sim::serve(listener, simulated) => served.map_err(SimulatedError::Serve),
        () = stop => Ok(()),
    };
    if let Some(churn) = churn {
        churn.abort();
    }
    served
}

/// Writes the kubeconfig, readable by its owner only (it is a cluster's address, and habits matter).
fn write_kubeconfig(path: &Path, addr: SocketAddr) -> Result<(), SimulatedError> {
    let failed = |source| SimulatedError::WriteKubeconfig { path: path.to_owned(), source };
    std::fs::write(path, sim::kubeconfig(addr)).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    }
    Ok(())
}

/// The command a user copies to look at the cluster.
fn kubectl_line(kubeconfig: &Path) -> String {
    format!("kubectl --kubeconfig {} get pods -A", kubeconfig.display())
}

async fn shutdown_signal() {
    crate::signal::shutdown().await;
    tracing::info!("shutting down the simulated cluster");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn args(listen: &str, kubeconfig: PathBuf) -> SimArgs {
        SimArgs {
            listen: listen.parse().unwrap(),
            scenario: sim::Scenario::Kgents,
            seed: 1,
            write_kubeconfig: kubeconfig,
            churn: 600,
        }
    }

    #[tokio::test]
    async fn it_refuses_to_listen_beyond_loopback() {
        let result =
            run_until(args("0.0.0.0:0", PathBuf::from("/nonexistent/x")), std::future::pending()).await;
        assert!(matches!(result, Err(SimulatedError::NotLoopback(_))), "{result:?}");
    }

    /// The server address a kubeconfig points at.
    fn server(kubeconfig: &str) -> SocketAddr {
        let line = kubeconfig.lines().find(|l| l.trim_start().starts_with("server:")).unwrap();
        line.trim().trim_start_matches("server:").trim().trim_start_matches("http://").parse().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn it_serves_the_cluster_its_kubeconfig_names_until_stopped() {
        let dir = std::env::temp_dir().join(format!("gestalt-sim-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_until(args("127.0.0.1:0", kubeconfig.clone()), async {
            let _ = stopped.await;
        }));
        let text = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&kubeconfig) {
                    if text.contains("server:") {
                        return text;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the kubeconfig is written");
        let mut stream = tokio::net::TcpStream::connect(server(&text)).await.unwrap();
        stream
            .write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("kgents-agents"), "{response}");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("it stops").unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(server(&text)).await.is_err(), "nothing listens any more");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
