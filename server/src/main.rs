//! `gestalt-live`: the Gestalt Live server.
//!
//! `main` only parses the command line, sets up logging and turns errors into one clear line and a
//! non-zero exit; the work is in the modules.

mod cli;
mod site;
mod web;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gestalt-live: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line, with the chain of causes, never a panic backtrace.
            eprintln!("gestalt-live: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Demo(args) => {
            let options = site::leptos_options(&args.web)?;
            let topology = topology::sample::kgents();
            tracing::info!(entities = topology.len(), "serving the built-in sample topology");
            web::serve(args.web.listen, options, web::State::fixed(topology)).await?;
        }
    }
    Ok(())
}

fn init_tracing(format: cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GESTALT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Compact => builder.compact().init(),
    }
}
