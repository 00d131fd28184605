//! The wire protocol between the hub and the browser.
//!
//! Why it looks like this:
//! - **Versioned framing.** Every binary message starts with [`PROTOCOL_VERSION`] as a varint, every JSON message
//!   has a `"v"` field. A peer of another version gets [`ProtocolError::VersionMismatch`] before anything else is
//!   decoded, so a stale browser tab says "reload" instead of misreading bytes.
//! - **postcard for the live stream, JSON for people.** postcard is compact (varints, no field names) and pure
//!   Rust, so the browser decodes it without a JS round trip. JSON (`"type": "snapshot" | "diff" | "status" |
//!   "pong"`, sequence number in `"seq"`) is for curl, logs and tests. Both decoders return errors, never panic,
//!   whatever the bytes (fuzzed by a property test), and decoded snapshots are validated entity by entity.
//! - **Small diffs.** Patches name entities by [`crate::EntityKey`], reasons are one-byte enum variants and health
//!   is recomputed on arrival, so one pod status change (the most frequent message) costs about 30 bytes on the
//!   wire, under the 64-byte budget (tested below with a realistic pod).
//! - **Resume by sequence number.** A client's [`ClientMsg::Hello`] carries the last `seq` it applied; the hub
//!   answers with the diffs since then if it still has them, else with a snapshot.
//! - **Encoding without copies.** The hub keeps its topology behind an `Arc` and diffs in a ring;
//!   [`encode_snapshot`] and [`encode_diff`] serialize them by reference into exactly the bytes of the
//!   corresponding [`ServerMsg`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{
    diff::{Diff, Op},
    id::{EntityId, EntityKey, Kind},
    topology::Topology,
};

/// The version of this protocol. Bump it on any change to the messages or to the types they contain.
pub const PROTOCOL_VERSION: u16 = 3;

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {got}, this side speaks {expected}: reload the page")]
    VersionMismatch {
        /// The version in the message.
        got: u16,
        /// [`PROTOCOL_VERSION`].
        expected: u16,
    },
    /// The binary message is malformed.
    #[error("malformed binary message")]
    Binary(#[source] postcard::Error),
    /// The JSON message is malformed.
    #[error("malformed JSON message")]
    Json(#[source] serde_json::Error),
    /// Bytes follow a complete binary message.
    #[error("{0} unexpected bytes after the message")]
    TrailingBytes(usize),
    /// A well-formed message of another type than the one expected.
    #[error("expected a {0} message")]
    UnexpectedMessage(&'static str),
    /// A JSON snapshot's `seq` disagrees with its topology's.
    #[error("snapshot says seq {message} but its topology is at seq {topology}")]
    SnapshotSeq {
        /// The message's `seq`.
        message: u64,
        /// The topology's `seq`.
        topology: u64,
    },
}

/// What the hub thinks of its own data, shown in the browser's status badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The hub has not finished its initial list yet.
    Connecting,
    /// Watches are running; the data is current.
    Live,
    /// The hub lost the API server; the data may be old.
    Stale,
    /// A snapshot follows; drop diffs until it arrives.
    Resyncing,
}

/// A status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The state.
    pub state: LinkState,
    /// The hub's current sequence number.
    pub seq: u64,
    /// Details for people.
    pub message: String,
}

/// Hub → browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The whole (filtered) topology; replaces whatever the client had.
    Snapshot(Topology),
    /// The next diff.
    Diff(Diff),
    /// A change of the hub's state.
    Status(Status),
    /// The answer to [`ClientMsg::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}

/// The first variants of [`ServerMsg`] by reference, so the hub encodes the big ones without cloning. postcard
/// encodes a variant by its index, so these must stay the first variants, in the same order (tested).
#[derive(Serialize)]
enum ServerMsgRef<'a> {
    Snapshot(&'a Topology),
    Diff(&'a Diff),
}

/// What a client wants to see; empty lists mean everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Namespaces to show (cluster-scoped entities other than namespaces are always shown).
    pub namespaces: Vec<String>,
    /// Kinds to show.
    pub kinds: Vec<Kind>,
}

/// Browser → hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// The first message on a connection.
    Hello {
        /// The client's [`PROTOCOL_VERSION`] (also checked in the framing).
        protocol: u16,
        /// The last sequence number the client applied, to resume without a snapshot.
        last_seq: Option<u64>,
        /// What to send.
        filters: Filters,
    },
    /// Keep-alive; answered with [`ServerMsg::Pong`].
    Ping {
        /// Echoed back.
        nonce: u64,
    },
}

impl Filters {
    /// Whether everything passes.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.kinds.is_empty()
    }

    /// Whether the entity with this id passes. A namespace entity passes the namespace filter by its own name.
    pub fn admits(&self, id: &EntityId) -> bool {
        let in_namespaces = |ns: &str| self.namespaces.iter().any(|n| n == ns);
        let namespace_ok = self.namespaces.is_empty()
            || match id.kind() {
                Kind::Namespace => in_namespaces(id.name()),
                kind if kind.is_namespaced() => in_namespaces(id.namespace()),
                _ => true,
            };
        namespace_ok && (self.kinds.is_empty() || self.kinds.contains(&id.kind()))
    }

    /// The part of a topology this client sees (same keys and sequence number).
    pub fn topology(&self, topology: &Topology) -> Topology {
        topology.filtered(|id| self.admits(id))
    }

    /// The part of a diff this client sees. `before` is the full topology the diff applies to. The sequence
    /// numbers are kept, so the result may be empty but still advances the client's `seq`.
    pub fn diff(&self, before: &Topology, diff: &Diff) -> Diff {
        let mut created = std::collections::BTreeMap::<EntityKey, bool>::new();
        let ops = diff
            .ops
            .iter()
            .filter(|op| match op {
                Op::Create { key, entity } => {
                    let admitted = self.admits(&entity.id);
                    created.insert(*key, admitted);
                    admitted
                }
                Op::Patch { key, .. } | Op::Remove { key } => created
                    .get(key)
                    .copied()
                    .unwrap_or_else(|| before.id_of(*key).is_some_and(|id| self.admits(id))),
            })
            .cloned()
            .collect();
        Diff { base_seq: diff.base_seq, seq: diff.seq, ops }
    }
}

/// The binary form of `ServerMsg::Snapshot(topology.clone())`, without the clone.
///
/// # Errors
/// [`ProtocolError::Binary`] if serialization fails (it does not for valid topologies).
pub fn encode_snapshot(topology: &Topology) -> Result<Vec<u8>, ProtocolError> {
    // Snapshots run to megabytes; about 256 bytes per entity reserved up front saves the copies of a
    // doubling buffer.
    let buffer = Reserved(Vec::with_capacity(topology.len().saturating_mul(256)));
    postcard::serialize_with_flavor(&(PROTOCOL_VERSION, ServerMsgRef::Snapshot(topology)), buffer)
        .map_err(ProtocolError::Binary)
}

/// A postcard output buffer with a capacity chosen by the caller.
struct Reserved(Vec<u8>);

impl postcard::ser_flavors::Flavor for Reserved {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// The binary form of `ServerMsg::Diff(diff.clone())`, without the clone.
///
/// # Errors
/// [`ProtocolError::Binary`] if serialization fails (it does not for valid diffs).
pub fn encode_diff(diff: &Diff) -> Result<Vec<u8>, ProtocolError> {
    to_bytes(&ServerMsgRef::Diff(diff))
}

/// Decodes what [`encode_diff`] made: for a server that keeps only the bytes of a diff it sent.
///
/// # Errors
/// As [`ServerMsg::from_bytes`], and [`ProtocolError::UnexpectedMessage`] for a message that is not a diff.
pub fn decode_diff(bytes: &[u8]) -> Result<Diff, ProtocolError> {
    match from_bytes(bytes)? {
        ServerMsg::Diff(diff) => Ok(diff),
        _ => Err(ProtocolError::UnexpectedMessage("diff")),
    }
}

fn to_bytes<T: Serialize>(msg: &T) -> Result<Vec<u8>, ProtocolError> {
    postcard::to_allocvec(&(PROTOCOL_VERSION, msg)).map_err(ProtocolError::Binary)
}

fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let (got, rest) = postcard::take_from_bytes::<u16>(bytes).map_err(ProtocolError::Binary)?;
    if got != PROTOCOL_VERSION {
        return Err(ProtocolError::VersionMismatch { got, expected: PROTOCOL_VERSION });
    }
    let (msg, rest) = postcard::take_from_bytes::<T>(rest).map_err(ProtocolError::Binary)?;
    if !rest.is_empty() {
        return Err(ProtocolError::TrailingBytes(rest.len()));
    }
    Ok(msg)
}

/// Checks the `"v"` field of a JSON message before anything else is decoded.
fn check_json_version(json: &str) -> Result<(), ProtocolError> {
    #[derive(Deserialize)]
    struct Probe {
        v: u16,
    }
    let probe: Probe = serde_json::from_str(json).map_err(ProtocolError::Json)?;
    if probe.v == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ProtocolError::VersionMismatch { got: probe.v, expected: PROTOCOL_VERSION })
    }
}

/// JSON shape of [`ServerMsg`] on the way out.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerJsonOut<'a> {
    Snapshot { v: u16, seq: u64, topology: &'a Topology },
    Diff { v: u16, base_seq: u64, seq: u64, ops: &'a [Op] },
    Status { v: u16, seq: u64, state: LinkState, message: &'a str },
    Pong { v: u16, nonce: u64 },
}

/// JSON shape of [`ServerMsg`] on the way in (`v` already checked).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerJsonIn {
    Snapshot { seq: u64, topology: Topology },
    Diff { base_seq: u64, seq: u64, ops: Vec<Op> },
    Status { seq: u64, state: LinkState, message: String },
    Pong { nonce: u64 },
}

/// JSON shape of [`ClientMsg`].
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientJson {
    Hello { v: u16, protocol: u16, last_seq: Option<u64>, filters: Filters },
    Ping { v: u16, nonce: u64 },
}

impl ServerMsg {
    /// The sequence number the message brings the client to (the hub's, for a status).
    pub fn seq(&self) -> Option<u64> {
        match self {
            ServerMsg::Snapshot(t) => Some(t.seq()),
            ServerMsg::Diff(d) => Some(d.seq),
            ServerMsg::Status(s) => Some(s.seq),
            ServerMsg::Pong { .. } => None,
        }
    }

    /// The compact binary form: version varint, then postcard.
    ///
    /// # Errors
    /// [`ProtocolError::Binary`] if serialization fails (it does not for valid messages).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        to_bytes(self)
    }

    /// Decodes the binary form.
    ///
    /// # Errors
    /// [`ProtocolError::VersionMismatch`] for another protocol version, [`ProtocolError::Binary`] for malformed
    /// bytes (including a snapshot that breaks an invariant), [`ProtocolError::TrailingBytes`] after a message.
    pub fn from_bytes(bytes: &[u8]) -> Result<ServerMsg, ProtocolError> {
        from_bytes(bytes)
    }

    /// The JSON form: `{"type": "diff", "v": 1, "base_seq": 4, "seq": 5, "ops": […]}` and so on.
    ///
    /// # Errors
    /// [`ProtocolError::Json`] if serialization fails (it does not for valid messages).
    pub fn to_json(&self) -> Result<String, ProtocolError> {
        let v = PROTOCOL_VERSION;
        let out = match self {
            ServerMsg::Snapshot(topology) => ServerJsonOut::Snapshot { v, seq: topology.seq(), topology },
            ServerMsg::Diff(d) => ServerJsonOut::Diff { v, base_seq: d.base_seq, seq: d.seq, ops: &d.ops },
            ServerMsg::Status(s) => {
                ServerJsonOut::Status { v, seq: s.seq, state: s.state, message: &s.message }
            }
            ServerMsg::Pong { nonce } => ServerJsonOut::Pong { v, nonce: *nonce },
        };
        serde_json::to_string(&out).map_err(ProtocolError::Json)
    }

    /// Decodes the JSON form.
    ///
    /// # Errors
    /// [`ProtocolError::VersionMismatch`] when `"v"` is another version, [`ProtocolError::Json`] for malformed
    /// JSON (including a missing `"v"`), [`ProtocolError::SnapshotSeq`] for an inconsistent snapshot.
    pub fn from_json(json: &str) -> Result<ServerMsg, ProtocolError> {
        check_json_version(json)?;
        Ok(match serde_json::from_str(json).map_err(ProtocolError::Json)? {
            ServerJsonIn::Snapshot { seq, topology } => {
                if seq != topology.seq() {
                    return Err(ProtocolError::SnapshotSeq { message: seq, topology: topology.seq() });
                }
                ServerMsg::Snapshot(topology)
            }
            ServerJsonIn::Diff { base_seq, seq, ops } => ServerMsg::Diff(Diff { base_seq, seq, ops }),
            ServerJsonIn::Status { seq, state, message } => ServerMsg::Status(Status { state, seq, message }),
            ServerJsonIn::Pong { nonce } => ServerMsg::Pong { nonce },
        })
    }
}

impl ClientMsg {
    /// A hello for this protocol version.
    pub fn hello(last_seq: Option<u64>, filters: Filters) -> ClientMsg {
        ClientMsg::Hello { protocol: PROTOCOL_VERSION, last_seq, filters }
    }

    /// The compact binary form: version varint, then postcard.
    ///
    /// # Errors
    /// [`ProtocolError::Binary`] if serialization fails (it does not for valid messages).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        to_bytes(self)
    }

    /// Decodes the binary form.
    ///
    /// # Errors
    /// [`ProtocolError::VersionMismatch`] for another protocol version, [`ProtocolError::Binary`] for malformed
    /// bytes (including a snapshot that breaks an invariant), [`ProtocolError::TrailingBytes`] after a message.
    pub fn from_bytes(bytes: &[u8]) -> Result<ClientMsg, ProtocolError> {
        from_bytes(bytes)
    }

    /// The JSON form: `{"type": "hello", "v": 1, "protocol": 1, "last_seq": 41, "filters": {…}}` or
    /// `{"type": "ping", "v": 1, "nonce": 7}`.
    ///
    /// # Errors
    /// [`ProtocolError::Json`] if serialization fails (it does not for valid messages).
    pub fn to_json(&self) -> Result<String, ProtocolError> {
        let v = PROTOCOL_VERSION;
        let json = match self {
            ClientMsg::Hello { protocol, last_seq, filters } => {
                ClientJson::Hello { v, protocol: *protocol, last_seq: *last_seq, filters: filters.clone() }
            }
            ClientMsg::Ping { nonce } => ClientJson::Ping { v, nonce: *nonce },
        };
        serde_json::to_string(&json).map_err(ProtocolError::Json)
    }

    /// Decodes the JSON form.
    ///
    /// # Errors
    /// [`ProtocolError::VersionMismatch`] when `"v"` is another version, [`ProtocolError::Json`] for malformed
    /// JSON (including a missing `"v"`), [`ProtocolError::SnapshotSeq`] for an inconsistent snapshot.
    pub fn from_json(json: &str) -> Result<ClientMsg, ProtocolError> {
        check_json_version(json)?;
        Ok(match serde_json::from_str(json).map_err(ProtocolError::Json)? {
            ClientJson::Hello { protocol, last_seq, filters, .. } => {
                ClientMsg::Hello { protocol, last_seq, filters }
            }
            ClientJson::Ping { nonce, .. } => ClientMsg::Ping { nonce },
        })
    }
}

#[cfg(test)]
mod tests;
