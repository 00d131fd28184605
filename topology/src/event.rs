//! Kubernetes Events as the inspector and the events panel show them: what happened, to which entity, how
//! often, and when.
//!
//! Why a separate record rather than part of the [`crate::Topology`]: events are a log, not state. They come
//! and go (the API server drops them after an hour), they repeat (`count`), and a busy cluster produces many
//! per second; putting them in the topology would turn every back-off into a diff for every client. The
//! collector keeps a bounded log of recent ones and serves them on request.
//!
//! Only the fields below are kept. An event's message is free text written by any controller (it can quote
//! anything, a command line with a password included), so it is capped at [`MAX_MESSAGE`] bytes; annotations,
//! the reporting instance and everything else are never copied.

use serde::{Deserialize, Serialize};

use crate::id::EntityId;

/// The longest message kept, in bytes (longer ones are cut at a character boundary and end with `…`).
pub const MAX_MESSAGE: usize = 1024;
/// The longest reason kept, in bytes (Kubernetes reasons are short `UpperCamelCase` words).
pub const MAX_REASON: usize = 128;

/// Whether an event reports something normal or a problem (`type` in Kubernetes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// `Normal`: scheduled, pulled, started, scaled…
    #[default]
    Normal,
    /// `Warning`: back-off, failed scheduling, failed mount, OOM kill…
    Warning,
}

impl EventType {
    /// From the Kubernetes `type` field: `Warning` is a warning, anything else (absent included) normal, as
    /// `kubectl get events` treats it.
    pub fn from_k8s(value: Option<&str>) -> EventType {
        match value {
            Some("Warning") => EventType::Warning,
            _ => EventType::Normal,
        }
    }
}

/// One Kubernetes Event, compacted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event's namespace (that of the object it is about; `default` for cluster-scoped objects).
    pub namespace: String,
    /// The entity it is about, when that is a kind the map shows (`None` for e.g. a `Lease` or `Endpoints`).
    pub involved: Option<EntityId>,
    /// Why, in one word (`BackOff`, `Scheduled`, `ScalingReplicaSet`), at most [`MAX_REASON`] bytes.
    pub reason: String,
    /// What happened, at most [`MAX_MESSAGE`] bytes.
    pub message: String,
    /// Normal or warning.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// How many times it happened (at least 1).
    pub count: u32,
    /// When it first happened, unix seconds.
    pub first_seen: i64,
    /// When it last happened, unix seconds.
    pub last_seen: i64,
}

/// `text` cut to at most `max` bytes at a character boundary; a cut text ends with `…` (within `max`).
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + ellipsis.len_utf8());
    out.push_str(&text[..end]);
    out.push(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary_within_the_limit() {
        let text = "é".repeat(MAX_MESSAGE); // 2 bytes each
        let cut = truncate(&text, MAX_MESSAGE);
        assert!(cut.len() <= MAX_MESSAGE, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(cut.chars().filter(|c| *c == 'é').count(), (MAX_MESSAGE - 3) / 2);
        assert_eq!(truncate("short", MAX_MESSAGE), "short");
        assert_eq!(truncate("abcdef", 4), "a…");
    }

    #[test]
    fn the_type_is_warning_only_when_kubernetes_says_so() {
        assert_eq!(EventType::from_k8s(Some("Warning")), EventType::Warning);
        assert_eq!(EventType::from_k8s(Some("Normal")), EventType::Normal);
        assert_eq!(EventType::from_k8s(None), EventType::Normal);
    }

    #[test]
    fn a_record_round_trips_through_json_with_kubernetes_field_names() {
        let record = EventRecord {
            namespace: "web".into(),
            involved: Some(EntityId::new("c", Kind::Pod, "web", "web-1")),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container".into(),
            kind: EventType::Warning,
            count: 7,
            first_seen: 100,
            last_seen: 160,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""type":"Warning""#), "{json}");
        assert_eq!(serde_json::from_str::<EventRecord>(&json).unwrap(), record);
    }
}
