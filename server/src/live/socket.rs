//! `GET /api/v1/live`: axum's WebSocket adapted to [`session::run`]'s plain messages.

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};

use super::session::{self, Ended, Incoming, Outgoing};
use super::{Format, Hub};
use crate::auth::limits::Permit;
use crate::auth::Scope;

/// The socket URL's query: `?format=json` for JSON text frames.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LiveQuery {
    /// The wire format (binary by default).
    #[serde(default)]
    pub format: Format,
}

/// Upgrades to a WebSocket and runs a session on it, showing only what `scope` admits. `permit` counts the
/// connection against its identity's cap until the session ends.
pub fn upgrade(
    hub: Hub,
    format: Format,
    ws: WebSocketUpgrade,
    scope: Scope,
    permit: Option<Permit>,
) -> Response {
    let limit = hub.config().max_client_message;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_failed_upgrade(|error| tracing::debug!(%error, "live: WebSocket upgrade failed"))
        .on_upgrade(move |socket| serve(hub, format, scope, permit, socket))
}

async fn serve(hub: Hub, format: Format, scope: Scope, permit: Option<Permit>, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let tx = sink.with(|message: Outgoing| std::future::ready(Ok::<_, axum::Error>(outgoing(message))));
    let rx = stream.map(incoming);
    let ended = session::run(&hub, format, &scope, Box::pin(tx), rx).await;
    drop(permit);
    match ended {
        Ended::ClientClosed | Ended::Shutdown => tracing::debug!(?ended, "live: session ended"),
        Ended::Dropped(reason, message) => tracing::info!(?reason, "live: closed a client: {message}"),
        Ended::Internal(message) => {
            tracing::error!("live: closed a client after an internal error: {message}");
        }
    }
}

fn outgoing(message: Outgoing) -> Message {
    match message {
        Outgoing::Binary(bytes) => Message::Binary(bytes),
        Outgoing::Text(bytes) => match Utf8Bytes::try_from(bytes) {
            Ok(text) => Message::Text(text),
            // Unreachable: the text frames are serde_json output. Better a binary frame than a panic.
            Err(error) => Message::Binary(Bytes::from(error.to_string())),
        },
        Outgoing::Ping => Message::Ping(Bytes::new()),
        Outgoing::Close { code, reason } => Message::Close(Some(CloseFrame { code, reason: reason.into() })),
    }
}

/// Whether a socket error is the size limit (tungstenite's capacity error, under axum's).
fn too_big(error: &axum::Error) -> bool {
    use tungstenite::Error;
    let inner = std::error::Error::source(error).and_then(|e| e.downcast_ref::<Error>());
    matches!(inner, Some(Error::Capacity(_)))
}

fn incoming(message: Result<Message, axum::Error>) -> Incoming {
    match message {
        Ok(Message::Binary(bytes)) => Incoming::Binary(bytes),
        Ok(Message::Text(text)) => Incoming::Text(Bytes::copy_from_slice(text.as_bytes())),
        // Pings are answered by the WebSocket layer itself; both are signs of life.
        Ok(Message::Ping(_) | Message::Pong(_)) => Incoming::Pong,
        Ok(Message::Close(_)) => Incoming::Close,
        // The frame or message size limit: answered with 1009 and a reason, not a silent drop.
        Err(error) if too_big(&error) => Incoming::TooBig,
        Err(error) => {
            tracing::debug!(%error, "live: socket error");
            Incoming::Close
        }
    }
}
