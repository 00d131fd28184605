//! Per-kind instance data for the instanced meshes, computed from a topology and its layout.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use topology::finding::Severity;
use topology::interp::{Target, Visual};
use topology::layout::Layout;
use topology::{Entity, EntityId, HealthLevel, Kind, Topology};

use crate::palette::{health_color, scale, Rgba, INFO};

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

/// Where each drawn entity should end up, for the animator: its layout position, its health colour (sRGB in
/// `0..=1`) and whether it pulses (unhealthy, or CPU or memory near its ceiling: see [`topology::load`]). Kinds
/// drawn as bands are left out, as in [`build`].
pub fn targets(topology: &Topology, layout: &Layout) -> Vec<(EntityId, Target)> {
    topology.entities().filter_map(|entity| Some((entity.id.clone(), target(entity, layout)?))).collect()
}

/// One entity's entry of [`targets`]; `None` when it is not drawn as an object or not laid out.
pub fn target(entity: &Entity, layout: &Layout) -> Option<Target> {
    scale(entity.kind)?;
    let position = layout.position(&entity.id)?;
    let [r, g, b, _] = health_color(entity.health.level());
    let color = [f32::from(r) / 255.0, f32::from(g) / 255.0, f32::from(b) / 255.0];
    let pulse = entity.health.level() == HealthLevel::Unhealthy || topology::load::load(entity).high();
    Some(Target { position, color, pulse })
}

/// What stands out: the selected entity (drawn larger), a highlighted set such as the selection's chain (the rest
/// dimmed), and the filters (what they leave out stays as a faint ghost, so the map keeps its shape and a filtered
/// view still shows where things are).
#[derive(Debug, Clone, Default)]
pub struct Emphasis {
    /// The selected entity.
    pub selected: Option<EntityId>,
    /// Entities lit up; when not empty, everything else is dimmed.
    pub highlight: HashSet<EntityId>,
    /// Entities the filters admit; `None` admits all.
    pub visible: Option<Arc<HashSet<EntityId>>>,
    /// Subjects of open findings, with the highest severity open on each: they carry a badge that says how bad.
    pub flagged: Arc<HashMap<EntityId, Severity>>,
}

impl Emphasis {
    /// Whether the filters admit `id` (what they leave out cannot be picked either).
    pub fn admits(&self, id: &EntityId) -> bool {
        self.visible.as_ref().is_none_or(|visible| visible.contains(id))
    }

    /// `(opacity factor, size factor)` for `id`.
    pub fn of(&self, id: &EntityId) -> (f32, f32) {
        if !self.admits(id) {
            (0.07, 0.8)
        } else if self.selected.as_ref() == Some(id) {
            (1.0, 1.4)
        } else if !self.highlight.is_empty() && !self.highlight.contains(id) {
            (0.28, 1.0)
        } else {
            (1.0, 1.0)
        }
    }
}

/// The badges: a small marker pointing down at each unhealthy entity and each subject of an open finding, so status
/// reads without colour (a greyscale screenshot still shows what is wrong) and without motion (reduced motion stops
/// the pulse, not the badge). Its look says how bad (see [`badge_look`]). Each marker's `position` is just above its
/// entity; it fades and dims with it.
pub fn badges<'a>(
    visuals: impl IntoIterator<Item = (&'a EntityId, Visual)>,
    unhealthy: impl Fn(&EntityId) -> bool,
    emphasis: &Emphasis,
    background: [f32; 3],
) -> Vec<Instance> {
    const SIZE: f32 = 0.22;
    let mut out = Vec::new();
    for (id, visual) in visuals {
        let Some((colour, grow)) = badge_look(unhealthy(id), emphasis.flagged.get(id).copied()) else {
            continue;
        };
        let Some(size) = scale(id.kind()) else { continue };
        let (fade, _) = emphasis.of(id);
        let opacity = visual.opacity.clamp(0.0, 1.0) * fade;
        let channel = |i: usize| {
            let value = background[i] + (f32::from(colour[i]) / 255.0 - background[i]) * opacity;
            (value.clamp(0.0, 1.0) * 255.0).round() as u8
        };
        let badge = SIZE * grow;
        let mut position = visual.position;
        position[1] += size[1] * visual.scale + badge * 2.2;
        out.push(Instance { position, scale: [badge; 3], color: [channel(0), channel(1), channel(2), 255] });
    }
    out
}

/// A badge's colour and size factor: the worse of the entity's own health (unhealthy counts as high) and the
/// highest severity of its open findings; `None` when it is healthy enough and has none. Size tells the tiers
/// apart without colour: critical the largest, info the smallest.
pub fn badge_look(unhealthy: bool, finding: Option<Severity>) -> Option<(Rgba, f32)> {
    let own = unhealthy.then_some(Severity::High);
    let worst = own.max(finding)?;
    Some(match worst {
        Severity::Critical => (health_color(HealthLevel::Unhealthy), 1.35),
        Severity::High => (health_color(HealthLevel::Unhealthy), 1.0),
        Severity::Warning => (health_color(HealthLevel::Degraded), 1.0),
        Severity::Info => (INFO, 0.75),
    })
}

/// Instances from the animator's visuals at one instant. The materials are opaque (transparent instancing
/// would need sorting every frame), so opacity fades the colour into `background`, which on the scene's plain
/// background looks the same; the pulse scales the shape.
pub fn animated<'a>(
    visuals: impl IntoIterator<Item = (&'a EntityId, Visual)>,
    background: [f32; 3],
    emphasis: &Emphasis,
) -> Instances {
    let mut out = Instances::new();
    for (id, visual) in visuals {
        let Some(size) = scale(id.kind()) else { continue };
        let (fade, enlarge) = emphasis.of(id);
        let opacity = visual.opacity.clamp(0.0, 1.0) * fade;
        let channel = |i: usize| {
            let value = background[i] + (visual.color[i] - background[i]) * opacity;
            (value.clamp(0.0, 1.0) * 255.0).round() as u8
        };
        // Fading shapes also shrink a little, so a fade reads as "arriving" or "leaving", not as a colour change.
        let grow = visual.scale * (0.6 + 0.4 * visual.opacity.clamp(0.0, 1.0)) * enlarge;
        out.entry(id.kind()).or_default().push(Instance {
            position: visual.position,
            scale: [size[0] * grow, size[1] * grow, size[2] * grow],
            color: [channel(0), channel(1), channel(2), 255],
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

/// Like [`frame`], for a canvas of `size` CSS pixels whose left and right `insets` (CSS pixels) are covered by
/// panels: the box fills the uncovered part and is centred in it (the eye moves sideways, so the view stays
/// straight on). At least 40% of the width is kept, so wide panels on a narrow screen never squeeze the map to
/// nothing.
pub fn frame_between(
    min: [f32; 3],
    max: [f32; 3],
    size: [f32; 2],
    insets: [f32; 2],
    fov_y: f32,
) -> ([f32; 3], [f32; 3]) {
    let [width, height] = [size[0].max(1.0), size[1].max(1.0)];
    let [mut left, mut right] = insets.map(|v| v.max(0.0));
    let covered = left + right;
    if covered > width * 0.6 {
        let keep = width * 0.6 / covered;
        (left, right) = (left * keep, right * keep);
    }
    let free = width - left - right;
    let (eye, target) = frame(min, max, free / height, fov_y);
    let distance =
        ((eye[0] - target[0]).powi(2) + (eye[1] - target[1]).powi(2) + (eye[2] - target[2]).powi(2)).sqrt();
    let world_per_pixel = 2.0 * distance * (fov_y / 2.0).tan() / height;
    // The free area's centre is (left - right) / 2 pixels right of the canvas's: move the view left by as much.
    let shift = (left - right) / 2.0 * world_per_pixel;
    ([eye[0] - shift, eye[1], eye[2]], [target[0] - shift, target[1], target[2]])
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
    fn targets_cover_what_is_drawn_and_only_unhealthy_or_loaded_entities_pulse() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let targets = targets(&topo, &layout);
        let drawn: usize = build(&topo, &layout).values().map(Vec::len).sum();
        assert_eq!(targets.len(), drawn);
        for (id, target) in &targets {
            let entity = topo.get(id).unwrap();
            let unhealthy = entity.health.level() == HealthLevel::Unhealthy;
            assert_eq!(target.pulse, unhealthy || topology::load::load(entity).high(), "{id}");
        }
        assert!(targets.iter().any(|(_, t)| t.pulse), "the sample has unhealthy pods");
    }

    #[test]
    fn a_healthy_pod_near_its_memory_limit_pulses() {
        let mut topo = topology::sample::kgents();
        let mut pod = topo
            .entities()
            .find(|e| e.kind == Kind::Pod && e.health.level() == HealthLevel::Healthy)
            .unwrap()
            .clone();
        let topology::Details::Pod(info) = &mut pod.details else { unreachable!() };
        for container in &mut info.containers {
            container.limits.memory_bytes = Some(100 << 20);
        }
        pod.usage = Some(topology::entity::Usage { cpu_millis: 1, memory_bytes: 95 << 20 });
        let id = pod.id.clone();
        topo.upsert(pod).unwrap();
        let layout = Layout::compute(&topo);
        let (_, target) = targets(&topo, &layout).into_iter().find(|(i, _)| *i == id).unwrap();
        assert_eq!(topo.get(&id).unwrap().health.level(), HealthLevel::Healthy);
        assert!(target.pulse, "loaded, so it pulses while healthy");
    }

    #[test]
    fn an_invisible_entity_has_the_background_colour_and_a_visible_one_its_own() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let (id, target) =
            targets(&topo, &layout).into_iter().find(|(id, _)| id.kind() == Kind::Pod).unwrap();
        let visual = |opacity: f32, scale: f32| Visual {
            position: target.position,
            color: target.color,
            opacity,
            scale,
        };
        let background = [0.07, 0.08, 0.11];
        let hidden = animated([(&id, visual(0.0, 1.0))], background, &Emphasis::default());
        assert_eq!(hidden[&Kind::Pod][0].color, [18, 20, 28, 255]);
        let shown = animated([(&id, visual(1.0, 1.0))], background, &Emphasis::default());
        let [r, g, b, _] = health_color(topo.get(&id).unwrap().health.level());
        assert_eq!(shown[&Kind::Pod][0].color, [r, g, b, 255]);
        let pulsing = animated([(&id, visual(1.0, 1.15))], background, &Emphasis::default());
        assert!(pulsing[&Kind::Pod][0].scale[0] > shown[&Kind::Pod][0].scale[0]);
        assert!(hidden[&Kind::Pod][0].scale[0] < shown[&Kind::Pod][0].scale[0]);
    }

    #[test]
    fn the_selection_grows_a_highlight_dims_the_rest_and_filters_leave_ghosts() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let all = targets(&topo, &layout);
        let pods: Vec<_> = all.iter().filter(|(id, _)| id.kind() == Kind::Pod).take(3).collect();
        let visual = |t: &Target| Visual { position: t.position, color: t.color, opacity: 1.0, scale: 1.0 };
        let draw = |emphasis: &Emphasis| {
            animated(pods.iter().map(|(id, t)| (id, visual(t))), [0.0; 3], emphasis)[&Kind::Pod].clone()
        };
        let plain = draw(&Emphasis::default());
        let brightness = |i: &Instance| u32::from(i.color[0]) + u32::from(i.color[1]) + u32::from(i.color[2]);
        let (a, b, c) = (&pods[0].0, &pods[1].0, &pods[2].0);
        let emphasis = Emphasis {
            selected: Some(a.clone()),
            highlight: [a.clone(), b.clone()].into_iter().collect(),
            visible: Some(Arc::new([a.clone(), c.clone()].into_iter().collect())),
            ..Emphasis::default()
        };
        let lit = draw(&emphasis);
        assert!(lit[0].scale[0] > plain[0].scale[0], "the selection grows");
        assert_eq!(brightness(&lit[0]), brightness(&plain[0]), "and keeps its colour");
        assert!(brightness(&lit[1]) < brightness(&plain[1]) / 10, "filtered out: a ghost");
        assert!(brightness(&lit[2]) < brightness(&plain[2]) / 2, "outside the highlight: dimmed");
        assert!(brightness(&lit[2]) > brightness(&lit[1]), "dimmed is still more than a ghost");
        assert!(!emphasis.admits(b) && emphasis.admits(c));
    }

    #[test]
    fn unhealthy_entities_and_finding_subjects_carry_a_badge_above_them() {
        let topo = topology::sample::kgents();
        let layout = Layout::compute(&topo);
        let all = targets(&topo, &layout);
        let visual = |t: &Target| Visual { position: t.position, color: t.color, opacity: 1.0, scale: 1.0 };
        let unhealthy: HashSet<EntityId> =
            all.iter().filter(|(_, t)| t.pulse).map(|(id, _)| id.clone()).collect();
        assert!(!unhealthy.is_empty());
        let healthy = all.iter().find(|(id, _)| !unhealthy.contains(id)).unwrap();
        let emphasis = Emphasis {
            flagged: Arc::new([(healthy.0.clone(), Severity::Warning)].into_iter().collect()),
            ..Emphasis::default()
        };
        let sick = |id: &EntityId| unhealthy.contains(id);
        let drawn = badges(all.iter().map(|(id, t)| (id, visual(t))), sick, &emphasis, [0.0; 3]);
        assert_eq!(drawn.len(), unhealthy.len() + 1);
        for badge in &drawn {
            let p = badge.position;
            let below = all
                .iter()
                .any(|(_, t)| t.position[0] == p[0] && t.position[2] == p[2] && t.position[1] < p[1]);
            assert!(below, "every badge sits just above an entity: {p:?}");
        }
        assert!(drawn.iter().any(|b| b.color == health_color(HealthLevel::Degraded)), "the finding's badge");
        assert!(badges(std::iter::empty(), sick, &emphasis, [0.0; 3]).is_empty());
    }

    #[test]
    fn a_badge_shows_the_worse_of_health_and_the_open_findings_in_colour_and_in_size() {
        use Severity::{Critical, High, Info, Warning};
        let vermillion = health_color(HealthLevel::Unhealthy);
        let orange = health_color(HealthLevel::Degraded);
        assert_eq!(badge_look(false, None), None, "healthy, nothing open: no badge");
        assert_eq!(badge_look(true, None), Some((vermillion, 1.0)));
        assert_eq!(badge_look(false, Some(Info)), Some((INFO, 0.75)));
        assert_eq!(badge_look(false, Some(Warning)), Some((orange, 1.0)));
        assert_eq!(badge_look(true, Some(Warning)), Some((vermillion, 1.0)), "its own health is worse");
        assert_eq!(badge_look(false, Some(High)), Some((vermillion, 1.0)));
        assert_eq!(badge_look(true, Some(Critical)), Some((vermillion, 1.35)), "the finding is worse");
        // Without colour the tiers still differ: critical > high = warning > info.
        let size = |s| badge_look(false, Some(s)).unwrap().1;
        assert!(size(Critical) > size(High) && size(Warning) > size(Info));
        assert_ne!(INFO, vermillion);
        assert_ne!(INFO, orange);
    }

    #[test]
    fn a_map_beside_a_panel_is_centred_in_the_free_part() {
        let fov = std::f32::consts::FRAC_PI_4;
        let (min, max) = ([-20.0, 0.0, 0.0], [20.0, 4.0, 0.0]);
        let (plain_eye, plain_target) = frame(min, max, 1.6, fov);
        assert_eq!(frame_between(min, max, [1600.0, 1000.0], [0.0, 0.0], fov), (plain_eye, plain_target));
        // A 400 px panel on the left: the view is framed for 1200 px and looks 200 px (in world units) left.
        let (eye, target) = frame_between(min, max, [1600.0, 1000.0], [400.0, 0.0], fov);
        let (narrow_eye, narrow_target) = frame(min, max, 1.2, fov);
        assert!(target[0] < 0.0 && (eye[0] - target[0]).abs() < 1e-4, "straight on, moved left");
        assert!((target[1] - narrow_target[1]).abs() < 1e-4 && (eye[2] - narrow_eye[2]).abs() < 1e-3);
        let distance = eye[2] - target[2];
        let half_width_world = distance.hypot(eye[1] - target[1]) * (fov / 2.0).tan() * 1.6;
        let centre_px = 800.0 + (0.0 - target[0]) / half_width_world * 800.0;
        assert!((centre_px - 1000.0).abs() < 20.0, "the map's centre shows at {centre_px} px, not 1000");
        // Panels covering nearly everything still leave 40% to the map.
        let (squeezed, _) = frame_between(min, max, [1000.0, 1000.0], [500.0, 450.0], fov);
        let (forty, _) = frame(min, max, 0.4, fov);
        assert!((squeezed[2] - forty[2]).abs() < 1e-3);
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
