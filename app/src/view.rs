//! What the viewer is looking at, shared by the page's panels and the 3D scene.
//!
//! The live client, the scene and the panels never call each other: they meet here. The client publishes the
//! topology it last drew; panels and the scene read it. Selection, hover, filters, highlight and camera requests
//! are plain signals, so a click in the table view, a pick in the scene, a finding in the findings panel and the
//! kiosk autopilot all select the same way, and the URL can mirror any of them.

use std::sync::Arc;

use leptos::prelude::*;
use topology::{EntityId, Topology};

/// Camera moves asked of the scene by the page (buttons, keyboard, autopilot).
#[derive(Debug, Clone, PartialEq)]
pub enum CameraRequest {
    /// Back to the framing of the whole map.
    Reset,
    /// Fly to one entity.
    FlyTo(EntityId),
}

/// An orbit camera as the URL carries it (`cam=tx,ty,tz,yaw,pitch,distance`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraView {
    /// The point orbited, in world units.
    pub target: [f32; 3],
    /// Rotation about the vertical axis, radians.
    pub yaw: f32,
    /// Elevation, radians.
    pub pitch: f32,
    /// Distance from the target, world units.
    pub distance: f32,
}

/// The view's signals. Cheap to copy; provided as context by the live page.
#[derive(Clone, Copy)]
pub struct View {
    /// The topology as last drawn (replaced at most every redraw, shared, never cloned per reader).
    pub topology: RwSignal<Option<Arc<Topology>>>,
    /// The selected entity (inspector open, scene highlights it).
    pub selected: RwSignal<Option<EntityId>>,
    /// The entity under the pointer (tooltip, its edges).
    pub hovered: RwSignal<Option<EntityId>>,
    /// Where the pointer was when it came over [`View::hovered`], in CSS pixels from the canvas's top left.
    pub hover_at: RwSignal<[f32; 2]>,
    /// Entities to light up, everything else dimmed (a selection's chain, a finding, the autopilot); empty = none.
    pub highlight: RwSignal<Vec<EntityId>>,
    /// Entities admitted by the filters; `None` = no filter, everything shown.
    pub visible: RwSignal<Option<Arc<std::collections::HashSet<EntityId>>>>,
    /// A camera move the scene should make, taken (set back to `None`) by the scene.
    pub camera_request: RwSignal<Option<CameraRequest>>,
    /// The camera the scene settled on (written by the scene, mirrored to the URL), or to restore (from the URL).
    pub camera: RwSignal<Option<CameraView>>,
    /// Kiosk mode (`?kiosk=1`): no chrome, autopilot.
    pub kiosk: RwSignal<bool>,
    /// Subjects of open findings with the highest severity open on each (set by the findings panel); the scene
    /// marks them with a badge that says how bad.
    pub flagged: RwSignal<Arc<std::collections::HashMap<EntityId, topology::finding::Severity>>>,
}

impl View {
    /// Fresh signals: nothing selected, no filter.
    pub fn new() -> Self {
        Self {
            topology: RwSignal::new(None),
            selected: RwSignal::new(None),
            hovered: RwSignal::new(None),
            hover_at: RwSignal::new([0.0; 2]),
            highlight: RwSignal::new(Vec::new()),
            visible: RwSignal::new(None),
            camera_request: RwSignal::new(None),
            camera: RwSignal::new(None),
            kiosk: RwSignal::new(false),
            flagged: RwSignal::new(Arc::default()),
        }
    }
}

impl Default for View {
    fn default() -> Self {
        Self::new()
    }
}
