//! The hub: follows the topology owner's diffs, encodes each once, keeps a ring for resuming clients and fans
//! frames out through a bounded broadcast channel. Snapshots are read from the owner's own topology
//! ([`crate::collector::owner::Shared`]), which may be a few diffs ahead of the ring: sessions skip the frames
//! their snapshot already holds.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use axum::body::Bytes;
use tokio::sync::{broadcast, watch};
use topology::diff::{Diff, Op};
use topology::protocol::{self, Filters, LinkState, ProtocolError, ServerMsg};
use topology::{EntityId, Topology};

use super::{Config, Format};
use crate::collector::owner::{Published, Shared};
use crate::metrics::Metrics;

/// What the hub says about its data, for the status line of every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Connecting, live or stale.
    pub state: LinkState,
    /// For people: why it is not live.
    pub message: String,
}

/// One published diff, encoded. The decoded [`Diff`] is not kept: the ring holds frames for resuming clients,
/// and a relist's frames carry every entity, so keeping them decoded too held another whole topology (~40 MB
/// at 10k pods) for as long as they stayed in the ring. The few clients that need more than the bytes
/// (filtered or JSON) decode them again, which costs far less than a snapshot (~0.15 µs for a one-op diff).
#[derive(Debug)]
pub struct Frame {
    base_seq: u64,
    seq: u64,
    /// The entity each op is about, in op order, so filters need no topology.
    ids: Vec<EntityId>,
    binary: Bytes,
    json: OnceLock<Bytes>,
    published: Instant,
}

impl Frame {
    /// The sequence number the frame starts from.
    pub fn base_seq(&self) -> u64 {
        self.base_seq
    }

    /// The sequence number it brings a client to.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the hub published it.
    pub fn published(&self) -> Instant {
        self.published
    }

    /// The whole diff in `format`, encoded once for every client.
    pub fn bytes(&self, format: Format) -> Result<Bytes, ProtocolError> {
        match format {
            Format::Binary => Ok(self.binary.clone()),
            Format::Json => {
                if let Some(json) = self.json.get() {
                    return Ok(json.clone());
                }
                let json = Bytes::from(ServerMsg::Diff(self.diff()?).to_json()?);
                Ok(self.json.get_or_init(|| json).clone())
            }
        }
    }

    /// The part of the diff `filters` admit, from `base_seq` (the last sequence number the client has), or
    /// `None` when nothing in it is for this client.
    pub fn filtered(&self, filters: &Filters, base_seq: u64) -> Option<Diff> {
        if !self.ids.iter().any(|id| filters.admits(id)) {
            return None;
        }
        let diff = match self.diff() {
            Ok(diff) => diff,
            Err(error) => {
                // Cannot happen (the hub encoded it); the client resyncs when the next frame shows the gap.
                tracing::error!(%error, seq = self.seq, "hub: cannot decode a frame it encoded");
                return None;
            }
        };
        let ops: Vec<Op> = diff
            .ops
            .into_iter()
            .zip(&self.ids)
            .filter(|(_, id)| filters.admits(id))
            .map(|(op, _)| op)
            .collect();
        Some(Diff { base_seq, seq: self.seq, ops })
    }

    fn diff(&self) -> Result<Diff, ProtocolError> {
        protocol::decode_diff(&self.binary)
    }

    fn size(&self) -> usize {
        self.binary.len()
    }
}

/// What sessions receive.
#[derive(Debug, Clone)]
pub enum Item {
    /// The next diff.
    Frame(Arc<Frame>),
    /// The hub lost track (it fell behind the owner) and restarted from the latest topology: every client
    /// needs a snapshot.
    Reset,
}

#[derive(Default)]
struct Ring {
    frames: VecDeque<Arc<Frame>>,
    bytes: usize,
    /// The sequence number of the newest frame, or of the topology the hub (re)started from.
    last_seq: u64,
}

#[derive(Default)]
struct SnapshotCache {
    seq: Option<u64>,
    binary: Option<Bytes>,
    json: Option<Bytes>,
}

struct Inner {
    config: Config,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Item>,
    /// The owner's topology, read in place.
    topology: Shared,
    /// The last copy of `topology` handed out, reused by whoever asks before the next diff while someone still
    /// holds it. Held weakly: a kept copy would be one more whole topology in memory for as long as the server
    /// runs.
    copy: Mutex<Weak<Topology>>,
    link: watch::Receiver<Link>,
    shutdown: watch::Sender<bool>,
    snapshot: Mutex<SnapshotCache>,
    clients: Mutex<HashMap<u64, Arc<AtomicU64>>>,
    next_client: AtomicU64,
    /// Items sent on `tx`: with each client's `consumed`, how far behind it is.
    sent: AtomicU64,
    metrics: Arc<Metrics>,
}

/// The hub, cheap to clone (shared).
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

/// A session's receiving end; it counts as a connected client until dropped.
pub struct Subscription {
    rx: broadcast::Receiver<Item>,
    /// Items this client has taken (or skipped), to compare with the hub's count of items sent.
    consumed: Arc<AtomicU64>,
    id: u64,
    hub: Hub,
}

impl Subscription {
    /// The next item, or how many the client missed by falling more than a queue behind.
    pub async fn recv(&mut self) -> Result<Item, broadcast::error::RecvError> {
        let item = self.rx.recv().await;
        let taken = match &item {
            Ok(_) => 1,
            Err(broadcast::error::RecvError::Lagged(missed)) => *missed,
            Err(broadcast::error::RecvError::Closed) => 0,
        };
        self.consumed.fetch_add(taken, Ordering::Relaxed);
        item
    }
}

impl Subscription {
    /// Whether another item is already waiting.
    pub fn has_queued(&self) -> bool {
        !self.rx.is_empty()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.hub.0.clients).remove(&self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing under these locks can panic halfway through an update; a poisoned lock still holds a
    // consistent value.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    /// Starts following `diffs` (subscribed before the owner started, or before `topology` was read, so nothing
    /// is missed) on the current runtime.
    pub fn start(
        config: Config,
        topology: Shared,
        diffs: broadcast::Receiver<Arc<Published>>,
        link: watch::Receiver<Link>,
        metrics: Arc<Metrics>,
    ) -> Hub {
        let (tx, _) = broadcast::channel(config.client_queue.max(1));
        let (shutdown, _) = watch::channel(false);
        let hub = Hub(Arc::new(Inner {
            config,
            ring: Mutex::new(Ring::default()),
            tx,
            topology,
            copy: Mutex::new(Weak::new()),
            link,
            shutdown,
            snapshot: Mutex::new(SnapshotCache::default()),
            clients: Mutex::new(HashMap::new()),
            next_client: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            metrics,
        }));
        hub.reseed();
        tokio::spawn(hub.clone().run(diffs));
        hub
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The shared metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// A copy of the current topology, for whoever must hold one across awaits (a snapshot being serialized).
    /// Copies are shared while they are current and someone holds them. A copy of 10k pods costs tens of
    /// milliseconds and ~40 MB: to look at the topology, use [`Hub::with_topology`].
    pub fn topology(&self) -> Arc<Topology> {
        let current = self.0.topology.read();
        let mut copy = lock(&self.0.copy);
        match copy.upgrade() {
            Some(topology) if topology.seq() == current.seq() => topology,
            _ => {
                let topology = Arc::new(current.clone());
                *copy = Arc::downgrade(&topology);
                topology
            }
        }
    }

    /// Runs `f` on the current topology, without copying it. The owner waits while `f` runs: keep it short and
    /// never block in it.
    pub fn with_topology<R>(&self, f: impl FnOnce(&Topology) -> R) -> R {
        f(&self.0.topology.read())
    }

    /// The sequence number of the current topology.
    pub fn seq(&self) -> u64 {
        self.0.topology.read().seq()
    }

    /// The hub's state, to follow.
    pub fn link(&self) -> watch::Receiver<Link> {
        self.0.link.clone()
    }

    /// Tells every session to close with "going away".
    pub fn shut_down(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// Whether the server is shutting down, to follow.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    /// Registers a client. Subscribe *before* taking a snapshot or reading the ring: then no frame can fall
    /// between the two.
    pub fn subscribe(&self) -> Subscription {
        let id = self.0.next_client.fetch_add(1, Ordering::Relaxed);
        let mut clients = lock(&self.0.clients);
        // Under the lock, so `sent` and the receiver's position agree.
        let rx = self.0.tx.subscribe();
        let consumed = Arc::new(AtomicU64::new(self.0.sent.load(Ordering::Relaxed)));
        clients.insert(id, consumed.clone());
        Subscription { rx, consumed, id, hub: self.clone() }
    }

    /// The frames after `last_seq`, if the ring still holds all of them (an empty list when `last_seq` is the
    /// latest); `None` means the client needs a snapshot.
    pub fn since(&self, last_seq: u64) -> Option<Vec<Arc<Frame>>> {
        let ring = lock(&self.0.ring);
        if last_seq == ring.last_seq {
            return Some(Vec::new());
        }
        let start = ring.frames.iter().position(|f| f.base_seq() == last_seq)?;
        Some(ring.frames.iter().skip(start).cloned().collect())
    }

    /// The latest topology as a snapshot message for a client with `filters`, and its sequence number.
    /// Unfiltered snapshots are encoded once per sequence number and shared.
    pub fn snapshot(&self, format: Format, filters: &Filters) -> Result<(u64, Bytes), ProtocolError> {
        let topology = self.0.topology.read();
        let seq = topology.seq();
        if !filters.is_empty() {
            let filtered = filters.topology(&topology);
            drop(topology);
            return Ok((seq, encode_snapshot(&filtered, format)?));
        }
        let mut cache = lock(&self.0.snapshot);
        if cache.seq != Some(seq) {
            *cache = SnapshotCache { seq: Some(seq), ..SnapshotCache::default() };
        }
        let slot = match format {
            Format::Binary => &mut cache.binary,
            Format::Json => &mut cache.json,
        };
        if let Some(bytes) = slot {
            return Ok((seq, bytes.clone()));
        }
        let bytes = encode_snapshot(&topology, format)?;
        *slot = Some(bytes.clone());
        Ok((seq, bytes))
    }

    /// Refreshes the gauges that describe the hub's state (called when `/metrics` is scraped).
    pub fn refresh_gauges(&self) {
        let metrics = &self.0.metrics;
        let (len, seq) = {
            let topology = self.0.topology.read();
            (topology.len(), topology.seq())
        };
        metrics.topology_entities.set(len as i64);
        metrics.topology_seq.set(seq as i64);
        let clients = lock(&self.0.clients);
        let sent = self.0.sent.load(Ordering::Relaxed);
        let capacity = self.0.config.client_queue.max(1) as u64;
        // Beyond its capacity a client's queue drops its oldest frames (it will resync): that is its bound.
        let depths = clients.values().map(|c| sent.saturating_sub(c.load(Ordering::Relaxed)).min(capacity));
        let (max, total) = depths.fold((0, 0), |(max, total), d| (max.max(d), total + d));
        metrics.clients.set(clients.len() as i64);
        metrics.queue_depth_max.set(max as i64);
        metrics.queue_depth_total.set(total as i64);
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        lock(&self.0.clients).len()
    }

    /// Items held for the slowest client: never more than [`Config::client_queue`], however slow it is.
    pub fn queued(&self) -> usize {
        self.0.tx.len()
    }

    /// Frames in the resume ring.
    pub fn ring_len(&self) -> usize {
        lock(&self.0.ring).frames.len()
    }

    /// Whether an encoded snapshot is cached.
    #[cfg(test)]
    pub(crate) fn snapshot_cached(&self) -> bool {
        let cache = lock(&self.0.snapshot);
        cache.binary.is_some() || cache.json.is_some()
    }

    fn broadcast(&self, item: Item) {
        let clients = lock(&self.0.clients);
        self.0.sent.fetch_add(1, Ordering::Relaxed);
        // No session is fine.
        let _ = self.0.tx.send(item);
        drop(clients);
    }

    async fn run(self, mut diffs: broadcast::Receiver<Arc<Published>>) {
        loop {
            let published = match diffs.recv().await {
                Ok(published) => published,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // The next diff shows the gap.
                    tracing::warn!(missed, "hub: fell behind the topology owner");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::info!("hub: the topology owner stopped");
                    return;
                }
            };
            if let Err(gap) = self.publish(&published) {
                tracing::warn!("hub: {gap}; every client starts over from a snapshot");
                self.reset();
            }
        }
    }

    /// Encodes a diff, puts it in the ring and sends it to every session.
    fn publish(&self, published: &Published) -> Result<(), String> {
        let diff = &published.diff;
        let last_seq = lock(&self.0.ring).last_seq;
        if diff.seq <= last_seq {
            // Already in the topology the ring (re)started from.
            return Ok(());
        }
        if diff.base_seq != last_seq {
            return Err(format!("diffs {}..{} are missing", last_seq, diff.base_seq));
        }
        let binary = Bytes::from(protocol::encode_diff(diff).map_err(|e| e.to_string())?);
        let ops = diff.ops.len() as u64;
        let frame = Arc::new(Frame {
            base_seq: diff.base_seq,
            seq: diff.seq,
            ids: published.ids.clone(),
            binary,
            json: OnceLock::new(),
            published: Instant::now(),
        });
        // While the collector is still listing the cluster its diffs are the initial lists, thousands of creations
        // as large as a snapshot together: nobody resumes across that more cheaply than with a snapshot, and kept
        // they would hold a second encoded copy of the cluster for as long as it stays quiet.
        let listing = self.0.link.borrow().state == LinkState::Connecting;
        {
            // Only this task pushes: nothing came in between.
            let mut ring = lock(&self.0.ring);
            ring.last_seq = frame.seq();
            if listing {
                ring.frames.clear();
                ring.bytes = 0;
            } else {
                ring.bytes += frame.size();
                ring.frames.push_back(frame.clone());
            }
            while ring.frames.len() > 1
                && (ring.frames.len() > self.0.config.ring_frames || ring.bytes > self.0.config.ring_bytes)
            {
                if let Some(old) = ring.frames.pop_front() {
                    ring.bytes -= old.size();
                }
            }
        }
        // A snapshot cached at an older sequence number can never be sent again (the owner may be a few diffs
        // ahead of the hub: one of a newer number stays).
        let stale = {
            let mut cache = lock(&self.0.snapshot);
            cache.seq.is_some_and(|seq| seq < frame.seq()).then(|| std::mem::take(&mut *cache))
        };
        // Freed here, outside the lock.
        drop(stale);
        self.0.metrics.diffs.inc();
        self.0.metrics.diff_ops.inc_by(ops);
        self.broadcast(Item::Frame(frame));
        Ok(())
    }

    /// Starts the ring over from the owner's current topology and tells every session to resync; the diffs
    /// still queued for the hub that it already holds are then skipped.
    fn reset(&self) {
        self.0.metrics.hub_resets.inc();
        self.reseed();
        self.broadcast(Item::Reset);
    }

    fn reseed(&self) {
        let seq = self.0.topology.read().seq();
        let mut ring = lock(&self.0.ring);
        ring.frames.clear();
        ring.bytes = 0;
        ring.last_seq = seq;
    }
}

/// A snapshot message in `format`.
pub fn encode_snapshot(topology: &Topology, format: Format) -> Result<Bytes, ProtocolError> {
    Ok(match format {
        Format::Binary => Bytes::from(protocol::encode_snapshot(topology)?),
        // JSON is for debugging; the clone is the price of reusing ServerMsg's one JSON shape.
        Format::Json => Bytes::from(ServerMsg::Snapshot(topology.clone()).to_json()?),
    })
}
