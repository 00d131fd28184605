//! The GPU side (wasm32 only): three-d objects created once, instance data rewritten while something animates,
//! and a `requestAnimationFrame` loop that draws only when something changed or moves.
//!
//! Entities animate in place: a new topology only sets each entity's target in a [`topology::interp::Animator`]
//! (fade in, glide, cross-fade colour, fade out, pulse when unhealthy), and each frame samples it. With the
//! system's `prefers-reduced-motion`, changes are immediate and nothing pulses.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use three_d::{
    degrees, vec3, AmbientLight, Camera, ClearState, Context, CpuMaterial, CpuMesh, DirectionalLight, Gm,
    InstancedMesh, Mat4, PhysicalMaterial, PhysicalPoint, RenderTarget, Srgba, Vec3, Viewport,
};
use topology::interp::Animator;
use topology::layout::Layout;
use topology::{EntityId, Kind, Topology};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, WebGl2RenderingContext};

use crate::camera::Orbit;
use crate::edges::rod;
use crate::input::{self, Listeners};
use crate::instances::{self, Emphasis, Instance, Instances};
use crate::labels::LabelLayer;
use crate::palette::{scale, shape, Shape};
use crate::update::{self, Pending, Retarget};
use crate::SceneError;

/// The background colour, also what tests compare against to prove something was drawn.
pub const BACKGROUND: [f32; 4] = [0.07, 0.08, 0.11, 1.0];

/// The camera's vertical field of view.
const FIELD_OF_VIEW_DEGREES: f32 = 40.0;
/// How long a fly to an entity or back to the overview takes (instant with reduced motion).
const FLY_SECS: f64 = 0.8;

/// What the scene tells the page. Called from event handlers and the frame loop; they must not call back into
/// the scene synchronously (setting a Leptos signal is fine: effects run later).
pub struct Callbacks {
    /// After each frame actually drawn, with the frame count.
    pub on_frame: Box<dyn FnMut(u64)>,
    /// A click picked this entity, or nothing (a click on the background clears the selection).
    pub on_select: Box<dyn FnMut(Option<EntityId>)>,
    /// The entity under the pointer changed; with the pointer's position on the canvas (CSS pixels).
    pub on_hover: Box<dyn FnMut(Option<EntityId>, [f32; 2])>,
    /// The camera settled somewhere new (after a drag, a wheel step, a key or a fly).
    pub on_camera: Box<dyn FnMut(Orbit)>,
}

/// A camera move under way.
struct Fly {
    from: Orbit,
    to: Orbit,
    start: f64,
}

// The flags are independent steps of the frame loop (sample, draw, move labels, stop reframing), each cleared
// by its own step.
#[allow(clippy::struct_excessive_bools)]
pub(crate) struct Renderer {
    canvas: HtmlCanvasElement,
    context: Context,
    camera: Camera,
    /// The entities that keep their look from frame to frame, one instanced mesh per kind, rewritten only when
    /// that look may have changed (see [`Renderer::sample`]).
    meshes: BTreeMap<Kind, Gm<InstancedMesh, PhysicalMaterial>>,
    /// The entities that glide, fade or pulse, the same meshes again, rewritten every frame they move.
    moving_meshes: BTreeMap<Kind, Gm<InstancedMesh, PhysicalMaterial>>,
    /// What `moving_meshes` draws. It may also hold entities that have stopped since it was made: drawn at their
    /// final look, they join the others at the next partition.
    moving: BTreeSet<EntityId>,
    /// The entities must be partitioned again and `meshes` rewritten at the next frame: targets or emphasis
    /// changed.
    settle: bool,
    /// When the last partition was made.
    settled_at: f64,
    /// The badges over unhealthy entities and finding subjects (see [`instances::badges`]): cones pointing down.
    badges: Gm<InstancedMesh, PhysicalMaterial>,
    /// Unhealthy entities of the last topology (they carry a badge).
    unhealthy: HashSet<EntityId>,
    /// The floors under the bands, one thin plate per band and layer (see [`crate::floors`]).
    floors: Gm<InstancedMesh, PhysicalMaterial>,
    /// The relation edges being looked at (see [`crate::edges`]): thin rods.
    edges: Gm<InstancedMesh, PhysicalMaterial>,
    /// The topology drawn (shared with the page, never copied here), for the edges of what is lit or hovered.
    topology: Arc<Topology>,
    /// The edges being drawn; `None` when what is lit or hovered (or the topology) changed since.
    edge_pairs: Option<Vec<(EntityId, EntityId)>>,
    /// The band and layer names over the canvas, when the page has a place for them.
    labels: Option<LabelLayer>,
    /// The labels must be moved (the camera, the canvas or the labels changed).
    labels_moved: bool,
    ambient: AmbientLight,
    sun: DirectionalLight,
    bounds: Option<([f32; 3], [f32; 3])>,
    /// The layout of `topology`, kept to bring it up to date after diffs (see [`crate::update`]).
    layout: Option<Layout>,
    animator: Animator<EntityId>,
    /// Instance data must be rebuilt from the animator at the next frame.
    animate: bool,
    dirty: bool,
    frames: u64,
    callbacks: Callbacks,
    /// Where the camera is; the three-d camera is derived from it.
    orbit: Orbit,
    /// The overview framing of the whole map ("reset view").
    home: Option<Orbit>,
    /// CSS pixels of the canvas's left and right covered by the page's panels, when the map was last framed.
    insets: [f32; 2],
    /// Animation frames requested so far (drawn or not): paces the occasional check of the panels' size.
    ticks: u64,
    /// The map's extent changed: frame it again at the next frame.
    reframe: bool,
    /// Once the viewer moved the camera (or a link restored one), the map no longer reframes itself.
    user_moved: bool,
    fly: Option<Fly>,
    emphasis: Emphasis,
    /// The canvas's event listeners, removed when the scene is dropped.
    listeners: Option<Listeners>,
    hovered: Option<EntityId>,
    /// Where the pointer last moved without a button, to pick at the next frame.
    hover_at: Option<[f32; 2]>,
}

/// A running scene. Dropping it stops the render loop at the next frame.
pub struct SceneHandle {
    inner: Rc<RefCell<Renderer>>,
    alive: Rc<RefCell<bool>>,
}

impl SceneHandle {
    /// Sets what is drawn: every entity gets a new target; new ones fade in, moved ones glide, removed ones fade
    /// out. The camera is reframed only when the extent of the map really changed.
    pub fn set_topology(&self, topology: &Arc<Topology>) {
        crate::timing::span("scene.set_topology", || self.set_topology_now(topology));
    }

    fn set_topology_now(&self, topology: &Arc<Topology>) {
        let layout = crate::timing::span("scene.layout", || Layout::compute(topology));
        self.redraw_all(topology, layout);
    }

    /// The same as [`set_topology`](Self::set_topology) for a topology the scene drew before `pending` changed
    /// it: only the entities the diffs touched (and those their groups moved) are laid out and re-targeted again
    /// (see [`crate::update`]); a snapshot or a gap in the sequence takes the full path.
    pub fn update(&self, topology: &Arc<Topology>, pending: &Pending) {
        crate::timing::span("scene.set_topology", || self.update_now(topology, pending));
    }

    fn update_now(&self, topology: &Arc<Topology>, pending: &Pending) {
        let kept = self.inner.borrow_mut().layout.take();
        let Some(mut layout) = kept else {
            return self.set_topology_now(topology);
        };
        let change = crate::timing::span("scene.layout", || update::retarget(topology, &mut layout, pending));
        let Some(change) = change else { return self.redraw_all(topology, layout) };
        let mut renderer = self.inner.borrow_mut();
        renderer.topology = Arc::clone(topology);
        if change == Retarget::default() {
            renderer.layout = Some(layout);
            return;
        }
        renderer.edge_pairs = None;
        renderer.set_floors(&layout);
        for (id, unhealthy) in change.unhealthy {
            if unhealthy {
                renderer.unhealthy.insert(id);
            } else {
                renderer.unhealthy.remove(&id);
            }
        }
        let now = now_secs();
        for id in &change.removed {
            renderer.unhealthy.remove(id);
            renderer.animator.remove(id, now);
        }
        for (id, target) in change.set {
            renderer.animator.set_target(id, target, now);
        }
        let bounds =
            bounds_of(layout.positions().filter(|(id, _)| scale(id.kind()).is_some()).map(|(_, p)| p));
        renderer.set_bounds(bounds);
        renderer.animate = true;
        renderer.settle = true;
        renderer.layout = Some(layout);
    }

    fn redraw_all(&self, topology: &Arc<Topology>, layout: Layout) {
        let mut renderer = self.inner.borrow_mut();
        renderer.topology = Arc::clone(topology);
        renderer.edge_pairs = None;
        renderer.set_floors(&layout);
        renderer.unhealthy = topology
            .entities()
            .filter(|e| e.health.level() == topology::HealthLevel::Unhealthy)
            .map(|e| e.id.clone())
            .collect();
        let targets = crate::timing::span("scene.targets", || instances::targets(topology, &layout));
        crate::timing::span("scene.set_targets", || renderer.set_targets(&targets));
        renderer.layout = Some(layout);
    }

    /// Frames drawn so far (for the status line and tests).
    pub fn frames(&self) -> u64 {
        self.inner.borrow().frames
    }

    /// What stands out: selection, highlight, filters.
    pub fn set_emphasis(&self, emphasis: Emphasis) {
        let mut renderer = self.inner.borrow_mut();
        renderer.emphasis = emphasis;
        renderer.edge_pairs = None;
        renderer.animate = true;
        renderer.settle = true;
    }

    /// Flies to an entity (if drawn).
    pub fn fly_to(&self, id: &EntityId) {
        self.inner.borrow_mut().fly_to(id);
    }

    /// Flies back to the overview and lets the map reframe itself again.
    pub fn reset_view(&self) {
        self.inner.borrow_mut().reset_view();
    }

    /// Puts the camera where a link said, at once.
    pub fn set_camera(&self, orbit: Orbit) {
        let mut renderer = self.inner.borrow_mut();
        renderer.user_moved = true;
        renderer.fly = None;
        renderer.set_orbit(orbit);
    }

    /// The entity drawn under a point of the canvas (CSS pixels from its top left), if any.
    pub fn pick(&self, x: f32, y: f32) -> Option<EntityId> {
        self.inner.borrow().pick(x, y)
    }
}

impl Drop for SceneHandle {
    fn drop(&mut self) {
        *self.alive.borrow_mut() = false;
        if let Some(listeners) = self.inner.borrow_mut().listeners.take() {
            listeners.remove();
        }
    }
}

/// Creates the scene on `canvas`, draws `topology` and starts the render loop. `on_frame` is called
/// with the frame count after each frame actually drawn (frames are drawn only when something changed).
///
/// # Errors
/// [`SceneError::NoWebGl2`] when the canvas has no WebGL2, [`SceneError::Renderer`] when three-d fails.
pub fn start(
    canvas: HtmlCanvasElement,
    topology: &Arc<Topology>,
    callbacks: Callbacks,
) -> Result<SceneHandle, SceneError> {
    let options = js_sys::Object::new();
    // `preserveDrawingBuffer` stays off: screenshots are taken by the compositor, not by reading back.
    js_sys::Reflect::set(&options, &"antialias".into(), &true.into())
        .map_err(|e| SceneError::NoWebGl2(format!("{e:?}")))?;
    let gl = canvas
        .get_context_with_context_options("webgl2", &options)
        .map_err(|e| SceneError::NoWebGl2(format!("{e:?}")))?
        .ok_or_else(|| SceneError::NoWebGl2("getContext('webgl2') returned null".into()))?
        .dyn_into::<WebGl2RenderingContext>()
        .map_err(|_| SceneError::NoWebGl2("not a WebGL2RenderingContext".into()))?;
    let gl = three_d::context::Context::from_webgl2_context(gl);
    // three-d's API takes an Arc; WebGL lives on one thread, so Send/Sync would never be used.
    #[allow(clippy::arc_with_non_send_sync)]
    let gl = Arc::new(gl);
    let context = Context::from_gl_context(gl).map_err(|e| SceneError::Renderer(e.to_string()))?;

    let (width, height) = fit_canvas(&canvas);
    let camera = Camera::new_perspective(
        Viewport::new_at_origo(width, height),
        vec3(0.0, 8.0, 40.0),
        vec3(0.0, 0.0, 0.0),
        vec3(0.0, 1.0, 0.0),
        degrees(FIELD_OF_VIEW_DEGREES),
        0.1,
        1000.0,
    );
    let mut meshes = BTreeMap::new();
    let mut moving_meshes = BTreeMap::new();
    for kind in Kind::ALL {
        let mut cpu_mesh = match shape(kind) {
            Shape::Cube => CpuMesh::cube(),
            // 224 triangles: round at the few pixels a service covers, where 16 subdivisions (960 triangles)
            // made the spheres two thirds of a 10k map's triangles (see BENCHMARKS.md, scene).
            Shape::Sphere => CpuMesh::sphere(8),
            Shape::Cylinder => CpuMesh::cylinder(16),
            Shape::Cone => CpuMesh::cone(16),
        };
        if matches!(shape(kind), Shape::Cylinder | Shape::Cone) {
            // three-d makes these along +x from 0 to 1; stood up and centred they span -1..1 like the cube and
            // the sphere, so an instance's position is its centre and its scale its half-size (what picking
            // assumes). A cone then points up.
            let upright = Mat4::from_translation(vec3(0.0, -1.0, 0.0))
                * Mat4::from_nonuniform_scale(1.0, 2.0, 1.0)
                * Mat4::from_angle_z(degrees(90.0));
            // The transformation is finite and invertible; three-d only fails on a singular one.
            let _ = cpu_mesh.transform(upright);
        }
        meshes.insert(kind, instanced(&context, &cpu_mesh, 0.7));
        moving_meshes.insert(kind, instanced(&context, &cpu_mesh, 0.7));
    }
    let badges = instanced(&context, &CpuMesh::cone(12), 0.5);
    let floors = instanced(&context, &CpuMesh::cube(), 1.0);
    let edges = instanced(&context, &CpuMesh::cylinder(6), 0.9);
    let ambient = AmbientLight::new(&context, 0.45, Srgba::WHITE);
    let sun = DirectionalLight::new(&context, 2.2, Srgba::WHITE, vec3(-0.4, -1.0, -0.6));

    let orbit = Orbit::looking([0.0, 8.0, 40.0], [0.0; 3]);
    let input_target = canvas.clone();
    let renderer = Rc::new(RefCell::new(Renderer {
        canvas,
        context,
        camera,
        meshes,
        moving_meshes,
        moving: BTreeSet::new(),
        settle: true,
        settled_at: 0.0,
        badges,
        unhealthy: HashSet::new(),
        floors,
        edges,
        topology: Arc::clone(topology),
        edge_pairs: None,
        labels: LabelLayer::find(),
        labels_moved: true,
        ambient,
        sun,
        bounds: None,
        layout: None,
        animator: Animator::new(),
        animate: false,
        dirty: true,
        frames: 0,
        callbacks,
        orbit,
        home: None,
        insets: [0.0; 2],
        ticks: 0,
        reframe: false,
        user_moved: false,
        fly: None,
        emphasis: Emphasis::default(),
        listeners: None,
        hovered: None,
        hover_at: None,
    }));
    renderer.borrow_mut().animator.set_reduced_motion(prefers_reduced_motion());
    let listeners = input::listen(&input_target, &renderer);
    renderer.borrow_mut().listeners = Some(listeners);
    let handle = SceneHandle { inner: renderer, alive: Rc::new(RefCell::new(true)) };
    handle.set_topology(topology);
    run_loop(handle.inner.clone(), handle.alive.clone());
    Ok(handle)
}

impl Renderer {
    fn set_targets(&mut self, targets: &[(EntityId, topology::interp::Target)]) {
        let now = now_secs();
        // The first picture appears at once; animation is for what changes after it.
        let first = self.animator.is_empty();
        let reduced = self.animator.reduced_motion();
        self.animator.set_reduced_motion(reduced || first);
        let mut present = std::collections::BTreeSet::new();
        for (id, target) in targets {
            self.animator.set_target(id.clone(), *target, now);
            present.insert(id);
        }
        self.animator.set_reduced_motion(reduced);
        let gone: Vec<EntityId> =
            self.animator.sample(now).map(|(id, _)| id).filter(|id| !present.contains(id)).cloned().collect();
        for id in &gone {
            self.animator.remove(id, now);
        }
        self.set_bounds(bounds_of(targets.iter().map(|(_, t)| t.position)));
        self.animate = true;
        self.settle = true;
    }

    fn set_bounds(&mut self, bounds: Option<([f32; 3], [f32; 3])>) {
        if reframe(self.bounds, bounds) {
            self.bounds = bounds;
            // At the next frame, not now: the page's panels are laid out for this topology only once its
            // effects ran (after this call), and the framing measures them.
            self.reframe = true;
        }
    }

    /// The floors and labels of the bands (labels only rewritten where they changed).
    fn set_floors(&mut self, layout: &Layout) {
        let floors = to_three_d(&crate::floors::floors(layout));
        self.floors.geometry.set_instances(&floors);
        if let Some(labels) = self.labels.as_mut() {
            labels.set(crate::floors::labels(layout));
        }
        self.labels_moved = true;
    }

    /// Rewrites the instance data from the animator at `now`; keeps animating while anything moves.
    ///
    /// Why two sets of meshes: on a wall that shows 10k entities, a few dozen unhealthy ones pulse for days.
    /// Rewriting every instance buffer each frame for them cost ~10 ms of main thread per frame at 10k
    /// (BENCHMARKS.md, scene); only the moving ones are rewritten each frame now, and the still ones when their
    /// look may have changed (new targets, emphasis) or, once a second, when some of the moving ones have stopped.
    fn sample(&mut self, now: f64) {
        let [r, g, b, _] = BACKGROUND;
        let background = [r, g, b];
        if !self.settle
            && now - self.settled_at >= 1.0
            && self.moving.iter().any(|id| !self.animator.is_moving(id, now))
        {
            self.settle = true;
        }
        if self.settle {
            self.settle = false;
            self.settled_at = now;
            crate::timing::span("scene.settle", || {
                let animator = &self.animator;
                let (moving, still): (Vec<_>, Vec<_>) =
                    animator.sample(now).partition(|(id, _)| animator.is_moving(id, now));
                self.moving = moving.into_iter().map(|(id, _)| id.clone()).collect();
                write_instances(&mut self.meshes, &instances::animated(still, background, &self.emphasis));
            });
        }
        let animator = &self.animator;
        let moving = self.moving.iter().filter_map(|id| Some((id, animator.visual(id, now)?)));
        write_instances(&mut self.moving_meshes, &instances::animated(moving, background, &self.emphasis));
        // Few: the unhealthy and the flagged.
        let marked: BTreeSet<&EntityId> = self.unhealthy.iter().chain(self.emphasis.flagged.keys()).collect();
        let badges = instances::badges(
            marked.into_iter().filter_map(|id| Some((id, animator.visual(id, now)?))),
            |id| self.unhealthy.contains(id),
            &self.emphasis,
            background,
        );
        let mut badges = to_three_d(&badges);
        // three-d's cone points along +x; turned a quarter about z it points down at its entity.
        let down = Mat4::from_angle_z(degrees(-90.0));
        for transformation in &mut badges.transformations {
            *transformation = *transformation * down;
        }
        self.badges.geometry.set_instances(&badges);
        self.draw_edges(now);
        for gone in self.animator.prune(now) {
            self.moving.remove(&gone);
        }
        self.animate = self.moving.iter().any(|id| self.animator.is_moving(id, now));
        self.dirty = true;
    }

    /// The edges of what is lit or hovered, between the entities' animated positions.
    fn draw_edges(&mut self, now: f64) {
        const RADIUS: f32 = 0.035;
        const COLOUR: Srgba = Srgba { r: 150, g: 170, b: 205, a: 255 };
        let (topology, highlight, hovered) =
            (&self.topology, &self.emphasis.highlight, self.hovered.as_ref());
        let shown = self.edge_pairs.get_or_insert_with(|| crate::edges::shown(topology, highlight, hovered));
        let transformations: Vec<Mat4> = shown
            .iter()
            .filter(|(a, b)| self.emphasis.admits(a) && self.emphasis.admits(b))
            .filter_map(|(a, b)| {
                let a = self.animator.visual(a, now)?;
                let b = self.animator.visual(b, now)?;
                rod(a.position, b.position, RADIUS)
            })
            .collect();
        let colors = Some(vec![COLOUR; transformations.len()]);
        self.edges.geometry.set_instances(&three_d::Instances {
            transformations,
            colors,
            ..Default::default()
        });
    }

    /// Where a world point shows on the canvas, in CSS pixels from its top left; `None` behind the camera.
    fn project(&self, at: [f32; 3]) -> Option<[f32; 2]> {
        let point = Vec3::from(at);
        if (self.camera.view() * point.extend(1.0)).z > -0.1 {
            return None;
        }
        let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()) as f32;
        let pixel = self.camera.pixel_at_position(point);
        Some([pixel.x / ratio, (self.camera.viewport().height as f32 - pixel.y) / ratio])
    }

    /// Points the camera so everything drawn fills the part of the canvas the page's panels leave free.
    fn frame_camera(&mut self) {
        let Some(home) = self.compute_home() else { return };
        if !self.user_moved && self.fly.is_none() {
            self.set_orbit(home);
        }
    }

    /// The overview framing for the canvas and panels as they are now.
    fn compute_home(&mut self) -> Option<Orbit> {
        let (min, max) = self.bounds?;
        self.insets = insets(&self.canvas);
        let size = [self.canvas.client_width() as f32, self.canvas.client_height() as f32];
        let (eye, target) =
            instances::frame_between(min, max, size, self.insets, FIELD_OF_VIEW_DEGREES.to_radians());
        let home = Orbit::looking(eye, target);
        self.home = Some(home);
        Some(home)
    }

    pub(crate) fn set_orbit(&mut self, orbit: Orbit) {
        self.orbit = orbit;
        self.camera.set_view(Vec3::from(orbit.eye()), Vec3::from(orbit.target), vec3(0.0, 1.0, 0.0));
        self.dirty = true;
        self.labels_moved = true;
    }

    /// A camera move by the viewer: the map stops reframing itself, a fly under way stops.
    pub(crate) fn steer(&mut self, orbit: Orbit) {
        self.user_moved = true;
        self.fly = None;
        self.set_orbit(orbit);
    }

    pub(crate) fn orbit(&self) -> Orbit {
        self.orbit
    }

    pub(crate) fn settled(&mut self) {
        let orbit = self.orbit;
        (self.callbacks.on_camera)(orbit);
    }

    fn fly(&mut self, to: Orbit) {
        if self.animator.reduced_motion() {
            self.fly = None;
            self.set_orbit(to);
            self.settled();
        } else {
            self.fly = Some(Fly { from: self.orbit, to, start: now_secs() });
            self.dirty = true;
        }
    }

    pub(crate) fn fly_to(&mut self, id: &EntityId) {
        let Some(visual) = self.animator.visual(id, now_secs()) else { return };
        // Close enough to read the entity's neighbourhood, never farther than the viewer already is.
        let distance = self.orbit.distance.clamp(12.0, 30.0);
        self.user_moved = true;
        let to = self.orbit.focused(visual.position, distance);
        self.fly(to);
    }

    pub(crate) fn reset_view(&mut self) {
        self.user_moved = false;
        if let Some(home) = self.compute_home() {
            self.fly(home);
        }
    }

    pub(crate) fn selected(&self) -> Option<EntityId> {
        self.emphasis.selected.clone()
    }

    pub(crate) fn select(&mut self, id: Option<EntityId>) {
        (self.callbacks.on_select)(id);
    }

    /// The pointer left the canvas: nothing is hovered, and a pick still pending is dropped.
    pub(crate) fn leave(&mut self) {
        self.hover_at = None;
        self.hover(None, [0.0; 2]);
    }

    pub(crate) fn hover_later(&mut self, at: [f32; 2]) {
        self.hover_at = Some(at);
    }

    pub(crate) fn hover(&mut self, id: Option<EntityId>, at: [f32; 2]) {
        if self.hovered != id {
            self.hovered.clone_from(&id);
            // Its edges appear (or go) at the next frame.
            self.edge_pairs = None;
            self.animate = true;
            (self.callbacks.on_hover)(id, at);
        }
    }

    /// The entity under a canvas point in CSS pixels: a ray from the eye through the pixel against each drawn,
    /// admitted entity's box (see [`crate::pick`]).
    pub(crate) fn pick(&self, x: f32, y: f32) -> Option<EntityId> {
        let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()) as f32;
        let viewport = self.camera.viewport();
        let pixel = PhysicalPoint { x: x * ratio, y: viewport.height as f32 - y * ratio };
        let origin = self.camera.position_at_pixel(pixel);
        let direction = self.camera.view_direction_at_pixel(pixel);
        let now = now_secs();
        let candidates: Vec<(&EntityId, [f32; 3], [f32; 3])> = self
            .animator
            .sample(now)
            .filter(|(id, visual)| visual.opacity > 0.3 && self.emphasis.admits(id))
            .filter_map(|(id, visual)| {
                // three-d's unit shapes span -1..1, so the instance scale is the half-size.
                let half = scale(id.kind())?.map(|v| v * visual.scale.max(1.0));
                Some((id, visual.position, half))
            })
            .collect();
        let hit = crate::pick::nearest_hit(
            [origin.x, origin.y, origin.z],
            [direction.x, direction.y, direction.z],
            candidates.iter().map(|(_, centre, half)| (*centre, *half)),
        )?;
        Some(candidates[hit].0.clone())
    }

    fn frame(&mut self) {
        let (width, height) = fit_canvas(&self.canvas);
        let viewport = Viewport::new_at_origo(width, height);
        if self.camera.viewport() != viewport {
            self.camera.set_viewport(viewport);
            self.frame_camera();
            self.dirty = true;
            self.labels_moved = true;
        }
        self.ticks += 1;
        if let Some(at) = self.hover_at.take() {
            let hit = self.pick(at[0], at[1]);
            self.hover(hit, at);
        }
        if self.reframe {
            self.reframe = false;
            self.frame_camera();
        }
        // Panels grow as data arrives (the HUD's attention list) and move with the window; twice a second, a map
        // that frames itself follows them. Measuring is a layout read, so not every frame.
        if self.ticks % 30 == 0 && !self.user_moved && self.fly.is_none() {
            let now = insets(&self.canvas);
            if (0..2).any(|i| (now[i] - self.insets[i]).abs() > 8.0) {
                self.frame_camera();
            }
        }
        if let Some(fly) = &self.fly {
            let t = ((now_secs() - fly.start) / FLY_SECS).min(1.0);
            let orbit = fly.from.lerp(fly.to, topology::interp::ease_in_out_cubic(t) as f32);
            let done = t >= 1.0;
            self.set_orbit(orbit);
            if done {
                self.fly = None;
                self.settled();
            }
        }
        if self.animate {
            crate::timing::span("scene.sample", || self.sample(now_secs()));
        }
        if self.labels_moved {
            self.labels_moved = false;
            if let Some(labels) = &self.labels {
                labels.place(|at| self.project(at));
            }
        }
        if !self.dirty {
            return;
        }
        let [r, g, b, a] = BACKGROUND;
        let objects = self.meshes.values().chain(self.moving_meshes.values()).chain([
            &self.badges,
            &self.edges,
            &self.floors,
        ]);
        crate::timing::span("scene.render", || {
            RenderTarget::screen(&self.context, width, height)
                .clear(ClearState::color_and_depth(r, g, b, a, 1.0))
                .render(&self.camera, objects, &[&self.ambient, &self.sun]);
        });
        self.dirty = false;
        self.frames += 1;
        (self.callbacks.on_frame)(self.frames);
    }
}

/// An instanced mesh with no instances yet, white (instances bring their colours), of this roughness.
fn instanced(context: &Context, mesh: &CpuMesh, roughness: f32) -> Gm<InstancedMesh, PhysicalMaterial> {
    let material = PhysicalMaterial::new_opaque(
        context,
        &CpuMaterial { albedo: Srgba::WHITE, roughness, metallic: 0.0, ..Default::default() },
    );
    let none = three_d::Instances { transformations: Vec::new(), ..Default::default() };
    Gm::new(InstancedMesh::new(context, &none, mesh), material)
}

/// How much of the canvas's left and right (CSS pixels) the page's panels cover: the elements marked
/// `data-scene-inset="left"` or `"right"` that are shown and overlap the canvas.
fn insets(canvas: &HtmlCanvasElement) -> [f32; 2] {
    let area = canvas.get_bounding_client_rect();
    let mut out = [0.0_f32; 2];
    let Some(panels) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector_all("[data-scene-inset]").ok())
    else {
        return out;
    };
    for i in 0..panels.length() {
        let Some(panel) = panels.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) else {
            continue;
        };
        let rect = panel.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.bottom() <= area.top() || rect.top() >= area.bottom() {
            continue;
        }
        match panel.get_attribute("data-scene-inset").as_deref() {
            Some("left") => out[0] = out[0].max((rect.right() - area.left()) as f32),
            Some("right") => out[1] = out[1].max((area.right() - rect.left()) as f32),
            _ => {}
        }
    }
    out.map(|v| v.clamp(0.0, area.width() as f32))
}

/// Seconds on the page's monotonic clock.
fn now_secs() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now() / 1000.0)
}

fn prefers_reduced_motion() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-reduced-motion: reduce)").ok().flatten())
        .is_some_and(|query| query.matches())
}

fn bounds_of(positions: impl Iterator<Item = [f32; 3]>) -> Option<([f32; 3], [f32; 3])> {
    let mut all = Instances::new();
    all.insert(
        Kind::Pod,
        positions.map(|position| Instance { position, scale: [1.0; 3], color: [0; 4] }).collect(),
    );
    instances::bounds(&all)
}

/// Whether the camera should move: the first time, or when the map grew out of view or shrank a lot. Small
/// changes (a pod more or less) leave the camera alone, so a live map does not twitch with every diff.
fn reframe(old: Option<([f32; 3], [f32; 3])>, new: Option<([f32; 3], [f32; 3])>) -> bool {
    match (old, new) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some((old_min, old_max)), Some((min, max))) => (0..3).any(|axis| {
            let old_size = (old_max[axis] - old_min[axis]).max(1.0);
            let size = (max[axis] - min[axis]).max(1.0);
            min[axis] < old_min[axis] - 0.5 || max[axis] > old_max[axis] + 0.5 || size < old_size * 0.75
        }),
    }
}

/// Gives each kind's mesh its instances (none for a kind `instances` lacks).
fn write_instances(meshes: &mut BTreeMap<Kind, Gm<InstancedMesh, PhysicalMaterial>>, instances: &Instances) {
    for (kind, mesh) in meshes {
        let list = instances.get(kind).map_or(&[][..], Vec::as_slice);
        mesh.geometry.set_instances(&to_three_d(list));
    }
}

fn to_three_d(list: &[Instance]) -> three_d::Instances {
    three_d::Instances {
        transformations: list
            .iter()
            .map(|i| {
                Mat4::from_translation(Vec3::from(i.position))
                    * Mat4::from_nonuniform_scale(i.scale[0], i.scale[1], i.scale[2])
            })
            .collect(),
        colors: Some(
            list.iter().map(|i| Srgba::new(i.color[0], i.color[1], i.color[2], i.color[3])).collect(),
        ),
        ..Default::default()
    }
}

/// Matches the drawing buffer to the canvas's CSS size times the device pixel ratio.
fn fit_canvas(canvas: &HtmlCanvasElement) -> (u32, u32) {
    let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let width = ((f64::from(canvas.client_width()) * ratio) as u32).max(1);
    let height = ((f64::from(canvas.client_height()) * ratio) as u32).max(1);
    if canvas.width() != width {
        canvas.set_width(width);
    }
    if canvas.height() != height {
        canvas.set_height(height);
    }
    (width, height)
}

type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut()>>>>;

fn run_loop(renderer: Rc<RefCell<Renderer>>, alive: Rc<RefCell<bool>>) {
    let callback: FrameCallback = Rc::new(RefCell::new(None));
    let again = callback.clone();
    *callback.borrow_mut() = Some(Closure::new(move || {
        if !*alive.borrow() {
            // Stop asking for frames. The closure stays referenced by its own cell (one per scene, so
            // bounded): dropping a wasm-bindgen closure from inside its own call is not allowed.
            return;
        }
        renderer.borrow_mut().frame();
        request_frame(&again);
    }));
    request_frame(&callback);
}

fn request_frame(callback: &FrameCallback) {
    if let (Some(window), Some(cb)) = (web_sys::window(), callback.borrow().as_ref()) {
        // A failed request only means no more frames; the page itself keeps working.
        let _ = window.request_animation_frame(cb.as_ref().unchecked_ref());
    }
}
