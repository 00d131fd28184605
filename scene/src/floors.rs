//! The map's frame of reference: a floor under each namespace band on each layer, and the labels that name
//! bands and layers. Without them the picture is a cloud of shapes; with them X reads as "namespace", Y as
//! "abstraction layer", and an entity that came forward (Z) visibly stands off its floor.
//!
//! Floors are thin plates in two shades, alternating band by band, a little lighter than the background: enough
//! to group, too faint to compete with health colours. Labels are DOM text laid over the canvas (see the
//! renderer): crisp at any zoom, selectable by nobody (`aria-hidden`; the table view is the text alternative).

use std::collections::BTreeMap;

use topology::layout::{Layer, Layout};
use topology::{EntityId, Kind};

use crate::instances::Instance;
use crate::palette::{scale, Rgba};

/// The two floor shades (sRGB), alternating band by band.
pub const SHADES: [Rgba; 2] = [[30, 34, 46, 255], [38, 43, 58, 255]];
/// How far below its layer's entities a floor lies.
const DROP: f32 = 0.65;
/// Half the floor's thickness.
const HALF_THICKNESS: f32 = 0.02;

/// A text over the scene: what it says, where (world units), and what it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The text.
    pub text: String,
    /// Anchor in world units.
    pub at: [f32; 3],
    /// A band (namespace) or a layer.
    pub role: LabelRole,
}

/// What a label names (it decides its style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelRole {
    /// A namespace band (or the cluster-scoped one).
    Band,
    /// A layer of the abstraction stack.
    Layer,
}

/// Which band an entity sits in: its namespace, a namespace's own name, or "" for cluster-scoped objects.
fn band_of(id: &EntityId) -> (&str, &str) {
    let band = if id.kind() == Kind::Namespace { id.name() } else { id.namespace() };
    (id.cluster(), band)
}

/// Per (band index, layer): the z-extent of what is drawn there.
fn extents(layout: &Layout) -> BTreeMap<(usize, Layer), (f32, f32)> {
    let index: BTreeMap<(&str, &str), usize> =
        layout.bands().enumerate().map(|(i, b)| ((b.cluster.as_str(), b.namespace.as_str()), i)).collect();
    let mut out: BTreeMap<(usize, Layer), (f32, f32)> = BTreeMap::new();
    for (id, position) in layout.positions() {
        if scale(id.kind()).is_none() {
            continue;
        }
        let Some(&band) = index.get(&band_of(id)) else { continue };
        let z = position[2];
        let entry = out.entry((band, Layer::of(id.kind()))).or_insert((z, z));
        entry.0 = entry.0.min(z);
        entry.1 = entry.1.max(z);
    }
    out
}

/// One plate under every band's entities on every layer that has some.
pub fn floors(layout: &Layout) -> Vec<Instance> {
    let bands: Vec<_> = layout.bands().collect();
    extents(layout)
        .into_iter()
        .map(|((band, layer), (z_min, z_max))| {
            let b = bands[band];
            let margin = layer.cell() * 0.6;
            let (z_min, z_max) = (z_min - margin, z_max + margin);
            Instance {
                position: [f32::midpoint(b.x_min, b.x_max), layer.y() - DROP, f32::midpoint(z_min, z_max)],
                // three-d's unit cube spans -1..1: the scale is the half-size.
                scale: [(b.x_max - b.x_min) / 2.0, HALF_THICKNESS, (z_max - z_min) / 2.0],
                color: SHADES[band % 2],
            }
        })
        .collect()
}

/// What a layer is called on the map.
pub fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Namespace => "namespaces",
        Layer::Ingress => "ingresses",
        Layer::Service => "services",
        Layer::Workload => "workloads",
        Layer::Controller => "replica sets · jobs",
        Layer::Pod => "pods",
        Layer::Config => "volumes · config",
        Layer::Node => "nodes",
        Layer::Cluster => "cluster",
    }
}

/// A label over each band that has something drawn (its namespace, at the front above its top layer) and one
/// at the left of each cluster for each layer in use.
pub fn labels(layout: &Layout) -> Vec<Label> {
    let extents = extents(layout);
    let bands: Vec<_> = layout.bands().collect();
    let mut out = Vec::new();
    let mut top: BTreeMap<usize, (f32, f32)> = BTreeMap::new();
    for (&(band, layer), &(_, z_max)) in &extents {
        let entry = top.entry(band).or_insert((layer.y(), z_max));
        entry.0 = entry.0.max(layer.y());
        entry.1 = entry.1.max(z_max);
    }
    for (band, (y, z)) in top {
        let b = bands[band];
        let text = if b.namespace.is_empty() { "cluster-scoped".to_owned() } else { b.namespace.clone() };
        out.push(Label { text, at: [f32::midpoint(b.x_min, b.x_max), y + 1.1, z], role: LabelRole::Band });
    }
    for region in layout.regions() {
        let mut layers: Vec<Layer> = extents
            .keys()
            .filter(|(band, _)| bands[*band].cluster == region.cluster)
            .map(|(_, layer)| *layer)
            .collect();
        layers.sort();
        layers.dedup();
        for layer in layers {
            out.push(Label {
                text: layer_name(layer).to_owned(),
                at: [region.x_min - 1.0, layer.y(), 0.0],
                role: LabelRole::Layer,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drawn_entity_stands_over_a_floor_of_its_band_and_layer() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let plates = floors(&layout);
        assert!(!plates.is_empty());
        for (id, p) in layout.positions().filter(|(id, _)| scale(id.kind()).is_some()) {
            let under = plates.iter().any(|f| {
                let inside = |axis: usize| (p[axis] - f.position[axis]).abs() <= f.scale[axis] + 1e-4;
                inside(0) && inside(2) && f.position[1] < p[1] && p[1] - f.position[1] < 1.0
            });
            assert!(under, "{id} at {p:?} has no floor");
        }
        let shades: std::collections::HashSet<_> = plates.iter().map(|f| f.color).collect();
        assert_eq!(shades.len(), 2, "bands alternate");
    }

    #[test]
    fn bands_and_layers_in_use_are_named_once() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let labels = labels(&layout);
        let bands: Vec<&str> =
            labels.iter().filter(|l| l.role == LabelRole::Band).map(|l| l.text.as_str()).collect();
        let namespaces: std::collections::BTreeSet<&str> =
            topo.entities().filter(|e| e.kind == Kind::Pod).map(|e| e.id.namespace()).collect();
        for ns in &namespaces {
            assert_eq!(bands.iter().filter(|b| *b == ns).count(), 1, "{ns} named once: {bands:?}");
        }
        assert!(bands.contains(&"cluster-scoped"), "nodes' band");
        let layers: Vec<&str> =
            labels.iter().filter(|l| l.role == LabelRole::Layer).map(|l| l.text.as_str()).collect();
        for expected in ["pods", "nodes", "services", "workloads"] {
            assert_eq!(layers.iter().filter(|l| **l == expected).count(), 1, "{expected}: {layers:?}");
        }
        assert!(!layers.contains(&"namespaces"), "namespaces are bands, not a drawn layer");
    }
}
