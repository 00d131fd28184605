//! Filters and search: which entities the viewer wants to see.
//!
//! The predicate is pure (tested natively); the panel only edits a [`Filters`] signal, and the page turns it
//! into [`View::visible`](crate::View) and the URL. Search terms must all match: a bare word matches the name
//! (case-insensitive substring), `key=value` matches a label exactly, so `app=api gateway` narrows to gateways
//! of the api app.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use leptos::prelude::*;
use topology::{Entity, EntityId, HealthLevel, Kind, Topology};

use crate::view::View;

/// The filter settings; the default admits everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Only this namespace (cluster-scoped entities have the empty namespace).
    pub namespace: Option<String>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this health level.
    pub health: Option<HealthLevel>,
    /// Search terms, see the module docs.
    pub text: String,
}

impl Filters {
    /// Whether no filter is set (then nothing is hidden and `visible` is `None`).
    pub fn is_empty(&self) -> bool {
        self.namespace.is_none()
            && self.kind.is_none()
            && self.health.is_none()
            && self.text.trim().is_empty()
    }

    /// Whether `entity` passes every filter.
    pub fn admits(&self, entity: &Entity) -> bool {
        self.namespace.as_deref().is_none_or(|ns| entity.namespace() == ns)
            && self.kind.is_none_or(|kind| entity.kind == kind)
            && self.health.is_none_or(|level| entity.health.level() == level)
            && self.text.split_whitespace().all(|term| term_matches(term, entity))
    }

    /// The ids admitted, or `None` when no filter is set.
    pub fn visible(&self, topology: &Topology) -> Option<HashSet<EntityId>> {
        if self.is_empty() {
            return None;
        }
        Some(
            topology
                .entities()
                .filter(|entity| self.admits(entity))
                .map(|entity| entity.id.clone())
                .collect(),
        )
    }
}

/// `key=value` against the labels, anything else against the name.
fn term_matches(term: &str, entity: &Entity) -> bool {
    match term.split_once('=') {
        Some((key, value)) => entity.labels.get(key) == Some(value),
        None => entity.name().to_lowercase().contains(&term.to_lowercase()),
    }
}

/// The namespaces present, sorted, for the namespace picker.
pub fn namespaces(topology: &Topology) -> Vec<String> {
    let set: BTreeSet<&str> =
        topology.entities().map(Entity::namespace).filter(|namespace| !namespace.is_empty()).collect();
    set.into_iter().map(str::to_owned).collect()
}

/// The kinds present, sorted, for the kind picker.
pub fn kinds(topology: &Topology) -> Vec<Kind> {
    let set: BTreeSet<Kind> = topology.entities().map(|entity| entity.kind).collect();
    set.into_iter().collect()
}

/// Keeps [`View::visible`] in step with the filters and the topology.
pub fn drive_visible(view: View, filters: RwSignal<Filters>) {
    Effect::new(move |_| {
        let visible = filters.with(|filters| {
            view.topology.with(|topology| topology.as_deref().and_then(|topology| filters.visible(topology)))
        });
        view.visible.set(visible.map(Arc::new));
    });
}

/// The filters panel: namespace, kind and health pickers and a search box.
#[component]
pub fn FiltersPanel(
    /// The settings edited (owned by the page, mirrored to the URL).
    filters: RwSignal<Filters>,
) -> impl IntoView {
    let view = expect_context::<View>();
    let namespace_options =
        move || view.topology.with(|topology| topology.as_deref().map(namespaces).unwrap_or_default());
    let kind_options =
        move || view.topology.with(|topology| topology.as_deref().map(kinds).unwrap_or_default());
    let count = move || {
        view.visible
            .with(|visible| visible.as_ref().map(|set| format!("{} shown", set.len())).unwrap_or_default())
    };
    view! {
        <form class="gl-filters" aria-label="Filters" role="search" on:submit=|event| event.prevent_default()>
            <label>
                "Namespace"
                <select
                    id="filter-ns"
                    prop:value=move || filters.with(|f| f.namespace.clone().unwrap_or_default())
                    on:change=move |event| {
                        let value = event_target_value(&event);
                        filters.update(|f| f.namespace = (!value.is_empty()).then_some(value));
                    }
                >
                    <option value="">"all"</option>
                    {move || {
                        let current = filters.with(|f| f.namespace.clone());
                        let mut names = namespace_options();
                        if let Some(current) = current.clone().filter(|c| !names.contains(c)) {
                            names.push(current);
                        }
                        names
                            .into_iter()
                            .map(|name| {
                                let selected = current.as_deref() == Some(name.as_str());
                                view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <label>
                "Kind"
                <select
                    id="filter-kind"
                    prop:value=move || filters.with(|f| f.kind.as_ref().map(Kind::as_str).unwrap_or_default().to_owned())
                    on:change=move |event| {
                        let value = event_target_value(&event);
                        filters.update(|f| f.kind = value.parse().ok());
                    }
                >
                    <option value="">"all"</option>
                    {move || {
                        let current = filters.with(|f| f.kind);
                        let mut list = kind_options();
                        if let Some(current) = current.filter(|c| !list.contains(c)) {
                            list.push(current);
                        }
                        list.into_iter()
                            .map(|kind| {
                                view! {
                                    <option value=kind.as_str() selected=current == Some(kind)>{kind.as_str()}</option>
                                }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            {health_select(filters)}
            <label>
                "Search"
                <input
                    id="filter-q"
                    type="search"
                    placeholder="name or key=value"
                    prop:value=move || filters.with(|f| f.text.clone())
                    on:input=move |event| {
                        let value = event_target_value(&event);
                        filters.update(|f| f.text = value);
                    }
                />
            </label>
            <button type="button" on:click=move |_| filters.set(Filters::default())>"Clear"</button>
            <span class="gl-filter-count" aria-live="polite">{count}</span>
        </form>
    }
    .into_any()
}

/// The health picker: its options are fixed, so it needs no topology.
fn health_select(filters: RwSignal<Filters>) -> impl IntoView {
    view! {
            <label>
                "Health"
                <select
                    id="filter-health"
                    prop:value=move || filters.with(|f| f.health.map(HealthLevel::as_str).unwrap_or_default().to_owned())
                    on:change=move |event| {
                        let value = event_target_value(&event);
                        filters.update(|f| f.health = crate::url::parse_health(&value));
                    }
                >
                    <option value="">"all"</option>
                    {HealthLevel::ALL
                        .into_iter()
                        .map(|level| {
                            view! {
                                <option value=level.as_str() selected=move || filters.with(|f| f.health == Some(level))>
                                    {level.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Topology {
        topology::sample::kgents()
    }

    #[test]
    fn no_filter_admits_everything_and_hides_nothing() {
        let topology = sample();
        assert!(Filters::default().is_empty());
        assert_eq!(Filters::default().visible(&topology), None);
        assert!(topology.entities().all(|e| Filters::default().admits(e)));
    }

    #[test]
    fn a_bare_word_matches_names_case_insensitively() {
        let topology = sample();
        let pod = topology.entities().find(|e| e.kind == Kind::Pod).unwrap();
        let word = pod.name()[..3].to_uppercase();
        let filters = Filters { text: word, ..Filters::default() };
        let visible = filters.visible(&topology).unwrap();
        assert!(visible.contains(&pod.id));
        assert!(visible.iter().all(|id| id.name().to_lowercase().contains(&pod.name()[..3].to_lowercase())));
    }

    #[test]
    fn key_equals_value_matches_labels_exactly() {
        let topology = sample();
        let labelled = topology.entities().find(|e| e.labels.iter().next().is_some()).unwrap();
        let (key, value) = labelled.labels.iter().next().unwrap();
        let filters = Filters { text: format!("{key}={value}"), ..Filters::default() };
        assert!(filters.admits(labelled));
        let wrong = Filters { text: format!("{key}={value}-not"), ..Filters::default() };
        assert!(!wrong.admits(labelled));
    }

    #[test]
    fn namespace_kind_and_health_combine() {
        let topology = sample();
        let pod = topology.entities().find(|e| e.kind == Kind::Pod).unwrap();
        let filters = Filters {
            namespace: Some(pod.namespace().to_owned()),
            kind: Some(Kind::Pod),
            health: Some(pod.health.level()),
            text: String::new(),
        };
        let visible = filters.visible(&topology).unwrap();
        assert!(visible.contains(&pod.id));
        for id in &visible {
            let entity = topology.get(id).unwrap();
            assert_eq!((entity.kind, entity.namespace()), (Kind::Pod, pod.namespace()));
            assert_eq!(entity.health.level(), pod.health.level());
        }
    }
}
