//! The geometry of the layout: layers (Y), band sizes (X), the serpentine grid inside a band, and attention (Z).
//! All constants are in scene units (roughly metres: a pod is a cube of side ~1).

use crate::{health::HealthLevel, id::Kind};

/// Width of a namespace band along X. Fixed, so a band never pushes its neighbours (see [`crate::layout`]).
pub const BAND_WIDTH: f32 = 12.0;
/// Gap between two bands.
pub const BAND_GAP: f32 = 2.0;
/// Distance from one band's start to the next one's.
pub const BAND_PITCH: f32 = BAND_WIDTH + BAND_GAP;
/// A cluster's region is sized for a multiple of this many bands, so clusters to its right move only when it
/// crosses such a threshold.
pub const BANDS_PER_STEP: usize = 8;
/// Gap between two cluster regions.
pub const CLUSTER_GAP: f32 = 16.0;
/// How far an unhealthy entity comes forward (+Z, towards the default camera).
pub const ATTENTION_UNHEALTHY: f32 = 2.0;
/// How far a degraded entity comes forward.
pub const ATTENTION_DEGRADED: f32 = 0.75;

/// A horizontal layer of the map: what kind of thing lives at which height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// The namespace entity, above its band like a title.
    Namespace,
    /// Ingresses: the door.
    Ingress,
    /// Services: what clients talk to.
    Service,
    /// Deployments, statefulsets, daemonsets, cron jobs and their autoscalers: what operators edit.
    Workload,
    /// Replicasets and jobs: what controllers create.
    Controller,
    /// Pods: what runs.
    Pod,
    /// Claims, config maps and secrets: what pods mount.
    Config,
    /// Nodes: where it runs.
    Node,
    /// The cluster entity, under everything.
    Cluster,
}

impl Layer {
    /// Every layer, top to bottom.
    pub const ALL: [Layer; 9] = [
        Layer::Namespace,
        Layer::Ingress,
        Layer::Service,
        Layer::Workload,
        Layer::Controller,
        Layer::Pod,
        Layer::Config,
        Layer::Node,
        Layer::Cluster,
    ];

    /// The layer of a kind.
    pub fn of(kind: Kind) -> Layer {
        match kind {
            Kind::Namespace => Layer::Namespace,
            Kind::Ingress => Layer::Ingress,
            Kind::Service => Layer::Service,
            Kind::Deployment
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::CronJob
            | Kind::HorizontalPodAutoscaler => Layer::Workload,
            Kind::ReplicaSet | Kind::Job => Layer::Controller,
            Kind::Pod => Layer::Pod,
            Kind::PersistentVolumeClaim | Kind::ConfigMap | Kind::Secret => Layer::Config,
            Kind::Node => Layer::Node,
            Kind::Cluster => Layer::Cluster,
        }
    }

    /// The height of the layer.
    pub fn y(self) -> f32 {
        match self {
            Layer::Namespace => 14.0,
            Layer::Ingress => 12.0,
            Layer::Service => 10.0,
            Layer::Workload => 8.0,
            Layer::Controller => 6.0,
            Layer::Pod => 4.0,
            Layer::Config => 2.0,
            Layer::Node => 0.0,
            Layer::Cluster => -2.0,
        }
    }

    /// How many entities sit side by side in one row of a band.
    pub fn columns(self) -> usize {
        match self {
            Layer::Namespace | Layer::Cluster => 1,
            Layer::Ingress | Layer::Node => 4,
            Layer::Service | Layer::Workload | Layer::Controller | Layer::Config => 6,
            Layer::Pod => 8,
        }
    }

    /// The side of one grid cell: the distance between neighbours, and the most any entity of the layer moves
    /// when one entity is added to or removed from its group.
    pub fn cell(self) -> f32 {
        BAND_WIDTH / self.columns() as f32
    }
}

/// The height of a kind's layer (for drawing layer labels).
pub fn layer_y(kind: Kind) -> f32 {
    Layer::of(kind).y()
}

/// How far forward a health level brings an entity.
pub fn attention(level: HealthLevel) -> f32 {
    match level {
        HealthLevel::Unhealthy => ATTENTION_UNHEALTHY,
        HealthLevel::Degraded => ATTENTION_DEGRADED,
        HealthLevel::Healthy | HealthLevel::Unknown => 0.0,
    }
}

/// The position of the `index`-th member of a group in a band starting at `x_min`, before attention. Rows fill
/// left to right, then right to left (a serpentine), and grow backwards (−Z); consecutive slots are therefore
/// always neighbours, one [`Layer::cell`] apart.
pub(crate) fn slot(layer: Layer, x_min: f32, index: usize) -> [f32; 3] {
    let columns = layer.columns();
    let cell = layer.cell();
    let row = index / columns;
    let mut column = index % columns;
    if row % 2 == 1 {
        column = columns - 1 - column;
    }
    [x_min + (column as f32 + 0.5) * cell, layer.y(), -(row as f32) * cell]
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // Grid values are exact binary fractions; bit-for-bit equality is the contract.
mod tests {
    use super::*;

    #[test]
    fn slots_snake_through_the_band() {
        let xs: Vec<[f32; 3]> = (0..10).map(|i| slot(Layer::Pod, 0.0, i)).collect();
        assert_eq!(xs[0], [0.75, 4.0, 0.0]);
        assert_eq!(xs[7], [11.25, 4.0, 0.0]);
        assert_eq!(xs[8], [11.25, 4.0, -1.5]);
        assert_eq!(xs[9], [9.75, 4.0, -1.5]);
    }

    #[test]
    fn consecutive_slots_are_one_cell_apart() {
        for layer in Layer::ALL {
            for i in 0..40 {
                let (a, b) = (slot(layer, 0.0, i), slot(layer, 0.0, i + 1));
                let d = ((a[0] - b[0]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
                assert!((d - layer.cell()).abs() < 1e-4, "{layer:?} {i}: {d}");
            }
        }
    }

    #[test]
    fn layers_go_down_from_ingress_to_nodes() {
        let ys: Vec<f32> =
            [Kind::Ingress, Kind::Service, Kind::Deployment, Kind::ReplicaSet, Kind::Pod, Kind::Node]
                .into_iter()
                .map(layer_y)
                .collect();
        assert!(ys.windows(2).all(|w| w[0] > w[1]), "{ys:?}");
    }
}
