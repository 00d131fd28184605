//! Label and field selectors, parsed from query strings and matched against stored objects.
//!
//! Lists and watches filter with the same [`Filter`], so a watch shows an object moving into or out of a
//! selection exactly as a list taken before and after would.

mod field;
mod label;

pub use field::FieldSelector;
pub use label::LabelSelector;
use serde_json::Value;

use crate::resource::ResourceId;

/// A selector that cannot be parsed or names a field the resource does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The label selector does not parse.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// The field selector does not parse.
    #[error("invalid field selector: {0}")]
    Field(String),
    /// The field exists in the syntax but is not indexed for this resource.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// Which objects a list or watch returns: namespace, labels and fields together.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only objects in this namespace; `None` for all.
    pub namespace: Option<String>,
    /// The label selector.
    pub labels: LabelSelector,
    /// The field selector.
    pub fields: FieldSelector,
}

impl Filter {
    /// A filter from the raw query parameters.
    ///
    /// # Errors
    /// When a selector does not parse or names an unsupported field.
    pub fn parse(
        resource: ResourceId,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Filter, SelectError> {
        Ok(Filter {
            namespace: namespace.map(str::to_owned),
            labels: label_selector.map(str::parse).transpose()?.unwrap_or_default(),
            fields: field_selector
                .map(|s| FieldSelector::parse(resource, s))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Whether neither labels nor fields select (the namespace aside): lists then report remaining counts.
    pub fn selects_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether `object` is selected.
    pub fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        if let Some(ns) = &self.namespace {
            if meta["namespace"].as_str() != Some(ns) {
                return false;
            }
        }
        let empty = serde_json::Map::new();
        self.labels.matches(meta["labels"].as_object().unwrap_or(&empty)) && self.fields.matches(object)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::PODS;

    #[test]
    fn a_filter_combines_namespace_labels_and_fields() {
        let pod = json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web"}},
                         "spec": {"nodeName": "n1"}});
        let yes = Filter::parse(PODS, Some("ns"), Some("app=web"), Some("spec.nodeName=n1")).unwrap();
        assert!(yes.matches(&pod));
        let other_ns = Filter::parse(PODS, Some("other"), None, None).unwrap();
        assert!(!other_ns.matches(&pod));
        let other_node = Filter::parse(PODS, None, None, Some("spec.nodeName=n2")).unwrap();
        assert!(!other_node.matches(&pod));
        assert!(Filter::default().selects_everything());
        assert!(!yes.selects_everything());
    }
}
