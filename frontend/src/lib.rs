//! The wasm entry point: hydrates the page the server rendered.

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the hydration script cargo-leptos generates.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
