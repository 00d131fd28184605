//! Webhook notifications: a POST when a finding opens and when it resolves, as Slack's incoming-webhook
//! `{"text": …}` or as a generic JSON document.
//!
//! Each target has its own worker and queue, so a dead receiver slows only itself. A worker waits for its rate
//! limit, retries 5xx, 429 and connection failures with jittered exponential back-off, and when it gives up
//! appends the payload to a JSON-lines spool file that it replays on start and then periodically: a
//! notification is delivered or on disk, never silently lost. The spool file is named by a hash of the URL
//! (Slack URLs embed a secret), and payloads hold the finding's message (names, counts, reasons and at most a
//! scheduler's `FailedScheduling` line), never the attached events, environment values or tokens.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::mpsc;
use topology::finding::{Finding, Severity};

use crate::metrics::Metrics;

/// Notifications queued per target before new ones go straight to the spool.
const QUEUE: usize = 256;
/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often a worker retries its spool.
const REPLAY_EVERY: Duration = Duration::from_secs(60);
/// Notifications remembered for deduplication.
const DEDUP: usize = 4096;

/// What failed in a webhook.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A `--webhook` value that is not `[slack:|json:]http(s)://…`.
    #[error("webhook {0:?}: expected [slack:|json:]https://host/path")]
    Target(String),
    /// The HTTP client could not be built.
    #[error("webhook: cannot build the HTTP client")]
    Client(#[source] std::io::Error),
    /// A POST failed (the URL is not repeated: it may hold a secret).
    #[error("webhook {target}: {reason}")]
    Post {
        /// The target's id.
        target: String,
        /// What went wrong.
        reason: String,
        /// Whether trying again may help.
        retry: bool,
    },
    /// The spool file.
    #[error("webhook spool {path}")]
    Spool {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Whether a finding opened, got worse, or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// It opened.
    Opened,
    /// An open finding reached a higher severity than it had so far.
    Escalated,
    /// It resolved.
    Resolved,
}

/// One notification to send.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Opened or resolved.
    pub transition: Transition,
    /// The finding.
    pub finding: Finding,
    /// The highest severity it had while open (its current one at most): a resolve is sent wherever an open or an
    /// escalation could have been.
    pub peak: Severity,
}

impl Notice {
    /// Whether a receiver with minimum severity `min` gets it: opens and escalations by their severity, resolves
    /// by the incident's peak, so that a receiver told of an incident is also told when it ends.
    pub fn reaches(&self, min: Severity) -> bool {
        match self.transition {
            Transition::Opened | Transition::Escalated => self.finding.severity >= min,
            Transition::Resolved => self.peak.max(self.finding.severity) >= min,
        }
    }
}

pub use crate::cli::WebhookFormat as Format;

/// One receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
    format: Format,
}

impl Target {
    /// Parses `slack:URL`, `json:URL` or a bare URL in the `default` format.
    ///
    /// # Errors
    /// [`WebhookError::Target`] when the URL is not http(s).
    pub fn parse(text: &str, default: Format) -> Result<Target, WebhookError> {
        let (format, url) = match text.split_once(':') {
            Some(("slack", rest)) => (Format::Slack, rest),
            Some(("json", rest)) => (Format::Json, rest),
            _ => (default, text),
        };
        let uri: axum::http::Uri = url.parse().map_err(|_| WebhookError::Target(redact(text)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(WebhookError::Target(redact(text)));
        }
        Ok(Target { url: url.to_owned(), format })
    }

    /// A name safe to log and to name the spool file: host and a hash of the whole URL.
    pub fn id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.url.as_bytes());
        let hex = digest.as_ref()[..6].iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        let host = self.url.parse::<axum::http::Uri>().ok().and_then(|u| u.host().map(str::to_owned));
        format!("{}-{hex}", host.unwrap_or_default())
    }
}

/// Only the scheme and host of a URL for an error message.
fn redact(text: &str) -> String {
    text.split('/').take(3).collect::<Vec<_>>().join("/") + "/…"
}

/// The notifier's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to POST.
    pub targets: Vec<Target>,
    /// Findings below this severity are not sent.
    pub min_severity: Severity,
    /// Where undeliverable notifications go (`None`: logged and dropped).
    pub spool: Option<PathBuf>,
    /// Notifications per minute per target.
    pub per_minute: u32,
    /// Attempts per notification.
    pub attempts: u32,
    /// The first retry's delay; doubled each time, with ±50 % jitter.
    pub backoff: Duration,
}

/// The payload for one notice.
pub fn payload(format: Format, notice: &Notice) -> Bytes {
    let f = &notice.finding;
    let value = match format {
        Format::Json => serde_json::json!({
            "event": notice.transition,
            "key": f.key,
            "detector": f.detector,
            "severity": f.severity,
            "tier": f.tier.to_string(),
            "subject": f.subject.to_string(),
            "namespace": f.subject.namespace(),
            "message": f.message,
            "entities": f.entities.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "opened": f.opened,
            "resolved": f.resolved,
            "peak_severity": notice.peak.max(f.severity),
        }),
        Format::Slack => {
            let (mark, verb) = match notice.transition {
                Transition::Opened => (":rotating_light:", "OPEN"),
                Transition::Escalated => (":rotating_light:", "ESCALATED"),
                Transition::Resolved => (":white_check_mark:", "RESOLVED"),
            };
            let subject = &f.subject;
            let place = if subject.namespace().is_empty() {
                format!("{} {}", subject.kind(), subject.name())
            } else {
                format!("{} {}/{}", subject.kind(), subject.namespace(), subject.name())
            };
            let text = format!(
                "{mark} *{verb}* {} ({}) `{}` {place} in {}: {}",
                f.severity,
                f.tier,
                f.detector,
                subject.cluster(),
                f.message
            );
            serde_json::json!({ "text": text })
        }
    };
    Bytes::from(value.to_string())
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<Bytes>,
>;

/// One target's sender.
pub struct Worker {
    target: Target,
    client: Client,
    spool: Option<PathBuf>,
    attempts: u32,
    backoff: Duration,
    interval: Duration,
    next_slot: tokio::time::Instant,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// A worker for `target`.
    ///
    /// # Errors
    /// [`WebhookError::Client`] when the system's root certificates cannot be read.
    pub fn new(target: Target, settings: &Settings, metrics: Arc<Metrics>) -> Result<Worker, WebhookError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(WebhookError::Client)?
            .https_or_http()
            .enable_http1()
            .build();
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
        let spool = settings.spool.as_ref().map(|dir| dir.join(format!("{}.jsonl", target.id())));
        Ok(Worker {
            target,
            client,
            spool,
            attempts: settings.attempts.max(1),
            backoff: settings.backoff,
            interval: Duration::from_secs(60) / settings.per_minute.max(1),
            next_slot: tokio::time::Instant::now(),
            metrics,
        })
    }

    async fn post(&self, body: Bytes) -> Result<(), WebhookError> {
        let fail =
            |reason: String, retry: bool| WebhookError::Post { target: self.target.id(), reason, retry };
        let request = axum::http::Request::post(&self.target.url)
            .header("content-type", "application/json")
            .header("user-agent", "gestalt-live")
            .body(http_body_util::Full::new(body))
            .map_err(|e| fail(e.to_string(), false))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| fail("timed out".into(), true))?
            .map_err(|e| fail(e.to_string(), true))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(fail(format!("answered {status}"), status.is_server_error() || status.as_u16() == 429))
    }

    /// When the next notification may go, given the time now: evenly spaced at the rate, without saving up
    /// slots while idle (a burst after a quiet hour is still paced).
    fn take_slot(&mut self, now: tokio::time::Instant) -> tokio::time::Instant {
        let slot = self.next_slot.max(now);
        self.next_slot = slot + self.interval;
        slot
    }

    /// Sends one payload, waiting for the rate limit and retrying what may succeed later.
    ///
    /// # Errors
    /// The last failure once the attempts are spent or the failure is permanent.
    pub async fn deliver(&mut self, body: Bytes) -> Result<(), WebhookError> {
        let slot = self.take_slot(tokio::time::Instant::now());
        tokio::time::sleep_until(slot).await;
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            match self.post(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(WebhookError::Post { retry: true, .. }) if attempt < self.attempts => {
                    tokio::time::sleep(jitter(delay)).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Delivers, or appends to the spool when delivery fails.
    pub async fn deliver_or_spool(&mut self, body: Bytes) {
        let Err(error) = self.deliver(body.clone()).await else {
            self.metrics.webhook_delivered.inc();
            return;
        };
        self.metrics.webhook_undelivered.inc();
        let Some(path) = &self.spool else {
            tracing::error!(%error, "webhook: undeliverable (no spool directory)");
            return;
        };
        match append(path, &body) {
            Ok(()) => tracing::warn!(%error, spool = %path.display(), "webhook: undeliverable, spooled"),
            Err(spool) => tracing::error!(%error, %spool, "webhook: undeliverable and cannot be spooled"),
        }
    }

    /// Retries every spooled payload once; what fails again stays in the spool, in order, ahead of what was
    /// spooled meanwhile.
    ///
    /// The spool is moved aside (`.replaying`) before it is read, so the dispatcher's appends during a replay go to
    /// a new file instead of into one about to be rewritten; both are merged under [`SPOOL`]'s lock at the end. A
    /// `.replaying` file left by a crash is replayed first (delivery is at least once, never lost).
    ///
    /// # Errors
    /// [`WebhookError::Spool`] when the file cannot be read or rewritten.
    pub async fn replay(&mut self) -> Result<usize, WebhookError> {
        let Some(path) = self.spool.clone() else { return Ok(0) };
        let spool_error = |source| WebhookError::Spool { path: path.display().to_string(), source };
        let aside = path.with_extension("jsonl.replaying");
        {
            let _lock = SPOOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !aside.exists() {
                match std::fs::rename(&path, &aside) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                    Err(e) => return Err(spool_error(e)),
                }
            }
        }
        let text = std::fs::read_to_string(&aside).map_err(spool_error)?;
        let mut kept = Vec::new();
        let mut sent = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // Once the receiver fails, keep the rest without hammering it.
            if kept.is_empty() && self.deliver(Bytes::from(line.to_owned())).await.is_ok() {
                self.metrics.webhook_delivered.inc();
                sent += 1;
            } else {
                kept.push(line);
            }
        }
        let _lock = SPOOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let newer = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(spool_error(e)),
        };
        let mut merged = kept.join("\n");
        if !merged.is_empty() {
            merged.push('\n');
        }
        merged.push_str(&newer);
        let tmp = path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, merged)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .and_then(|()| std::fs::remove_file(&aside))
            .map_err(spool_error)?;
        Ok(sent)
    }
}

/// Serialises the spool files' appends and the end of a replay (short, synchronous file operations; never held
/// across an await).
static SPOOL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn append(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let _lock = SPOOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(body)?;
    file.write_all(b"\n")?;
    file.sync_data()
}

/// `delay` scaled by a random factor in [0.5, 1.5), so retrying servers don't all come back at once.
fn jitter(delay: Duration) -> Duration {
    use ring::rand::SecureRandom as _;
    let mut byte = [0u8; 1];
    let _ = ring::rand::SystemRandom::new().fill(&mut byte);
    delay.mul_f64(0.5 + f64::from(byte[0]) / 256.0)
}

/// Starts one worker per target and the dispatcher that filters, deduplicates and fans notices out to them.
///
/// # Errors
/// [`WebhookError::Client`] when an HTTP client cannot be built.
pub fn spawn(
    settings: &Settings,
    mut notices: mpsc::Receiver<Notice>,
    metrics: &Arc<Metrics>,
) -> Result<(), WebhookError> {
    let mut queues = Vec::new();
    for target in &settings.targets {
        let mut worker = Worker::new(target.clone(), settings, metrics.clone())?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let format = target.format;
        queues.push((tx, format, worker.spool.clone()));
        tokio::spawn(async move {
            let mut replay = tokio::time::interval(REPLAY_EVERY);
            loop {
                tokio::select! {
                    body = rx.recv() => match body {
                        Some(body) => worker.deliver_or_spool(body).await,
                        None => return,
                    },
                    _ = replay.tick() => match worker.replay().await {
                        Ok(0) => {}
                        Ok(sent) => tracing::info!(target = %worker.target.id(), sent, "webhook: spool replayed"),
                        Err(error) => tracing::warn!(%error, "webhook: cannot replay the spool"),
                    },
                }
            }
        });
    }
    let min = settings.min_severity;
    tokio::spawn(async move {
        let mut seen: HashSet<(String, i64, Transition, Severity)> = HashSet::new();
        let mut order = VecDeque::new();
        while let Some(notice) = notices.recv().await {
            if !notice.reaches(min) {
                continue;
            }
            let id = (
                notice.finding.key.clone(),
                notice.finding.opened,
                notice.transition,
                notice.finding.severity,
            );
            if !seen.insert(id.clone()) {
                continue;
            }
            order.push_back(id);
            if order.len() > DEDUP {
                if let Some(old) = order.pop_front() {
                    seen.remove(&old);
                }
            }
            for (queue, format, spool) in &queues {
                let body = payload(*format, &notice);
                if let Err(mpsc::error::TrySendError::Full(body)) = queue.try_send(body) {
                    // The receiver is far behind: straight to disk rather than dropped.
                    if let Some(path) = spool {
                        if let Err(error) = append(path, &body) {
                            tracing::error!(%error, "webhook: queue full and cannot spool");
                        }
                    }
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
