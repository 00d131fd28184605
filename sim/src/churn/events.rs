//! Core v1 Events for what the churn does, written as the components that do it write them: one object per
//! (object, reason, message), its `count` and `lastTimestamp` moving when it happens again (the client-go event
//! correlator's aggregation), and dropped after an hour, as the API server's `--event-ttl` drops them.

use serde_json::{json, Value};

use super::Result;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::resource::EVENTS;
use crate::rng::hash_str;
use crate::select::Filter;
use crate::store::{Preconditions, Store, StoreError};

/// How long events live (the API server's default `--event-ttl`).
pub(crate) const EVENT_TTL: i64 = 3600;

/// Who reports an event, and how.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// The kubelet of the pod's node.
    Kubelet,
    /// A control-plane component (`default-scheduler`, `deployment-controller`, …).
    Controller(&'static str),
}

/// What happened to an object.
pub(crate) struct Note {
    pub reason: &'static str,
    pub message: String,
    pub warning: bool,
    pub source: Source,
    /// The container concerned (`spec.containers{name}`), for kubelet events.
    pub field_path: Option<String>,
}

impl Note {
    /// A `Normal` event from a controller.
    pub fn normal(component: &'static str, reason: &'static str, message: String) -> Note {
        Note { reason, message, warning: false, source: Source::Controller(component), field_path: None }
    }

    /// A `Warning` event from a controller.
    pub fn warning(component: &'static str, reason: &'static str, message: String) -> Note {
        Note { reason, message, warning: true, source: Source::Controller(component), field_path: None }
    }

    /// A kubelet event about one container.
    pub fn kubelet(reason: &'static str, message: String, warning: bool, container: &str) -> Note {
        let field_path = Some(format!("spec.containers{{{container}}}"));
        Note { reason, message, warning, source: Source::Kubelet, field_path }
    }
}

/// Records `note` about `object` at `now`: a new Event, or the existing one counted again.
pub(crate) fn record(store: &Store, now: i64, object: &Value, note: &Note) -> Result<()> {
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    // Cluster-scoped objects (nodes) have their events in `default`, as the node controller writes them.
    let namespace = meta["namespace"].as_str().filter(|ns| !ns.is_empty()).unwrap_or("default");
    let uid = if object["kind"] == "Node" { name } else { meta["uid"].as_str().unwrap_or_default() };
    let key = format!("{uid}/{}/{}/{:?}", note.reason, note.message, note.field_path);
    let event_name = format!("{name}.{:016x}", hash_str(&key));
    let at = rfc3339(now);
    let counted = store.modify(EVENTS, Some(namespace), &event_name, |event| {
        event["count"] = json!(event["count"].as_i64().unwrap_or(1) + 1);
        event["lastTimestamp"] = json!(at);
    });
    match counted {
        Ok(_) => return Ok(()),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let (component, host) = match note.source {
        Source::Kubelet => ("kubelet", object["spec"]["nodeName"].as_str().unwrap_or_default()),
        Source::Controller(component) => (component, ""),
    };
    let mut involved = json!({"kind": object["kind"], "name": name, "uid": uid, "apiVersion": object["apiVersion"],
                              "resourceVersion": meta["resourceVersion"]});
    if object["kind"] != "Node" {
        involved["namespace"] = json!(namespace);
    }
    if let Some(path) = &note.field_path {
        involved["fieldPath"] = json!(path);
    }
    let mut source = json!({"component": component});
    if !host.is_empty() {
        source["host"] = json!(host);
    }
    store.insert(
        EVENTS,
        json!({
            "metadata": {"name": event_name, "namespace": namespace, "creationTimestamp": at},
            "involvedObject": involved,
            "reason": note.reason,
            "message": note.message,
            "source": source,
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
            "type": if note.warning { "Warning" } else { "Normal" },
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": host,
        }),
    )?;
    Ok(())
}

/// Deletes the events last seen more than [`EVENT_TTL`] ago; returns how many.
pub(crate) fn expire(store: &Store, now: i64) -> Result<usize> {
    let events = store.list(EVENTS, &Filter::default(), None, None)?.items;
    let mut expired = 0;
    for event in events {
        let last = event["lastTimestamp"].as_str().and_then(parse_rfc3339).unwrap_or(now);
        if now - last > EVENT_TTL {
            let meta = &event["metadata"];
            match store.delete(
                EVENTS,
                meta["namespace"].as_str(),
                meta["name"].as_str().unwrap_or_default(),
                &Preconditions::default(),
            ) {
                Ok(_) => expired += 1,
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(expired)
}
