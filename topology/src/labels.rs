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

use serde::{ser::SerializeStruct, Deserialize, Serialize, Serializer};

/// At most this many labels are kept per entity.
pub const MAX_LABELS: usize = 32;
/// Labels whose key is longer than this many bytes are dropped.
pub const MAX_KEY_LEN: usize = 128;
/// Labels whose value is longer than this many bytes are dropped (Kubernetes itself allows 63).
pub const MAX_VALUE_LEN: usize = 63;

// Every offset into the text fits a u16: 32 × (128 + 63) bytes at most.
const _: () = assert!(MAX_LABELS * (MAX_KEY_LEN + MAX_VALUE_LEN) <= u16::MAX as usize);

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
///
/// Why not a `BTreeMap<String, String>`: every pod carries a few labels, and a map spends a whole B-tree node
/// (~600 bytes) and two allocations per pair on them, several times the labels' own bytes. Here the keys and
/// values sit end to end in one string, in key order, with the end of each in `ends`: two allocations per
/// entity whatever the number of labels, looked up by binary search. The wire shape is still a map.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "LabelsRepr")]
pub struct Labels {
    /// key₀ value₀ key₁ value₁ …, keys in ascending order.
    text: Box<str>,
    /// The end of each key and each value in `text`: `2 × len` offsets.
    ends: Box<[u16]>,
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
        Ok(Labels::packed(&repr.map, repr.dropped))
    }
}

/// The pairs, serialized as a map (the shape [`LabelsRepr`] reads back).
struct Pairs<'a>(&'a Labels);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Labels", 2)?;
        s.serialize_field("map", &Pairs(self))?;
        s.serialize_field("dropped", &self.dropped)?;
        s.end()
    }
}

impl std::fmt::Debug for Pairs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

// `text` and `ends` show as the pairs they hold.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labels").field("map", &Pairs(self)).field("dropped", &self.dropped).finish()
    }
}

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels::default()
    }

    /// Packs pairs already in key order and within the caps.
    fn packed<K: AsRef<str>, V: AsRef<str>>(map: &BTreeMap<K, V>, dropped: u32) -> Labels {
        let mut text =
            String::with_capacity(map.iter().map(|(k, v)| k.as_ref().len() + v.as_ref().len()).sum());
        let mut ends = Vec::with_capacity(2 * map.len());
        for (k, v) in map {
            for part in [k.as_ref(), v.as_ref()] {
                text.push_str(part);
                // Within the caps every offset fits (see the assertion above).
                ends.push(u16::try_from(text.len()).unwrap_or(u16::MAX));
            }
        }
        Labels { text: text.into_boxed_str(), ends: ends.into_boxed_slice(), dropped }
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
        Labels::packed(&map, u32::try_from(dropped).unwrap_or(u32::MAX))
    }

    /// The `i`th part of the text: key `2i`, value `2i + 1`.
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { usize::from(self.ends[i - 1]) };
        &self.text[start..usize::from(self.ends[i])]
    }

    /// The `i`th pair in key order.
    fn pair(&self, i: usize) -> (&str, &str) {
        (self.part(2 * i), self.part(2 * i + 1))
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut lo = 0;
        let mut hi = self.len();
        while lo < hi {
            let mid = usize::midpoint(lo, hi);
            match self.part(2 * mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.part(2 * mid + 1)),
            }
        }
        None
    }

    /// Whether the label is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The labels in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { labels: self, range: 0..self.len() }
    }

    /// How many labels are kept.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether no label is kept.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// How many labels the caps dropped.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

/// The labels of a [`Labels`] in key order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    labels: &'a Labels,
    range: std::ops::Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.range.next().map(|i| self.labels.pair(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.range.next_back().map(|i| self.labels.pair(i))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
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
    fn every_label_is_found_and_no_other() {
        let pairs: Vec<(String, String)> =
            (0..32).map(|i| (format!("k{:02}", i * 3), format!("v{i}"))).collect();
        let labels = Labels::from_pairs(pairs.iter().rev().cloned());
        assert_eq!(labels.len(), 32);
        for (k, v) in &pairs {
            assert_eq!(labels.get(k), Some(v.as_str()), "{k}");
        }
        for absent in ["", "k", "k01", "k94", "k95", "z"] {
            assert_eq!(labels.get(absent), None, "{absent}");
        }
        let in_order: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(labels.iter().collect::<Vec<_>>(), in_order);
        assert!(labels.iter().rev().eq(in_order.iter().rev().copied()), "backwards too");
        assert_eq!(Labels::new().get("k"), None);
        assert!(Labels::from_pairs([("", "")]).contains_key(""));
    }

    #[test]
    fn the_wire_shape_is_a_map() {
        let labels = Labels::from_pairs([("tier", "api"), ("app", "kgent-api")]);
        let json = serde_json::to_value(&labels).unwrap();
        assert_eq!(json, serde_json::json!({ "map": { "app": "kgent-api", "tier": "api" }, "dropped": 0 }));
        let map: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.into(), v.into())).collect();
        let as_map = postcard::to_allocvec(&LabelsMap { map, dropped: 0 }).unwrap();
        assert_eq!(postcard::to_allocvec(&labels).unwrap(), as_map);
    }

    #[derive(Serialize)]
    struct LabelsMap {
        map: BTreeMap<String, String>,
        dropped: u32,
    }

    #[test]
    fn labels_round_trip_through_postcard() {
        let labels = Labels::from_pairs([("app", "kgent-api"), ("tier", "api")]);
        let bytes = postcard::to_allocvec(&labels).unwrap();
        assert_eq!(postcard::from_bytes::<Labels>(&bytes).unwrap(), labels);
    }
}
