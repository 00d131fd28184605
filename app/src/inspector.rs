//! The inspector: everything about the selected entity, and its neighbours one click (or one key) away.
//!
//! It reads [`View::selected`] and the drawn topology, so a selection from the table, the keyboard or the scene
//! opens it the same way. Relations are grouped by type and direction and are buttons that select the other
//! end, which is how a keyboard user walks the graph.

use leptos::prelude::*;
use topology::{Entity, EntityId, EventRecord, EventType, Topology};

use crate::view::{CameraRequest, View};

/// One group of neighbours: a label ("owns", "← selects") and the entities at the other end.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationGroup {
    /// The relation and its direction, as shown.
    pub label: String,
    /// The other ends, sorted.
    pub ids: Vec<EntityId>,
}

/// The entity's neighbours grouped by relation type: outgoing first, then incoming (`← kind`).
pub fn relation_groups(topology: &Topology, id: &EntityId) -> Vec<RelationGroup> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(bool, &'static str), Vec<EntityId>> = BTreeMap::new();
    for relation in topology.relations_from(id) {
        groups.entry((false, relation.kind.as_str())).or_default().push(relation.to.clone());
    }
    for relation in topology.relations().filter(|relation| &relation.to == id) {
        groups.entry((true, relation.kind.as_str())).or_default().push(relation.from.clone());
    }
    groups
        .into_iter()
        .map(|((incoming, kind), mut ids)| {
            ids.sort();
            ids.dedup();
            let label =
                if incoming { format!("← {}", kind.replace('_', " ")) } else { kind.replace('_', " ") };
            RelationGroup { label, ids }
        })
        .collect()
}

/// `kind namespace/name` (or `kind name` when cluster-scoped), how panels name an entity.
pub fn display_name(id: &EntityId) -> String {
    if id.namespace().is_empty() {
        format!("{} {}", id.kind(), id.name())
    } else {
        format!("{} {}/{}", id.kind(), id.namespace(), id.name())
    }
}

/// Bytes as MiB/GiB for the usage bars.
fn format_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    #[allow(clippy::cast_precision_loss)] // display only
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// The inspector panel for [`View::selected`]; hidden when nothing is selected or the entity is gone.
#[component]
pub fn Inspector() -> impl IntoView {
    let view = expect_context::<View>();
    let entity = Memo::new(move |_| {
        let id = view.selected.get()?;
        view.topology.with(|topology| topology.as_deref().and_then(|topology| topology.get(&id).cloned()))
    });
    let groups = Memo::new(move |_| {
        let id = view.selected.get()?;
        view.topology.with(|topology| topology.as_deref().map(|topology| relation_groups(topology, &id)))
    });
    // Esc closes; arrows move focus along the relation buttons (Enter then follows one).
    let on_key = move |event: leptos::ev::KeyboardEvent| match event.key().as_str() {
        "Escape" => view.selected.set(None),
        "ArrowDown" | "ArrowRight" | "ArrowUp" | "ArrowLeft" => {
            #[cfg(feature = "hydrate")]
            {
                event.prevent_default();
                let forward = matches!(event.key().as_str(), "ArrowDown" | "ArrowRight");
                move_focus(forward);
            }
        }
        _ => {}
    };
    view! {
        <Show when=move || entity.with(Option::is_some) && !view.kiosk.get()>
            <section class="gl-inspector" id="inspector" aria-label="Inspector" on:keydown=on_key>
                {move || entity.get().map(|entity| details(&entity))}
                <div class="gl-inspector-actions">
                    <button
                        type="button"
                        on:click=move |_| {
                            if let Some(id) = view.selected.get_untracked() {
                                view.camera_request.set(Some(CameraRequest::FlyTo(id)));
                            }
                        }
                    >
                        "Fly to"
                    </button>
                    <button type="button" on:click=move |_| view.camera_request.set(Some(CameraRequest::Reset))>
                        "Reset view"
                    </button>
                    <button type="button" aria-keyshortcuts="Escape" on:click=move |_| view.selected.set(None)>
                        "Close"
                    </button>
                </div>
                <RecentEvents/>
                <h3>"Relations"</h3>
                <div class="gl-relations">
                    {move || {
                        groups
                            .get()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|group| {
                                view! {
                                    <div class="gl-relation-group">
                                        <h4>{group.label}</h4>
                                        <ul>
                                            {group
                                                .ids
                                                .into_iter()
                                                .map(|id| {
                                                    let label = display_name(&id);
                                                    view! {
                                                        <li>
                                                            <button
                                                                type="button"
                                                                class="gl-relation"
                                                                on:click=move |_| view.selected.set(Some(id.clone()))
                                                            >
                                                                {label}
                                                            </button>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    </div>
                                }
                            })
                            .collect_view()
                    }}
                </div>
            </section>
        </Show>
    }
    .into_any()
}

/// Events shown per entity.
#[cfg(feature = "hydrate")]
const EVENTS: usize = 8;
/// How often the open inspector refreshes its events.
#[cfg(feature = "hydrate")]
const EVENTS_POLL_SECS: u64 = 15;

/// The selected entity's recent Kubernetes events, newest first: the "why" behind a health reason (the
/// scheduler's message for a Pending pod, the back-off of a crashing one). Fetched from `/api/v1/events` when the
/// selection changes and every [`EVENTS_POLL_SECS`] while it stays; events are not in the live stream because
/// only the inspector needs them.
#[component]
fn RecentEvents() -> impl IntoView {
    let view = expect_context::<View>();
    let events = RwSignal::new(None::<(EntityId, Result<Vec<EventRecord>, String>)>);
    #[cfg(feature = "hydrate")]
    {
        let load = move |id: EntityId| {
            leptos::task::spawn_local(async move {
                let result = fetch_events(&id).await;
                // A slow answer for an earlier selection must not overwrite the current one.
                if view.selected.get_untracked().as_ref() == Some(&id) {
                    events.set(Some((id, result)));
                }
            });
        };
        Effect::new(move |_| match view.selected.get() {
            Some(id) => load(id),
            None => events.set(None),
        });
        Effect::new(move |started: Option<()>| {
            if started.is_some() {
                return;
            }
            leptos::task::spawn_local(async move {
                loop {
                    gloo_timers::future::sleep(std::time::Duration::from_secs(EVENTS_POLL_SECS)).await;
                    if let Some(id) = view.selected.get_untracked() {
                        load(id);
                    }
                }
            });
        });
    }
    let now = move || {
        #[cfg(feature = "hydrate")]
        let now = (js_sys::Date::now() / 1000.0) as i64;
        #[cfg(not(feature = "hydrate"))]
        let now = 0;
        now
    };
    let body = move || {
        let selected = view.selected.get();
        events.with(|loaded| match loaded {
            Some((id, Ok(list))) if Some(id) == selected.as_ref() && list.is_empty() => {
                view! { <p class="gl-muted">"No recent events."</p> }.into_any()
            }
            Some((id, Ok(list))) if Some(id) == selected.as_ref() => {
                let at = now();
                let items = list.iter().map(|e| event_item(e, at)).collect_view();
                view! { <ul class="gl-events" id="inspector-events">{items}</ul> }.into_any()
            }
            Some((id, Err(error))) if Some(id) == selected.as_ref() => {
                view! { <p class="gl-muted">{format!("Events unavailable: {error}")}</p> }.into_any()
            }
            _ => view! { <p class="gl-muted">"Loading events…"</p> }.into_any(),
        })
    };
    view! {
        <h3>"Recent events"</h3>
        {body}
    }
    .into_any()
}

/// One event: type, reason, count, age and message.
fn event_item(event: &EventRecord, now: i64) -> impl IntoView + use<> {
    let warning = event.kind == EventType::Warning;
    let count = if event.count > 1 { format!(" ×{}", event.count) } else { String::new() };
    view! {
        <li class:gl-event-warning=warning>
            <span class="gl-event-head">
                {if warning { "⚠ " } else { "" }}
                <strong>{event.reason.clone()}</strong>
                {format!("{count} · {} ago", crate::findings::ago(now - event.last_seen))}
            </span>
            <span class="gl-event-message">{event.message.clone()}</span>
        </li>
    }
}

#[cfg(feature = "hydrate")]
async fn fetch_events(id: &EntityId) -> Result<Vec<EventRecord>, String> {
    let entity = js_sys::encode_uri_component(&id.to_string());
    let url = format!("/api/v1/events?entity={entity}&limit={EVENTS}");
    let response = gloo_net::http::Request::get(&url).send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json::<Vec<EventRecord>>().await.map_err(|e| e.to_string())
}

/// The entity's identity, health and usage.
fn details(entity: &Entity) -> impl IntoView + use<> {
    let level = entity.health.level().as_str();
    let reasons = entity.health.reasons.clone();
    let namespace = entity.namespace().to_owned();
    let load = topology::load::load(entity);
    let usage = entity.usage.map(|usage| {
        // Against the real ceiling (a pod's limits, a node's allocatable) when there is one; otherwise against a
        // fixed scale (one core, one GiB), said so, because a bar without a ceiling can't say "near the limit".
        let cpu = meter(
            &format!("CPU {} m", usage.cpu_millis),
            load.cpu.map(|s| (s.used, s.of, format!("{} m", s.of))),
            (usage.cpu_millis, 1000),
        );
        let memory = meter(
            &format!("Memory {}", format_bytes(usage.memory_bytes)),
            load.memory.map(|s| (s.used, s.of, format_bytes(s.of))),
            (usage.memory_bytes, 1024 * 1024 * 1024),
        );
        view! {
            <h3>"Usage"</h3>
            {cpu}
            {memory}
        }
    });
    view! {
        <h2 id="inspector-name">{entity.name().to_owned()}</h2>
        <dl>
            <dt>"Kind"</dt>
            <dd id="inspector-kind">{entity.kind.as_str()}</dd>
            <dt>"Namespace"</dt>
            <dd>{if namespace.is_empty() { String::from("(cluster)") } else { namespace }}</dd>
            <dt>"Health"</dt>
            <dd class=format!("gl-health-{level}")>
                <span class="gl-swatch" aria-hidden="true"></span>
                {level}
            </dd>
        </dl>
        <ul class="gl-reasons">{reasons.into_iter().map(|reason| view! { <li>{reason}</li> }).collect_view()}</ul>
        {usage}
    }
}

/// One usage bar: against `ceiling` (used, of, how the ceiling reads) when known, else `fallback` (used, scale).
/// At [`topology::load::HIGH`] of a real ceiling the meter turns to its warning colour (`high`).
fn meter(label: &str, ceiling: Option<(u64, u64, String)>, fallback: (u64, u64)) -> impl IntoView + use<> {
    let (text, used, of) = match ceiling {
        Some((used, of, shown)) => {
            #[allow(clippy::cast_precision_loss)] // a percentage for display
            let percent = used as f64 * 100.0 / of as f64;
            (format!("{label} of {shown} ({percent:.0}%)"), used, of)
        }
        None => (format!("{label} (no limit)"), fallback.0, fallback.1),
    };
    #[allow(clippy::cast_precision_loss)] // meters take floats
    let (value, max) = (used.min(of) as f64, of as f64);
    view! {
        <label class="gl-usage">
            {text}
            <meter min="0" max=max.to_string() high=(max * topology::load::HIGH).to_string() value=value.to_string()></meter>
        </label>
    }
}

/// Moves focus to the next or previous relation button in the inspector, wrapping around.
#[cfg(feature = "hydrate")]
fn move_focus(forward: bool) {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|window| window.document()) else { return };
    let Ok(buttons) = document.query_selector_all("#inspector .gl-relation") else { return };
    let count = buttons.length();
    if count == 0 {
        return;
    }
    let active = document.active_element();
    let current = (0..count)
        .find(|&i| buttons.item(i).and_then(|node| node.dyn_into::<web_sys::Element>().ok()) == active);
    let next = match current {
        Some(i) if forward => (i + 1) % count,
        Some(i) => (i + count - 1) % count,
        None if forward => 0,
        None => count - 1,
    };
    if let Some(button) = buttons.item(next).and_then(|node| node.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = button.focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_are_grouped_by_type_and_direction() {
        let topology = topology::sample::kgents();
        let pod = topology.entities().find(|e| e.kind == topology::Kind::Pod).unwrap();
        let groups = relation_groups(&topology, &pod.id);
        let labels: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
        assert!(labels.contains(&"runs on"), "{labels:?}");
        assert!(labels.iter().any(|l| l.starts_with('←')), "{labels:?}");
        assert!(groups.iter().all(|g| !g.ids.is_empty()));
    }

    #[test]
    fn cluster_scoped_names_have_no_slash() {
        let node = EntityId::cluster_scoped("c", topology::Kind::Node, "n1");
        assert_eq!(display_name(&node), "node n1");
        assert_eq!(format_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
