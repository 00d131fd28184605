//! The resources the simulated API server serves, in one static table.
//!
//! Discovery, routing, the store and the Table printer all read this one table, so a resource is added in
//! one place and every part agrees on its kind, scope and verbs.

use std::fmt;

/// A served resource: where it lives in the API and what a client may do with it.
#[allow(clippy::struct_excessive_bools)] // a row of a static table: named flags read better than a bit set
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// The API group, `""` for the core group.
    pub group: &'static str,
    /// The version served (one per resource).
    pub version: &'static str,
    /// The plural name in URLs (`pods`).
    pub plural: &'static str,
    /// The singular name (`pod`).
    pub singular: &'static str,
    /// The kind (`Pod`).
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl resolves (`po`).
    pub short_names: &'static [&'static str],
    /// Whether kubectl's `all` category includes it.
    pub in_all: bool,
    /// Whether it has a `status` subresource, whose writes change only `.status` (and main writes keep it).
    pub has_status: bool,
    /// Whether `metadata.generation` is kept (objects with a spec that controllers observe).
    pub has_generation: bool,
    /// Computed from other objects (metrics): read-only, not stored, not watchable.
    pub computed: bool,
}

/// An index into [`RESOURCES`]; cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(pub(crate) usize);

const fn stored(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
) -> Resource {
    Resource {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        in_all: false,
        has_status: false,
        has_generation: false,
        computed: false,
    }
}

/// Marks a resource as a workload: in `kubectl get all`, with status and generation.
const fn workload(mut r: Resource) -> Resource {
    r.in_all = true;
    r.has_status = true;
    r.has_generation = true;
    r
}

const fn with_status(mut r: Resource) -> Resource {
    r.has_status = true;
    r
}

const fn metrics(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Resource {
    let mut r = stored("metrics.k8s.io", "v1beta1", plural, singular, kind, namespaced, &[]);
    r.computed = true;
    r
}

/// Every resource served. The `ResourceId` constants below index it (a test keeps them in step).
pub static RESOURCES: [Resource; 22] = [
    with_status(stored("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"])),
    with_status(stored("", "v1", "nodes", "node", "Node", false, &["no"])),
    workload(stored("", "v1", "pods", "pod", "Pod", true, &["po"])),
    {
        let mut r = with_status(stored("", "v1", "services", "service", "Service", true, &["svc"]));
        r.in_all = true;
        r
    },
    stored("", "v1", "endpoints", "endpoints", "Endpoints", true, &["ep"]),
    stored("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"]),
    stored("", "v1", "secrets", "secret", "Secret", true, &[]),
    stored("", "v1", "events", "event", "Event", true, &["ev"]),
    with_status(stored(
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
    )),
    workload(stored("apps", "v1", "deployments", "deployment", "Deployment", true, &["deploy"])),
    workload(stored("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"])),
    workload(stored("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, &["sts"])),
    workload(stored("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, &["ds"])),
    workload(stored("batch", "v1", "jobs", "job", "Job", true, &[])),
    workload(stored("batch", "v1", "cronjobs", "cronjob", "CronJob", true, &["cj"])),
    {
        let mut r =
            with_status(stored("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, &["ing"]));
        r.has_generation = true;
        r
    },
    workload(stored(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
    )),
    stored("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, &[]),
    stored("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, &[]),
    stored("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"]),
    metrics("pods", "", "PodMetrics", true),
    metrics("nodes", "", "NodeMetrics", false),
];

/// `namespaces`
pub const NAMESPACES: ResourceId = ResourceId(0);
/// `nodes`
pub const NODES: ResourceId = ResourceId(1);
/// `pods`
pub const PODS: ResourceId = ResourceId(2);
/// `services`
pub const SERVICES: ResourceId = ResourceId(3);
/// `endpoints`
pub const ENDPOINTS: ResourceId = ResourceId(4);
/// `configmaps`
pub const CONFIGMAPS: ResourceId = ResourceId(5);
/// `secrets`
pub const SECRETS: ResourceId = ResourceId(6);
/// `events` (core v1)
pub const EVENTS: ResourceId = ResourceId(7);
/// `persistentvolumeclaims`
pub const PVCS: ResourceId = ResourceId(8);
/// `deployments.apps`
pub const DEPLOYMENTS: ResourceId = ResourceId(9);
/// `replicasets.apps`
pub const REPLICASETS: ResourceId = ResourceId(10);
/// `statefulsets.apps`
pub const STATEFULSETS: ResourceId = ResourceId(11);
/// `daemonsets.apps`
pub const DAEMONSETS: ResourceId = ResourceId(12);
/// `jobs.batch`
pub const JOBS: ResourceId = ResourceId(13);
/// `cronjobs.batch`
pub const CRONJOBS: ResourceId = ResourceId(14);
/// `ingresses.networking.k8s.io`
pub const INGRESSES: ResourceId = ResourceId(15);
/// `horizontalpodautoscalers.autoscaling`
pub const HPAS: ResourceId = ResourceId(16);
/// `endpointslices.discovery.k8s.io`
pub const ENDPOINTSLICES: ResourceId = ResourceId(17);
/// `leases.coordination.k8s.io`
pub const LEASES: ResourceId = ResourceId(18);
/// `serviceaccounts`
pub const SERVICEACCOUNTS: ResourceId = ResourceId(19);
/// `pods.metrics.k8s.io` (computed)
pub const POD_METRICS: ResourceId = ResourceId(20);
/// `nodes.metrics.k8s.io` (computed)
pub const NODE_METRICS: ResourceId = ResourceId(21);

impl ResourceId {
    /// The resource this id names.
    pub fn get(self) -> &'static Resource {
        &RESOURCES[self.0]
    }

    /// Every served resource, in table order.
    pub fn all() -> impl Iterator<Item = ResourceId> {
        (0..RESOURCES.len()).map(ResourceId)
    }

    /// The resource served at `group`/`version` under `plural`, if any.
    pub fn find(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        Self::all().find(|id| {
            let r = id.get();
            r.group == group && r.version == version && r.plural == plural
        })
    }

    /// The resource named like kubectl and RBAC messages do: `pods`, `deployments.apps`.
    pub fn by_qualified_name(name: &str) -> Option<ResourceId> {
        Self::all().find(|id| id.get().qualified_name() == name)
    }
}

impl Resource {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `deployments.apps`: how the API server names a resource in messages.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The verbs discovery advertises (and the router serves).
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.computed {
            &["get", "list"]
        } else {
            &["create", "delete", "get", "list", "patch", "update", "watch"]
        }
    }

    /// The kind of a list of these objects (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.get().qualified_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constants_index_the_resources_they_name() {
        let expected = [
            (NAMESPACES, "namespaces"),
            (NODES, "nodes"),
            (PODS, "pods"),
            (SERVICES, "services"),
            (ENDPOINTS, "endpoints"),
            (CONFIGMAPS, "configmaps"),
            (SECRETS, "secrets"),
            (EVENTS, "events"),
            (PVCS, "persistentvolumeclaims"),
            (DEPLOYMENTS, "deployments.apps"),
            (REPLICASETS, "replicasets.apps"),
            (STATEFULSETS, "statefulsets.apps"),
            (DAEMONSETS, "daemonsets.apps"),
            (JOBS, "jobs.batch"),
            (CRONJOBS, "cronjobs.batch"),
            (INGRESSES, "ingresses.networking.k8s.io"),
            (HPAS, "horizontalpodautoscalers.autoscaling"),
            (ENDPOINTSLICES, "endpointslices.discovery.k8s.io"),
            (LEASES, "leases.coordination.k8s.io"),
            (SERVICEACCOUNTS, "serviceaccounts"),
            (POD_METRICS, "pods.metrics.k8s.io"),
            (NODE_METRICS, "nodes.metrics.k8s.io"),
        ];
        assert_eq!(expected.len(), RESOURCES.len());
        for (id, name) in expected {
            assert_eq!(id.to_string(), name);
            assert_eq!(ResourceId::by_qualified_name(name), Some(id));
        }
    }

    #[test]
    fn a_resource_is_found_by_group_version_and_plural() {
        assert_eq!(ResourceId::find("apps", "v1", "deployments"), Some(DEPLOYMENTS));
        assert_eq!(ResourceId::find("", "v1", "pods"), Some(PODS));
        assert_eq!(ResourceId::find("metrics.k8s.io", "v1beta1", "pods"), Some(POD_METRICS));
        assert_eq!(ResourceId::find("apps", "v1beta1", "deployments"), None);
    }

    #[test]
    fn api_versions_and_list_kinds_are_spelled_as_kubernetes_does() {
        assert_eq!(PODS.get().api_version(), "v1");
        assert_eq!(HPAS.get().api_version(), "autoscaling/v2");
        assert_eq!(PODS.get().list_kind(), "PodList");
        assert_eq!(POD_METRICS.get().verbs(), ["get", "list"]);
    }
}
