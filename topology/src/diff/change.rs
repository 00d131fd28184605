//! Field-level changes: what a patch says about one entity.
//!
//! Why these variants: the common fields each get one, and the kind-specific details are replaced whole except
//! where churn is high and the details are big. Pods (status flips constantly, the spec almost never) are patched
//! field by field down to one container's status; workloads by their replica counts; services by their endpoint
//! counts. Everything else changes rarely and is small, so [`Change::Details`] replaces it. Health is never in a
//! change: the receiver recomputes it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    entity::{
        Container, ContainerStatus, Details, Endpoints, Entity, PodConditions, PodInfo, PodPhase, Reason,
        Replicas, ServiceInfo, Usage, WorkloadInfo,
    },
    id::Ref,
    labels::Labels,
};

/// One changed field of an entity, with its new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// New labels.
    Labels(Labels),
    /// New owner reference.
    Owner(Option<Ref>),
    /// New creation time.
    Created(Option<i64>),
    /// New measured usage.
    Usage(Option<Usage>),
    /// New details, whole.
    Details(Box<Details>),
    /// New replica counts of a workload.
    Replicas(Replicas),
    /// New endpoint counts of a service.
    Endpoints(Option<Endpoints>),
    /// New pod phase.
    PodPhase(PodPhase),
    /// New pod conditions.
    PodConditions(PodConditions),
    /// New pod `status.reason`.
    PodReason(Option<Reason>),
    /// The pod started or stopped terminating.
    PodDeleting(bool),
    /// The pod was bound to a node.
    PodNode(Option<Arc<str>>),
    /// New pod mounts.
    PodMounts(Vec<Ref>),
    /// New status of one container (same spec).
    ContainerStatus {
        /// Among the init containers rather than the main ones.
        init: bool,
        /// Position in the container list.
        index: u32,
        /// The new status.
        status: ContainerStatus,
    },
    /// New container list (spec changed or containers added/removed).
    Containers {
        /// The init containers rather than the main ones.
        init: bool,
        /// The new list.
        containers: Vec<Container>,
    },
}

impl Change {
    /// The variant's name, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Labels(_) => "labels",
            Change::Owner(_) => "owner",
            Change::Created(_) => "created",
            Change::Usage(_) => "usage",
            Change::Details(_) => "details",
            Change::Replicas(_) => "replicas",
            Change::Endpoints(_) => "endpoints",
            Change::PodPhase(_) => "pod_phase",
            Change::PodConditions(_) => "pod_conditions",
            Change::PodReason(_) => "pod_reason",
            Change::PodDeleting(_) => "pod_deleting",
            Change::PodNode(_) => "pod_node",
            Change::PodMounts(_) => "pod_mounts",
            Change::ContainerStatus { .. } => "container_status",
            Change::Containers { .. } => "containers",
        }
    }
}

/// The changes that turn `old` into `new` (same id and uid), health excluded.
pub(crate) fn diff_entity(old: &Entity, new: &Entity) -> Vec<Change> {
    let mut out = Vec::new();
    if old.labels != new.labels {
        out.push(Change::Labels(new.labels.clone()));
    }
    if old.owner != new.owner {
        out.push(Change::Owner(new.owner.clone()));
    }
    if old.created != new.created {
        out.push(Change::Created(new.created));
    }
    if old.usage != new.usage {
        out.push(Change::Usage(new.usage));
    }
    match (&old.details, &new.details) {
        (Details::Pod(a), Details::Pod(b)) => diff_pod(a, b, &mut out),
        (Details::Workload(a), Details::Workload(b)) if same_but_replicas(a, b) => {
            if a.replicas != b.replicas {
                out.push(Change::Replicas(b.replicas));
            }
        }
        (Details::Service(a), Details::Service(b)) if same_but_endpoints(a, b) => {
            if a.endpoints != b.endpoints {
                out.push(Change::Endpoints(b.endpoints));
            }
        }
        (a, b) => {
            if a != b {
                out.push(Change::Details(Box::new(b.clone())));
            }
        }
    }
    out
}

/// Whether two workloads differ at most in their replica counts, the one change small enough for its own op.
/// Destructured, so that a new field cannot be forgotten here (and silently never reach a replica).
fn same_but_replicas(a: &WorkloadInfo, b: &WorkloadInfo) -> bool {
    let WorkloadInfo { replicas: _, selector, misscheduled, progress_deadline_exceeded } = a;
    *selector == b.selector
        && *misscheduled == b.misscheduled
        && *progress_deadline_exceeded == b.progress_deadline_exceeded
}

/// Whether two services differ at most in their endpoint counts (destructured for the same reason).
fn same_but_endpoints(a: &ServiceInfo, b: &ServiceInfo) -> bool {
    let ServiceInfo { service_type, headless, selector, endpoints: _ } = a;
    *service_type == b.service_type && *headless == b.headless && *selector == b.selector
}

fn diff_pod(a: &PodInfo, b: &PodInfo, out: &mut Vec<Change>) {
    if a.phase != b.phase {
        out.push(Change::PodPhase(b.phase));
    }
    if a.conditions != b.conditions {
        out.push(Change::PodConditions(b.conditions));
    }
    if a.reason != b.reason {
        out.push(Change::PodReason(b.reason.clone()));
    }
    if a.deleting != b.deleting {
        out.push(Change::PodDeleting(b.deleting));
    }
    if a.node != b.node {
        out.push(Change::PodNode(b.node.clone()));
    }
    if a.mounts != b.mounts {
        out.push(Change::PodMounts(b.mounts.clone()));
    }
    diff_containers(true, &a.init_containers, &b.init_containers, out);
    diff_containers(false, &a.containers, &b.containers, out);
}

fn diff_containers(init: bool, a: &[Container], b: &[Container], out: &mut Vec<Change>) {
    let index_fits = u32::try_from(b.len()).is_ok();
    if index_fits && a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_spec(y)) {
        for (index, (x, y)) in (0_u32..).zip(a.iter().zip(b)) {
            if x.status != y.status {
                out.push(Change::ContainerStatus { init, index, status: y.status.clone() });
            }
        }
    } else if a != b {
        out.push(Change::Containers { init, containers: b.to_vec() });
    }
}

/// Applies one change to an entity; fails with the change's name when it does not fit the entity's kind or
/// names a container that does not exist.
pub(crate) fn apply_change(entity: &mut Entity, change: &Change) -> Result<(), &'static str> {
    let misfit = change.name();
    match change {
        Change::Labels(labels) => entity.labels = labels.clone(),
        Change::Owner(owner) => entity.owner.clone_from(owner),
        Change::Created(created) => entity.created = *created,
        Change::Usage(usage) => entity.usage = *usage,
        Change::Details(details) => {
            if !details.fits(entity.kind) {
                return Err(misfit);
            }
            entity.details = (**details).clone();
        }
        Change::Replicas(replicas) => match &mut entity.details {
            Details::Workload(w) => w.replicas = *replicas,
            _ => return Err(misfit),
        },
        Change::Endpoints(endpoints) => match &mut entity.details {
            Details::Service(s) => s.endpoints = *endpoints,
            _ => return Err(misfit),
        },
        _ => {
            let Details::Pod(pod) = &mut entity.details else { return Err(misfit) };
            apply_pod_change(pod, change).ok_or(misfit)?;
        }
    }
    Ok(())
}

fn apply_pod_change(pod: &mut PodInfo, change: &Change) -> Option<()> {
    match change {
        Change::PodPhase(phase) => pod.phase = *phase,
        Change::PodConditions(conditions) => pod.conditions = *conditions,
        Change::PodReason(reason) => pod.reason.clone_from(reason),
        Change::PodDeleting(deleting) => pod.deleting = *deleting,
        Change::PodNode(node) => pod.node.clone_from(node),
        Change::PodMounts(mounts) => pod.mounts.clone_from(mounts),
        Change::ContainerStatus { init, index, status } => {
            let list = if *init { &mut pod.init_containers } else { &mut pod.containers };
            list.get_mut(usize::try_from(*index).ok()?)?.status = status.clone();
        }
        Change::Containers { init, containers } => {
            let list = if *init { &mut pod.init_containers } else { &mut pod.containers };
            list.clone_from(containers);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        entity::{ContainerState, ServiceInfo},
        id::{EntityId, Kind},
    };

    fn api_pod() -> Entity {
        let mut pod =
            Entity::new(EntityId::new("kgents", Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-x2x9k"));
        if let Details::Pod(info) = &mut pod.details {
            info.phase = PodPhase::Running;
            info.containers = vec![Container::new("api", "ghcr.io/kgents/api:1.4.2")];
            info.containers[0].status.state = ContainerState::Running;
        }
        pod
    }

    #[test]
    fn a_container_status_change_is_one_small_change() {
        let old = api_pod();
        let mut new = old.clone();
        if let Details::Pod(info) = &mut new.details {
            info.containers[0].status = ContainerStatus {
                ready: false,
                restarts: 3,
                state: ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) },
                last_termination: Some(Reason::Error),
                last_termination_at: None,
            };
        }
        let changes = diff_entity(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].name(), "container_status");
        let mut patched = old.clone();
        for change in &changes {
            apply_change(&mut patched, change).unwrap();
        }
        assert_eq!(patched, new);
    }

    #[test]
    fn a_new_image_replaces_the_container_list() {
        let old = api_pod();
        let mut new = old.clone();
        if let Details::Pod(info) = &mut new.details {
            info.containers[0].image = "ghcr.io/kgents/api:1.4.3".into();
        }
        let changes = diff_entity(&old, &new);
        assert_eq!(changes.iter().map(Change::name).collect::<Vec<_>>(), ["containers"]);
    }

    #[test]
    fn a_pod_change_does_not_fit_a_service() {
        let mut svc = Entity::new(EntityId::new("c", Kind::Service, "ns", "web"));
        assert_eq!(apply_change(&mut svc, &Change::PodDeleting(true)), Err("pod_deleting"));
        assert_eq!(apply_change(&mut svc, &Change::Details(Box::new(Details::Reference))), Err("details"));
        let endpoints = Some(Endpoints { ready: 2, not_ready: 0 });
        assert_eq!(apply_change(&mut svc, &Change::Endpoints(endpoints)), Ok(()));
        assert_eq!(svc.service(), Some(&ServiceInfo { endpoints, ..ServiceInfo::default() }));
    }

    #[test]
    fn a_container_index_out_of_range_is_refused() {
        let mut pod = api_pod();
        let change = Change::ContainerStatus { init: false, index: 1, status: ContainerStatus::default() };
        assert_eq!(apply_change(&mut pod, &change), Err("container_status"));
    }

    #[test]
    fn a_workload_change_beyond_its_replicas_travels_whole() {
        let mut old = Entity::new(EntityId::new("c", Kind::DaemonSet, "ns", "agent"));
        old.details = Details::Workload(WorkloadInfo::default());
        for change in [
            |w: &mut WorkloadInfo| w.misscheduled = 2,
            |w: &mut WorkloadInfo| w.progress_deadline_exceeded = true,
            |w: &mut WorkloadInfo| w.replicas.ready = 3,
        ] {
            let mut new = old.clone();
            let Details::Workload(w) = &mut new.details else { unreachable!() };
            change(w);
            let changes = diff_entity(&old, &new);
            assert_eq!(changes.len(), 1);
            let mut replica = old.clone();
            apply_change(&mut replica, &changes[0]).unwrap();
            assert_eq!(replica, new, "{changes:?}");
        }
    }
}
