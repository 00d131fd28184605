//! Patches: JSON merge patch (RFC 7386), and strategic merge patch approximated on top of it.
//!
//! The real strategic merge patch needs the Go struct tags of every type (which lists merge, on which key).
//! Without the schemas, this merges lists of objects on the key Kubernetes uses for the common lists
//! (`name` for containers, env, volumes, ports by `containerPort`/`port`, `mountPath`, conditions by `type`,
//! owner references by `uid`) and replaces every other list, like a merge patch. Directives are honoured where
//! cheap (`$patch: delete|replace` on list elements and maps) and otherwise dropped (`$setElementOrder`,
//! `$retainKeys`, `$deleteFromPrimitiveList`): good enough for `kubectl apply`, `edit`, `label` and `patch` on
//! the common fields, not a full implementation.

use serde_json::{Map, Value};

/// How a patch body is to be read, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

impl PatchKind {
    /// The patch kind of a content type, `None` when unsupported (JSON patch, server-side apply).
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            _ => None,
        }
    }
}

/// Applies `patch` to `target` in place.
pub fn apply(kind: PatchKind, target: &mut Value, patch: &Value) {
    match kind {
        PatchKind::Merge => merge(target, patch),
        PatchKind::Strategic => strategic(target, patch),
    }
}

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The keys Kubernetes merges common lists of objects on, tried in order.
const MERGE_KEYS: &[&str] =
    &["name", "containerPort", "port", "mountPath", "devicePath", "type", "uid", "ip"];

fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = Value::Object(without_directives(patch));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Array(items) => {
                if let Some(Value::Array(existing)) = target.get_mut(key) {
                    merge_list(existing, items);
                } else {
                    let kept = items.iter().filter(|i| !is_delete(i)).map(strip).collect();
                    target.insert(key.clone(), Value::Array(kept));
                }
            }
            _ => strategic(target.entry(key.clone()).or_insert(Value::Null), value),
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value]) {
    let key = MERGE_KEYS.iter().copied().find(|k| {
        !items.is_empty() && items.iter().all(|i| i.get(k).is_some_and(|v| !v.is_null() && !v.is_object()))
    });
    let Some(key) = key else {
        *existing = items.iter().map(strip).collect();
        return;
    };
    for item in items {
        let position = existing.iter().position(|e| e.get(key) == item.get(key));
        match (position, is_delete(item)) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic(&mut existing[i], item),
            (None, false) => existing.push(strip(item)),
        }
    }
}

fn is_delete(item: &Value) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(without_directives(map)),
        other => other.clone(),
    }
}

fn without_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip(v))).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn merged(kind: PatchKind, mut target: Value, patch: &Value) -> Value {
        apply(kind, &mut target, patch);
        target
    }

    #[test]
    fn merge_patch_follows_the_rfc_7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merged(PatchKind::Merge, target.clone(), &patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn merge_patch_replaces_lists_wholesale() {
        let target =
            json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "z"}]}});
        assert_eq!(merged(PatchKind::Merge, target, &patch), patch);
    }

    #[test]
    fn strategic_patch_merges_containers_by_name() {
        let target = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                                    "containers": [{"name": "a", "image": "z"}, {"name": "c", "image": "w"}]}});
        assert_eq!(
            merged(PatchKind::Strategic, target, &patch),
            json!({"spec": {"containers": [
                {"name": "a", "image": "z", "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "y"},
                {"name": "c", "image": "w"}]}})
        );
    }

    #[test]
    fn strategic_patch_honours_delete_and_replace_directives() {
        let target = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "labels": {"x": "1", "y": "2"}});
        let patch = json!({"env": [{"name": "A", "$patch": "delete"}],
                           "labels": {"$patch": "replace", "z": "3"}});
        assert_eq!(
            merged(PatchKind::Strategic, target, &patch),
            json!({"env": [{"name": "B", "value": "2"}], "labels": {"z": "3"}})
        );
    }

    #[test]
    fn strategic_patch_replaces_lists_without_a_merge_key() {
        let target = json!({"finalizers": ["a", "b"], "args": ["--x"]});
        let patch = json!({"args": ["--y", "--z"]});
        assert_eq!(
            merged(PatchKind::Strategic, target, &patch),
            json!({"finalizers": ["a", "b"], "args": ["--y", "--z"]})
        );
    }

    #[test]
    fn content_types_choose_the_patch_kind() {
        assert_eq!(PatchKind::from_content_type("application/merge-patch+json"), Some(PatchKind::Merge));
        assert_eq!(
            PatchKind::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchKind::Strategic)
        );
        assert_eq!(PatchKind::from_content_type("application/json-patch+json"), None);
        assert_eq!(PatchKind::from_content_type("application/apply-patch+yaml"), None);
    }
}
