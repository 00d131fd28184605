//! `gestalt-live`: the Gestalt Live server.
//!
//! `main` only parses the command line, sets up logging and turns errors into one clear line and a
//! non-zero exit; the work is in the modules.

mod api;
mod auth;
mod cli;
mod collector;
mod findings;
mod live;
mod metrics;
mod signal;
mod simulate;
mod simulated;
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
        cli::Command::Demo(args) => demo(args).await?,
        cli::Command::Sim(args) => simulated::run(args).await?,
        cli::Command::Simulate(args) => simulate::run(args).await?,
        cli::Command::Token(command) => println!("{}", cli::security::run_token(&command)?.trim_end()),
        cli::Command::Serve(args) => {
            // Checked before anything connects: a refused --listen fails fast.
            let security = args.web.security.build(args.web.listen).await?;
            let options = site::leptos_options(&args.web)?;
            let settings = collector::Settings {
                auth: args.auth,
                selection: collector::watch::Selection {
                    namespaces: args.namespaces,
                    skip: args.skip_kinds.into_iter().collect(),
                    streaming_lists: args.streaming_lists,
                },
            };
            let outputs = collector::start(&settings).await?;
            let state = live_state(outputs, &args.findings).await?;
            web::serve(args.web.listen, options, state.secured(security)).await?;
        }
    }
    Ok(())
}

/// The error and its causes on one line: `what failed: why: why`. Causes that print a multi-line snippet (YAML
/// parse errors show the offending source) keep only their first line.
/// `gestalt-live demo`: the simulated cluster on a loopback port, the collector watching it through a kubeconfig
/// (the very code path of `serve`), and the web server.
async fn demo(args: cli::DemoArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let security = args.web.security.build(args.web.listen).await?;
    let options = site::leptos_options(&args.web)?;
    let cluster_name = args.scenario.to_string().replace(':', "-");
    let simulated = sim::Sim::new(sim::SimConfig {
        scenario: args.scenario,
        seed: args.seed,
        ..sim::SimConfig::default()
    })
    .context("cannot build the simulated cluster")?;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen for the simulated cluster")?;
    let api = listener.local_addr().context("cannot listen for the simulated cluster")?;
    let kubeconfig = args.write_kubeconfig.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("gestalt-live-demo-{}.kubeconfig", std::process::id()))
    });
    std::fs::write(&kubeconfig, sim::kubeconfig(api))
        .with_context(|| format!("cannot write the kubeconfig {}", kubeconfig.display()))?;
    if args.write_kubeconfig.is_some() {
        tracing::info!("kubectl --kubeconfig {} get pods -A", kubeconfig.display());
    }
    let _churn = sim::churn::spawn(&simulated, args.churn);
    tokio::spawn(async move {
        if let Err(error) = sim::serve(listener, simulated).await {
            tracing::error!(%error, "the simulated cluster stopped");
        }
    });
    let settings = collector::Settings {
        auth: cli::AuthArgs {
            kubeconfig: Some(kubeconfig.clone()),
            context: None,
            server: None,
            token_file: None,
            ca_file: None,
            cluster_name: Some(cluster_name),
        },
        selection: collector::watch::Selection::default(),
    };
    let outputs = collector::start(&settings).await?;
    let state = live_state(outputs, &args.findings).await?;
    let served = web::serve(args.web.listen, options, state.secured(security)).await;
    if args.write_kubeconfig.is_none() {
        // Our own temporary file; a kubeconfig the user asked for stays.
        let _ = std::fs::remove_file(&kubeconfig);
    }
    Ok(served?)
}

/// The collector's outputs wired to a hub, the findings engine and the web state: the one place `serve` and
/// `demo` share.
async fn live_state(
    outputs: collector::owner::Outputs,
    findings_args: &findings::FindingsArgs,
) -> anyhow::Result<web::StateBuilder> {
    tokio::spawn(collector::report(outputs.status.clone()));
    let metrics = std::sync::Arc::new(metrics::Metrics::new(outputs.lag.clone()));
    let link = live::follow_collector(outputs.ready.clone(), outputs.status.clone());
    // Subscribed before the hub reads the topology, so no diff falls in between.
    let diffs = outputs.diffs.subscribe();
    let hub = live::Hub::start(live::Config::default(), outputs.topology, diffs, link, metrics.clone());
    let findings = findings::start(
        findings_args,
        hub.clone(),
        outputs.events.clone(),
        outputs.ready.clone(),
        metrics.clone(),
    )
    .await?;
    Ok(web::State::live(hub, outputs.ready, outputs.status, metrics)
        .with_events(outputs.events)
        .with_findings(findings))
}

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
