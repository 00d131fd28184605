//! The hover tooltip: the name and status of the entity under the pointer, next to the pointer.
//!
//! It is a glance, not a panel: no focus, no buttons (`role="tooltip"`, ignored by the pointer so it never steals
//! the hover it describes). Keyboard and screen-reader users get the same facts from the inspector and the
//! table view.

use leptos::prelude::*;

use crate::inspector::display_name;
use crate::view::View;

/// How far from the pointer the tooltip sits, in CSS pixels.
const OFFSET: f32 = 14.0;

/// The tooltip for [`View::hovered`], placed at [`View::hover_at`].
#[component]
pub fn Tooltip() -> impl IntoView {
    let view = expect_context::<View>();
    let text = Memo::new(move |_| {
        let id = view.hovered.get()?;
        view.topology.with(|t| {
            let entity = t.as_deref()?.get(&id)?;
            let level = entity.health.level().as_str();
            let status = match entity.health.reasons.first() {
                Some(reason) => format!("{level}: {reason}"),
                None => level.to_owned(),
            };
            Some((display_name(&id), status, level))
        })
    });
    // A CSSOM property, not a `style` attribute: the page's CSP (`style-src 'self'`) forbids inline styles.
    let transform = move || {
        let [x, y] = view.hover_at.get();
        format!("translate({:.0}px, {:.0}px)", x + OFFSET, y + OFFSET)
    };
    view! {
        <Show when=move || text.with(Option::is_some)>
            <div class="gl-tooltip" id="tooltip" role="tooltip" style:transform=transform>
                {move || {
                    text.get()
                        .map(|(name, status, level)| {
                            view! {
                                <strong>{name}</strong>
                                <span class=format!("gl-health-{level}")>
                                    <span class="gl-swatch" aria-hidden="true"></span>
                                    {status}
                                </span>
                            }
                        })
                }}
            </div>
        </Show>
    }
    .into_any()
}
