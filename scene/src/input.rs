//! Mouse, touch and keyboard on the canvas (wasm only), all through the orbit camera ([`crate::camera`]).
//!
//! - drag: orbit; right-drag or shift-drag: pan; wheel: zoom;
//! - one finger: orbit; two fingers: pinch to zoom, move together to pan;
//! - click or tap: select what is under it (the background clears the selection); pointer move: hover;
//! - keys on the focused canvas: arrows orbit, shift+arrows pan, `+`/`-` zoom, `r` or Home back to the overview,
//!   `f` fly to the selection, Escape clear the selection.
//!
//! Pointer events cover mouse, pen and touch alike, so there is one code path; `touch-action: none` on the canvas
//! (in the stylesheet) keeps the browser from scrolling the page instead.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{AddEventListenerOptions, Event, HtmlCanvasElement, KeyboardEvent, PointerEvent, WheelEvent};

use crate::renderer::Renderer;

/// Radians of orbit per CSS pixel dragged.
const ORBIT_PER_PX: f32 = 0.006;
/// A press that moves less than this (CSS pixels) is a click, not a drag.
const CLICK_SLOP: f32 = 5.0;

#[derive(Default)]
struct Gesture {
    /// Pointers down: (id, x, y).
    pointers: Vec<(i32, f32, f32)>,
    /// Pan instead of orbit (right button or shift).
    pan: bool,
    /// Distance moved since the press.
    travelled: f32,
}

impl Gesture {
    fn centre_and_spread(&self) -> Option<((f32, f32), f32)> {
        let [(_, ax, ay), (_, bx, by)] = self.pointers.get(..2)? else { return None };
        Some((((ax + bx) / 2.0, (ay + by) / 2.0), ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt()))
    }
}

/// An event name and its listener.
type Handler = (&'static str, Closure<dyn FnMut(Event)>);
type Shared = Rc<RefCell<Renderer>>;

/// The listeners on one canvas; [`Listeners::remove`] takes them off.
pub struct Listeners {
    canvas: HtmlCanvasElement,
    handlers: Vec<Handler>,
}

impl Listeners {
    /// Removes every listener (the scene is going away).
    pub fn remove(self) {
        for (name, handler) in &self.handlers {
            let _ = self.canvas.remove_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
        }
    }
}

/// Listens for input on `canvas` and steers `renderer`.
pub(crate) fn listen(canvas: &HtmlCanvasElement, renderer: &Shared) -> Listeners {
    let gesture = Rc::new(RefCell::new(Gesture::default()));
    let mut handlers: Vec<Handler> = Vec::new();
    let mut on = |name: &'static str, handler: Box<dyn FnMut(Event)>| {
        let closure = Closure::wrap(handler);
        let options = AddEventListenerOptions::new();
        // Wheel and touch moves must be able to preventDefault (no page scroll while zooming the map).
        options.set_passive(false);
        let _ = canvas.add_event_listener_with_callback_and_add_event_listener_options(
            name,
            closure.as_ref().unchecked_ref(),
            &options,
        );
        handlers.push((name, closure));
    };

    {
        let (gesture, canvas) = (gesture.clone(), canvas.clone());
        on(
            "pointerdown",
            Box::new(move |event: Event| {
                let Some(event) = event.dyn_ref::<PointerEvent>() else { return };
                let _ = canvas.set_pointer_capture(event.pointer_id());
                let mut g = gesture.borrow_mut();
                if g.pointers.is_empty() {
                    g.travelled = 0.0;
                    g.pan = event.button() == 2 || event.shift_key();
                }
                g.pointers.push((event.pointer_id(), event.offset_x() as f32, event.offset_y() as f32));
            }),
        );
    }
    on("pointermove", pointer_move(gesture.clone(), renderer.clone(), canvas.clone()));
    for name in ["pointerup", "pointercancel"] {
        let (gesture, renderer) = (gesture.clone(), renderer.clone());
        on(
            name,
            Box::new(move |event: Event| {
                let Some(event) = event.dyn_ref::<PointerEvent>() else { return };
                let mut g = gesture.borrow_mut();
                let was_single = g.pointers.len() == 1;
                g.pointers.retain(|(id, _, _)| *id != event.pointer_id());
                if !g.pointers.is_empty() {
                    return;
                }
                let mut r = renderer.borrow_mut();
                if g.travelled <= CLICK_SLOP
                    && was_single
                    && event.type_() == "pointerup"
                    && event.button() == 0
                {
                    let hit = r.pick(event.offset_x() as f32, event.offset_y() as f32);
                    r.select(hit);
                } else if g.travelled > CLICK_SLOP {
                    r.settled();
                }
            }),
        );
    }
    {
        let renderer = renderer.clone();
        on(
            "wheel",
            Box::new(move |event: Event| {
                let Some(wheel) = event.dyn_ref::<WheelEvent>() else { return };
                event.prevent_default();
                // Lines or pages (Firefox) count as about 40 pixels each.
                let pixels = if wheel.delta_mode() == 0 { wheel.delta_y() } else { wheel.delta_y() * 40.0 };
                let factor = (pixels as f32 * 0.0015).clamp(-0.5, 0.5).exp();
                let mut r = renderer.borrow_mut();
                let orbit = r.orbit().zoomed(factor);
                r.steer(orbit);
                r.settled();
            }),
        );
    }
    {
        let renderer = renderer.clone();
        on("pointerleave", Box::new(move |_: Event| renderer.borrow_mut().leave()));
    }
    on("contextmenu", Box::new(|event: Event| event.prevent_default()));
    on("keydown", keys(renderer.clone()));
    Listeners { canvas: canvas.clone(), handlers }
}

/// Drags orbit or pan, two pointers pinch and pan; without a button, hover.
fn pointer_move(
    gesture: Rc<RefCell<Gesture>>,
    renderer: Shared,
    canvas: HtmlCanvasElement,
) -> Box<dyn FnMut(Event)> {
    Box::new(move |event: Event| {
        let Some(event) = event.dyn_ref::<PointerEvent>() else { return };
        let (x, y) = (event.offset_x() as f32, event.offset_y() as f32);
        let mut g = gesture.borrow_mut();
        let Some(index) = g.pointers.iter().position(|(id, _, _)| *id == event.pointer_id()) else {
            // Not pressed: hover. Picking is linear in the entities, so it waits for the next frame and is done
            // once per frame for the last position (a throttle by time would drop the position the pointer
            // stopped at).
            drop(g);
            renderer.borrow_mut().hover_later([x, y]);
            return;
        };
        let before = g.centre_and_spread();
        let (_, px, py) = g.pointers[index];
        g.pointers[index] = (event.pointer_id(), x, y);
        let (dx, dy) = (x - px, y - py);
        g.travelled += dx.abs() + dy.abs();
        let height = canvas.client_height().max(1) as f32;
        let mut r = renderer.borrow_mut();
        let orbit = r.orbit();
        let moved = match (before, g.centre_and_spread()) {
            (Some(((cx0, cy0), s0)), Some(((cx1, cy1), s1))) if s0 > 0.0 && s1 > 0.0 => {
                let pan = orbit.panned(-(cx1 - cx0) / height, (cy1 - cy0) / height);
                pan.zoomed(s0 / s1)
            }
            _ if g.pan => orbit.panned(-dx / height, dy / height),
            _ => orbit.rotated(-dx * ORBIT_PER_PX, dy * ORBIT_PER_PX),
        };
        if g.travelled > CLICK_SLOP {
            r.steer(moved);
        }
    })
}

/// The keyboard on the focused canvas.
fn keys(renderer: Shared) -> Box<dyn FnMut(Event)> {
    Box::new(move |event: Event| {
        let Some(key) = event.dyn_ref::<KeyboardEvent>() else { return };
        if key.ctrl_key() || key.meta_key() || key.alt_key() {
            return;
        }
        let mut r = renderer.borrow_mut();
        let orbit = r.orbit();
        let step = 0.08;
        let moved = match (key.key().as_str(), key.shift_key()) {
            ("ArrowLeft", false) => Some(orbit.rotated(step, 0.0)),
            ("ArrowRight", false) => Some(orbit.rotated(-step, 0.0)),
            ("ArrowUp", false) => Some(orbit.rotated(0.0, step)),
            ("ArrowDown", false) => Some(orbit.rotated(0.0, -step)),
            ("ArrowLeft", true) => Some(orbit.panned(-0.05, 0.0)),
            ("ArrowRight", true) => Some(orbit.panned(0.05, 0.0)),
            ("ArrowUp", true) => Some(orbit.panned(0.0, 0.05)),
            ("ArrowDown", true) => Some(orbit.panned(0.0, -0.05)),
            ("+" | "=", _) => Some(orbit.zoomed(0.85)),
            ("-" | "_", _) => Some(orbit.zoomed(1.0 / 0.85)),
            ("r" | "R" | "Home", _) => {
                r.reset_view();
                event.prevent_default();
                return;
            }
            ("f" | "F", _) => {
                if let Some(id) = r.selected() {
                    r.fly_to(&id);
                }
                event.prevent_default();
                return;
            }
            ("Escape", _) => {
                r.select(None);
                return;
            }
            _ => None,
        };
        if let Some(moved) = moved {
            event.prevent_default();
            r.steer(moved);
            r.settled();
        }
    })
}
