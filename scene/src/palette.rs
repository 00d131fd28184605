//! Colours and shapes: how health and kind are told apart on screen.
//!
//! Health is the first channel (colour); the kind's shape is the second, so nothing is told by colour
//! alone. The health colours are the Okabe–Ito colour-blind-safe set rather than plain red/green.

use topology::{HealthLevel, Kind};

/// An sRGB colour with alpha, 0–255 per channel.
pub type Rgba = [u8; 4];

/// The colour of a health level.
pub fn health_color(level: HealthLevel) -> Rgba {
    match level {
        HealthLevel::Healthy => [0, 158, 115, 255],   // bluish green
        HealthLevel::Degraded => [230, 159, 0, 255],  // orange
        HealthLevel::Unhealthy => [213, 94, 0, 255],  // vermillion
        HealthLevel::Unknown => [140, 140, 150, 255], // grey
    }
}

/// Sky blue (Okabe–Ito), for the badge of a finding that is only worth knowing.
pub const INFO: Rgba = [86, 180, 233, 255];

/// The primitive a kind is drawn with. Each kind gets its own instanced mesh; kinds that share a
/// primitive are told apart by proportions (see [`scale`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// A box: pods, nodes (flat and wide), namespaces.
    Cube,
    /// A ball: services, the entry points.
    Sphere,
    /// A drum: workload controllers.
    Cylinder,
    /// A cone pointing up: ingresses.
    Cone,
}

/// The shape of a kind.
pub fn shape(kind: Kind) -> Shape {
    match kind {
        Kind::Service => Shape::Sphere,
        Kind::Ingress => Shape::Cone,
        Kind::Deployment
        | Kind::ReplicaSet
        | Kind::StatefulSet
        | Kind::DaemonSet
        | Kind::Job
        | Kind::CronJob
        | Kind::HorizontalPodAutoscaler => Shape::Cylinder,
        _ => Shape::Cube,
    }
}

/// The size of one instance of a kind, in layout units (x, y, z); `None` for kinds not drawn as
/// objects (the cluster and namespaces show as regions and bands).
pub fn scale(kind: Kind) -> Option<[f32; 3]> {
    match kind {
        Kind::Cluster | Kind::Namespace => None,
        Kind::Node => Some([1.6, 0.25, 1.6]),
        Kind::Pod => Some([0.35, 0.35, 0.35]),
        Kind::Service | Kind::Ingress => Some([0.45, 0.45, 0.45]),
        Kind::ReplicaSet => Some([0.3, 0.2, 0.3]),
        Kind::ConfigMap | Kind::Secret | Kind::PersistentVolumeClaim => Some([0.2, 0.2, 0.2]),
        _ => Some([0.45, 0.3, 0.45]),
    }
}
