//! The labels over the canvas: DOM text moved to where its anchor projects (like three.js's `CSS2DRenderer`), so it
//! stays crisp at any zoom and costs no texture. The page renders an empty `#scene-labels` layer over the canvas;
//! the scene owns its children. Elements are reused from one topology to the next, and positions are written
//! only when the camera or the labels changed. Band labels that would overlap a neighbour are hidden (zoomed
//! out, 60 namespaces cannot all be named legibly; zooming in brings them back).

use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlElement};

use crate::floors::{Label, LabelRole};

/// One label on the page.
struct Item {
    element: HtmlElement,
    label: Label,
    /// Its size in CSS pixels, read once when its text was set.
    size: [f32; 2],
}

/// The labels layer.
pub(crate) struct LabelLayer {
    document: Document,
    root: HtmlElement,
    items: Vec<Item>,
}

impl LabelLayer {
    /// The page's `#scene-labels` element, if it has one.
    pub(crate) fn find() -> Option<Self> {
        let document = web_sys::window()?.document()?;
        let root = document.get_element_by_id("scene-labels")?.dyn_into::<HtmlElement>().ok()?;
        Some(Self { document, root, items: Vec::new() })
    }

    /// Shows these labels (positions follow at the next [`LabelLayer::place`]).
    pub(crate) fn set(&mut self, labels: Vec<Label>) {
        while self.items.len() > labels.len() {
            if let Some(item) = self.items.pop() {
                item.element.remove();
            }
        }
        for (i, label) in labels.into_iter().enumerate() {
            if let Some(item) = self.items.get(i) {
                if item.label == label {
                    continue;
                }
            }
            let element = if let Some(item) = self.items.get(i) {
                item.element.clone()
            } else {
                let Some(element) =
                    self.document.create_element("span").ok().and_then(|e| e.dyn_into::<HtmlElement>().ok())
                else {
                    return;
                };
                let _ = self.root.append_child(&element);
                element
            };
            let class = match label.role {
                LabelRole::Band => "gl-label gl-label-band",
                LabelRole::Layer => "gl-label gl-label-layer",
            };
            element.set_class_name(class);
            element.set_text_content(Some(&label.text));
            let _ = element.style().set_property("visibility", "hidden");
            #[allow(clippy::cast_precision_loss)] // pixels
            let size = [element.offset_width() as f32, element.offset_height() as f32];
            let item = Item { element, label, size };
            if i < self.items.len() {
                self.items[i] = item;
            } else {
                self.items.push(item);
            }
        }
    }

    /// Moves each label to where `project` puts its anchor (CSS pixels), hiding those behind the camera, band
    /// labels that would overlap the one to their left and layer labels that would overlap the one above.
    pub(crate) fn place(&self, project: impl Fn([f32; 3]) -> Option<[f32; 2]>) {
        let mut bands: Vec<(f32, &Item)> = Vec::new();
        let mut layers: Vec<(f32, &Item)> = Vec::new();
        for item in &self.items {
            let style = item.element.style();
            let Some([x, y]) = project(item.label.at) else {
                let _ = style.set_property("visibility", "hidden");
                continue;
            };
            let transform = match item.label.role {
                LabelRole::Band => {
                    bands.push((x - item.size[0] / 2.0, item));
                    format!("translate({x:.1}px, {y:.1}px) translate(-50%, -100%)")
                }
                LabelRole::Layer => {
                    layers.push((y - item.size[1] / 2.0, item));
                    format!("translate({x:.1}px, {y:.1}px) translate(-100%, -50%)")
                }
            };
            let _ = style.set_property("transform", &transform);
        }
        show_apart(bands, 0, 6.0);
        show_apart(layers, 1, 0.0);
    }
}

/// Shows labels in order of their leading edge (`start`, along axis 0 = x or 1 = y) while each starts at least
/// `gap` pixels after the last shown one ends; hides the rest.
fn show_apart(mut labels: Vec<(f32, &Item)>, axis: usize, gap: f32) {
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut end = f32::NEG_INFINITY;
    for (start, item) in labels {
        let fits = start >= end + gap;
        let _ = item.element.style().set_property("visibility", if fits { "visible" } else { "hidden" });
        if fits {
            end = start + item.size[axis];
        }
    }
}

impl Drop for LabelLayer {
    fn drop(&mut self) {
        for item in &self.items {
            item.element.remove();
        }
    }
}
