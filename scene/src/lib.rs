//! The 3D scene: the topology drawn with three-d on WebGL2.
//!
//! Split in two on purpose. [`instances`] turns a [`topology::Topology`] and its layout into plain
//! per-kind instance data (position, scale, colour); it is pure, so it is unit-tested natively and its
//! cost can be measured without a GPU. [`renderer`] (wasm32 only) owns the GPU objects: one instanced mesh
//! per kind, created once, whose instance buffers are rewritten only when the topology changes — never
//! rebuilt per frame.

pub mod camera;
pub mod edges;
pub mod floors;
pub mod instances;
pub mod palette;
pub mod pick;
pub mod update;

#[cfg(target_arch = "wasm32")]
pub mod input;
#[cfg(target_arch = "wasm32")]
mod labels;
#[cfg(target_arch = "wasm32")]
pub mod renderer;
#[cfg(target_arch = "wasm32")]
pub mod timing;

/// What can go wrong while setting up or driving the scene.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The canvas would not give us a WebGL2 context (old browser, or WebGL disabled).
    #[error("WebGL2 is not available on this canvas: {0}")]
    NoWebGl2(String),
    /// three-d could not wrap the WebGL2 context.
    #[error("could not initialise the renderer: {0}")]
    Renderer(String),
}
