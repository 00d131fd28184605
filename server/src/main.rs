//! `gestalt-live`: the Gestalt Live server.
//!
//! `main` only parses the command line, sets up logging and turns errors into one clear line and a
//! non-zero exit; the work is in the modules.

mod cli;
mod collector;
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
            eprintln!("gestalt-live: {}", one_line(&error));
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
        cli::Command::Serve(args) => {
            let options = site::leptos_options(&args.web)?;
            let settings = collector::Settings {
                auth: args.auth,
                selection: collector::watch::Selection {
                    namespaces: args.namespaces,
                    skip: args.skip_kinds.into_iter().collect(),
                },
            };
            let outputs = collector::start(&settings).await?;
            tokio::spawn(collector::report(outputs.status.clone()));
            web::serve(args.web.listen, options, web::State::live(outputs.topology, outputs.ready)).await?;
        }
    }
    Ok(())
}

/// The error and its causes on one line: `what failed: why: why`. Causes that print a multi-line snippet (YAML
/// parse errors show the offending source) keep only their first line.
fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(|cause| cause.to_string().lines().next().unwrap_or_default().trim().to_owned())
        .collect::<Vec<_>>()
        .join(": ")
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
