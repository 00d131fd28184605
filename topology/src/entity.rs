//! Entities: the compact projection of one Kubernetes object that the map, the inspector and the health rules
//! need, and nothing else.
//!
//! Why a single struct with a kind-specific [`Details`] enum rather than a trait object or one struct per kind:
//! entities travel over the wire (serde), are compared field by field to build diffs, and are matched on by the
//! health rules; an enum gives all three for free and keeps the browser code free of downcasts.
//!
//! Fields that every kind shares (labels, owner, creation time, usage) are top-level so a diff can address them
//! uniformly. Times are absolute unix seconds, never relative ages: an age would change every second and turn
//! every entity into a diff.

mod kinds;
mod pod;
mod reason;

use serde::{Deserialize, Serialize};

pub use self::{
    kinds::{
        ClusterInfo, CronJobInfo, Endpoints, HpaInfo, IngressInfo, JobInfo, JobState, NamespaceInfo,
        NodeInfo, NodePressure, PvcInfo, PvcPhase, Replicas, ServiceInfo, ServiceType, WorkloadInfo,
    },
    pod::{Container, ContainerState, ContainerStatus, PodConditions, PodInfo, PodPhase, Scheduling},
    reason::Reason,
};
use crate::{
    health::Health,
    id::{EntityId, IdError, Kind, Ref},
    labels::Labels,
    selector::SelectorError,
};

/// Why an entity cannot enter a topology.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityError {
    /// Its id is malformed.
    #[error(transparent)]
    Id(#[from] IdError),
    /// `entity.kind` disagrees with `entity.id.kind()`.
    #[error("entity {id} says it is a {kind}")]
    KindMismatch {
        /// The id.
        id: String,
        /// The kind field.
        kind: Kind,
    },
    /// The [`Details`] variant does not belong to the kind.
    #[error("entity {id} carries {details} details")]
    DetailsMismatch {
        /// The id.
        id: String,
        /// The name of the details variant.
        details: &'static str,
    },
    /// A workload selector Kubernetes would refuse.
    #[error("entity {id}: {source}")]
    Selector {
        /// The id.
        id: String,
        /// What is wrong with it.
        #[source]
        source: SelectorError,
    },
}

/// A Kubernetes condition status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cond {
    /// `"True"`.
    True,
    /// `"False"`.
    False,
    /// `"Unknown"`, or the condition is absent.
    #[default]
    Unknown,
}

impl Cond {
    /// From an optional boolean (absent → unknown).
    pub fn from_bool(value: Option<bool>) -> Cond {
        match value {
            Some(true) => Cond::True,
            Some(false) => Cond::False,
            None => Cond::Unknown,
        }
    }
}

/// CPU and memory amounts, either of which may be unset (a container without a memory request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_millis: Option<u64>,
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
}

impl Resources {
    /// The sum; unset plus unset stays unset, unset plus a value is the value.
    #[must_use]
    pub fn plus(self, other: Resources) -> Resources {
        fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            }
        }
        Resources {
            cpu_millis: add(self.cpu_millis, other.cpu_millis),
            memory_bytes: add(self.memory_bytes, other.memory_bytes),
        }
    }
}

/// Measured usage from metrics-server (pods and nodes only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory (working set) in bytes.
    pub memory_bytes: u64,
}

/// The kind-specific part of an entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Details {
    /// A cluster.
    Cluster(ClusterInfo),
    /// A namespace.
    Namespace(NamespaceInfo),
    /// A node.
    Node(NodeInfo),
    /// A deployment, replicaset, statefulset or daemonset.
    Workload(WorkloadInfo),
    /// A job.
    Job(JobInfo),
    /// A cron job.
    CronJob(CronJobInfo),
    /// A pod.
    Pod(Box<PodInfo>),
    /// A service.
    Service(ServiceInfo),
    /// An ingress.
    Ingress(IngressInfo),
    /// A persistent volume claim.
    Pvc(PvcInfo),
    /// A horizontal pod autoscaler.
    Hpa(HpaInfo),
    /// A config map or secret reference: a name, nothing else.
    Reference,
}

impl Details {
    /// Empty details of the right variant for a kind (an HPA gets a target with an empty name).
    pub fn for_kind(kind: Kind) -> Details {
        match kind {
            Kind::Cluster => Details::Cluster(ClusterInfo::default()),
            Kind::Namespace => Details::Namespace(NamespaceInfo::default()),
            Kind::Node => Details::Node(NodeInfo::default()),
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet => {
                Details::Workload(WorkloadInfo::default())
            }
            Kind::Job => Details::Job(JobInfo::default()),
            Kind::CronJob => Details::CronJob(CronJobInfo::default()),
            Kind::Pod => Details::Pod(Box::default()),
            Kind::Service => Details::Service(ServiceInfo::default()),
            Kind::Ingress => Details::Ingress(IngressInfo::default()),
            Kind::PersistentVolumeClaim => Details::Pvc(PvcInfo::default()),
            Kind::HorizontalPodAutoscaler => Details::Hpa(HpaInfo {
                target: Ref::new(Kind::Deployment, "", ""),
                min_replicas: 1,
                max_replicas: 1,
                current_replicas: 0,
                desired_replicas: 0,
                able_to_scale: Cond::Unknown,
                scaling_active: Cond::Unknown,
            }),
            Kind::ConfigMap | Kind::Secret => Details::Reference,
        }
    }

    /// The variant's name, for error messages.
    pub fn variant_name(&self) -> &'static str {
        match self {
            Details::Cluster(_) => "cluster",
            Details::Namespace(_) => "namespace",
            Details::Node(_) => "node",
            Details::Workload(_) => "workload",
            Details::Job(_) => "job",
            Details::CronJob(_) => "cronjob",
            Details::Pod(_) => "pod",
            Details::Service(_) => "service",
            Details::Ingress(_) => "ingress",
            Details::Pvc(_) => "pvc",
            Details::Hpa(_) => "hpa",
            Details::Reference => "reference",
        }
    }

    /// Whether this variant is the one [`Details::for_kind`] gives for `kind`.
    pub fn fits(&self, kind: Kind) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(&Details::for_kind(kind))
    }
}

/// One object of the cluster as the map sees it.
///
/// `health` is *derived*: [`crate::Topology`] recomputes it with [`crate::health::assess`] whenever the entity
/// enters or changes, so whatever the producer put there is overwritten. It is never sent in patches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Stable identity (cluster, kind, namespace, name).
    pub id: EntityId,
    /// Same as `id.kind()`; a field because everything filters on it.
    pub kind: Kind,
    /// `metadata.uid`; empty for references. A new uid under the same id is a new incarnation.
    pub uid: String,
    /// `metadata.creationTimestamp`, unix seconds.
    pub created: Option<i64>,
    /// Capped labels.
    pub labels: Labels,
    /// The controlling owner reference, if any.
    pub owner: Option<Ref>,
    /// Measured usage (pods and nodes, when metrics-server is available).
    pub usage: Option<Usage>,
    /// Derived health with reasons.
    pub health: Health,
    /// Kind-specific fields.
    pub details: Details,
}

impl Entity {
    /// A fresh entity of the id's kind with empty details.
    pub fn new(id: EntityId) -> Entity {
        let kind = id.kind();
        Entity {
            id,
            kind,
            uid: String::new(),
            created: None,
            labels: Labels::new(),
            owner: None,
            usage: None,
            health: Health::default(),
            details: Details::for_kind(kind),
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.id.name()
    }

    /// The namespace, empty for cluster-scoped kinds.
    pub fn namespace(&self) -> &str {
        self.id.namespace()
    }

    /// The pod details, if this is a pod.
    pub fn pod(&self) -> Option<&PodInfo> {
        match &self.details {
            Details::Pod(p) => Some(p),
            _ => None,
        }
    }

    /// The service details, if this is a service.
    pub fn service(&self) -> Option<&ServiceInfo> {
        match &self.details {
            Details::Service(s) => Some(s),
            _ => None,
        }
    }

    /// Checks the invariants a topology relies on: valid id, `kind == id.kind()`, details of the right variant,
    /// a valid workload selector.
    ///
    /// # Errors
    /// The first broken invariant, as an [`EntityError`].
    pub fn validate(&self) -> Result<(), EntityError> {
        self.id.validate()?;
        if self.kind != self.id.kind() {
            return Err(EntityError::KindMismatch { id: self.id.to_string(), kind: self.kind });
        }
        if !self.details.fits(self.kind) {
            return Err(EntityError::DetailsMismatch {
                id: self.id.to_string(),
                details: self.details.variant_name(),
            });
        }
        if let Details::Workload(w) = &self.details {
            w.selector
                .validate()
                .map_err(|source| EntityError::Selector { id: self.id.to_string(), source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_entity_has_details_fitting_its_kind() {
        for kind in Kind::ALL {
            let ns = if kind.is_namespaced() { "ns" } else { "" };
            let entity = Entity::new(EntityId::new("c", kind, ns, "n"));
            assert_eq!(entity.validate(), Ok(()), "{kind}");
        }
    }

    #[test]
    fn details_of_another_kind_are_refused() {
        let mut entity = Entity::new(EntityId::new("c", Kind::Pod, "ns", "p"));
        entity.details = Details::Reference;
        assert_eq!(entity.validate().unwrap_err().to_string(), "entity c/pod/ns/p carries reference details");
        entity.details = Details::for_kind(Kind::Pod);
        entity.kind = Kind::Service;
        assert_eq!(entity.validate().unwrap_err().to_string(), "entity c/pod/ns/p says it is a service");
    }

    #[test]
    fn resources_add_with_unset_as_absent() {
        let a = Resources { cpu_millis: Some(100), memory_bytes: None };
        let b = Resources { cpu_millis: None, memory_bytes: None };
        assert_eq!(a.plus(b), Resources { cpu_millis: Some(100), memory_bytes: None });
        assert_eq!(b.plus(b), Resources::default());
    }
}
