//! Label selectors, the pure matcher behind the `selects` relation.
//!
//! Kubernetes has two selector flavours and both appear in the model: services select pods with an equality map
//! (`spec.selector`), workloads with a full `LabelSelector` (`matchLabels` plus `matchExpressions` with `In`,
//! `NotIn`, `Exists`, `DoesNotExist`). The semantics follow `k8s.io/apimachinery/pkg/labels`:
//! requirements are combined with AND, `NotIn` and `DoesNotExist` match objects *without* the key, and an empty workload
//! selector matches everything while an empty *service* selector selects nothing (a selector-less service has its
//! endpoints managed by someone else).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::labels::Labels;

/// Why a selector is not one Kubernetes would accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// `In`/`NotIn` need at least one value.
    #[error("requirement on `{0}`: In and NotIn need at least one value")]
    MissingValues(String),
    /// `Exists`/`DoesNotExist` take no values.
    #[error("requirement on `{0}`: Exists and DoesNotExist take no values")]
    UnexpectedValues(String),
}

/// The operator of a `matchExpressions` requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// The label is present and its value is one of the values.
    In,
    /// The label is absent, or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `matchExpressions` requirement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// How the key is tested.
    pub operator: Operator,
    /// The values for `In` / `NotIn`.
    pub values: Vec<String>,
}

impl Requirement {
    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => value.is_none_or(|v| self.values.iter().all(|x| x != v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A workload's `spec.selector`: `matchLabels` and `matchExpressions`, all required. Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements.
    pub match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    /// An equality-only selector.
    pub fn equality<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        LabelSelector {
            match_labels: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Whether the selector has no requirement at all (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Checks the value-count rules Kubernetes validation applies to each requirement.
    ///
    /// # Errors
    /// [`SelectorError::MissingValues`] or [`SelectorError::UnexpectedValues`] for the first bad requirement.
    pub fn validate(&self) -> Result<(), SelectorError> {
        for r in &self.match_expressions {
            match (r.operator, r.values.is_empty()) {
                (Operator::In | Operator::NotIn, true) => {
                    return Err(SelectorError::MissingValues(r.key.clone()))
                }
                (Operator::Exists | Operator::DoesNotExist, false) => {
                    return Err(SelectorError::UnexpectedValues(r.key.clone()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether a service with this `spec.selector` selects a pod with these labels: the map is non-empty and every
/// pair is present in the labels.
pub fn service_selects(selector: &BTreeMap<String, String>, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn requirement(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement { key: key.into(), operator, values: values.iter().map(|v| (*v).to_owned()).collect() }
    }

    #[test]
    fn requirements_follow_apimachinery_semantics() {
        let pod = labels(&[("app", "api"), ("tier", "web")]);
        let cases = [
            (requirement("app", Operator::In, &["api", "db"]), true),
            (requirement("app", Operator::In, &["db"]), false),
            (requirement("zone", Operator::In, &["a"]), false),
            (requirement("app", Operator::NotIn, &["db"]), true),
            (requirement("app", Operator::NotIn, &["api"]), false),
            (requirement("zone", Operator::NotIn, &["a"]), true),
            (requirement("tier", Operator::Exists, &[]), true),
            (requirement("zone", Operator::Exists, &[]), false),
            (requirement("zone", Operator::DoesNotExist, &[]), true),
            (requirement("tier", Operator::DoesNotExist, &[]), false),
        ];
        for (req, expected) in cases {
            assert_eq!(req.matches(&pod), expected, "{req:?}");
        }
    }

    #[test]
    fn a_workload_selector_ands_labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: [("app".to_owned(), "api".to_owned())].into(),
            match_expressions: vec![requirement("track", Operator::NotIn, &["canary"])],
        };
        assert!(selector.matches(&labels(&[("app", "api")])));
        assert!(selector.matches(&labels(&[("app", "api"), ("track", "stable")])));
        assert!(!selector.matches(&labels(&[("app", "api"), ("track", "canary")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn an_empty_service_selector_selects_nothing() {
        assert!(!service_selects(&BTreeMap::new(), &labels(&[("app", "api")])));
        let selector: BTreeMap<String, String> = [("app".to_owned(), "api".to_owned())].into();
        assert!(service_selects(&selector, &labels(&[("app", "api"), ("pod-template-hash", "7d9c8b5f6")])));
        assert!(!service_selects(&selector, &labels(&[("app", "web")])));
    }

    #[test]
    fn validation_checks_value_counts() {
        let bad = LabelSelector {
            match_expressions: vec![requirement("a", Operator::In, &[])],
            ..Default::default()
        };
        assert_eq!(bad.validate(), Err(SelectorError::MissingValues("a".into())));
        let bad = LabelSelector {
            match_expressions: vec![requirement("a", Operator::Exists, &["x"])],
            ..Default::default()
        };
        assert_eq!(bad.validate(), Err(SelectorError::UnexpectedValues("a".into())));
    }
}
