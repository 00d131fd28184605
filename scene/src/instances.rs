//! Per-kind instance data for the instanced meshes, computed from a topology and its layout.

use std::collections::BTreeMap;

use topology::layout::Layout;
use topology::{Kind, Topology};

use crate::palette::{health_color, scale, Rgba};

/// One drawn entity: where, how big and what colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Instance {
    /// Centre in world units.
    pub position: [f32; 3],
    /// Size along each axis.
    pub scale: [f32; 3],
    /// sRGB colour and opacity.
    pub color: Rgba,
}

/// Instances grouped by kind, in a stable order (kinds by their order, entities by id).
pub type Instances = BTreeMap<Kind, Vec<Instance>>;

/// Builds the instance lists of every drawn kind. Kinds drawn with zero size (cluster, namespace)
/// are left out: they show as bands, not objects.
pub fn build(topology: &Topology, layout: &Layout) -> Instances {
    let mut out = Instances::new();
    for entity in topology.entities() {
        let Some(size) = scale(entity.kind) else { continue };
        let Some(position) = layout.position(&entity.id) else { continue };
        out.entry(entity.kind).or_default().push(Instance {
            position,
            scale: size,
            color: health_color(entity.health.level()),
        });
    }
    out
}

/// The axis-aligned box around everything drawn (instance centres), `None` when nothing is drawn.
pub fn bounds(instances: &Instances) -> Option<([f32; 3], [f32; 3])> {
    let mut min = [f32::INFINITY; 3];
    let mut max = [f32::NEG_INFINITY; 3];
    for inst in instances.values().flatten() {
        for axis in 0..3 {
            min[axis] = min[axis].min(inst.position[axis]);
            max[axis] = max[axis].max(inst.position[axis]);
        }
    }
    min[0].is_finite().then_some((min, max))
}

/// Where to put the camera so the box `min..max` fills the view: looking at its centre from the front
/// (+Z, where unhealthy entities come forward) and a little above, far enough that both its width (at
/// `aspect` = width / height) and its height fit in the vertical field of view `fov_y` (radians), with a
/// margin. Returns `(eye, target)`.
pub fn frame(min: [f32; 3], max: [f32; 3], aspect: f32, fov_y: f32) -> ([f32; 3], [f32; 3]) {
    const MARGIN: f32 = 1.15;
    const ELEVATION: f32 = 0.18; // radians above the horizon: layers stay readable, depth still shows
    let target =
        [f32::midpoint(min[0], max[0]), f32::midpoint(min[1], max[1]), f32::midpoint(min[2], max[2])];
    let half_w = ((max[0] - min[0]) / 2.0).max(1.0);
    let half_h = ((max[1] - min[1]) / 2.0).max(1.0);
    let half_d = (max[2] - min[2]) / 2.0;
    let tan = (fov_y / 2.0).tan();
    let distance = (half_w / (tan * aspect.max(0.1))).max(half_h / tan) * MARGIN + half_d;
    let eye =
        [target[0], target[1] + distance * ELEVATION.sin(), target[2] + half_d + distance * ELEVATION.cos()];
    (eye, target)
}

#[cfg(test)]
// The expected values are exact binary fractions (midpoints of small integers).
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_cluster_draws_every_pod_service_and_node_once() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let instances = build(&topo, &layout);
        assert_eq!(instances.get(&Kind::Pod).map(Vec::len), Some(22));
        assert_eq!(instances.get(&Kind::Service).map(Vec::len), Some(21));
        assert_eq!(instances.get(&Kind::Deployment).map(Vec::len), Some(7));
        assert!(instances.get(&Kind::Node).is_some_and(|n| !n.is_empty()));
        assert!(!instances.contains_key(&Kind::Namespace), "namespaces are bands, not objects");
    }

    #[test]
    fn the_sample_cluster_shows_more_than_one_health_colour() {
        let topo = topology::sample::kgents();
        let instances = build(&topo, &Layout::compute(&topo));
        let mut colours: Vec<Rgba> = instances.values().flatten().map(|i| i.color).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() >= 3, "healthy, degraded and unhealthy should all show: {colours:?}");
    }

    #[test]
    fn nothing_drawn_has_no_bounds() {
        assert_eq!(bounds(&Instances::new()), None);
    }

    #[test]
    fn bounds_cover_every_instance() {
        let inst = |x: f32, y: f32| Instance { position: [x, y, 0.0], scale: [1.0; 3], color: [0; 4] };
        let mut instances = Instances::new();
        instances.insert(Kind::Pod, vec![inst(-2.0, 0.0), inst(2.0, 4.0)]);
        assert_eq!(bounds(&instances), Some(([-2.0, 0.0, 0.0], [2.0, 4.0, 0.0])));
    }

    #[test]
    fn a_wide_scene_is_framed_by_its_width_and_a_tall_one_by_its_height() {
        let fov = std::f32::consts::FRAC_PI_4;
        let tan = (fov / 2.0).tan();
        // 40 wide, 4 high, on a 16:10 screen: the width decides.
        let (eye, target) = frame([-20.0, 0.0, 0.0], [20.0, 4.0, 0.0], 1.6, fov);
        assert_eq!(target, [0.0, 2.0, 0.0]);
        let distance = ((eye[1] - target[1]).powi(2) + (eye[2] - target[2]).powi(2)).sqrt();
        assert!((distance - 20.0 / (tan * 1.6) * 1.15).abs() < 1e-3, "{distance}");
        // 4 wide, 40 high: the height decides.
        let (eye, target) = frame([-2.0, 0.0, 0.0], [2.0, 40.0, 0.0], 1.6, fov);
        let distance = ((eye[1] - target[1]).powi(2) + (eye[2] - target[2]).powi(2)).sqrt();
        assert!((distance - 20.0 / tan * 1.15).abs() < 1e-3, "{distance}");
    }
}
