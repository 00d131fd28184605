//! The browser side of the live page: fetch the topology, start the scene, report what is shown.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;
use topology::Topology;
use web_sys::HtmlCanvasElement;

thread_local! {
    /// The page's one scene; it lives as long as the page.
    static SCENE: RefCell<Option<scene::renderer::SceneHandle>> = const { RefCell::new(None) };
}

/// Errors the live page reports in its status line.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The topology request failed or returned garbage.
    #[error("could not load the topology: {0}")]
    Fetch(String),
    /// The 3D scene could not start.
    #[error(transparent)]
    Scene(#[from] scene::SceneError),
}

/// Loads the topology and draws it on `canvas`; progress and errors go to `status`, and `drawn` turns
/// true once the first frame is on screen.
pub fn start(canvas: HtmlCanvasElement, status: RwSignal<String>, drawn: RwSignal<bool>) {
    spawn_local(async move {
        match load_and_draw(canvas, drawn).await {
            Ok(summary) => status.set(summary),
            Err(error) => {
                leptos::logging::warn!("{error}");
                status.set(error.to_string());
            }
        }
    });
}

async fn load_and_draw(canvas: HtmlCanvasElement, drawn: RwSignal<bool>) -> Result<String, LiveError> {
    let response = gloo_net::http::Request::get("/api/v1/topology")
        .send()
        .await
        .map_err(|e| LiveError::Fetch(e.to_string()))?;
    if !response.ok() {
        return Err(LiveError::Fetch(format!("HTTP {}", response.status())));
    }
    let topology: Topology = response.json().await.map_err(|e| LiveError::Fetch(e.to_string()))?;
    let handle = scene::renderer::start(canvas, &topology, move |frames| {
        if frames == 1 {
            drawn.set(true);
        }
    })?;
    SCENE.with(|scene| *scene.borrow_mut() = Some(handle));
    Ok(crate::summary(&topology))
}
