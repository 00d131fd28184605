//! Relations: typed edges between entities, *derived* from the entities themselves.
//!
//! Every edge Kubernetes knows about is written on one of its two ends: a child names its owner, a pod names its
//! node and its volumes, an ingress names its backends, an HPA its target, and a service's selector picks pods by
//! their labels. So relations are a pure function of the entities ([`references`] plus [`selects`]), and the
//! topology maintains them incrementally instead of storing them as separate facts. Consequences:
//! - relations never travel on the wire, the receiver recomputes them: diffs stay small and the two sides
//!   cannot disagree;
//! - an edge may name an entity the collector has not seen yet (watchers race at start-up). It is kept, and
//!   [`crate::Topology::relations`] shows it only once both ends exist, so nothing has to be re-derived when the
//!   late end arrives and a deleted entity leaves no ghost edge behind.
//!
//! Cross-namespace edges are allowed (a pod runs on a cluster-scoped node; an owner reference may point at a
//! cluster-scoped owner). Edges never cross clusters.

use serde::{Deserialize, Serialize};

use crate::{
    entity::{Details, Entity},
    id::{EntityId, Kind, Ref},
    selector::service_selects,
};

/// The type of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// Owner → owned (from `ownerReferences` of the owned object).
    Owns,
    /// Service → pod (the service's selector matches the pod's labels).
    Selects,
    /// Ingress → service (a backend of the ingress).
    RoutesTo,
    /// Pod → node (`spec.nodeName`).
    RunsOn,
    /// Pod → persistent volume claim, config map or secret (by name).
    Mounts,
    /// HPA → its scale target.
    Scales,
}

impl RelationKind {
    /// Every relation kind.
    pub const ALL: [RelationKind; 6] = [
        RelationKind::Owns,
        RelationKind::Selects,
        RelationKind::RoutesTo,
        RelationKind::RunsOn,
        RelationKind::Mounts,
        RelationKind::Scales,
    ];

    /// The snake-case name (`"routes_to"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RelationKind::Owns => "owns",
            RelationKind::Selects => "selects",
            RelationKind::RoutesTo => "routes_to",
            RelationKind::RunsOn => "runs_on",
            RelationKind::Mounts => "mounts",
            RelationKind::Scales => "scales",
        }
    }
}

/// A directed, typed edge. Ordered by source first, so all edges leaving an entity form one range.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Relation {
    /// The source.
    pub from: EntityId,
    /// The type.
    pub kind: RelationKind,
    /// The target.
    pub to: EntityId,
}

impl Relation {
    /// An edge.
    pub fn new(from: EntityId, kind: RelationKind, to: EntityId) -> Self {
        Relation { from, kind, to }
    }
}

/// The edges an entity's own by-name references imply (every kind but `selects`), in a deterministic order.
/// The targets may not exist.
pub fn references(entity: &Entity) -> Vec<Relation> {
    let id = &entity.id;
    let mut out = Vec::new();
    if let Some(owner) = &entity.owner {
        out.push(Relation::new(id.sibling(owner), RelationKind::Owns, id.clone()));
    }
    match &entity.details {
        Details::Pod(pod) => {
            if let Some(node) = &pod.node {
                let node = Ref { kind: Kind::Node, namespace: "".into(), name: node.clone() };
                out.push(Relation::new(id.clone(), RelationKind::RunsOn, id.sibling(&node)));
            }
            for mount in &pod.mounts {
                out.push(Relation::new(id.clone(), RelationKind::Mounts, id.sibling(mount)));
            }
        }
        Details::Ingress(ingress) => {
            for backend in &ingress.backends {
                let target = Ref::new(Kind::Service, id.namespace_arc().clone(), backend.as_str());
                out.push(Relation::new(id.clone(), RelationKind::RoutesTo, id.sibling(&target)));
            }
        }
        Details::Hpa(hpa) => {
            out.push(Relation::new(id.clone(), RelationKind::Scales, id.sibling(&hpa.target)));
        }
        _ => {}
    }
    out
}

/// Whether `service` selects `pod`: same cluster and namespace, a non-empty service selector, every pair present
/// in the pod's labels.
pub fn selects(service: &Entity, pod: &Entity) -> bool {
    let Some(svc) = service.service() else { return false };
    pod.kind == Kind::Pod
        && service.id.cluster() == pod.id.cluster()
        && service.id.namespace() == pod.id.namespace()
        && service_selects(&svc.selector, &pod.labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{entity::IngressInfo, labels::Labels};

    fn pod() -> Entity {
        let mut pod = Entity::new(EntityId::new("kgents", Kind::Pod, "kgents-triad", "postgres-0"));
        pod.owner = Some(Ref::new(Kind::StatefulSet, "kgents-triad", "postgres"));
        pod.labels = Labels::from_pairs([("app", "postgres")]);
        if let Details::Pod(info) = &mut pod.details {
            info.node = Some("kgents-worker".into());
            info.mounts = vec![
                Ref::new(Kind::PersistentVolumeClaim, "kgents-triad", "data-postgres-0"),
                Ref::new(Kind::Secret, "kgents-triad", "postgres-credentials"),
            ];
        }
        pod
    }

    #[test]
    fn a_pod_references_its_owner_node_and_mounts() {
        let printed: Vec<String> =
            references(&pod()).iter().map(|r| format!("{} {} {}", r.from, r.kind.as_str(), r.to)).collect();
        assert_eq!(
            printed,
            [
                "kgents/statefulset/kgents-triad/postgres owns kgents/pod/kgents-triad/postgres-0",
                "kgents/pod/kgents-triad/postgres-0 runs_on kgents/node//kgents-worker",
                "kgents/pod/kgents-triad/postgres-0 mounts kgents/persistentvolumeclaim/kgents-triad/data-postgres-0",
                "kgents/pod/kgents-triad/postgres-0 mounts kgents/secret/kgents-triad/postgres-credentials",
            ]
        );
    }

    #[test]
    fn an_ingress_routes_to_services_in_its_namespace() {
        let mut ingress = Entity::new(EntityId::new("kgents", Kind::Ingress, "kgents-gateway", "public"));
        ingress.details =
            Details::Ingress(IngressInfo { backends: vec!["kong-proxy".into()], ..Default::default() });
        let edges = references(&ingress);
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].to.to_string(), "kgents/service/kgents-gateway/kong-proxy");
    }

    #[test]
    fn a_service_selects_only_pods_of_its_namespace() {
        let mut svc = Entity::new(EntityId::new("kgents", Kind::Service, "kgents-triad", "postgres"));
        if let Details::Service(info) = &mut svc.details {
            info.selector = [("app".to_owned(), "postgres".to_owned())].into();
        }
        assert!(selects(&svc, &pod()));
        let mut elsewhere = pod();
        elsewhere.id = EntityId::new("kgents", Kind::Pod, "other", "postgres-0");
        assert!(!selects(&svc, &elsewhere));
    }
}
