//! The Leptos application: the page shell, routes and the live page.
//!
//! The same components render on the server (feature `ssr`) and hydrate in the browser (feature
//! `hydrate`); only the browser side pulls in the 3D scene, so the server never compiles three-d.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::path;

pub mod announce;
pub mod autopilot;
pub mod filters;
pub mod findings;
pub mod hud;
pub mod inspector;
pub mod link;
#[cfg(feature = "hydrate")]
mod live;
pub mod replica;
pub mod table;
pub mod tooltip;
pub mod url;
pub mod view;

pub use link::Connection;
pub use view::View;

/// The product name, used in titles and headers.
pub const PRODUCT: &str = "Gestalt Live";

/// The response header the shell hands its CSP nonce to the server in (the server builds the
/// `Content-Security-Policy` from it and removes it).
pub const NONCE_HEADER: &str = "x-gestalt-csp-nonce";

/// The HTML document around the app, rendered by the server. The hydration scripts are inline, so they carry a
/// per-response nonce that the server's Content-Security-Policy allows.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    {
        if let Ok(value) = http::HeaderValue::from_str(&nonce) {
            response.insert_header(http::HeaderName::from_static(NONCE_HEADER), value);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application's routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/gestalt-live.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Meta name="color-scheme" content="dark"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=|| view! { <Redirect path="/gestalt/live"/> }/>
                <Route path=path!("/gestalt/live") view=LivePage/>
            </Routes>
        </Router>
    }
}

/// `/gestalt/live`: the header with the connection badge, the 3D canvas and a status line.
#[component]
fn LivePage() -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let status = RwSignal::new(String::from("Loading the cluster…"));
    let connection = RwSignal::new(Connection::Connecting);
    // The badge's clock: "data 2 min old" must age while nothing arrives.
    let now = RwSignal::new(0.0_f64);
    let hydrated = RwSignal::new(false);
    let drawn = RwSignal::new(false);
    let view = View::new();
    provide_context(view);
    // The URL is read once: the page owns the state afterwards and mirrors it back (see `url`).
    let initial = url_state();
    let filters = RwSignal::new(initial.filters.clone());
    let table = RwSignal::new(initial.table);
    view.selected.set(initial.selected.clone());
    view.camera.set(initial.camera);
    view.kiosk.set(initial.kiosk);
    filters::drive_visible(view, filters);
    #[cfg(feature = "hydrate")]
    mirror_url(view, filters, table);
    #[cfg(feature = "hydrate")]
    let scene = live::wire(view);

    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        hydrated.set(true);
        match canvas.get() {
            Some(element) => {
                now.set(js_sys::Date::now());
                let tick = set_interval_with_handle(
                    move || now.set(js_sys::Date::now()),
                    std::time::Duration::from_secs(1),
                );
                if let Err(error) = tick {
                    leptos::logging::warn!("no clock for the status badge: {error:?}");
                }
                live::start(element, live::Ui { summary: status, connection, drawn, view }, scene.clone());
                true
            }
            None => false,
        }
    });

    view! {
        <Title text=PRODUCT/>
        <header class="gl-header" hidden=move || view.kiosk.get()>
            <h1>{PRODUCT}</h1>
            <span class="gl-tagline">"a live 3D map of your Kubernetes cluster"</span>
            <span class="gl-link" data-state=move || connection.get().state() title="connection to the server">
                {move || connection.get().label(now.get(), clock)}
            </span>
        </header>
        <div class="gl-panels" hidden=move || view.kiosk.get()>
            <filters::FiltersPanel filters/>
            <button
                type="button"
                id="toggle-table"
                aria-pressed=move || table.get().to_string()
                on:click=move |_| table.update(|on| *on = !*on)
            >
                {move || if table.get() { "Hide table" } else { "Table view" }}
            </button>
        </div>
        <main
            class="gl-main"
            class:gl-kiosk=move || view.kiosk.get()
            data-hydrated=move || hydrated.get().to_string()
        >
            <canvas
                node_ref=canvas
                id="scene"
                class="gl-canvas"
                data-drawn=move || drawn.get().to_string()
                on:keydown=move |event: leptos::ev::KeyboardEvent| walk_attention(view, &event)
                tabindex="0"
                role="img"
                aria-label="3D map of the cluster: services on top, workloads in the middle, pods, then nodes at the bottom; one band per namespace. Drag or arrow keys to orbit, shift to pan, wheel or plus and minus to zoom, R to reset, F to fly to the selection, click to select, ] and [ to walk through what is unhealthy or degraded."
            ></canvas>
            // The scene writes band and layer names here (its children are the scene's, not Leptos's).
            <div id="scene-labels" class="gl-labels" aria-hidden="true"></div>
            <tooltip::Tooltip/>
            <Legend/>
            <hud::Hud/>
            <announce::Announcements/>
            <inspector::Inspector/>
            <Show when=move || table.get() && !view.kiosk.get()>
                <table::TableView/>
            </Show>
            <findings::FindingsPanel/>
            <autopilot::AutopilotCaption connection=connection/>
            <FullscreenButton/>
        </main>
        <footer class="gl-status" role="status" aria-live="polite" hidden=move || view.kiosk.get()>
            {move || status.get()}
        </footer>
    }
    .into_any()
}

/// The state in the page's query string (the router's, so the server renders the same page the browser hydrates).
fn url_state() -> url::UrlState {
    let query = leptos_router::hooks::use_query_map();
    query.with_untracked(|map| {
        let pairs: Vec<(&str, String)> = ["ns", "kind", "health", "q", "sel", "cam", "kiosk", "view"]
            .into_iter()
            .filter_map(|key| map.get(key).map(|value| (key, value)))
            .collect();
        url::UrlState::parse(pairs.iter().map(|(key, value)| (*key, value.as_str())))
    })
}

/// Mirrors the page's state to the address bar with `history.replaceState`: a shareable link at every moment,
/// without one history entry per keystroke or camera move.
#[cfg(feature = "hydrate")]
fn mirror_url(view: View, filters: RwSignal<filters::Filters>, table: RwSignal<bool>) {
    Effect::new(move |_| {
        let state = url::UrlState {
            filters: filters.get(),
            selected: view.selected.get(),
            camera: view.camera.get(),
            kiosk: view.kiosk.get(),
            table: table.get(),
        };
        let query = state.to_query();
        let Some(window) = web_sys::window() else { return };
        let location = window.location();
        if location.search().ok().as_deref() == Some(query.as_str()) {
            return;
        }
        let path = location.pathname().unwrap_or_default();
        if let Ok(history) = window.history() {
            if let Err(error) = history.replace_state_with_url(
                &wasm_bindgen::JsValue::NULL,
                "",
                Some(&format!("{path}{query}")),
            ) {
                leptos::logging::warn!("could not update the URL: {error:?}");
            }
        }
    });
}

/// `]` and `[` on the focused map select the next or previous entity needing attention (unhealthy first) and fly
/// to it: the keyboard's way through all of the trouble, where the HUD's list shows only the worst few.
fn walk_attention(view: View, event: &leptos::ev::KeyboardEvent) {
    let forward = match event.key().as_str() {
        "]" => true,
        "[" => false,
        _ => return,
    };
    event.prevent_default();
    let current = view.selected.get_untracked();
    let next =
        view.topology.with_untracked(|t| t.as_deref().and_then(|t| hud::step(t, current.as_ref(), forward)));
    if let Some(id) = next {
        view.selected.set(Some(id.clone()));
        view.camera_request.set(Some(view::CameraRequest::FlyTo(id)));
    }
}

/// Fullscreen on and off (a wall screen starts in a browser window; F11 is not on every kiosk keyboard).
#[component]
fn FullscreenButton() -> impl IntoView {
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
            let result = if document.fullscreen_element().is_some() {
                document.exit_fullscreen();
                Ok(())
            } else {
                document.document_element().map_or(Ok(()), |root| root.request_fullscreen())
            };
            if let Err(error) = result {
                leptos::logging::warn!("fullscreen refused: {error:?}");
            }
        }
    };
    view! {
        <button type="button" class="gl-fullscreen" id="fullscreen" title="Fullscreen on or off" on:click=toggle>
            "Fullscreen"
        </button>
    }
}

/// What colours and shapes mean. Health is told by colour *and* by a symbol in the legend, and kinds by
/// shape, so nothing depends on telling colours apart.
#[component]
fn Legend() -> impl IntoView {
    let health = [
        ("healthy", "●", "Healthy"),
        ("degraded", "◐", "Degraded"),
        ("unhealthy", "✕", "Unhealthy (pulses)"),
        ("unknown", "?", "Unknown"),
    ];
    let shapes = [
        ("sphere", "Service"),
        ("cone", "Ingress"),
        ("drum", "Workload controller"),
        ("box", "Pod (small), node (flat, at the bottom)"),
    ];
    // The marker over an entity says how bad its worst open finding (or its own ill health) is: by colour and,
    // so that colour is never the only channel, by size (scene::instances::badge_look).
    let badges =
        [("critical", "Critical"), ("high", "High / unhealthy"), ("warning", "Warning"), ("info", "Info")];
    view! {
        <aside class="gl-legend" aria-label="Legend">
            <ul class="gl-legend-health">
                {health
                    .into_iter()
                    .map(|(class, symbol, label)| {
                        view! {
                            <li class=format!("gl-health-{class}")>
                                <span class="gl-swatch" aria-hidden="true">{symbol}</span>
                                {label}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <ul class="gl-legend-shapes">
                {shapes
                    .into_iter()
                    .map(|(shape, label)| {
                        view! {
                            <li>
                                <span class=format!("gl-shape gl-shape-{shape}") aria-hidden="true"></span>
                                {label}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <ul class="gl-legend-badges" aria-label="Markers above entities">
                {badges
                    .into_iter()
                    .map(|(severity, label)| {
                        view! {
                            <li>
                                <span class=format!("gl-badge gl-badge-{severity}") aria-hidden="true"></span>
                                {label}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </aside>
    }
}

/// `hh:mm:ss` for the badge: the viewer's local time in the browser; the server renders only the
/// connecting state, which shows no time.
fn clock(ms: f64) -> String {
    #[cfg(feature = "hydrate")]
    {
        live::clock(ms)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let secs = (ms / 1000.0) as u64 % 86_400;
        format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// Any other path: a real 404, not an empty page with status 200.
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text=format!("Not found · {PRODUCT}")/>
        <main class="gl-notfound">
            <h1>"404: nothing here"</h1>
            <p>"The live map is at " <a href="/gestalt/live">"/gestalt/live"</a> "."</p>
        </main>
    }
}

/// The status line's one-sentence summary of a topology.
pub fn summary(topology: &topology::Topology) -> String {
    use std::collections::BTreeMap;
    let mut counts: BTreeMap<topology::Kind, usize> = BTreeMap::new();
    for entity in topology.entities() {
        *counts.entry(entity.kind).or_default() += 1;
    }
    let parts: Vec<String> = [
        (topology::Kind::Namespace, "namespaces"),
        (topology::Kind::Service, "services"),
        (topology::Kind::Deployment, "deployments"),
        (topology::Kind::Pod, "pods"),
        (topology::Kind::Node, "nodes"),
    ]
    .iter()
    .map(|(kind, label)| format!("{} {label}", counts.get(kind).copied().unwrap_or(0)))
    .collect();
    let health = topology.score().map_or_else(
        || String::from("health unknown"),
        |score| format!("health {} ({:.1}%)", score.grade, score.percent),
    );
    format!("{health} · {}", parts.join(" · "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_of_the_sample_names_its_grade_and_counts() {
        assert_eq!(
            super::summary(&topology::sample::kgents()),
            "health A (93.8%) · 5 namespaces · 21 services · 7 deployments · 22 pods · 3 nodes"
        );
    }

    #[test]
    fn an_empty_topology_has_unknown_health() {
        assert_eq!(
            super::summary(&topology::Topology::default()),
            "health unknown · 0 namespaces · 0 services · 0 deployments · 0 pods · 0 nodes"
        );
    }
}
