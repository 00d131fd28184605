//! Identity: who an entity is, in a form that survives collector restarts, reconnects and several clusters.
//!
//! Why this shape:
//! - [`EntityId`] is the *public* identity, `cluster/kind/namespace/name`. The cluster is part of it from day one
//!   so that a hub watching two clusters never has to migrate ids. Kubernetes references between objects
//!   (a pod's `nodeName`, a volume's `claimName`, an ingress backend) are by name, never by uid, so relations
//!   can only be expressed on names; the uid lives on [`crate::Entity`] and tells incarnations apart (a
//!   pod deleted and recreated under the same name is a *new* entity on the wire, see [`crate::diff`]).
//! - An id is one `Arc` of its parts, and the parts' strings are `Arc<str>` shared with other ids: ids are cloned
//!   into relations, indexes, diffs and the layout, and a clone is one reference-count increment and 8 bytes.
//! - [`EntityKey`] is a compact number assigned by the owning [`crate::Topology`]. It is *not* an identity
//!   anyone should store across snapshots; it exists so that a patch on the wire names its entity in 1–4 bytes
//!   instead of ~50 (see [`crate::protocol`]).

use std::{fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Serialize};

/// What can be wrong with an id or a kind name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The kind name is not one of [`Kind::ALL`] nor a kubectl short name.
    #[error("unknown kind `{0}`")]
    UnknownKind(String),
    /// The text does not have the four `/`-separated parts `cluster/kind/namespace/name`.
    #[error("`{0}` is not an entity id of the form cluster/kind/namespace/name")]
    Malformed(String),
    /// The cluster or the name is empty.
    #[error("entity id `{0}` has an empty cluster or name")]
    Empty(String),
    /// A part contains a `/`, which would make the textual form ambiguous.
    #[error("entity id `{0}` has a `/` inside one of its parts")]
    Slash(String),
    /// A cluster-scoped kind was given a namespace, or a namespaced kind none.
    #[error("entity id `{0}`: {1} objects {2}")]
    Scope(String, Kind, &'static str),
}

/// The kinds of entity Gestalt Live shows. `ConfigMap` and `Secret` are *references*: the entity carries only a
/// name (which pods mount), never data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The cluster itself (one per cluster, named after it).
    Cluster,
    /// A namespace (cluster-scoped).
    Namespace,
    /// A node (cluster-scoped).
    Node,
    /// An apps/v1 `Deployment`.
    Deployment,
    /// An apps/v1 `ReplicaSet`.
    ReplicaSet,
    /// An apps/v1 `StatefulSet`.
    StatefulSet,
    /// An apps/v1 `DaemonSet`.
    DaemonSet,
    /// A batch/v1 `Job`.
    Job,
    /// A batch/v1 `CronJob`.
    CronJob,
    /// A pod.
    Pod,
    /// A service.
    Service,
    /// A networking/v1 `Ingress`.
    Ingress,
    /// A `PersistentVolumeClaim`.
    PersistentVolumeClaim,
    /// An autoscaling/v2 `HorizontalPodAutoscaler`.
    HorizontalPodAutoscaler,
    /// A reference to a `ConfigMap` by name (no data).
    ConfigMap,
    /// A reference to a `Secret` by name (no data, ever).
    Secret,
}

impl Kind {
    /// Every kind, in the order used for sorting.
    pub const ALL: [Kind; 16] = [
        Kind::Cluster,
        Kind::Namespace,
        Kind::Node,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::Pod,
        Kind::Service,
        Kind::Ingress,
        Kind::PersistentVolumeClaim,
        Kind::HorizontalPodAutoscaler,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    /// The lowercase Kubernetes kind name (`"pod"`, `"replicaset"`, `"horizontalpodautoscaler"`), also used in
    /// JSON and in URLs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Namespace => "namespace",
            Kind::Node => "node",
            Kind::Deployment => "deployment",
            Kind::ReplicaSet => "replicaset",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
            Kind::Job => "job",
            Kind::CronJob => "cronjob",
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::Ingress => "ingress",
            Kind::PersistentVolumeClaim => "persistentvolumeclaim",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscaler",
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }

    /// Whether objects of this kind live in a namespace (everything but cluster, namespace and node).
    pub fn is_namespaced(&self) -> bool {
        !matches!(self, Kind::Cluster | Kind::Namespace | Kind::Node)
    }

    /// Whether entities of this kind are name-only references (`ConfigMap`, `Secret`).
    pub fn is_reference(&self) -> bool {
        matches!(self, Kind::ConfigMap | Kind::Secret)
    }

    /// Whether this kind owns pods through a replica count (deployment, replicaset, statefulset, daemonset).
    pub fn is_workload(&self) -> bool {
        matches!(self, Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = IdError;

    /// Accepts the names of [`Kind::as_str`], the capitalised Kubernetes kinds and kubectl's short names
    /// (`po`, `svc`, `deploy`, `rs`, `sts`, `ds`, `cj`, `ing`, `pvc`, `hpa`, `cm`, `ns`, `no`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "po" | "pods" => Some(Kind::Pod),
            "svc" | "services" => Some(Kind::Service),
            "deploy" | "deployments" => Some(Kind::Deployment),
            "rs" | "replicasets" => Some(Kind::ReplicaSet),
            "sts" | "statefulsets" => Some(Kind::StatefulSet),
            "ds" | "daemonsets" => Some(Kind::DaemonSet),
            "jobs" => Some(Kind::Job),
            "cj" | "cronjobs" => Some(Kind::CronJob),
            "ing" | "ingresses" => Some(Kind::Ingress),
            "pvc" | "persistentvolumeclaims" => Some(Kind::PersistentVolumeClaim),
            "hpa" | "horizontalpodautoscalers" => Some(Kind::HorizontalPodAutoscaler),
            "cm" | "configmaps" => Some(Kind::ConfigMap),
            "secrets" => Some(Kind::Secret),
            "ns" | "namespaces" => Some(Kind::Namespace),
            "no" | "nodes" => Some(Kind::Node),
            "clusters" => Some(Kind::Cluster),
            _ => None,
        };
        alias
            .or_else(|| Kind::ALL.into_iter().find(|k| k.as_str() == lower))
            .ok_or_else(|| IdError::UnknownKind(s.to_owned()))
    }
}

/// The stable public identity of an entity: `cluster/kind/namespace/name` (namespace empty for cluster-scoped
/// kinds). Ordered by cluster, namespace, kind, name, so that a range of a `BTreeMap` keyed by ids is "all pods of
/// one namespace".
///
/// One pointer to shared parts: ids are held many times over (the relation index keeps two per edge, ~31k edges
/// at 10k pods; the label index one per pod and label; diffs one per op), and at 56 bytes each they were a fifth
/// of a topology's memory. Equality, order and hash are the parts'; the wire shape is the parts' too.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntityId(Arc<Parts>);

#[derive(PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename = "EntityId")]
struct Parts {
    cluster: Arc<str>,
    namespace: Arc<str>,
    kind: Kind,
    name: Arc<str>,
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityId")
            .field("cluster", &self.0.cluster)
            .field("namespace", &self.0.namespace)
            .field("kind", &self.0.kind)
            .field("name", &self.0.name)
            .finish()
    }
}

impl EntityId {
    /// An id. Nothing is checked here; [`EntityId::validate`] (called by the topology on insertion) checks scope and
    /// emptiness.
    pub fn new(
        cluster: impl Into<Arc<str>>,
        kind: Kind,
        namespace: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
    ) -> Self {
        EntityId(Arc::new(Parts {
            cluster: cluster.into(),
            namespace: namespace.into(),
            kind,
            name: name.into(),
        }))
    }

    /// The id of a cluster-scoped object (node, namespace, cluster).
    pub fn cluster_scoped(cluster: impl Into<Arc<str>>, kind: Kind, name: impl Into<Arc<str>>) -> Self {
        EntityId::new(cluster, kind, "", name)
    }

    /// The cluster this entity belongs to.
    pub fn cluster(&self) -> &str {
        &self.0.cluster
    }

    /// The namespace, empty for cluster-scoped kinds.
    pub fn namespace(&self) -> &str {
        &self.0.namespace
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The shared cluster string (cheap to clone into other ids).
    pub fn cluster_arc(&self) -> &Arc<str> {
        &self.0.cluster
    }

    /// The shared namespace string (cheap to clone into other ids).
    pub fn namespace_arc(&self) -> &Arc<str> {
        &self.0.namespace
    }

    /// The shared name string.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.0.name
    }

    /// Another object of the same cluster, found through a by-name reference.
    #[must_use]
    pub fn sibling(&self, target: &Ref) -> EntityId {
        EntityId::new(
            Arc::clone(&self.0.cluster),
            target.kind,
            Arc::clone(&target.namespace),
            Arc::clone(&target.name),
        )
    }

    /// Checks the id is well-formed: non-empty cluster and name, no `/` inside parts, namespace present exactly
    /// for namespaced kinds.
    ///
    /// # Errors
    /// [`IdError::Empty`], [`IdError::Slash`] or [`IdError::Scope`].
    pub fn validate(&self) -> Result<(), IdError> {
        if self.0.cluster.is_empty() || self.0.name.is_empty() {
            return Err(IdError::Empty(self.to_string()));
        }
        if [&self.0.cluster, &self.0.namespace, &self.0.name].iter().any(|p| p.contains('/')) {
            return Err(IdError::Slash(self.to_string()));
        }
        match (self.0.kind.is_namespaced(), self.0.namespace.is_empty()) {
            (true, true) => Err(IdError::Scope(self.to_string(), self.0.kind, "need a namespace")),
            (false, false) => Err(IdError::Scope(self.to_string(), self.0.kind, "are cluster-scoped")),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.0.cluster, self.0.kind, self.0.namespace, self.0.name)
    }
}

impl FromStr for EntityId {
    type Err = IdError;

    /// Parses the [`Display`](fmt::Display) form `cluster/kind/namespace/name` and validates it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let [cluster, kind, namespace, name] = parts[..] else {
            return Err(IdError::Malformed(s.to_owned()));
        };
        let id = EntityId::new(cluster, kind.parse()?, namespace, name);
        id.validate()?;
        Ok(id)
    }
}

/// A compact numeric handle for an entity, assigned by the owning [`crate::Topology`] on insertion, never reused
/// by that topology, and carried by snapshots and diffs. Patches and removals name entities by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntityKey(pub u32);

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A by-name reference from one object to another in the same cluster, as Kubernetes writes them (owner
/// references, `nodeName`, `claimName`, ingress backends, HPA targets). The target may not exist (yet).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ref {
    /// The target's kind.
    pub kind: Kind,
    /// The target's namespace (empty for cluster-scoped targets such as nodes).
    pub namespace: Arc<str>,
    /// The target's name.
    pub name: Arc<str>,
}

impl Ref {
    /// A reference to `kind/namespace/name`.
    pub fn new(kind: Kind, namespace: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        Ref { kind, namespace: namespace.into(), name: name.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn kubectl_short_names_parse() {
        assert_eq!("svc".parse::<Kind>(), Ok(Kind::Service));
        assert_eq!("hpa".parse::<Kind>(), Ok(Kind::HorizontalPodAutoscaler));
        assert_eq!("Deployment".parse::<Kind>(), Ok(Kind::Deployment));
        assert_eq!("widget".parse::<Kind>(), Err(IdError::UnknownKind("widget".into())));
    }

    #[test]
    fn an_id_prints_and_parses_as_cluster_kind_namespace_name() {
        let id = EntityId::new("kgents", Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-x2x9k");
        assert_eq!(id.to_string(), "kgents/pod/kgents-triad/kgent-api-7d9c8b5f6-x2x9k");
        assert_eq!("kgents/pod/kgents-triad/kgent-api-7d9c8b5f6-x2x9k".parse::<EntityId>(), Ok(id));
        let node = EntityId::cluster_scoped("kgents", Kind::Node, "kgents-worker");
        assert_eq!(node.to_string(), "kgents/node//kgents-worker");
        assert_eq!("kgents/node//kgents-worker".parse::<EntityId>(), Ok(node));
    }

    #[test]
    fn scope_mistakes_are_rejected() {
        assert!(matches!("kgents/pod//p".parse::<EntityId>(), Err(IdError::Scope(_, Kind::Pod, _))));
        assert!(matches!("kgents/node/ns/n".parse::<EntityId>(), Err(IdError::Scope(_, Kind::Node, _))));
        assert!(matches!("kgents/pod/ns".parse::<EntityId>(), Err(IdError::Malformed(_))));
        assert!(matches!("/pod/ns/p".parse::<EntityId>(), Err(IdError::Empty(_))));
    }

    #[test]
    fn ids_sort_by_cluster_then_namespace_then_kind() {
        let mut ids = [
            EntityId::new("b", Kind::Pod, "a", "z"),
            EntityId::new("a", Kind::Service, "b", "a"),
            EntityId::new("a", Kind::Pod, "b", "b"),
            EntityId::new("a", Kind::Pod, "a", "c"),
        ];
        ids.sort();
        let printed: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["a/pod/a/c", "a/pod/b/b", "a/service/b/a", "b/pod/a/z"]);
    }
}
