//! Relation edges, drawn only where the viewer is looking: along the lit chain of a selection (or finding, or
//! the autopilot) and from the entity under the pointer to its neighbours.
//!
//! Why not always, faintly: at 10k pods the map has ~30k relations, most of them pod → node lines that cross
//! every band; drawn always they turn the picture into grey felt and cost a draw of thousands of thin cylinders
//! on every animated frame. Drawn on demand they answer the question actually being asked ("what does this
//! depend on?") and stay a few dozen instances.

use std::collections::HashSet;

use three_d::{InnerSpace, Mat4, Quat, Rotation, Vec3};
use topology::{EntityId, Topology};

/// At most this many edges are drawn (a node hovered on a 10k-pod map has hundreds of pods).
pub const MAX_EDGES: usize = 2_000;

/// The edges to draw: every relation between two lit entities, and every relation of the hovered one. Each edge
/// once, in a stable order, at most [`MAX_EDGES`]. One pass over the relations, and none when nothing is lit or
/// hovered (the common case: no adjacency is kept between topologies, which at 10k pods cost more to build on
/// every update than all of this).
pub fn shown<S: std::hash::BuildHasher>(
    topology: &Topology,
    highlight: &HashSet<EntityId, S>,
    hovered: Option<&EntityId>,
) -> Vec<(EntityId, EntityId)> {
    if highlight.is_empty() && hovered.is_none() {
        return Vec::new();
    }
    let mut out: Vec<(EntityId, EntityId)> = topology
        .relations()
        .filter(|r| {
            hovered.is_some_and(|h| *h == r.from || *h == r.to)
                || (highlight.contains(&r.from) && highlight.contains(&r.to))
        })
        .map(|r| if r.from <= r.to { (r.from.clone(), r.to.clone()) } else { (r.to.clone(), r.from.clone()) })
        .collect();
    out.sort();
    out.dedup();
    out.truncate(MAX_EDGES);
    out
}

/// The transformation that makes three-d's unit cylinder (along +x from 0 to 1, radius 1) a rod of `radius`
/// from `a` to `b`; `None` when the ends coincide.
pub fn rod(a: [f32; 3], b: [f32; 3], radius: f32) -> Option<Mat4> {
    let from = Vec3::from(a);
    let along = Vec3::from(b) - from;
    let length = along.magnitude();
    if length < 1e-4 {
        return None;
    }
    let turn = Quat::between_vectors(Vec3::unit_x(), along / length);
    Some(
        Mat4::from_translation(from) * Mat4::from(turn) * Mat4::from_nonuniform_scale(length, radius, radius),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use three_d::Vec4;

    #[test]
    fn a_rod_starts_at_one_end_and_reaches_the_other() {
        let m = rod([1.0, 2.0, 3.0], [1.0, 6.0, 3.0], 0.05).unwrap();
        let start = m * Vec4::new(0.0, 0.0, 0.0, 1.0);
        let end = m * Vec4::new(1.0, 0.0, 0.0, 1.0);
        assert!((start.truncate() - Vec3::new(1.0, 2.0, 3.0)).magnitude() < 1e-5);
        assert!((end.truncate() - Vec3::new(1.0, 6.0, 3.0)).magnitude() < 1e-5);
        let rim = m * Vec4::new(0.5, 1.0, 0.0, 1.0);
        let axis = Vec3::new(1.0, 4.0, 3.0);
        assert!(((rim.truncate() - axis).magnitude() - 0.05).abs() < 1e-5, "the radius is kept");
        assert!(rod([0.0; 3], [0.0; 3], 0.1).is_none());
    }

    #[test]
    fn the_hovered_entity_shows_all_its_edges_and_a_chain_only_its_own() {
        let topo = topology::sample::kgents();
        let pod = topo.entities().find(|e| e.kind == topology::Kind::Pod).unwrap().id.clone();
        let degree = topo
            .relations()
            .filter(|r| r.from == pod || r.to == pod)
            .map(|r| if r.from == pod { r.to.clone() } else { r.from.clone() })
            .collect::<HashSet<_>>()
            .len();
        assert!(degree > 0);
        let hovered = shown(&topo, &HashSet::new(), Some(&pod));
        assert_eq!(hovered.len(), degree);
        assert!(hovered.iter().all(|(a, b)| a == &pod || b == &pod));

        let chain: HashSet<EntityId> = topology::finding::chain(&topo, &pod).into_iter().collect();
        assert!(chain.len() > 1);
        let lit = shown(&topo, &chain, None);
        assert!(!lit.is_empty());
        assert!(lit.iter().all(|(a, b)| chain.contains(a) && chain.contains(b)), "nothing leaves the chain");
        assert!(lit.iter().all(|(a, b)| a < b), "each edge once");
        assert!(shown(&topo, &HashSet::new(), None).is_empty(), "nothing looked at, nothing drawn");
    }
}
