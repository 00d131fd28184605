//! Projections at the edge: small pure functions from one k8s-openapi object to one compact
//! [`topology::Entity`].
//!
//! These are the only place that reads Kubernetes types. They copy what the model has and nothing else: never
//! env values, secret data, annotations (`kubectl.kubernetes.io/last-applied-configuration` holds whole
//! manifests, secrets included) or `managedFields`. Config maps and secrets appear as *names* a pod mounts or
//! reads an env var from. A projection returns `None` for an object it cannot name (no name, or a namespaced
//! kind without a namespace): one odd object is skipped, it never stops a watcher.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as K8sSelector, ObjectMeta, Time};
use kube::core::DynamicObject;

use super::{AddressFamily, EndpointPart};
use topology::entity::Cond;
use topology::entity::{
    Container, ContainerState, ContainerStatus, CronJobInfo, Endpoints, HpaInfo, IngressInfo, JobInfo,
    JobState, NamespaceInfo, NodeInfo, NodePressure, PodConditions, PodInfo, PodPhase, PvcInfo, PvcPhase,
    Reason, Replicas, Resources, Scheduling, ServiceInfo, ServiceType, WorkloadInfo,
};
use topology::selector::{LabelSelector, Operator, Requirement};
use topology::{Details, Entity, EntityId, Kind, Labels, Ref};

/// The common part: id, uid, creation time, capped labels and the controlling owner.
fn base(cluster: &str, kind: Kind, meta: &ObjectMeta) -> Option<Entity> {
    let name = meta.name.as_deref().filter(|n| !n.is_empty())?;
    let namespace =
        if kind.is_namespaced() { meta.namespace.as_deref().filter(|n| !n.is_empty())? } else { "" };
    let id = EntityId::new(cluster, kind, namespace, name);
    id.validate().ok()?;
    let mut entity = Entity::new(id);
    entity.uid = meta.uid.clone().unwrap_or_default();
    entity.created = meta.creation_timestamp.as_ref().map(seconds);
    entity.labels = meta
        .labels
        .as_ref()
        .map(|l| Labels::from_pairs(l.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .unwrap_or_default();
    entity.owner = meta.owner_references.as_ref().and_then(|refs| {
        let owner = refs.iter().find(|r| r.controller == Some(true))?;
        let kind = owner_kind(&owner.kind)?;
        Some(Ref::new(kind, if kind.is_namespaced() { namespace } else { "" }, owner.name.as_str()))
    });
    Some(entity)
}

/// The kinds an owner reference can name on the map.
fn owner_kind(kind: &str) -> Option<Kind> {
    Some(match kind {
        "Deployment" => Kind::Deployment,
        "ReplicaSet" => Kind::ReplicaSet,
        "StatefulSet" => Kind::StatefulSet,
        "DaemonSet" => Kind::DaemonSet,
        "Job" => Kind::Job,
        "CronJob" => Kind::CronJob,
        "Node" => Kind::Node,
        _ => return None,
    })
}

fn seconds(time: &Time) -> i64 {
    time.0.as_second()
}

fn count(n: Option<i32>) -> u32 {
    n.map_or(0, |n| u32::try_from(n).unwrap_or(0))
}

fn cond(status: &str) -> Cond {
    match status {
        "True" => Cond::True,
        "False" => Cond::False,
        _ => Cond::Unknown,
    }
}

/// A CPU quantity in millicores (`250m`, `0.5`, `2`).
pub fn cpu_millis(q: &Quantity) -> Option<u64> {
    let s = q.0.trim();
    if let Some(m) = s.strip_suffix('m') {
        return m.parse::<f64>().ok().filter(|v| *v >= 0.0).map(|v| v.ceil() as u64);
    }
    parse_decimal(s).map(|v| (v * 1000.0).ceil() as u64)
}

/// A memory or storage quantity in bytes (`128Mi`, `1G`, `1e3`, `512`).
pub fn bytes(q: &Quantity) -> Option<u64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    let s = q.0.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = s.strip_suffix(suffix) {
            return number.parse::<f64>().ok().filter(|v| *v >= 0.0).map(|v| (v * factor).ceil() as u64);
        }
    }
    parse_decimal(s).map(|v| v.ceil() as u64)
}

fn parse_decimal(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

fn resources(map: Option<&BTreeMap<String, Quantity>>) -> Resources {
    let Some(map) = map else { return Resources::default() };
    Resources {
        cpu_millis: map.get("cpu").and_then(cpu_millis),
        memory_bytes: map.get("memory").and_then(bytes),
    }
}

fn selector(s: Option<&K8sSelector>) -> LabelSelector {
    let Some(s) = s else { return LabelSelector::default() };
    LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .filter_map(|e| {
                let operator = match e.operator.as_str() {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    _ => return None,
                };
                Some(Requirement {
                    key: e.key.clone(),
                    operator,
                    values: e.values.clone().unwrap_or_default(),
                })
            })
            .collect(),
    }
}

/// A namespace.
pub fn namespace_to_entity(cluster: &str, ns: &core::Namespace) -> Option<Entity> {
    let mut e = base(cluster, Kind::Namespace, &ns.metadata)?;
    let terminating = ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
        || ns.metadata.deletion_timestamp.is_some();
    e.details = Details::Namespace(NamespaceInfo { terminating });
    Some(e)
}

/// A node: readiness, pressure conditions, cordon and allocatable resources.
pub fn node_to_entity(cluster: &str, node: &core::Node) -> Option<Entity> {
    let mut e = base(cluster, Kind::Node, &node.metadata)?;
    let mut info = NodeInfo {
        unschedulable: node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        ..NodeInfo::default()
    };
    if let Some(status) = &node.status {
        for c in status.conditions.iter().flatten() {
            let pressure = match c.type_.as_str() {
                "Ready" => {
                    info.ready = cond(&c.status);
                    continue;
                }
                "MemoryPressure" => NodePressure::Memory,
                "DiskPressure" => NodePressure::Disk,
                "PIDPressure" => NodePressure::Pid,
                "NetworkUnavailable" => NodePressure::NetworkUnavailable,
                _ => continue,
            };
            if c.status == "True" {
                info.pressures.push(pressure);
            }
        }
        info.pressures.sort();
        info.pressures.dedup();
        info.allocatable = resources(status.allocatable.as_ref());
    }
    e.details = Details::Node(info);
    Some(e)
}

fn container_state(state: Option<&core::ContainerState>) -> ContainerState {
    let Some(state) = state else { return ContainerState::default() };
    if let Some(t) = &state.terminated {
        ContainerState::Terminated {
            reason: t.reason.as_deref().map(Reason::parse),
            exit_code: t.exit_code,
            signal: t.signal.unwrap_or(0),
        }
    } else if state.running.is_some() {
        ContainerState::Running
    } else {
        ContainerState::Waiting {
            reason: state.waiting.as_ref().and_then(|w| w.reason.as_deref()).map(Reason::parse),
        }
    }
}

fn containers(spec: &[core::Container], statuses: Option<&Vec<core::ContainerStatus>>) -> Vec<Container> {
    spec.iter()
        .map(|c| {
            let resources_spec = c.resources.as_ref();
            let mut out = Container::new(c.name.as_str(), c.image.clone().unwrap_or_default());
            out.requests = resources(resources_spec.and_then(|r| r.requests.as_ref()));
            out.limits = resources(resources_spec.and_then(|r| r.limits.as_ref()));
            if let Some(s) = statuses.into_iter().flatten().find(|s| s.name == c.name) {
                let last = s.last_state.as_ref().and_then(|l| l.terminated.as_ref());
                out.status = ContainerStatus {
                    ready: s.ready,
                    restarts: count(Some(s.restart_count)),
                    state: container_state(s.state.as_ref()),
                    last_termination: last.and_then(|t| t.reason.as_deref()).map(Reason::parse),
                    last_termination_at: last.and_then(|t| t.finished_at.as_ref()).map(seconds),
                };
            }
            out
        })
        .collect()
}

/// The config maps, secrets and claims a pod reads: volumes, and env / envFrom *references* (names only,
/// values are never looked at).
fn mounts(namespace: &str, spec: &core::PodSpec) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut add = |kind: Kind, name: &str| {
        if !name.is_empty() {
            out.push(Ref::new(kind, namespace, name));
        }
    };
    for v in spec.volumes.iter().flatten() {
        if let Some(pvc) = &v.persistent_volume_claim {
            add(Kind::PersistentVolumeClaim, &pvc.claim_name);
        }
        if let Some(cm) = &v.config_map {
            add(Kind::ConfigMap, &cm.name);
        }
        if let Some(secret) = &v.secret {
            add(Kind::Secret, secret.secret_name.as_deref().unwrap_or(""));
        }
        for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &source.config_map {
                add(Kind::ConfigMap, &cm.name);
            }
            if let Some(secret) = &source.secret {
                add(Kind::Secret, &secret.name);
            }
        }
    }
    for c in spec.init_containers.iter().flatten().chain(&spec.containers) {
        for env in c.env.iter().flatten() {
            let Some(from) = &env.value_from else { continue };
            if let Some(cm) = &from.config_map_key_ref {
                add(Kind::ConfigMap, &cm.name);
            }
            if let Some(secret) = &from.secret_key_ref {
                add(Kind::Secret, &secret.name);
            }
        }
        for from in c.env_from.iter().flatten() {
            if let Some(cm) = &from.config_map_ref {
                add(Kind::ConfigMap, &cm.name);
            }
            if let Some(secret) = &from.secret_ref {
                add(Kind::Secret, &secret.name);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A pod: phase, conditions, containers with states, reasons, restarts, requests and limits, node, mounts.
pub fn pod_to_entity(cluster: &str, pod: &core::Pod) -> Option<Entity> {
    let mut e = base(cluster, Kind::Pod, &pod.metadata)?;
    let status = pod.status.as_ref();
    let mut info = PodInfo {
        phase: match status.and_then(|s| s.phase.as_deref()) {
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some("Unknown") => PodPhase::Unknown,
            _ => PodPhase::Pending,
        },
        reason: status.and_then(|s| s.reason.as_deref()).map(Reason::parse),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        ..PodInfo::default()
    };
    let mut conditions = PodConditions::default();
    for c in status.and_then(|s| s.conditions.as_ref()).into_iter().flatten() {
        match c.type_.as_str() {
            "PodScheduled" => {
                conditions.scheduled = match (c.status.as_str(), c.reason.as_deref()) {
                    ("True", _) => Scheduling::Scheduled,
                    (_, Some("Unschedulable")) => Scheduling::Unschedulable,
                    (_, Some("SchedulingGated")) => Scheduling::Gated,
                    _ => Scheduling::Pending,
                };
            }
            "Initialized" => conditions.initialized = cond(&c.status),
            "Ready" => conditions.ready = cond(&c.status),
            _ => {}
        }
    }
    info.conditions = conditions;
    if let Some(spec) = &pod.spec {
        info.node = spec.node_name.as_deref().filter(|n| !n.is_empty()).map(Into::into);
        if info.node.is_some() && conditions.scheduled == Scheduling::Pending {
            info.conditions.scheduled = Scheduling::Scheduled;
        }
        info.init_containers = containers(
            spec.init_containers.as_deref().unwrap_or_default(),
            status.and_then(|s| s.init_container_statuses.as_ref()),
        );
        info.containers = containers(&spec.containers, status.and_then(|s| s.container_statuses.as_ref()));
        info.mounts = mounts(e.namespace(), spec);
    }
    e.details = Details::Pod(Box::new(info));
    Some(e)
}

/// A service, without endpoint counts (those come from [`endpoints_counts`]).
pub fn service_to_entity(cluster: &str, svc: &core::Service) -> Option<Entity> {
    let mut e = base(cluster, Kind::Service, &svc.metadata)?;
    let spec = svc.spec.as_ref();
    let service_type = match spec.and_then(|s| s.type_.as_deref()) {
        Some("NodePort") => ServiceType::NodePort,
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("ExternalName") => ServiceType::ExternalName,
        _ => ServiceType::ClusterIp,
    };
    e.details = Details::Service(ServiceInfo {
        service_type,
        headless: spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None"),
        selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
        endpoints: None,
    });
    Some(e)
}

/// The endpoints of a core `Endpoints` object: of the service with the same namespace and name, all addresses of
/// all its subsets.
pub fn endpoints_part(cluster: &str, ep: &core::Endpoints) -> Option<EndpointPart> {
    let service = base(cluster, Kind::Service, &ep.metadata)?.id;
    let mut counts = Endpoints::default();
    for subset in ep.subsets.iter().flatten() {
        counts.ready += subset.addresses.as_ref().map_or(0, |a| a.len() as u32);
        counts.not_ready += subset.not_ready_addresses.as_ref().map_or(0, |a| a.len() as u32);
    }
    Some(EndpointPart { key: service.clone(), service, family: AddressFamily::Core, counts })
}

/// The label an `EndpointSlice` names its service with; slices without one (made by hand, for no service) are
/// not about a service we show.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The endpoints of an `EndpointSlice`: one per endpoint (a pod), ready unless its `ready` condition is false
/// (unset means ready, as the API documents). Terminating endpoints are left out, as core `Endpoints` leave out
/// terminating pods: a pod on its way out is neither serving capacity nor a problem to report.
pub fn endpoint_slice_part(cluster: &str, slice: &EndpointSlice) -> Option<EndpointPart> {
    let key = base(cluster, Kind::Service, &slice.metadata)?.id;
    let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME)?;
    let service = EntityId::new(cluster, Kind::Service, key.namespace(), service.as_str());
    service.validate().ok()?;
    let family = match slice.address_type.as_str() {
        "IPv4" => AddressFamily::Ipv4,
        "IPv6" => AddressFamily::Ipv6,
        _ => AddressFamily::Fqdn,
    };
    let mut counts = Endpoints::default();
    for endpoint in &slice.endpoints {
        let conditions = endpoint.conditions.as_ref();
        if conditions.and_then(|c| c.terminating) == Some(true) {
            continue;
        }
        if conditions.and_then(|c| c.ready) == Some(false) {
            counts.not_ready += 1;
        } else {
            counts.ready += 1;
        }
    }
    Some(EndpointPart { key, service, family, counts })
}

/// A `discovery.k8s.io/v1beta1` endpoint slice (servers before 1.21), read as a dynamic object: relabelled `v1`
/// and read as such. Its `topology` map is dropped by the `v1` type; every field [`endpoint_slice_part`] reads
/// has the same shape.
pub fn endpoint_slice_v1beta1_part(cluster: &str, object: &DynamicObject) -> Option<EndpointPart> {
    let mut json = serde_json::to_value(object).ok()?;
    json["apiVersion"] = "discovery.k8s.io/v1".into();
    json["kind"] = "EndpointSlice".into();
    endpoint_slice_part(cluster, &serde_json::from_value(json).ok()?)
}

fn workload(
    cluster: &str,
    kind: Kind,
    meta: &ObjectMeta,
    replicas: Replicas,
    sel: Option<&K8sSelector>,
) -> Option<Entity> {
    let mut e = base(cluster, kind, meta)?;
    let info = WorkloadInfo { replicas, selector: selector(sel), ..WorkloadInfo::default() };
    info.selector.validate().ok()?;
    e.details = Details::Workload(info);
    Some(e)
}

/// A deployment.
pub fn deployment_to_entity(cluster: &str, d: &Deployment) -> Option<Entity> {
    let s = d.status.as_ref();
    let replicas = Replicas {
        desired: count(d.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
        current: count(s.and_then(|s| s.replicas)),
        ready: count(s.and_then(|s| s.ready_replicas)),
        available: count(s.and_then(|s| s.available_replicas)),
        updated: count(s.and_then(|s| s.updated_replicas)),
    };
    let mut e =
        workload(cluster, Kind::Deployment, &d.metadata, replicas, d.spec.as_ref().map(|s| &s.selector))?;
    if let Details::Workload(w) = &mut e.details {
        w.progress_deadline_exceeded = s.and_then(|s| s.conditions.as_ref()).into_iter().flatten().any(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
    }
    Some(e)
}

/// A replica set.
pub fn replicaset_to_entity(cluster: &str, rs: &ReplicaSet) -> Option<Entity> {
    let s = rs.status.as_ref();
    let current = count(s.map(|s| s.replicas));
    let replicas = Replicas {
        desired: count(rs.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
        current,
        ready: count(s.and_then(|s| s.ready_replicas)),
        available: count(s.and_then(|s| s.available_replicas)),
        updated: current,
    };
    workload(cluster, Kind::ReplicaSet, &rs.metadata, replicas, rs.spec.as_ref().map(|s| &s.selector))
}

/// A stateful set.
pub fn statefulset_to_entity(cluster: &str, sts: &StatefulSet) -> Option<Entity> {
    let s = sts.status.as_ref();
    let replicas = Replicas {
        desired: count(sts.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
        current: count(s.map(|s| s.replicas)),
        ready: count(s.and_then(|s| s.ready_replicas)),
        available: count(s.and_then(|s| s.available_replicas.or(s.ready_replicas))),
        updated: count(s.and_then(|s| s.updated_replicas)),
    };
    workload(cluster, Kind::StatefulSet, &sts.metadata, replicas, sts.spec.as_ref().map(|s| &s.selector))
}

/// A daemon set (`desiredNumberScheduled` → desired, `numberReady` → ready, …).
pub fn daemonset_to_entity(cluster: &str, ds: &DaemonSet) -> Option<Entity> {
    let s = ds.status.as_ref();
    let replicas = Replicas {
        desired: count(s.map(|s| s.desired_number_scheduled)),
        current: count(s.map(|s| s.current_number_scheduled)),
        ready: count(s.map(|s| s.number_ready)),
        available: count(s.and_then(|s| s.number_available)),
        updated: count(s.and_then(|s| s.updated_number_scheduled)),
    };
    let mut e =
        workload(cluster, Kind::DaemonSet, &ds.metadata, replicas, ds.spec.as_ref().map(|s| &s.selector))?;
    if let Details::Workload(w) = &mut e.details {
        w.misscheduled = count(s.map(|s| s.number_misscheduled));
    }
    Some(e)
}

/// A job: counts and the state its conditions add up to.
pub fn job_to_entity(cluster: &str, job: &Job) -> Option<Entity> {
    let mut e = base(cluster, Kind::Job, &job.metadata)?;
    let s = job.status.as_ref();
    let conditions = s.and_then(|s| s.conditions.as_ref());
    let is_true = |t: &str| conditions.into_iter().flatten().any(|c| c.type_ == t && c.status == "True");
    let state = if is_true("Failed") {
        JobState::Failed
    } else if is_true("Complete") {
        JobState::Complete
    } else if job.spec.as_ref().and_then(|s| s.suspend) == Some(true) {
        JobState::Suspended
    } else {
        JobState::Running
    };
    e.details = Details::Job(JobInfo {
        completions: job.spec.as_ref().and_then(|s| s.completions).map(|c| count(Some(c))),
        active: count(s.and_then(|s| s.active)),
        succeeded: count(s.and_then(|s| s.succeeded)),
        failed: count(s.and_then(|s| s.failed)),
        state,
    });
    Some(e)
}

/// A cron job (`batch/v1`).
pub fn cronjob_to_entity(cluster: &str, cj: &CronJob) -> Option<Entity> {
    let mut e = base(cluster, Kind::CronJob, &cj.metadata)?;
    let s = cj.status.as_ref();
    e.details = Details::CronJob(CronJobInfo {
        schedule: cj.spec.as_ref().map(|s| s.schedule.clone()).unwrap_or_default(),
        suspended: cj.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false),
        active: s.and_then(|s| s.active.as_ref()).map_or(0, |a| a.len() as u32),
        last_schedule: s.and_then(|s| s.last_schedule_time.as_ref()).map(seconds),
    });
    Some(e)
}

/// A `batch/v1beta1` cron job (servers before 1.21), read as a dynamic object: its JSON is relabelled
/// `batch/v1` and read as such, which holds for every field [`cronjob_to_entity`] reads.
pub fn cronjob_v1beta1_to_entity(cluster: &str, object: &DynamicObject) -> Option<Entity> {
    let mut json = serde_json::to_value(object).ok()?;
    json["apiVersion"] = "batch/v1".into();
    json["kind"] = "CronJob".into();
    cronjob_to_entity(cluster, &serde_json::from_value(json).ok()?)
}

/// An ingress: class, hosts, backend services, whether it has an address.
pub fn ingress_to_entity(cluster: &str, ing: &Ingress) -> Option<Entity> {
    let mut e = base(cluster, Kind::Ingress, &ing.metadata)?;
    let spec = ing.spec.as_ref();
    let mut hosts = Vec::new();
    let mut backends = Vec::new();
    if let Some(svc) = spec.and_then(|s| s.default_backend.as_ref()).and_then(|b| b.service.as_ref()) {
        backends.push(svc.name.clone());
    }
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        if let Some(host) = &rule.host {
            hosts.push(host.clone());
        }
        for path in rule.http.iter().flat_map(|h| &h.paths) {
            if let Some(svc) = &path.backend.service {
                backends.push(svc.name.clone());
            }
        }
    }
    hosts.sort();
    hosts.dedup();
    backends.sort();
    backends.dedup();
    let has_address = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|i| !i.is_empty());
    e.details = Details::Ingress(IngressInfo {
        class: spec.and_then(|s| s.ingress_class_name.clone()),
        hosts,
        backends,
        has_address,
    });
    Some(e)
}

/// A persistent volume claim.
pub fn pvc_to_entity(cluster: &str, pvc: &core::PersistentVolumeClaim) -> Option<Entity> {
    let mut e = base(cluster, Kind::PersistentVolumeClaim, &pvc.metadata)?;
    let status = pvc.status.as_ref();
    e.details = Details::Pvc(PvcInfo {
        phase: match status.and_then(|s| s.phase.as_deref()) {
            Some("Bound") => PvcPhase::Bound,
            Some("Lost") => PvcPhase::Lost,
            _ => PvcPhase::Pending,
        },
        capacity_bytes: status
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .and_then(bytes),
        storage_class: pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()),
    });
    Some(e)
}

/// A horizontal pod autoscaler (`autoscaling/v1`: the version every server since 1.2 serves). v1 has no
/// conditions field, so `AbleToScale`/`ScalingActive` stay unknown.
pub fn hpa_to_entity(cluster: &str, hpa: &HorizontalPodAutoscaler) -> Option<Entity> {
    let mut e = base(cluster, Kind::HorizontalPodAutoscaler, &hpa.metadata)?;
    let spec = hpa.spec.as_ref()?;
    let kind = owner_kind(&spec.scale_target_ref.kind).filter(Kind::is_workload)?;
    let status = hpa.status.as_ref();
    e.details = Details::Hpa(HpaInfo {
        target: Ref::new(kind, e.namespace(), spec.scale_target_ref.name.as_str()),
        min_replicas: count(spec.min_replicas.or(Some(1))),
        max_replicas: count(Some(spec.max_replicas)),
        current_replicas: count(status.map(|s| s.current_replicas)),
        desired_replicas: count(status.map(|s| s.desired_replicas)),
        able_to_scale: Cond::Unknown,
        scaling_active: Cond::Unknown,
    });
    Some(e)
}

#[cfg(test)]
mod tests;
