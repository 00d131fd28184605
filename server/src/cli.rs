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
    /// Serve the live map of a built-in sample cluster (no kubeconfig needed).
    Demo(DemoArgs),
}

/// Flags of `gestalt-live demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Web server settings.
    #[command(flatten)]
    pub web: WebArgs,
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
}
