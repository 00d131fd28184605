//! The table view: the same topology as text, for screen readers, keyboard users and anyone who wants to sort.
//!
//! Pages of [`PAGE`] rows (a 10k-entity cluster never becomes 10k DOM rows); the visible filters apply; the
//! name cell is a button, so a click or Enter selects the entity and opens the inspector.

use leptos::prelude::*;
use topology::{Entity, EntityId, Topology};

use crate::view::View;

/// Rows per page.
pub const PAGE: usize = 50;

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Entity name.
    Name,
    /// Kind.
    Kind,
    /// Namespace.
    Namespace,
    /// Health level (worst first when ascending is flipped).
    Health,
}

impl Column {
    const ALL: [(Column, &'static str); 4] = [
        (Column::Name, "Name"),
        (Column::Kind, "Kind"),
        (Column::Namespace, "Namespace"),
        (Column::Health, "Health"),
    ];
}

/// One table row, owned so the view does not borrow the topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The entity.
    pub id: EntityId,
    /// Its health level name.
    pub health: &'static str,
    /// Its first health reason, if any.
    pub reason: String,
}

/// The rows admitted by `admit`, sorted by `column` (then by id, so the order is stable), one page of them and
/// the total count.
pub fn rows(
    topology: &Topology,
    admit: impl Fn(&EntityId) -> bool,
    column: Column,
    descending: bool,
    page: usize,
) -> (Vec<Row>, usize) {
    let mut entities: Vec<&Entity> = topology.entities().filter(|entity| admit(&entity.id)).collect();
    entities.sort_by(|a, b| {
        let order = match column {
            Column::Name => a.name().cmp(b.name()),
            Column::Kind => a.kind.cmp(&b.kind),
            Column::Namespace => a.namespace().cmp(b.namespace()),
            Column::Health => a.health.level().cmp(&b.health.level()),
        };
        let order = if descending { order.reverse() } else { order };
        order.then_with(|| a.id.cmp(&b.id))
    });
    let total = entities.len();
    let rows = entities
        .into_iter()
        .skip(page * PAGE)
        .take(PAGE)
        .map(|entity| Row {
            id: entity.id.clone(),
            health: entity.health.level().as_str(),
            reason: entity.health.reasons.first().cloned().unwrap_or_default(),
        })
        .collect();
    (rows, total)
}

/// The table panel.
#[component]
pub fn TableView() -> impl IntoView {
    let view = expect_context::<View>();
    let sort = RwSignal::new((Column::Name, false));
    let page = RwSignal::new(0_usize);
    let data = Memo::new(move |_| {
        let (column, descending) = sort.get();
        let page = page.get();
        view.topology.with(|topology| {
            let Some(topology) = topology.as_deref() else { return (Vec::new(), 0) };
            view.visible.with(|visible| {
                rows(
                    topology,
                    |id| visible.as_ref().is_none_or(|set| set.contains(id)),
                    column,
                    descending,
                    page,
                )
            })
        })
    });
    let pages = move || data.with(|(_, total)| total.div_ceil(PAGE).max(1));
    // Filters can shrink the table below the current page.
    Effect::new(move |_| {
        if page.get() >= pages() {
            page.set(pages() - 1);
        }
    });
    let header = Column::ALL
        .into_iter()
        .map(|(column, label)| {
            let aria_sort = move || match sort.get() {
                (current, false) if current == column => "ascending",
                (current, true) if current == column => "descending",
                _ => "none",
            };
            view! {
                <th scope="col" aria-sort=aria_sort>
                    <button
                        type="button"
                        on:click=move |_| {
                            sort.update(|(current, descending)| {
                                *descending = *current == column && !*descending;
                                *current = column;
                            });
                        }
                    >
                        {label}
                    </button>
                </th>
            }
        })
        .collect_view();
    view! {
        <section class="gl-table" id="table-view" aria-label="Table view">
            <table>
                <caption>
                    {move || data.with(|(_, total)| format!("{total} entities, page {} of {}", page.get() + 1, pages()))}
                </caption>
                <thead>
                    <tr>{header}<th scope="col">"Reason"</th></tr>
                </thead>
                <tbody>
                    {move || {
                        data.get()
                            .0
                            .into_iter()
                            .map(|row| row_view(view, row))
                            .collect_view()
                    }}
                </tbody>
            </table>
            <nav class="gl-pager" aria-label="Table pages">
                <button type="button" disabled=move || page.get() == 0 on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>
                    "Previous"
                </button>
                <button type="button" disabled=move || page.get() + 1 >= pages() on:click=move |_| page.update(|p| *p += 1)>
                    "Next"
                </button>
            </nav>
        </section>
    }
    .into_any()
}

/// One row; the name cell's button selects the entity.
fn row_view(view: View, row: Row) -> impl IntoView {
    let id = row.id.clone();
    let selected = {
        let id = row.id.clone();
        move || view.selected.with(|s| s.as_ref() == Some(&id))
    };
    view! {
        <tr aria-selected=move || selected().to_string() data-id=row.id.to_string()>
            <th scope="row">
                <button
                    type="button"
                    class="gl-row-select"
                    on:click=move |_| view.selected.set(Some(id.clone()))
                >
                    {row.id.name().to_owned()}
                </button>
            </th>
            <td>{row.id.kind().as_str()}</td>
            <td>{row.id.namespace().to_owned()}</td>
            <td class=format!("gl-health-{}", row.health)>{row.health}</td>
            <td>{row.reason}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_paginated_and_filtered() {
        let topology = topology::sample::kgents();
        let (all, total) = rows(&topology, |_| true, Column::Name, false, 0);
        assert_eq!(total, topology.len());
        assert_eq!(all.len(), PAGE.min(total));
        assert!(all.windows(2).all(|w| w[0].id.name() <= w[1].id.name()));
        let (pods, pod_total) =
            rows(&topology, |id| id.kind() == topology::Kind::Pod, Column::Health, true, 0);
        assert_eq!(pod_total, 22);
        assert!(pods.iter().all(|row| row.id.kind() == topology::Kind::Pod));
        let (beyond, _) = rows(&topology, |_| true, Column::Name, false, 1000);
        assert!(beyond.is_empty());
    }
}
