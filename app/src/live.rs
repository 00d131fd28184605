//! The browser side of the live page: the WebSocket client, the topology it keeps, and the scene it feeds.
//!
//! The client holds one [`Topology`], replaced by snapshots and advanced by diffs. When the socket drops it
//! keeps showing what it has (marked stale, with its age), reconnects with jittered back-off, and resumes
//! from its last sequence number so a short outage costs only the diffs it missed. A diff that does not apply
//! (a bug, or a server restart in between) is answered with a fresh hello asking for a snapshot: the page
//! never shows a half-applied picture. The scene is redrawn at most every 100 ms, however fast diffs come.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use futures_util::future::{select, Either};
use futures_util::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use scene::camera::Orbit;
use scene::instances::Emphasis;
use scene::update::Pending;
use topology::protocol::{ClientMsg, Filters, ServerMsg};
use topology::Topology;
use web_sys::HtmlCanvasElement;

use crate::link::{backoff_ms, Connection};
use crate::replica::Replica;

/// How long the scene may lag behind the data, so bursts of diffs cost one redraw.
const REDRAW_MS: f64 = 100.0;
/// How often the client checks the server is still there (WebSocket pings are invisible to JavaScript).
const PING_MS: f64 = 20_000.0;
/// How long a ping may go unanswered before the connection is considered dead.
const PONG_MS: f64 = 10_000.0;

/// Errors of one connection; each ends it, and the client reconnects.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The socket could not be opened or failed.
    #[error("connection failed: {0}")]
    Socket(String),
    /// The server sent something this page cannot read (usually: the server was upgraded; reload).
    #[error(transparent)]
    Protocol(#[from] topology::protocol::ProtocolError),
    /// The server stopped answering pings.
    #[error("the server stopped answering")]
    Silent,
    /// The 3D scene could not start.
    #[error(transparent)]
    Scene(#[from] scene::SceneError),
}

/// The signals the page shows.
#[derive(Clone, Copy)]
pub struct Ui {
    /// The one-line summary (grade and counts).
    pub summary: RwSignal<String>,
    /// The connection badge.
    pub connection: RwSignal<Connection>,
    /// True once the scene drew its first frame.
    pub drawn: RwSignal<bool>,
    /// What the panels and the scene share; the client publishes the topology it draws there.
    pub view: crate::View,
}

/// The scene once it started: fed topologies by the client, and the view's signals by the effects of [`wire`].
pub type SceneSlot = Rc<RefCell<Option<scene::renderer::SceneHandle>>>;

/// Connects and keeps the page live for as long as it is open.
pub fn start(canvas: HtmlCanvasElement, ui: Ui, scene: SceneSlot) {
    spawn_local(run(canvas, ui, scene));
}

/// Passes the view's signals to the scene: selection, its chain as the highlight, filters, camera requests.
/// Call it in the page's component body (its effects live as long as the page).
pub fn wire(view: crate::View) -> SceneSlot {
    let slot = SceneSlot::default();
    // The selection's chain (ingress → service → pods → node, and owners) lights up; it follows the topology.
    Effect::new(move |_| {
        let chain = view.selected.get().and_then(|id| {
            view.topology
                .with(|t| t.as_ref().filter(|t| t.contains(&id)).map(|t| topology::finding::chain(t, &id)))
        });
        let chain = chain.unwrap_or_default();
        if view.highlight.with_untracked(|h| *h != chain) {
            view.highlight.set(chain);
        }
    });
    {
        let slot = slot.clone();
        Effect::new(move |_| {
            let emphasis = emphasis(view);
            if let Some(scene) = slot.borrow().as_ref() {
                scene.set_emphasis(emphasis);
            }
            mark_selected(view.selected.get().as_ref());
        });
    }
    {
        let slot = slot.clone();
        Effect::new(move |_| {
            let Some(request) = view.camera_request.get() else { return };
            // Before the scene exists the request waits; the scene takes it when it starts.
            if let Some(scene) = slot.borrow().as_ref() {
                obey(scene, &request);
                view.camera_request.set(None);
            }
        });
    }
    slot
}

fn obey(scene: &scene::renderer::SceneHandle, request: &crate::view::CameraRequest) {
    match request {
        crate::view::CameraRequest::Reset => scene.reset_view(),
        crate::view::CameraRequest::FlyTo(id) => scene.fly_to(id),
    }
}

/// The emphasis the view asks for, read with tracking (for effects).
fn emphasis(view: crate::View) -> Emphasis {
    Emphasis {
        selected: view.selected.get(),
        highlight: view.highlight.with(|h| h.iter().cloned().collect::<HashSet<_>>()),
        visible: view.visible.get(),
        flagged: view.flagged.get(),
    }
}

/// `data-selected` on the canvas: what tests and user scripts can read of the selection.
fn mark_selected(id: Option<&topology::EntityId>) {
    let canvas = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("scene"));
    if let Some(canvas) = canvas {
        let _ = match id {
            Some(id) => canvas.set_attribute("data-selected", &id.to_string()),
            None => canvas.remove_attribute("data-selected"),
        };
    }
}

/// `data-entities` and `data-seq` on the canvas: what the scene was last given (tests time changes with them).
fn mark_drawn(topology: &Topology) {
    let canvas = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("scene"));
    if let Some(canvas) = canvas {
        let _ = canvas.set_attribute("data-entities", &topology.len().to_string());
        let _ = canvas.set_attribute("data-seq", &topology.seq().to_string());
    }
}

fn orbit_of(view: crate::view::CameraView) -> Orbit {
    Orbit { target: view.target, yaw: view.yaw, pitch: view.pitch, distance: view.distance }
}

fn now() -> f64 {
    js_sys::Date::now()
}

async fn run(canvas: HtmlCanvasElement, ui: Ui, scene: SceneSlot) {
    let mut client = Client {
        canvas: Some(canvas),
        scene,
        topology: None,
        data_at: None,
        dirty: false,
        pending: Pending::All,
    };
    let mut attempt = 0;
    let mut lost_at = None;
    loop {
        let mut connected = false;
        let result = client.connect(ui, &mut connected).await;
        if let Err(error) = &result {
            leptos::logging::warn!("live: {error}");
            if let LiveError::Scene(_) = error {
                ui.summary.set(error.to_string());
                return;
            }
        }
        if connected {
            attempt = 0;
            lost_at = None;
        }
        attempt += 1;
        let since = *lost_at.get_or_insert_with(now);
        ui.connection.set(Connection::Reconnecting { since, data_at: client.data_at, attempt });
        TimeoutFuture::new(backoff_ms(attempt, js_sys::Math::random())).await;
    }
}

struct Client {
    /// Taken when the scene starts (on the first snapshot: the scene frames what it is first given).
    canvas: Option<HtmlCanvasElement>,
    scene: SceneSlot,
    /// Shared with the panels through [`crate::View::topology`]; diffs go into its spare rather than into a copy
    /// (see [`crate::replica`]).
    topology: Option<Replica>,
    /// When the data was last known current (ms since the epoch).
    data_at: Option<f64>,
    /// The topology changed since the scene last drew it.
    dirty: bool,
    /// How it changed: the scene redraws only what the diffs touched.
    pending: Pending,
}

impl Client {
    /// One connection, from hello to close. `connected` turns true once the server sent data.
    async fn connect(&mut self, ui: Ui, connected: &mut bool) -> Result<(), LiveError> {
        let socket = WebSocket::open(&live_url()).map_err(|e| LiveError::Socket(e.to_string()))?;
        let (mut tx, mut rx) = socket.split();
        let hello = ClientMsg::hello(self.topology.as_ref().map(|r| r.current().seq()), Filters::default());
        send(&mut tx, &hello).await?;
        let mut last_draw = 0.0;
        let mut next_ping = now() + PING_MS;
        let mut awaiting_pong: Option<(u64, f64)> = None;
        let mut nonce = 0;
        loop {
            let wait = if self.dirty { REDRAW_MS } else { 1000.0 };
            match select(rx.next(), TimeoutFuture::new(wait as u32)).await {
                Either::Left((Some(Ok(Message::Bytes(bytes))), _)) => {
                    let message = ServerMsg::from_bytes(&bytes)?;
                    if let ServerMsg::Pong { nonce } = message {
                        if awaiting_pong.is_some_and(|(n, _)| n == nonce) {
                            awaiting_pong = None;
                        }
                        continue;
                    }
                    *connected = true;
                    if !self.on_message(message, ui) {
                        // Out of step: ask for a snapshot on the same socket.
                        send(&mut tx, &ClientMsg::hello(None, Filters::default())).await?;
                    }
                }
                Either::Left((Some(Err(error)), _)) => return Err(LiveError::Socket(error.to_string())),
                Either::Left((None, _)) => return Ok(()),
                // The server sends binary frames only; a timeout just lets the checks below run.
                Either::Left((Some(Ok(Message::Text(_))), _)) | Either::Right(((), _)) => {}
            }
            let now = now();
            if self.dirty && now - last_draw >= REDRAW_MS {
                self.draw(ui)?;
                last_draw = now;
            }
            if awaiting_pong.is_some_and(|(_, deadline)| now > deadline) {
                return Err(LiveError::Silent);
            }
            if now >= next_ping {
                nonce += 1;
                send(&mut tx, &ClientMsg::Ping { nonce }).await?;
                awaiting_pong = Some((nonce, now + PONG_MS));
                next_ping = now + PING_MS;
            }
        }
    }

    /// Applies one message; false when a diff does not fit what the page holds.
    fn on_message(&mut self, message: ServerMsg, ui: Ui) -> bool {
        match message {
            ServerMsg::Snapshot(topology) => {
                self.topology = Some(Replica::new(topology));
                self.pending = Pending::All;
                self.dirty = true;
                self.data_at = Some(now());
            }
            ServerMsg::Diff(diff) => {
                let Some(replica) = &mut self.topology else {
                    // Waiting for the snapshot asked for.
                    return true;
                };
                self.pending.diff(&diff);
                let applied = scene::timing::span("live.apply_diff", || replica.apply(diff));
                if let Err(error) = applied {
                    leptos::logging::warn!("live: {error}; asking for a snapshot");
                    self.topology = None;
                    return false;
                }
                self.dirty = true;
                self.data_at = Some(now());
            }
            ServerMsg::Status(status) => {
                if self.topology.is_some() {
                    self.data_at = Some(now());
                }
                ui.connection.set(Connection::Connected { server: status.state, message: status.message });
            }
            ServerMsg::Pong { .. } => {}
        }
        true
    }

    fn draw(&mut self, ui: Ui) -> Result<(), LiveError> {
        let Some(replica) = &self.topology else { return Ok(()) };
        let topology = replica.current();
        self.dirty = false;
        scene::timing::span("live.publish", || {
            ui.summary.set(crate::summary(topology));
            ui.view.topology.set(Some(Arc::clone(topology)));
        });
        let pending = std::mem::replace(&mut self.pending, Pending::drawn(topology));
        if let Some(scene) = self.scene.borrow().as_ref() {
            scene.update(topology, &pending);
            mark_drawn(topology);
            return Ok(());
        }
        let Some(canvas) = self.canvas.take() else { return Ok(()) };
        let (drawn, view) = (ui.drawn, ui.view);
        let callbacks = scene::renderer::Callbacks {
            on_frame: Box::new(move |frames| {
                if frames == 1 {
                    drawn.set(true);
                }
            }),
            on_select: Box::new(move |id| view.selected.set(id)),
            on_hover: Box::new(move |id, at| {
                view.hover_at.set(at);
                view.hovered.set(id);
            }),
            on_camera: Box::new(move |orbit: Orbit| {
                view.camera.set(Some(crate::view::CameraView {
                    target: orbit.target,
                    yaw: orbit.yaw,
                    pitch: orbit.pitch,
                    distance: orbit.distance,
                }));
            }),
        };
        let scene = scene::renderer::start(canvas, topology, callbacks)?;
        // What the view already asks for (a deep link's camera and selection, filters set before the data came).
        if let Some(camera) = view.camera.get_untracked() {
            scene.set_camera(orbit_of(camera));
        }
        scene.set_emphasis(Emphasis {
            selected: view.selected.get_untracked(),
            highlight: view.highlight.with_untracked(|h| h.iter().cloned().collect()),
            visible: view.visible.get_untracked(),
            flagged: view.flagged.get_untracked(),
        });
        if let Some(request) = view.camera_request.get_untracked() {
            obey(&scene, &request);
            view.camera_request.set(None);
        }
        *self.scene.borrow_mut() = Some(scene);
        mark_drawn(topology);
        Ok(())
    }
}

async fn send(
    tx: &mut (impl futures_util::Sink<Message, Error = gloo_net::websocket::WebSocketError> + Unpin),
    message: &ClientMsg,
) -> Result<(), LiveError> {
    tx.send(Message::Bytes(message.to_bytes()?)).await.map_err(|e| LiveError::Socket(e.to_string()))
}

/// `ws://` or `wss://` on the page's own host: the socket goes wherever the page came from (an ingress, a
/// port-forward, a path prefix is not supported yet).
fn live_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let secure = location.as_ref().and_then(|l| l.protocol().ok()).is_some_and(|p| p == "https:");
    let host = location.and_then(|l| l.host().ok()).unwrap_or_default();
    format!("{}://{host}/api/v1/live", if secure { "wss" } else { "ws" })
}

/// `hh:mm:ss` in the viewer's time zone.
pub fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!("{:02}:{:02}:{:02}", date.get_hours(), date.get_minutes(), date.get_seconds())
}
