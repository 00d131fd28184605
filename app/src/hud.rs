//! The HUD: the cluster's grade at a glance, counts by kind and health, and the unhealthy entities as buttons.
//!
//! The attention list is how a keyboard user reaches trouble: Tab walks the unhealthy entities, Enter selects
//! one (the inspector opens, the scene highlights it). It is capped at [`ATTENTION`] entries, worst first.

use std::collections::BTreeMap;

use leptos::prelude::*;
use topology::{EntityId, HealthLevel, Kind, Topology};

use crate::inspector::display_name;
use crate::view::View;

/// Entries in the attention list.
pub const ATTENTION: usize = 8;

/// Counts for the HUD.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Entities per kind, in kind order.
    pub kinds: Vec<(Kind, usize)>,
    /// Entities per health level, in level order.
    pub health: Vec<(HealthLevel, usize)>,
    /// Unhealthy entities first, then degraded, by id; at most [`ATTENTION`].
    pub attention: Vec<EntityId>,
}

/// Counts a topology.
pub fn counts(topology: &Topology) -> Counts {
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut health: BTreeMap<HealthLevel, usize> = BTreeMap::new();
    for entity in topology.entities() {
        *kinds.entry(entity.kind).or_default() += 1;
        *health.entry(entity.health.level()).or_default() += 1;
    }
    Counts {
        kinds: kinds.into_iter().collect(),
        health: health.into_iter().collect(),
        attention: attention(topology).into_iter().take(ATTENTION).cloned().collect(),
    }
}

/// Every unhealthy entity, then every degraded one, each by id: the order of the attention list and of the
/// keyboard's walk through trouble (`]` and `[` on the map).
pub fn attention(topology: &Topology) -> Vec<&EntityId> {
    let mut out: Vec<(HealthLevel, &EntityId)> = topology
        .entities()
        .map(|e| (e.health.level(), &e.id))
        .filter(|(level, _)| matches!(level, HealthLevel::Unhealthy | HealthLevel::Degraded))
        .collect();
    // Unhealthy sorts after degraded in HealthLevel's order; the worst goes first.
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    out.into_iter().map(|(_, id)| id).collect()
}

/// The entity after (or before) `current` in [`attention`] order, wrapping around; the first (or last) when
/// `current` is not in it. `None` when nothing needs attention.
pub fn step(topology: &Topology, current: Option<&EntityId>, forward: bool) -> Option<EntityId> {
    let all = attention(topology);
    let n = all.len();
    if n == 0 {
        return None;
    }
    let at = current.and_then(|c| all.iter().position(|id| *id == c));
    let next = match (at, forward) {
        (Some(i), true) => (i + 1) % n,
        (Some(i), false) => (i + n - 1) % n,
        (None, true) => 0,
        (None, false) => n - 1,
    };
    Some(all[next].clone())
}

/// The HUD panel.
#[component]
pub fn Hud() -> impl IntoView {
    let view = expect_context::<View>();
    let data = Memo::new(move |_| view.topology.with(|t| t.as_deref().map(counts).unwrap_or_default()));
    let grade = Memo::new(move |_| {
        view.topology.with(|t| {
            t.as_deref()
                .and_then(Topology::score)
                .map_or_else(|| String::from("–"), |score| format!("{} {:.1}%", score.grade, score.percent))
        })
    });
    view! {
        <section class="gl-hud" aria-label="Cluster summary" data-scene-inset="left">
            <p class="gl-grade" id="hud-grade">{move || grade.get()}</p>
            <ul class="gl-hud-health">
                {move || {
                    data.get()
                        .health
                        .into_iter()
                        .map(|(level, n)| {
                            view! {
                                <li class=format!("gl-health-{}", level.as_str())>
                                    <span class="gl-swatch" aria-hidden="true"></span>
                                    {format!("{n} {}", level.as_str())}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <ul class="gl-hud-kinds">
                {move || {
                    data.get().kinds.into_iter().map(|(kind, n)| view! { <li>{format!("{n} {kind}")}</li> }).collect_view()
                }}
            </ul>
            <nav class="gl-attention" aria-label="Needs attention">
                <ul>
                    {move || {
                        data.get()
                            .attention
                            .into_iter()
                            .map(|id| {
                                let label = display_name(&id);
                                view! {
                                    <li>
                                        <button type="button" on:click=move |_| view.selected.set(Some(id.clone()))>
                                            {label}
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
            </nav>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cover_every_entity_and_put_the_worst_first() {
        let topology = topology::sample::kgents();
        let counts = counts(&topology);
        assert_eq!(counts.kinds.iter().map(|(_, n)| n).sum::<usize>(), topology.len());
        assert_eq!(counts.health.iter().map(|(_, n)| n).sum::<usize>(), topology.len());
        assert!(counts.attention.len() <= ATTENTION);
        let levels: Vec<HealthLevel> =
            counts.attention.iter().map(|id| topology.get(id).unwrap().health.level()).collect();
        assert!(levels.windows(2).all(|w| w[0] >= w[1]), "{levels:?}");
    }

    #[test]
    fn the_keyboard_walks_every_entity_needing_attention_and_wraps() {
        let topology = topology::sample::kgents();
        let all: Vec<EntityId> = attention(&topology).into_iter().cloned().collect();
        assert!(all.len() > ATTENTION.min(3), "the sample has trouble to walk");
        let mut at = None;
        let mut seen = Vec::new();
        for _ in 0..all.len() {
            at = step(&topology, at.as_ref(), true);
            seen.push(at.clone().unwrap());
        }
        assert_eq!(seen, all, "forward visits each once, in attention order");
        assert_eq!(step(&topology, at.as_ref(), true).as_ref(), Some(&all[0]), "and wraps");
        assert_eq!(step(&topology, Some(&all[0]), false).as_ref(), all.last(), "backwards wraps too");
        assert_eq!(step(&topology::Topology::new(), None, true), None);
    }
}
