//! One client's session: hello, snapshot or resume, then frames, statuses and keep-alives until either side
//! stops. Generic over a `Sink` and a `Stream` of plain messages, so the tests drive it with channels.

use std::time::Instant;

use axum::body::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{interval_at, timeout, MissedTickBehavior};
use topology::diff::Diff;
use topology::protocol::{ClientMsg, Filters, ServerMsg, Status, PROTOCOL_VERSION};

use super::hub::{Frame, Hub, Item, Link};
use super::Format;
use crate::auth::Scope;
use crate::metrics::DropReason;

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A binary frame (postcard).
    Binary(Bytes),
    /// A text frame (UTF-8 JSON).
    Text(Bytes),
    /// A keep-alive ping.
    Ping,
    /// The closing handshake.
    Close {
        /// The WebSocket close code.
        code: u16,
        /// Why, for the client's logs (≤ 123 bytes).
        reason: String,
    },
}

/// What the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A binary frame.
    Binary(Bytes),
    /// A text frame.
    Text(Bytes),
    /// An answer to our ping (any sign of life keeps the session open).
    Pong,
    /// The client is closing.
    Close,
    /// A message the socket layer refused for its size before reading it whole (so it never sat in memory).
    TooBig,
}

/// Close codes: the standard ones, plus 4000 for an idle client (RFC 6455 leaves 4000–4999 to applications).
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A malformed or unexpected client message.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// No hello in time, or a hello the server will not serve.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A client message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed (encoding a message).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Nothing heard from the client, not even pongs, for the idle timeout.
    pub const IDLE: u16 = 4000;
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The client closed or went away.
    ClientClosed,
    /// The server is shutting down.
    Shutdown,
    /// The server closed the client, for this reason.
    Dropped(DropReason, String),
    /// The server could not encode a message (a bug).
    Internal(String),
}

/// How many namespaces a client may filter on: filters are checked per op, so their size must be bounded.
const MAX_FILTER_NAMESPACES: usize = 512;

struct Session<'h, Tx> {
    hub: &'h Hub,
    format: Format,
    tx: Tx,
    /// What this client may see at most.
    scope: &'h Scope,
    /// What it asked for, narrowed to its scope.
    filters: Filters,
    /// The sequence number the client's copy is at.
    client_seq: u64,
    /// The last hub frame this session has dealt with (equal to `client_seq` unless filters skipped frames).
    hub_seq: u64,
    last_heard: Instant,
    /// More frames are already queued for this client: write this one into the socket's buffer without
    /// flushing, so a client that is behind gets its frames in one write (one syscall and segment) instead of
    /// one each. The last queued frame, and every other message, flushes.
    more_queued: bool,
    /// Something was written without a flush.
    unflushed: bool,
}

/// Runs a session to its end, sending only what `scope` admits (the client's filters can narrow it, never
/// widen it). The caller logs the result; nothing here panics on client input.
pub async fn run<Tx, Rx>(hub: &Hub, format: Format, scope: &Scope, tx: Tx, mut rx: Rx) -> Ended
where
    Tx: Sink<Outgoing> + Unpin,
    Rx: Stream<Item = Incoming> + Unpin,
{
    let config = hub.config().clone();
    let mut session = Session {
        hub,
        format,
        tx,
        scope,
        filters: scope.restrict(&Filters::default()),
        client_seq: 0,
        hub_seq: 0,
        last_heard: Instant::now(),
        more_queued: false,
        unflushed: false,
    };
    let last_seq = match timeout(config.hello_timeout, rx.next()).await {
        Err(_) => {
            let reason = format!("no hello within {} s", config.hello_timeout.as_secs());
            return session.finish(Ended::Dropped(DropReason::NoHello, reason)).await;
        }
        Ok(None | Some(Incoming::Close)) => return Ended::ClientClosed,
        Ok(Some(message)) => match session.decode(message) {
            Ok(Some(ClientMsg::Hello { protocol, last_seq, filters })) => {
                if let Err(ended) = session.accept_hello(protocol, &filters) {
                    return session.finish(ended).await;
                }
                last_seq
            }
            Ok(Some(ClientMsg::Ping { .. }) | None) => {
                let reason = "the first message must be a hello".to_owned();
                return session.finish(Ended::Dropped(DropReason::Protocol, reason)).await;
            }
            Err(ended) => return session.finish(ended).await,
        },
    };
    hub.metrics().connections.inc();
    let mut subscription = hub.subscribe();
    let mut link = hub.link();
    let mut shutdown = hub.shutdown();
    if *shutdown.borrow_and_update() {
        return session.finish(Ended::Shutdown).await;
    }
    let current = link.borrow_and_update().clone();
    let started = match session.send_status(&current).await {
        Ok(()) => session.start(last_seq).await,
        Err(ended) => Err(ended),
    };
    if let Err(ended) = started {
        return session.finish(ended).await;
    }
    let start = tokio::time::Instant::now() + config.ping_interval;
    let mut pings = interval_at(start, config.ping_interval);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let result = loop {
        let step = tokio::select! {
            biased;
            _ = shutdown.changed() => Err(Ended::Shutdown),
            item = subscription.recv() => {
                session.more_queued = subscription.has_queued();
                let mut step = session.on_item(item).await;
                session.more_queued = false;
                if step.is_ok() && session.unflushed && !subscription.has_queued() {
                    // The last queued frame may have been filtered out: flush what was written before it.
                    step = session.flush().await;
                }
                step
            }
            message = rx.next() => session.on_message(message).await,
            _ = link.changed() => {
                let current = link.borrow_and_update().clone();
                session.send_status(&current).await
            }
            _ = pings.tick() => session.on_tick(&config).await,
        };
        if let Err(ended) = step {
            break ended;
        }
    };
    session.finish(result).await
}

impl<Tx> Session<'_, Tx>
where
    Tx: Sink<Outgoing> + Unpin,
{
    fn accept_hello(&mut self, protocol: u16, filters: &Filters) -> Result<(), Ended> {
        if protocol != PROTOCOL_VERSION {
            let reason = format!("protocol {protocol} is not {PROTOCOL_VERSION}: reload the page");
            return Err(Ended::Dropped(DropReason::Protocol, reason));
        }
        if filters.namespaces.len() > MAX_FILTER_NAMESPACES {
            let reason = format!("at most {MAX_FILTER_NAMESPACES} namespaces per filter");
            return Err(Ended::Dropped(DropReason::Protocol, reason));
        }
        self.filters = self.scope.restrict(filters);
        Ok(())
    }

    /// Resumes from `last_seq` when the ring still has everything after it, else sends a snapshot.
    async fn start(&mut self, last_seq: Option<u64>) -> Result<(), Ended> {
        let missed = last_seq.and_then(|seq| self.hub.since(seq).map(|frames| (seq, frames)));
        let Some((seq, frames)) = missed else { return self.snapshot().await };
        self.hub.metrics().resumes.inc();
        self.client_seq = seq;
        self.hub_seq = seq;
        for frame in frames {
            self.forward(&frame).await?;
        }
        Ok(())
    }

    async fn snapshot(&mut self) -> Result<(), Ended> {
        let (seq, bytes) =
            self.hub.snapshot(self.format, &self.filters).map_err(|e| Ended::Internal(e.to_string()))?;
        self.hub.metrics().snapshots.inc();
        self.client_seq = seq;
        self.hub_seq = seq;
        self.send_bytes(bytes).await
    }

    /// Sends a frame unless the client has it already; a gap means the client needs a snapshot.
    async fn forward(&mut self, frame: &Frame) -> Result<(), Ended> {
        if frame.seq() <= self.hub_seq {
            return Ok(());
        }
        if frame.base_seq() != self.hub_seq {
            return self.resync().await;
        }
        self.hub_seq = frame.seq();
        let bytes = if self.filters.is_empty() {
            frame.bytes(self.format).map_err(|e| Ended::Internal(e.to_string()))?
        } else {
            let Some(diff) = frame.filtered(&self.filters, self.client_seq) else {
                // Nothing for this client; the next diff it gets starts from its own seq.
                return Ok(());
            };
            self.encode_diff(diff)?
        };
        self.client_seq = frame.seq();
        self.send_bytes(bytes).await?;
        self.hub.metrics().fanout_seconds.observe(frame.published().elapsed().as_secs_f64());
        Ok(())
    }

    async fn resync(&mut self) -> Result<(), Ended> {
        self.hub.metrics().resyncs.inc();
        let link = self.hub.link().borrow().clone();
        let resyncing = Link {
            state: topology::protocol::LinkState::Resyncing,
            message: format!("catching up: {}", link.message).trim_end_matches(": ").to_owned(),
        };
        self.send_status(&resyncing).await?;
        self.snapshot().await?;
        self.send_status(&link).await
    }

    async fn on_item(&mut self, item: Result<Item, RecvError>) -> Result<(), Ended> {
        match item {
            Ok(Item::Frame(frame)) => self.forward(&frame).await,
            // The hub restarted, or this client fell more than a queue behind: one snapshot replaces the
            // backlog.
            Ok(Item::Reset) | Err(RecvError::Lagged(_)) => self.resync().await,
            Err(RecvError::Closed) => Err(Ended::Shutdown),
        }
    }

    async fn on_message(&mut self, message: Option<Incoming>) -> Result<(), Ended> {
        let Some(message) = message else { return Err(Ended::ClientClosed) };
        self.last_heard = Instant::now();
        match self.decode(message)? {
            None => Ok(()),
            Some(ClientMsg::Ping { nonce }) => {
                let pong = self.encode(&ServerMsg::Pong { nonce })?;
                self.send_bytes(pong).await
            }
            Some(ClientMsg::Hello { protocol, filters, .. }) => {
                // New filters: what the client holds no longer matches them.
                self.accept_hello(protocol, &filters)?;
                self.snapshot().await
            }
        }
    }

    async fn on_tick(&mut self, config: &super::Config) -> Result<(), Ended> {
        if self.last_heard.elapsed() >= config.idle_timeout {
            let reason = format!("nothing heard for {} s", config.idle_timeout.as_secs());
            return Err(Ended::Dropped(DropReason::Idle, reason));
        }
        self.send(Outgoing::Ping).await
    }

    /// Decodes a client message; `Ok(None)` for a pong. A bad message ends the session with a close frame.
    fn decode(&self, message: Incoming) -> Result<Option<ClientMsg>, Ended> {
        let limit = self.hub.config().max_client_message;
        let bytes = match &message {
            Incoming::Binary(bytes) | Incoming::Text(bytes) => bytes,
            Incoming::Pong => return Ok(None),
            Incoming::Close => return Err(Ended::ClientClosed),
            Incoming::TooBig => {
                return Err(Ended::Dropped(DropReason::TooBig, format!("message over {limit} bytes")));
            }
        };
        if bytes.len() > limit {
            return Err(Ended::Dropped(DropReason::TooBig, format!("message over {limit} bytes")));
        }
        let decoded = match message {
            Incoming::Binary(bytes) => ClientMsg::from_bytes(&bytes),
            Incoming::Text(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => ClientMsg::from_json(text),
                Err(_) => return Err(Ended::Dropped(DropReason::Protocol, "text frame is not UTF-8".into())),
            },
            Incoming::Pong | Incoming::Close | Incoming::TooBig => unreachable!("handled above"),
        };
        decoded.map(Some).map_err(|error| Ended::Dropped(DropReason::Protocol, one_line(&error)))
    }

    fn encode(&self, message: &ServerMsg) -> Result<Bytes, Ended> {
        let bytes = match self.format {
            Format::Binary => message.to_bytes().map(Bytes::from),
            Format::Json => message.to_json().map(Bytes::from),
        };
        bytes.map_err(|e| Ended::Internal(e.to_string()))
    }

    fn encode_diff(&self, diff: Diff) -> Result<Bytes, Ended> {
        self.encode(&ServerMsg::Diff(diff))
    }

    async fn send_status(&mut self, link: &Link) -> Result<(), Ended> {
        let status = Status { state: link.state, seq: self.client_seq, message: link.message.clone() };
        let bytes = self.encode(&ServerMsg::Status(status))?;
        self.send_bytes(bytes).await
    }

    async fn send_bytes(&mut self, bytes: Bytes) -> Result<(), Ended> {
        let len = bytes.len() as u64;
        let message = match self.format {
            Format::Binary => Outgoing::Binary(bytes),
            Format::Json => Outgoing::Text(bytes),
        };
        self.send(message).await?;
        self.hub.metrics().frames_sent.inc();
        self.hub.metrics().bytes_sent.inc_by(len);
        Ok(())
    }

    async fn send(&mut self, message: Outgoing) -> Result<(), Ended> {
        let sent = if self.more_queued {
            timeout(self.hub.config().send_timeout, self.tx.feed(message)).await
        } else {
            timeout(self.hub.config().send_timeout, self.tx.send(message)).await
        };
        self.unflushed = self.more_queued;
        Self::outcome(&sent)
    }

    async fn flush(&mut self) -> Result<(), Ended> {
        let flushed = timeout(self.hub.config().send_timeout, self.tx.flush()).await;
        self.unflushed = false;
        Self::outcome(&flushed)
    }

    fn outcome<E>(sent: &Result<Result<(), E>, tokio::time::error::Elapsed>) -> Result<(), Ended> {
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::ClientClosed),
            Err(_) => Err(Ended::Dropped(DropReason::SendTimeout, "the client does not keep up".into())),
        }
    }

    /// Closes the socket as `ended` says (a close frame for everything but a client that is already gone)
    /// and counts drops.
    async fn finish(&mut self, ended: Ended) -> Ended {
        match &ended {
            Ended::ClientClosed => {}
            Ended::Shutdown => {
                let _ = self.send(close_frame(close::GOING_AWAY, "server shutting down")).await;
            }
            Ended::Dropped(reason, message) => {
                self.hub.metrics().dropped(*reason);
                let code = match reason {
                    DropReason::TooBig => close::TOO_BIG,
                    DropReason::Protocol => close::PROTOCOL_ERROR,
                    DropReason::NoHello => close::POLICY_VIOLATION,
                    DropReason::Idle => close::IDLE,
                    // The socket is stuck: a close frame would wait behind the same full buffer.
                    DropReason::SendTimeout => return ended,
                };
                let _ = self.send(close_frame(code, message)).await;
            }
            Ended::Internal(message) => {
                let _ = self.send(close_frame(close::INTERNAL_ERROR, message)).await;
            }
        }
        ended
    }
}

/// A close frame; the reason is cut to the 123 bytes a close frame can carry, on a character boundary.
fn close_frame(code: u16, reason: &str) -> Outgoing {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Outgoing::Close { code, reason: reason[..end].to_owned() }
}

/// An error and its causes on one line, for logs and close reasons.
pub(crate) fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests;
