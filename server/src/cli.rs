//! The command line. Every flag also reads an environment variable so a container or a Makefile can
//! set it without rewriting the command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Gestalt Live: a live 3D map of Kubernetes clusters.
#[derive(Debug, Parser)]
#[command(name = "gestalt-live", version, about, propagate_version = true)]
pub struct Cli {
    /// Log line format (filter with `GESTALT_LOG`, e.g. `GESTALT_LOG=debug`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "GESTALT_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// Shorter human-readable lines.
    Compact,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the live map of a simulated cluster, in one process: a Kubernetes-compatible API on loopback, the
    /// collector watching it exactly as it watches a real cluster, and the web server (no kubeconfig needed).
    Demo(DemoArgs),
    /// Serve the live map of a real cluster, watched through its API server.
    Serve(ServeArgs),
    /// Serve only a simulated cluster's Kubernetes API on loopback, with churn, and write its kubeconfig (for
    /// kubectl and other tools).
    Sim(crate::simulated::SimArgs),
    /// WRITES to a cluster: registers simulated nodes and acts as their kubelet, and creates a scenario's
    /// workloads, so a bare control plane (no real nodes) becomes a live cluster. For test clusters only.
    Simulate(SimulateArgs),
    /// Create, list and revoke view tokens (read-only, expiring links for wall displays).
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Flags of `gestalt-live serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Web server settings.
    #[command(flatten)]
    pub web: WebArgs,
    /// How to reach the cluster.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Findings, history and webhooks.
    #[command(flatten)]
    pub findings: FindingsArgs,
    /// Watch only these namespaces (comma-separated; default all).
    #[arg(long, value_delimiter = ',', env = "GESTALT_NAMESPACES")]
    pub namespaces: Vec<String>,
    /// Kinds not to watch (comma-separated, kubectl names: `pods`, `rs`, `hpa`…).
    #[arg(long, value_delimiter = ',', env = "GESTALT_SKIP_KINDS")]
    pub skip_kinds: Vec<topology::Kind>,
    /// Fetch initial lists as streaming watches (`sendInitialEvents`, Kubernetes 1.27+ with the
    /// `WatchList` feature): less API server memory for big lists. Falls back to paged lists wherever the server
    /// rejects it.
    #[arg(long, env = "GESTALT_STREAMING_LISTS")]
    pub streaming_lists: bool,
}

/// How to reach and authenticate to the API server.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// The kubeconfig file (default: in-cluster credentials in a pod, else `$KUBECONFIG` or `~/.kube/config`).
    #[arg(long, env = "GESTALT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, env = "GESTALT_CONTEXT")]
    pub context: Option<String>,
    /// The API server URL, with `--token-file` (instead of a kubeconfig).
    #[arg(long, env = "GESTALT_SERVER", requires = "token_file", conflicts_with = "kubeconfig")]
    pub server: Option<String>,
    /// A file holding a bearer token, re-read when it changes.
    #[arg(long, env = "GESTALT_TOKEN_FILE", requires = "server")]
    pub token_file: Option<PathBuf>,
    /// The CA bundle (PEM) that signed the API server's certificate, with `--server`.
    #[arg(long, env = "GESTALT_CA_FILE", requires = "server")]
    pub ca_file: Option<PathBuf>,
    /// The cluster's name in entity ids (default: the kubeconfig context's name).
    #[arg(long, env = "GESTALT_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
}

/// Flags of `gestalt-live demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Web server settings.
    #[command(flatten)]
    pub web: WebArgs,
    /// Findings, history and webhooks.
    #[command(flatten)]
    pub findings: FindingsArgs,
    /// What the simulated cluster contains: `kgents`, `multi-agent`, `orchestrator`, `scale:N` (N pods) or
    /// `empty`.
    #[arg(long, default_value = "kgents", env = "GESTALT_SCENARIO")]
    pub scenario: sim::Scenario,
    /// Changes per minute in the simulated cluster (rollouts, scaling, crash loops, node failures, jobs…);
    /// 0 keeps it still.
    #[arg(long, default_value_t = 30, env = "GESTALT_CHURN", value_name = "EVENTS_PER_MIN")]
    pub churn: u32,
    /// Seeds names, uids and usage: the same seed gives the same cluster.
    #[arg(long, default_value_t = 42, env = "GESTALT_SEED")]
    pub seed: u64,
    /// Also write the simulated cluster's kubeconfig here, so kubectl can look at what the page shows.
    #[arg(long, env = "GESTALT_WRITE_KUBECONFIG")]
    pub write_kubeconfig: Option<PathBuf>,
}

/// Web server settings shared by the commands that serve the page.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Address to serve on. Loopback by default: nothing is exposed unless you ask for it.
    #[arg(long, default_value = "127.0.0.1:3000", env = "GESTALT_LISTEN")]
    pub listen: SocketAddr,
    /// Directory holding the built site (`pkg/`, favicon, …). Defaults to `target/site` under the current
    /// directory, then `../site` next to the executable (where `cargo leptos build` puts it).
    #[arg(long, env = "GESTALT_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Who may see what (the same flags for `serve` and `demo`).
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// Flags of `gestalt-live simulate`.
#[derive(Debug, Args)]
#[command(
    long_about = "WRITES to the cluster (test clusters only): registers --nodes simulated Node objects and \
acts as their kubelet (Ready status and heartbeats; for pods bound to them: Running, or the failure their \
`gestalt.dev/simulate=crashloop|oomkilled|imagepull` label asks for; finishes graceful deletions), provisions \
volumes for the scenario's claims, and creates the scenario's namespaces and workloads (never pods: the \
cluster's controllers and scheduler make and place them). Objects that exist are left alone. Runs until stopped."
)]
pub struct SimulateArgs {
    /// The kubeconfig of the cluster to write to.
    #[arg(long, env = "GESTALT_KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// The kubeconfig context (default: its current context).
    #[arg(long, env = "GESTALT_CONTEXT")]
    pub context: Option<String>,
    /// The workloads to create: `kgents`, `scale:N` or `empty` (nodes only).
    #[arg(long, default_value = "empty", env = "GESTALT_SCENARIO")]
    pub scenario: sim::Scenario,
    /// How many simulated nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub nodes: u32,
    /// Seeds the scenario's names, as in `demo`: the same seed gives the same workloads.
    #[arg(long, default_value_t = 42, env = "GESTALT_SEED")]
    pub seed: u64,
    /// Simulated nodes are named `<prefix>1`, `<prefix>2`…
    #[arg(long, default_value = "gestalt-sim-")]
    pub node_prefix: String,
}
/// Flags of the findings engine (shared by `serve` and `demo`).
#[derive(Debug, Clone, Args)]
pub struct FindingsArgs {
    /// JSON file mapping namespaces and `namespace/service` to criticality tiers P0–P3.
    #[arg(long, env = "GESTALT_FINDINGS_TIERS")]
    pub findings_tiers: Option<PathBuf>,
    /// `SQLite` file keeping the incident history across restarts (created if absent). Without it the history
    /// lives in memory and is lost on restart.
    #[arg(long, env = "GESTALT_FINDINGS_DB")]
    pub findings_db: Option<PathBuf>,
    /// How long a pod may stay Pending before it is a finding, in seconds.
    #[arg(long, env = "GESTALT_FINDINGS_PENDING_SECS", default_value_t = 300)]
    pub findings_pending_secs: i64,
    /// How long unavailable replicas, empty services and unbound claims must last before they open, in
    /// seconds.
    #[arg(long, env = "GESTALT_FINDINGS_GRACE_SECS", default_value_t = 60)]
    pub findings_grace_secs: i64,
    /// A webhook to notify on open and resolve: `slack:URL`, `json:URL` or a URL in `--webhook-format`.
    /// Repeatable; comma-separated in the environment.
    #[arg(long = "webhook", env = "GESTALT_WEBHOOKS", value_delimiter = ',')]
    pub webhooks: Vec<String>,
    /// The payload of webhooks given without a `slack:`/`json:` prefix.
    #[arg(long, env = "GESTALT_WEBHOOK_FORMAT", value_enum, default_value = "json")]
    pub webhook_format: WebhookFormat,
    /// Findings below this severity are not notified: info, warning, high or critical.
    #[arg(long, env = "GESTALT_WEBHOOK_MIN_SEVERITY", default_value = "high")]
    pub webhook_min_severity: String,
    /// Directory for notifications that could not be delivered (JSON lines, replayed on start and every
    /// minute).
    #[arg(long, env = "GESTALT_WEBHOOK_SPOOL")]
    pub webhook_spool: Option<PathBuf>,
    /// Notifications per minute per webhook.
    #[arg(long, env = "GESTALT_WEBHOOK_RATE", default_value_t = 30)]
    pub webhook_rate: u32,
}

/// The payload shape a webhook receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebhookFormat {
    /// Slack (and Mattermost, Rocket.Chat…) incoming webhooks: `{"text": "…"}`.
    Slack,
    /// The finding as a JSON document.
    Json,
}

// An explicit path, because `examples/collector_bench.rs` compiles this file by path too (see there).
#[path = "cli/security.rs"]
pub mod security;
pub use security::{SecurityArgs, TokenCommand};
