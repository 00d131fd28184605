//! Bounded labels.
//!
//! Labels are the only free-form data an entity carries to the browser, and objects from the wild can carry
//! hundreds of them (Helm, Argo, operators). A cap keeps the size of a snapshot proportional to the number of
//! entities, and a deserializer that enforces the cap means a hostile peer cannot make us allocate more either.
//!
//! The caps ([`MAX_LABELS`], [`MAX_KEY_LEN`], [`MAX_VALUE_LEN`]) are generous for real objects: a Kubernetes label
//! value is at most 63 characters anyway, and keys longer than 128 bytes need a long DNS prefix. Labels over a
//! cap are *dropped*, never truncated: a truncated value could make a service selector match a pod it does not
//! select. When more than [`MAX_LABELS`] remain, the first ones in key order are kept; [`Labels::dropped`] says
//! how many went, so the UI can print "+3 more".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// At most this many labels are kept per entity.
pub const MAX_LABELS: usize = 32;
/// Labels whose key is longer than this many bytes are dropped.
pub const MAX_KEY_LEN: usize = 128;
/// Labels whose value is longer than this many bytes are dropped (Kubernetes itself allows 63).
pub const MAX_VALUE_LEN: usize = 63;

/// Why a decoded label set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    /// More than [`MAX_LABELS`] labels.
    #[error("{0} labels, more than the cap of {MAX_LABELS}")]
    TooMany(usize),
    /// A key longer than [`MAX_KEY_LEN`].
    #[error("label key of {0} bytes, more than the cap of {MAX_KEY_LEN}")]
    KeyTooLong(usize),
    /// A value longer than [`MAX_VALUE_LEN`].
    #[error("label value of {0} bytes, more than the cap of {MAX_VALUE_LEN}")]
    ValueTooLong(usize),
}

/// A capped, sorted label set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LabelsRepr")]
pub struct Labels {
    map: BTreeMap<String, String>,
    dropped: u32,
}

/// The serialized shape of [`Labels`], checked against the caps before it becomes one.
#[derive(Deserialize)]
struct LabelsRepr {
    map: BTreeMap<String, String>,
    dropped: u32,
}

impl TryFrom<LabelsRepr> for Labels {
    type Error = LabelsError;

    fn try_from(repr: LabelsRepr) -> Result<Self, Self::Error> {
        if repr.map.len() > MAX_LABELS {
            return Err(LabelsError::TooMany(repr.map.len()));
        }
        for (k, v) in &repr.map {
            if k.len() > MAX_KEY_LEN {
                return Err(LabelsError::KeyTooLong(k.len()));
            }
            if v.len() > MAX_VALUE_LEN {
                return Err(LabelsError::ValueTooLong(v.len()));
            }
        }
        Ok(Labels { map: repr.map, dropped: repr.dropped })
    }
}

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels::default()
    }

    /// Labels from pairs, applying the caps (see the module docs): over-long pairs are dropped, then all but the
    /// first [`MAX_LABELS`] in key order.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut dropped = 0_usize;
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            if k.len() > MAX_KEY_LEN || v.len() > MAX_VALUE_LEN {
                dropped += 1;
            } else {
                map.insert(k, v);
            }
        }
        while map.len() > MAX_LABELS {
            map.pop_last();
            dropped += 1;
        }
        Labels { map, dropped: u32::try_from(dropped).unwrap_or(u32::MAX) }
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Whether the label is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The labels in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many labels are kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no label is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many labels the caps dropped.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_over_the_count_cap_are_dropped_in_key_order() {
        let labels = Labels::from_pairs((0..40).map(|i| (format!("k{i:02}"), "v")));
        assert_eq!(labels.len(), 32);
        assert_eq!(labels.dropped(), 8);
        assert_eq!(labels.get("k31"), Some("v"));
        assert_eq!(labels.get("k32"), None);
    }

    #[test]
    fn over_long_labels_are_dropped_not_truncated() {
        let long_value = "x".repeat(64);
        let long_key = "k".repeat(129);
        let labels =
            Labels::from_pairs([("app", long_value.as_str()), (long_key.as_str(), "v"), ("tier", "db")]);
        assert_eq!(labels.iter().collect::<Vec<_>>(), [("tier", "db")]);
        assert_eq!(labels.dropped(), 2);
    }

    #[test]
    fn decoding_refuses_labels_over_the_cap() {
        let mut map = serde_json::Map::new();
        for i in 0..33 {
            map.insert(format!("k{i}"), "v".into());
        }
        let json = serde_json::json!({ "map": map, "dropped": 0 });
        let err = serde_json::from_value::<Labels>(json).unwrap_err();
        assert_eq!(err.to_string(), "33 labels, more than the cap of 32");
    }

    #[test]
    fn labels_round_trip_through_postcard() {
        let labels = Labels::from_pairs([("app", "kgent-api"), ("tier", "api")]);
        let bytes = postcard::to_allocvec(&labels).unwrap();
        assert_eq!(postcard::from_bytes::<Labels>(&bytes).unwrap(), labels);
    }
}
