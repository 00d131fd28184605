//! Findings (issue 10): the detectors' engine, the incident history and the webhook notifier, wired to the
//! collector's hub and event log.
//!
//! The detectors themselves are pure and live in [`topology::finding`]; this module holds what needs a
//! runtime: a task that re-runs them as the cluster changes ([`engine`]), `SQLite` ([`store`]) and HTTP
//! ([`webhook`]).

pub mod engine;
pub mod store;
pub mod webhook;

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use topology::finding::{Severity, Thresholds, Tiers, TiersError};

use self::store::{Store, StoreError};
use self::webhook::{Target, WebhookError};
pub use crate::cli::FindingsArgs;
use crate::collector::events::EventLog;
use crate::live::Hub;
use crate::metrics::Metrics;
use std::sync::Arc;

/// Why findings could not start.
#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    /// The tiers file cannot be read.
    #[error("cannot read the tiers file {path}")]
    ReadTiers {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tiers file is not valid.
    #[error("tiers file {path}")]
    Tiers {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: TiersError,
    },
    /// A `--webhook-min-severity` that is not a severity.
    #[error("--webhook-min-severity {0:?}: expected info, warning, high or critical")]
    Severity(String),
    /// The history database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A webhook.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// What the API needs: the history.
#[derive(Debug, Clone)]
pub struct Findings {
    /// The incident history.
    pub store: Store,
}

/// Opens the history, starts the notifier and the engine following `hub` and `events`.
///
/// # Errors
/// [`FindingsError`] for a bad tiers file, severity, webhook or database.
pub async fn start(
    args: &FindingsArgs,
    hub: Hub,
    events: EventLog,
    ready: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) -> Result<Findings, FindingsError> {
    let tiers = match &args.findings_tiers {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|source| FindingsError::ReadTiers { path: name.clone(), source })?;
            Tiers::from_json(&text).map_err(|source| FindingsError::Tiers { path: name, source })?
        }
        None => Tiers::default(),
    };
    let min_severity = Severity::parse(&args.webhook_min_severity)
        .ok_or_else(|| FindingsError::Severity(args.webhook_min_severity.clone()))?;
    let targets = args
        .webhooks
        .iter()
        .filter(|w| !w.trim().is_empty())
        .map(|w| Target::parse(w.trim(), args.webhook_format))
        .collect::<Result<Vec<_>, _>>()?;
    let store = Store::open(args.findings_db.as_deref())?;
    if args.findings_db.is_none() {
        tracing::info!("findings: history kept in memory (--findings-db FILE keeps it across restarts)");
    }
    let notices = if targets.is_empty() {
        None
    } else {
        let (tx, rx) = mpsc::channel(1024);
        let settings = webhook::Settings {
            targets,
            min_severity,
            spool: args.webhook_spool.clone(),
            per_minute: args.webhook_rate,
            attempts: 5,
            backoff: Duration::from_millis(500),
        };
        webhook::spawn(&settings, rx, &metrics)?;
        Some(tx)
    };
    let thresholds = Thresholds { pending_secs: args.findings_pending_secs, ..Thresholds::default() };
    let engine =
        engine::Engine::resume(store.clone(), tiers, thresholds, args.findings_grace_secs, notices, metrics)
            .await?;
    tokio::spawn(engine::run(engine, hub, events, ready));
    Ok(Findings { store })
}
