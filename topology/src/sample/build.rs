//! A small builder for the built-in samples: one line per object, with the bookkeeping (uids, owner references,
//! labels, endpoint counts) done the way the collector would do it from real objects.

use std::sync::Arc;

use crate::{
    entity::{
        Cond, Container, ContainerState, ContainerStatus, Details, Endpoints, Entity, NodeInfo,
        PodConditions, PodInfo, PodPhase, Reason, Replicas, Resources, Scheduling, ServiceType, WorkloadInfo,
    },
    id::{EntityId, Kind, Ref},
    labels::Labels,
    relation::RelationKind,
    selector::LabelSelector,
    topology::Topology,
};

/// Sample times are relative to 2026-01-01T00:00:00Z.
pub(crate) const EPOCH: i64 = 1_767_225_600;
/// One day in seconds.
pub(crate) const DAY: i64 = 86_400;

/// A deterministic 64-bit generator (`SplitMix64`), enough for sample data and free of dependencies.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A suffix the way Kubernetes generates them (consonants and digits that spell no word).
    pub(crate) fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len).map(|_| char::from(ALPHABET[self.below(ALPHABET.len() as u64) as usize])).collect()
    }
}

/// How a sample pod is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodState {
    /// Running, all containers ready.
    Ready,
    /// Running, readiness probe failing.
    NotReady,
    /// Crash-looping.
    CrashLoop,
    /// Its image cannot be pulled.
    ImagePull,
    /// Not scheduled yet.
    Pending,
}

/// A pod to add.
pub(crate) struct PodSpec<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: String,
    pub(crate) owner: Ref,
    pub(crate) node: Option<&'a str>,
    pub(crate) labels: &'a [(&'a str, &'a str)],
    pub(crate) image: &'a str,
    pub(crate) state: PodState,
    pub(crate) mounts: Vec<Ref>,
    pub(crate) created: i64,
}

/// Builds a sample topology through [`Topology::upsert`], so samples obey every invariant.
pub(crate) struct Builder {
    cluster: Arc<str>,
    topology: Topology,
    uids: u64,
}

impl Builder {
    /// A topology holding just the cluster entity.
    pub(crate) fn new(cluster: &str, created: i64) -> Self {
        let mut builder = Builder { cluster: cluster.into(), topology: Topology::new(), uids: 0 };
        let mut entity = builder.entity(Kind::Cluster, "", cluster, created);
        entity.uid = String::new();
        builder.add(entity);
        builder
    }

    pub(crate) fn id(&self, kind: Kind, namespace: &str, name: &str) -> EntityId {
        EntityId::new(Arc::clone(&self.cluster), kind, namespace, name)
    }

    /// A blank entity with a fresh uid.
    pub(crate) fn entity(&mut self, kind: Kind, namespace: &str, name: &str, created: i64) -> Entity {
        self.uids += 1;
        let mut entity = Entity::new(self.id(kind, namespace, name));
        entity.uid = format!("00000000-0000-4000-8000-{:012x}", self.uids);
        entity.created = Some(created);
        entity
    }

    /// Adds an entity. Sample data is valid by construction (the sample tests check it), so a failure is a bug
    /// in this module.
    pub(crate) fn add(&mut self, entity: Entity) {
        if let Err(err) = self.topology.upsert(entity) {
            panic!("invalid sample entity: {err}");
        }
    }

    pub(crate) fn namespace(&mut self, name: &str, created: i64) {
        let entity = self.entity(Kind::Namespace, "", name, created);
        self.add(entity);
    }

    pub(crate) fn node(&mut self, name: &str, created: i64, labels: &[(&str, &str)]) {
        let mut node = self.entity(Kind::Node, "", name, created);
        node.labels = Labels::from_pairs(labels.iter().copied());
        node.details = Details::Node(NodeInfo {
            ready: Cond::True,
            allocatable: Resources { cpu_millis: Some(4000), memory_bytes: Some(8 << 30) },
            ..NodeInfo::default()
        });
        self.add(node);
    }

    /// Adds a deployment, replicaset, statefulset or daemonset selecting `app=<app>`; returns a reference to it.
    #[allow(clippy::too_many_arguments)] // One call per object in the sample tables reads best flat.
    pub(crate) fn workload(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        app: &str,
        replicas: Replicas,
        owner: Option<Ref>,
        created: i64,
    ) -> Ref {
        let mut entity = self.entity(kind, namespace, name, created);
        entity.labels = Labels::from_pairs([("app", app)]);
        entity.owner = owner;
        entity.details = Details::Workload(WorkloadInfo {
            replicas,
            selector: LabelSelector::equality([("app", app)]),
            ..WorkloadInfo::default()
        });
        self.add(entity);
        Ref::new(kind, namespace, name)
    }

    pub(crate) fn pod(&mut self, spec: PodSpec<'_>) {
        let mut pod = self.entity(Kind::Pod, spec.namespace, &spec.name, spec.created);
        pod.labels = Labels::from_pairs(spec.labels.iter().copied());
        pod.owner = Some(spec.owner);
        let container_name = spec.labels.iter().find(|(k, _)| *k == "app").map_or("main", |(_, v)| *v);
        let mut container = Container::new(container_name, spec.image);
        container.requests = Resources { cpu_millis: Some(100), memory_bytes: Some(128 << 20) };
        container.limits = Resources { cpu_millis: Some(500), memory_bytes: Some(512 << 20) };
        let (phase, scheduled, ready, status) = match spec.state {
            PodState::Ready => (PodPhase::Running, Scheduling::Scheduled, true, running(true)),
            PodState::NotReady => (PodPhase::Running, Scheduling::Scheduled, false, running(false)),
            PodState::CrashLoop => (PodPhase::Running, Scheduling::Scheduled, false, crash_loop()),
            PodState::ImagePull => (PodPhase::Pending, Scheduling::Scheduled, false, image_pull()),
            PodState::Pending => (PodPhase::Pending, Scheduling::Pending, false, ContainerStatus::default()),
        };
        container.status = status;
        let node = if spec.state == PodState::Pending { None } else { spec.node.map(Arc::from) };
        pod.details = Details::Pod(Box::new(PodInfo {
            phase,
            conditions: PodConditions {
                scheduled,
                initialized: Cond::True,
                ready: Cond::from_bool(Some(ready)),
            },
            node,
            containers: vec![container],
            mounts: spec.mounts,
            ..PodInfo::default()
        }));
        self.add(pod);
    }

    /// Adds a service selecting `selector` (endpoints filled in later by [`Builder::fill_endpoints`] or given).
    pub(crate) fn service(
        &mut self,
        namespace: &str,
        name: &str,
        selector: &[(&str, &str)],
        service_type: ServiceType,
        endpoints: Option<Endpoints>,
        created: i64,
    ) {
        let mut svc = self.entity(Kind::Service, namespace, name, created);
        svc.labels = Labels::from_pairs(selector.iter().copied());
        if let Details::Service(info) = &mut svc.details {
            info.service_type = service_type;
            info.headless = name.ends_with("-headless");
            info.selector = selector.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            info.endpoints = endpoints;
        }
        self.add(svc);
    }

    /// Sets every selecting service's endpoint counts from the pods it selects, as the endpoint-slice controller
    /// would.
    pub(crate) fn fill_endpoints(&mut self) {
        let mut updates = Vec::new();
        for svc in self.topology.entities().filter(|e| e.kind == Kind::Service) {
            let Some(info) = svc.service() else { continue };
            if info.selector.is_empty() {
                continue;
            }
            let mut endpoints = Endpoints::default();
            let pods = self.topology.relations_from(&svc.id).filter(|r| r.kind == RelationKind::Selects);
            for pod in pods.filter_map(|r| self.topology.get(&r.to)).filter_map(Entity::pod) {
                if pod.node.is_none() {
                    continue;
                }
                if pod.conditions.ready == Cond::True {
                    endpoints.ready += 1;
                } else {
                    endpoints.not_ready += 1;
                }
            }
            let mut svc = svc.clone();
            if let Details::Service(info) = &mut svc.details {
                info.endpoints = Some(endpoints);
            }
            updates.push(svc);
        }
        for svc in updates {
            self.add(svc);
        }
    }

    pub(crate) fn finish(self) -> Topology {
        self.topology
    }
}

fn running(ready: bool) -> ContainerStatus {
    ContainerStatus {
        ready,
        restarts: 0,
        state: ContainerState::Running,
        last_termination: None,
        last_termination_at: None,
    }
}

fn crash_loop() -> ContainerStatus {
    ContainerStatus {
        ready: false,
        restarts: 7,
        state: ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) },
        last_termination: Some(Reason::Error),
        last_termination_at: None,
    }
}

fn image_pull() -> ContainerStatus {
    ContainerStatus {
        ready: false,
        restarts: 0,
        state: ContainerState::Waiting { reason: Some(Reason::ImagePullBackOff) },
        last_termination: None,
        last_termination_at: None,
    }
}
