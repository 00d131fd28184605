//! Test builders and proptest strategies shared by the unit tests: small id universes so that random
//! topologies overlap (same ids in both, recreated uids, services selecting pods, pods on nodes).

use std::sync::Arc;

use proptest::{collection::vec, option, prelude::*, sample::select};

use crate::{
    entity::{
        Cond, Container, ContainerState, ContainerStatus, Details, Endpoints, Entity, HpaInfo, IngressInfo,
        NodeInfo, NodePressure, PodConditions, PodInfo, PodPhase, Reason, Replicas, Scheduling, ServiceInfo,
        Usage, WorkloadInfo,
    },
    id::{EntityId, Kind, Ref},
    labels::Labels,
    selector::LabelSelector,
    topology::Topology,
};

pub(crate) const NAMESPACES: [&str; 3] = ["ns-a", "ns-b", "ns-c"];
pub(crate) const NAMES: [&str; 5] = ["n0", "n1", "n2", "n3", "n4"];
const APPS: [&str; 2] = ["web", "db"];

/// A topology holding these entities (later ones replace earlier ones with the same id).
pub(crate) fn topology_of(entities: Vec<Entity>, seq: u64) -> Topology {
    let mut topology = Topology::new();
    for entity in entities {
        topology.upsert(entity).expect("fixture entities are valid");
    }
    topology.set_seq(seq);
    topology
}

fn arb_reason() -> impl Strategy<Value = Option<Reason>> {
    option::of(select(vec![
        Reason::CrashLoopBackOff,
        Reason::ImagePullBackOff,
        Reason::ContainerCreating,
        Reason::OOMKilled,
        Reason::Completed,
        Reason::Error,
        Reason::Other("Custom".into()),
    ]))
}

fn arb_cond() -> impl Strategy<Value = Cond> {
    select(vec![Cond::True, Cond::False, Cond::Unknown])
}

fn arb_container_status() -> impl Strategy<Value = ContainerStatus> {
    let state = prop_oneof![
        arb_reason().prop_map(|reason| ContainerState::Waiting { reason }),
        Just(ContainerState::Running),
        (arb_reason(), 0..3_i32).prop_map(|(reason, exit_code)| ContainerState::Terminated {
            reason,
            exit_code,
            signal: 0
        }),
    ];
    (any::<bool>(), 0..4_u32, state, arb_reason()).prop_map(|(ready, restarts, state, last_termination)| {
        ContainerStatus { ready, restarts, state, last_termination, last_termination_at: None }
    })
}

fn arb_container() -> impl Strategy<Value = Container> {
    (select(vec!["app", "proxy"]), select(vec!["img:1", "img:2"]), arb_container_status())
        .prop_map(|(name, image, status)| Container { status, ..Container::new(name, image) })
}

fn arb_pod(namespace: &'static str) -> impl Strategy<Value = Details> {
    let phase = select(vec![PodPhase::Pending, PodPhase::Running, PodPhase::Succeeded, PodPhase::Failed]);
    let scheduled = select(vec![Scheduling::Pending, Scheduling::Scheduled, Scheduling::Unschedulable]);
    let mounts = vec(
        (select(vec![Kind::PersistentVolumeClaim, Kind::ConfigMap, Kind::Secret]), select(NAMES.to_vec()))
            .prop_map(move |(kind, name)| Ref::new(kind, namespace, name)),
        0..2,
    );
    (
        phase,
        scheduled,
        arb_cond(),
        any::<bool>(),
        option::of(select(NAMES.to_vec())),
        vec(arb_container(), 0..3),
        mounts,
    )
        .prop_map(|(phase, scheduled, ready, deleting, node, containers, mounts)| {
            Details::Pod(Box::new(PodInfo {
                phase,
                conditions: PodConditions { scheduled, initialized: Cond::True, ready },
                deleting,
                node: node.map(Arc::from),
                containers,
                mounts,
                ..PodInfo::default()
            }))
        })
}

fn arb_details(kind: Kind, namespace: &'static str) -> BoxedStrategy<Details> {
    match kind {
        Kind::Pod => arb_pod(namespace).boxed(),
        Kind::Deployment | Kind::ReplicaSet => (0..4_u32, 0..4_u32, select(APPS.to_vec()))
            .prop_map(|(desired, ready, app)| {
                Details::Workload(WorkloadInfo {
                    replicas: Replicas {
                        desired,
                        current: desired,
                        ready,
                        available: ready,
                        updated: desired,
                    },
                    selector: LabelSelector::equality([("app", app)]),
                    ..WorkloadInfo::default()
                })
            })
            .boxed(),
        Kind::Service => (option::of(select(APPS.to_vec())), option::of((0..3_u32, 0..2_u32)))
            .prop_map(|(app, endpoints)| {
                Details::Service(ServiceInfo {
                    selector: app.map(|a| [("app".to_owned(), a.to_owned())].into()).unwrap_or_default(),
                    endpoints: endpoints.map(|(ready, not_ready)| Endpoints { ready, not_ready }),
                    ..ServiceInfo::default()
                })
            })
            .boxed(),
        Kind::Node => (arb_cond(), any::<bool>(), any::<bool>())
            .prop_map(|(ready, pressure, unschedulable)| {
                let pressures = if pressure { vec![NodePressure::Memory] } else { Vec::new() };
                Details::Node(NodeInfo { ready, pressures, unschedulable, ..NodeInfo::default() })
            })
            .boxed(),
        Kind::Ingress => (vec(select(NAMES.to_vec()), 0..2), any::<bool>())
            .prop_map(|(backends, has_address)| {
                let backends = backends.into_iter().map(str::to_owned).collect();
                Details::Ingress(IngressInfo { backends, has_address, ..IngressInfo::default() })
            })
            .boxed(),
        Kind::HorizontalPodAutoscaler => (select(NAMES.to_vec()), 1..4_u32)
            .prop_map(move |(target, desired)| {
                Details::Hpa(HpaInfo {
                    target: Ref::new(Kind::Deployment, namespace, target),
                    min_replicas: 1,
                    max_replicas: 3,
                    current_replicas: desired,
                    desired_replicas: desired,
                    able_to_scale: Cond::True,
                    scaling_active: Cond::True,
                })
            })
            .boxed(),
        other => Just(Details::for_kind(other)).boxed(),
    }
}

/// A random valid entity from a small universe of ids.
pub(crate) fn arb_entity() -> impl Strategy<Value = Entity> {
    let kinds = vec![
        Kind::Namespace,
        Kind::Node,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::Pod,
        Kind::Pod,
        Kind::Service,
        Kind::Ingress,
        Kind::HorizontalPodAutoscaler,
        Kind::ConfigMap,
        Kind::PersistentVolumeClaim,
    ];
    (select(vec!["c1", "c1", "c1", "c2"]), select(kinds), select(NAMESPACES.to_vec()), select(NAMES.to_vec()))
        .prop_flat_map(|(cluster, kind, namespace, name)| {
            let (namespace_of_id, name) = match kind {
                Kind::Namespace => ("", namespace),
                k if k.is_namespaced() => (namespace, name),
                _ => ("", name),
            };
            let id = EntityId::new(cluster, kind, namespace_of_id, name);
            let labels = vec((select(vec!["app", "tier"]), select(APPS.to_vec())), 0..3);
            let owner = option::of(select(NAMES.to_vec()))
                .prop_map(move |owner| owner.map(|o| Ref::new(Kind::ReplicaSet, namespace, o)));
            (
                Just(id),
                select(vec!["uid-1", "uid-2"]),
                option::of(0..4_i64),
                labels,
                owner,
                option::of((0..500_u64, 0..1000_u64)),
                arb_details(kind, namespace),
            )
        })
        .prop_map(|(id, uid, created, labels, owner, usage, details)| {
            let mut entity = Entity::new(id);
            entity.uid = uid.to_owned();
            entity.created = created;
            entity.labels = Labels::from_pairs(labels);
            if entity.kind.is_namespaced() {
                entity.owner = owner;
            }
            entity.usage = usage.map(|(cpu_millis, memory_bytes)| Usage { cpu_millis, memory_bytes });
            entity.details = details;
            entity
        })
}

/// A random topology of up to `max` upserts at a sequence number below 5.
pub(crate) fn arb_topology(max: usize) -> impl Strategy<Value = Topology> {
    (vec(arb_entity(), 0..max), 0..5_u64).prop_map(|(entities, seq)| topology_of(entities, seq))
}

/// A change the owner could make.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Insert or replace.
    Upsert(Box<Entity>),
    /// Remove the n-th entity (modulo the count).
    Remove(usize),
}

pub(crate) fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![3 => arb_entity().prop_map(|e| Mutation::Upsert(Box::new(e))), 1 => any::<usize>().prop_map(Mutation::Remove)]
}

/// Applies mutations through one transaction; returns its diff (if anything changed).
pub(crate) fn mutate(topology: &mut Topology, mutations: &[Mutation]) -> Option<crate::Diff> {
    let mut tx = topology.transaction();
    for mutation in mutations {
        match mutation {
            Mutation::Upsert(entity) => {
                tx.upsert((**entity).clone()).expect("fixture entities are valid");
            }
            Mutation::Remove(n) => {
                let len = tx.topology().len();
                if len > 0 {
                    let id = tx.topology().entities().nth(n % len).map(|e| e.id.clone());
                    if let Some(id) = id {
                        tx.remove(&id);
                    }
                }
            }
        }
    }
    tx.commit()
}
