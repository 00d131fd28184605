//! Opt-in timings for benchmarks: when the page has `window.__gestaltTiming = []` (the scene benchmark sets it
//! before the page's scripts run), each [`span`] appends `[name, milliseconds]` to it. Otherwise a span costs one
//! property lookup and records nothing, so a wall screen running for weeks accumulates nothing.

use wasm_bindgen::JsValue;

/// Runs `f`, recording how long it took under `name` when timings are on.
pub fn span<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let Some((sink, performance)) = sink() else { return f() };
    let start = performance.now();
    let out = f();
    let entry = js_sys::Array::of2(&JsValue::from_str(name), &JsValue::from_f64(performance.now() - start));
    sink.push(&entry);
    out
}

fn sink() -> Option<(js_sys::Array, web_sys::Performance)> {
    let window = web_sys::window()?;
    let sink = js_sys::Reflect::get(&window, &JsValue::from_str("__gestaltTiming")).ok()?;
    if !js_sys::Array::is_array(&sink) {
        return None;
    }
    Some((sink.into(), window.performance()?))
}
