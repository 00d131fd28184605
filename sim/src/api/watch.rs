//! Watches: a newline-delimited JSON stream of events over a chunked response, as the real API server sends.
//!
//! A watch replays what the store's history holds after its `resourceVersion` (or starts with the current
//! objects), then follows the store's broadcast. It never buffers for a slow client: a watcher that falls
//! behind the broadcast is closed and must resume (the client's normal path). Bookmarks carry the revision
//! of the last change seen, whatever its resource, so a quiet watch still advances its client's version.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval};

use super::format::{self, Output};
use super::handlers::filter;
use super::path::Target;
use super::{ApiError, Params};
use crate::resource::ResourceId;
use crate::select::Filter;
use crate::status::Status;
use crate::store::{Event, EventType, StoreError, WatchFrom};
use crate::Sim;

/// `GET …?watch=1`
pub fn watch(sim: &Sim, target: &Target, params: &Params, output: Output) -> Result<Response, ApiError> {
    let filter = filter(target, params)?;
    let flag = |key: &str| matches!(params.get(key).map(String::as_str), Some("1" | "true"));
    let send_initial_events = flag("sendInitialEvents");
    let requested = params.get("resourceVersion").map(String::as_str).unwrap_or_default();
    let from = match requested {
        _ if send_initial_events => WatchFrom::Now,
        "" | "0" => WatchFrom::Now,
        n => WatchFrom::Revision(
            n.parse().map_err(|_| Status::bad_request(format!("invalid resourceVersion: {n}")))?,
        ),
    };
    let timeout = match params.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Duration::from_secs(
            t.parse().map_err(|_| Status::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        ),
        None => sim.config().watch_timeout,
    };
    let store = sim.store();
    if sim.faults().take_expiry(&target.resource.get().qualified_name()) {
        let requested = if let WatchFrom::Revision(r) = from { r } else { 0 };
        return Ok(error_response(&Status::expired(requested, store.revision())));
    }
    let subscription = match store.watch(target.resource, from) {
        Ok(subscription) => subscription,
        Err(StoreError::Expired { requested, oldest }) => {
            return Ok(error_response(&Status::expired(requested, oldest)))
        }
        Err(e) => return Err(e.into()),
    };
    let bookmarks = flag("allowWatchBookmarks").then(|| {
        let period = sim.config().bookmark_interval;
        tokio::time::interval_at(Instant::now() + period, period)
    });
    let state = Watch {
        resource: target.resource,
        version: target.version,
        filter,
        output,
        sim: sim.clone(),
        initial: subscription.initial.into(),
        receiver: subscription.receiver,
        revision: subscription.revision,
        bookmarks,
        initial_events_end: send_initial_events,
        deadline: Instant::now() + timeout,
        drops: sim.faults().drops(),
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut watch| async move {
        let item = watch.next().await?;
        Some((item, watch))
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// A watch that fails at once: one `ERROR` event carrying the `Status`, in a 200 response, as the real API
/// server reports an expired resourceVersion to a watch.
fn error_response(status: &Status) -> Response {
    let mut line =
        serde_json::to_vec(&json!({"type": "ERROR", "object": status.to_json()})).unwrap_or_default();
    line.push(b'\n');
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], line).into_response()
}

/// One watch stream's state.
pub(crate) struct Watch {
    resource: ResourceId,
    /// The version to convert objects to, when not the stored one.
    version: Option<&'static str>,
    filter: Filter,
    output: Output,
    sim: Sim,
    initial: VecDeque<Arc<Event>>,
    receiver: broadcast::Receiver<Arc<Event>>,
    revision: u64,
    bookmarks: Option<Interval>,
    initial_events_end: bool,
    deadline: Instant,
    drops: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

enum Wake {
    Dropped,
    Received(Result<Arc<Event>, RecvError>),
    Bookmark,
    Deadline,
}

impl Watch {
    /// The next line to send; `None` ends the stream, an error cuts the connection.
    pub(crate) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.initial.pop_front() {
                if let Some(line) = self.line(&event) {
                    return Some(Ok(line));
                }
                continue;
            }
            if std::mem::take(&mut self.initial_events_end) {
                return Some(Ok(self.bookmark(true)));
            }
            let bookmarks = &mut self.bookmarks;
            let wake = tokio::select! {
                biased;
                changed = self.drops.changed() => if changed.is_ok() { Wake::Dropped } else { Wake::Deadline },
                received = self.receiver.recv() => Wake::Received(received),
                () = async { match bookmarks { Some(i) => { i.tick().await; } None => std::future::pending().await } } => Wake::Bookmark,
                () = tokio::time::sleep_until(self.deadline) => Wake::Deadline,
            };
            match wake {
                Wake::Dropped => {
                    self.done = true;
                    return Some(Err(io::Error::other("watch dropped by fault injection")));
                }
                Wake::Received(Ok(event)) => {
                    self.revision = event.revision;
                    if event.resource == self.resource {
                        if let Some(line) = self.line(&event) {
                            return Some(Ok(line));
                        }
                    }
                }
                Wake::Received(Err(RecvError::Lagged(missed))) => {
                    tracing::debug!(resource = %self.resource, missed, "closing a watch that fell behind");
                    return None;
                }
                Wake::Received(Err(RecvError::Closed)) | Wake::Deadline => return None,
                Wake::Bookmark => return Some(Ok(self.bookmark(false))),
            }
        }
    }

    fn line(&self, event: &Event) -> Option<Bytes> {
        let kind = classify(event, &self.filter)?;
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        let written = match self.output {
            Output::Object if self.version.is_some() => serde_json::to_writer(
                &mut out,
                &*super::convert::object(self.resource, self.version, &event.object),
            ),
            Output::Object => {
                out.extend_from_slice(event.object_json());
                Ok(())
            }
            other => serde_json::to_writer(
                &mut out,
                &format::render(self.resource, &event.object, other, self.sim.now()),
            ),
        };
        written.ok()?;
        out.extend_from_slice(b"}\n");
        Some(Bytes::from(out))
    }

    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let r = self.resource.get();
        let (kind, api_version) = match self.output {
            Output::Metadata(v) => ("PartialObjectMetadata".to_owned(), format!("meta.k8s.io/{v}")),
            _ => match self.version {
                Some(v) => (r.kind.to_owned(), format!("{}/{v}", r.group)),
                None => (r.kind.to_owned(), r.api_version()),
            },
        };
        let mut metadata = json!({"resourceVersion": self.revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
        let mut line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

/// What a change looks like through a filter: an object entering the selection is `ADDED`, one leaving it
/// `DELETED`, and changes outside it are not seen at all.
pub(crate) fn classify(event: &Event, filter: &Filter) -> Option<EventType> {
    let now = filter.matches(&event.object);
    let before = event.previous.as_deref().is_some_and(|p| filter.matches(p));
    match (event.kind, before, now) {
        (EventType::Added, _, true) | (EventType::Modified, false, true) => Some(EventType::Added),
        (EventType::Modified, true, true) => Some(EventType::Modified),
        (EventType::Modified, true, false) | (EventType::Deleted, true, _) => Some(EventType::Deleted),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::PODS;

    fn event(kind: EventType, before: Option<&str>, now: &str) -> Event {
        let pod = |app: &str| Arc::new(json!({"metadata": {"name": "p", "labels": {"app": app}}}));
        Event::new(kind, PODS, 1, pod(now), before.map(pod))
    }

    #[test]
    fn a_selecting_watch_sees_objects_enter_and_leave_its_selection() {
        let web = Filter::parse(PODS, None, Some("app=web"), None).unwrap();
        let cases = [
            (event(EventType::Added, None, "web"), Some(EventType::Added)),
            (event(EventType::Added, None, "db"), None),
            (event(EventType::Modified, Some("web"), "web"), Some(EventType::Modified)),
            (event(EventType::Modified, Some("db"), "web"), Some(EventType::Added)),
            (event(EventType::Modified, Some("web"), "db"), Some(EventType::Deleted)),
            (event(EventType::Modified, Some("db"), "db"), None),
            (event(EventType::Deleted, Some("web"), "web"), Some(EventType::Deleted)),
            (event(EventType::Deleted, Some("db"), "db"), None),
        ];
        for (i, (event, want)) in cases.iter().enumerate() {
            assert_eq!(classify(event, &web), *want, "case {i}");
        }
    }
}
