//! The live stream: one hub fans the topology owner's diffs out to every browser over a WebSocket each.
//!
//! Why it is built this way:
//! - **Serialize once.** The [`hub`] encodes each diff once per wire format and shares the bytes
//!   ([`bytes::Bytes`](axum::body::Bytes)) with every client; a client with filters gets its own encoding of the
//!   ops it may see, and nothing else.
//! - **Resume instead of reload.** A ring of recent diffs lets a client that reconnects with its last sequence
//!   number get exactly what it missed. Sequence numbers start from the process's start time (see
//!   [`crate::collector::start`]), so a client coming back to a *restarted* server is never matched against an
//!   unrelated ring: it gets a snapshot.
//! - **Slow clients cost themselves, not others.** Frames reach sessions through a bounded broadcast channel:
//!   the owner and the other clients never wait for anyone. A client that falls too far behind skips the
//!   backlog and gets one fresh snapshot (the cheapest way to coalesce many diffs), and a socket that does not
//!   take a message within the send timeout is closed. Memory per client is its socket buffer, whatever its
//!   speed.
//! - **The session is transport-agnostic.** [`session::run`] speaks to a `Sink` and a `Stream` of plain
//!   messages; [`socket`] adapts axum's WebSocket to it, and the tests drive it with channels.

pub mod hub;
pub mod session;
pub mod socket;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;
use topology::protocol::LinkState;

use crate::collector::{FeedStatus, Source};
pub use hub::{Hub, Link};

/// How the hub and its sessions behave. The defaults suit a browser on a LAN and a wall display on Wi-Fi.
#[derive(Debug, Clone)]
pub struct Config {
    /// Diffs kept for resuming clients.
    pub ring_frames: usize,
    /// The ring's byte budget: a relist can produce one huge diff, and the ring must stay bounded anyway.
    pub ring_bytes: usize,
    /// Frames a client may fall behind before it is resynced with a snapshot.
    pub client_queue: usize,
    /// How long the server waits for the client's hello.
    pub hello_timeout: Duration,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A client that sends nothing (not even pongs) for this long is closed.
    pub idle_timeout: Duration,
    /// A socket that does not take one message within this long is closed.
    pub send_timeout: Duration,
    /// The largest message a client may send (hellos and pings are tiny).
    pub max_client_message: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ring_frames: 1024,
            ring_bytes: 32 << 20,
            client_queue: 256,
            hello_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(15),
            max_client_message: 64 << 10,
        }
    }
}

/// The wire format a client asked for (`?format=json` on the socket URL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// postcard in binary frames: what the browser uses.
    #[default]
    Binary,
    /// JSON in text frames, tagged with `"type"` and carrying `"seq"`: for people, curl and logs.
    Json,
}

/// The hub's state from the collector's: connecting until every watcher has listed, stale while a watch is
/// failing (the picture may be old), live otherwise. Kinds the server forbids are named, because a viewer
/// must know that what they do not see may still exist.
pub fn link_of(ready: bool, watchers: &BTreeMap<Source, FeedStatus>) -> Link {
    let count = |f: fn(&FeedStatus) -> bool| watchers.values().filter(|s| f(s)).count();
    if !ready {
        let listed = count(|s| !matches!(s, FeedStatus::Syncing));
        return Link {
            state: LinkState::Connecting,
            message: format!("listing the cluster: {listed} of {} watchers done", watchers.len()),
        };
    }
    let failing: Vec<String> = watchers
        .iter()
        .filter_map(|(source, status)| match status {
            FeedStatus::Error(message) => Some(format!("{source}: {message}")),
            _ => None,
        })
        .collect();
    if let Some(first) = failing.first() {
        let more = match failing.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Link { state: LinkState::Stale, message: format!("watch failing, retrying: {first}{more}") };
    }
    let forbidden: Vec<String> = watchers
        .iter()
        .filter(|(_, status)| matches!(status, FeedStatus::Forbidden(_)))
        .map(|(source, _)| source.to_string())
        .collect();
    let message = if forbidden.is_empty() {
        String::new()
    } else {
        format!("not permitted to see: {}", forbidden.join(", "))
    };
    Link { state: LinkState::Live, message }
}

/// Follows the collector's readiness and watcher states as a [`Link`], recomputed whenever either changes.
pub fn follow_collector(
    mut ready: watch::Receiver<bool>,
    mut watchers: watch::Receiver<BTreeMap<Source, FeedStatus>>,
) -> watch::Receiver<Link> {
    let current = || link_of(*ready.borrow(), &watchers.borrow());
    let (tx, rx) = watch::channel(current());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = ready.changed() => if changed.is_err() { return },
                changed = watchers.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
            let link = link_of(*ready.borrow_and_update(), &watchers.borrow_and_update());
            tx.send_if_modified(|old| {
                let changed = *old != link;
                *old = link;
                changed
            });
        }
    });
    rx
}

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Feed;
    use topology::Kind;

    fn source(kind: Kind) -> Source {
        Source { feed: Feed::Kind(kind), namespace: None }
    }

    #[test]
    fn the_link_says_connecting_until_ready_then_stale_while_a_watch_fails() {
        let mut watchers = BTreeMap::from([
            (source(Kind::Pod), FeedStatus::Ready),
            (source(Kind::Service), FeedStatus::Syncing),
        ]);
        let link = link_of(false, &watchers);
        assert_eq!(link.state, LinkState::Connecting);
        assert_eq!(link.message, "listing the cluster: 1 of 2 watchers done");
        watchers.insert(source(Kind::Service), FeedStatus::Ready);
        assert_eq!(link_of(true, &watchers), Link { state: LinkState::Live, message: String::new() });
        watchers.insert(source(Kind::Pod), FeedStatus::Error("connection refused".into()));
        let link = link_of(true, &watchers);
        assert_eq!(link.state, LinkState::Stale);
        assert_eq!(link.message, "watch failing, retrying: pod: connection refused");
    }

    #[test]
    fn a_forbidden_kind_is_named_while_live() {
        let watchers = BTreeMap::from([
            (source(Kind::Pod), FeedStatus::Forbidden("pods is forbidden".into())),
            (source(Kind::Service), FeedStatus::Ready),
        ]);
        let link = link_of(true, &watchers);
        assert_eq!(link.state, LinkState::Live);
        assert_eq!(link.message, "not permitted to see: pod");
    }
}
