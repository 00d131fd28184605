//! Response shapes: full objects, metadata only (`PartialObjectMetadata`), or server-side `Table`s, chosen
//! from the `Accept` header as the real API server chooses, and lists written straight into bytes.
//!
//! Lists of 10 000 pods are common in the scale scenario, so a list is serialized item by item into one
//! buffer instead of being built as a `Value` first. Items carry no `kind`/`apiVersion`, as in real lists.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use super::table;
use crate::resource::ResourceId;
use crate::status::Status;

/// What to include as a Table row's `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default; kubectl reads namespaces from it).
    Metadata,
    /// The whole object.
    Object,
}

/// How objects are rendered in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// As stored.
    Object,
    /// `PartialObjectMetadata(List)`, `meta.k8s.io/{version}`.
    Metadata(&'static str),
    /// A `Table`, `meta.k8s.io/{version}`.
    Table(&'static str, Include),
}

/// Chooses the output from `Accept` (the first acceptable media type wins) and `includeObject`.
///
/// # Errors
/// `406 NotAcceptable` when no listed media type can be served.
pub fn negotiate(accept: Option<&str>, include_object: Option<&String>) -> Result<Output, Status> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(Output::Object) };
    let include = match include_object.map(String::as_str) {
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        _ => Include::Metadata,
    };
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default();
        if !matches!(essence, "application/json" | "application/*" | "*/*") {
            continue;
        }
        let (mut as_kind, mut group, mut version) = (None, None, None);
        for param in parts {
            match param.split_once('=') {
                Some(("as", v)) => as_kind = Some(v),
                Some(("g", v)) => group = Some(v),
                Some(("v", v)) => version = Some(v),
                _ => {}
            }
        }
        let meta_version = match version {
            Some("v1") => Some("v1"),
            Some("v1beta1") => Some("v1beta1"),
            _ => None,
        };
        match (as_kind, group, meta_version) {
            (None, _, _) => return Ok(Output::Object),
            (Some("Table"), Some("meta.k8s.io"), Some(v)) => return Ok(Output::Table(v, include)),
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io"), Some(v)) => {
                return Ok(Output::Metadata(v))
            }
            _ => {}
        }
    }
    Err(Status::not_acceptable(accept))
}

/// A `PartialObjectMetadata` of `object`.
pub fn partial(object: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": object["metadata"],
    })
}

/// One object as `output` renders it (a Table has one row).
pub fn render(resource: ResourceId, object: &Arc<Value>, output: Output, now: i64) -> Value {
    match output {
        Output::Object => (**object).clone(),
        Output::Metadata(v) => partial(object, v),
        Output::Table(v, include) => {
            table::table(resource, std::slice::from_ref(object), v, include, now, &Map::new())
        }
    }
}

/// List metadata: `resourceVersion`, and `continue` / `remainingItemCount` when there are more pages.
pub fn list_meta(revision: u64, continue_token: Option<&str>, remaining: Option<u64>) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert("resourceVersion".into(), Value::String(revision.to_string()));
    if let Some(token) = continue_token {
        meta.insert("continue".into(), Value::String(token.to_owned()));
    }
    if let Some(remaining) = remaining {
        meta.insert("remainingItemCount".into(), Value::from(remaining));
    }
    meta
}

/// A whole list response body.
pub fn list_body(
    resource: ResourceId,
    version: Option<&str>,
    items: &[Arc<Value>],
    meta: &Map<String, Value>,
    output: Output,
    now: i64,
) -> Vec<u8> {
    let r = resource.get();
    let (kind, api_version) = match output {
        Output::Table(v, include) => {
            let table = table::table(resource, items, v, include, now, meta);
            return serde_json::to_vec(&table).unwrap_or_default();
        }
        Output::Metadata(v) => ("PartialObjectMetadataList".to_owned(), format!("meta.k8s.io/{v}")),
        Output::Object => match version {
            Some(v) => (r.list_kind(), format!("{}/{v}", r.group)),
            None => (r.list_kind(), r.api_version()),
        },
    };
    let mut out = Vec::with_capacity(256 + items.len() * 2048);
    out.extend_from_slice(b"{\"kind\":");
    write(&mut out, &kind);
    out.extend_from_slice(b",\"apiVersion\":");
    write(&mut out, &api_version);
    out.extend_from_slice(b",\"metadata\":");
    write(&mut out, meta);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match output {
            Output::Metadata(v) => write(&mut out, &partial(item, v)),
            _ => write(&mut out, &WithoutType(item)),
        }
    }
    out.extend_from_slice(b"]}");
    out
}

fn write(out: &mut Vec<u8>, value: &impl Serialize) {
    // Serializing JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// An object serialized without `kind` and `apiVersion`, as list items are.
struct WithoutType<'a>(&'a Value);

impl Serialize for WithoutType<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(fields) = self.0 else { return self.0.serialize(serializer) };
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in fields.iter().filter(|(k, _)| *k != "kind" && *k != "apiVersion") {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::PODS;

    const KUBECTL_GET: &str =
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    const KUBE_RS_META: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

    #[test]
    fn the_first_acceptable_media_type_chooses_the_output() {
        let cases = [
            (None, Ok(Output::Object)),
            (Some("application/json"), Ok(Output::Object)),
            (Some("*/*"), Ok(Output::Object)),
            (Some(KUBECTL_GET), Ok(Output::Table("v1", Include::Metadata))),
            (Some(KUBE_RS_META), Ok(Output::Metadata("v1"))),
            (Some("application/vnd.kubernetes.protobuf, application/json"), Ok(Output::Object)),
            (Some("application/json;as=Table;v=v2;g=meta.k8s.io, application/json"), Ok(Output::Object)),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(accept, None), want, "{accept:?}");
        }
        assert_eq!(negotiate(Some("application/yaml"), None).unwrap_err().code, 406);
        let object = "Object".to_owned();
        assert_eq!(negotiate(Some(KUBECTL_GET), Some(&object)), Ok(Output::Table("v1", Include::Object)));
    }

    #[test]
    fn list_items_carry_no_type_and_the_list_does() {
        let pod = Arc::new(json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}, "spec": {}}));
        let body = list_body(PODS, None, &[pod], &list_meta(7, Some("tok"), Some(3)), Output::Object, 0);
        let list: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            list,
            json!({"kind": "PodList", "apiVersion": "v1",
                   "metadata": {"resourceVersion": "7", "continue": "tok", "remainingItemCount": 3},
                   "items": [{"metadata": {"name": "a"}, "spec": {}}]})
        );
    }

    #[test]
    fn metadata_only_lists_hold_partial_object_metadata() {
        let pod = Arc::new(
            json!({"kind": "Pod", "metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"big": 1}}),
        );
        let body = list_body(PODS, None, &[pod], &list_meta(7, None, None), Output::Metadata("v1"), 0);
        let list: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            list,
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"resourceVersion": "7"},
                   "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": {"name": "a", "labels": {"x": "y"}}}]})
        );
    }
}
