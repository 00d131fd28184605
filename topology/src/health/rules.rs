//! Health rules for every kind but pods, each a few lines so they can be read as a table:
//!
//! | kind | healthy | degraded | unhealthy | unknown |
//! |---|---|---|---|---|
//! | deployment, replicaset, daemonset | available ≥ desired (and ready ≥ desired), or desired = 0 | some available | none available | |
//! | statefulset | ready ≥ desired, or desired = 0 | some ready | none ready | |
//! | job | complete, running without failures, suspended | running with failed attempts | `Failed` | |
//! | cronjob | always (its jobs carry the failures) | | | |
//! | node | `Ready` and no pressure | pressure condition or cordoned (`SchedulingDisabled`) | `Ready` false/unknown (`NotReady`), `NetworkUnavailable` | |
//! | service | ready endpoints, none not ready; `ExternalName` | some endpoints not ready | zero ready endpoints | endpoints not reported |
//! | ingress | has an address and backends | no address or no backend | | |
//! | persistentvolumeclaim | `Bound` | `Pending` | `Lost` | |
//! | horizontalpodautoscaler | scaling | `ScalingActive` false, pinned at max (min < max) | `AbleToScale` false | |
//! | namespace | active | `Terminating` | | |
//!
//! "Available" is what kubectl's AVAILABLE column shows and "ready" its READY column, so a deployment is green
//! exactly when `kubectl get deploy` shows `3/3` and `AVAILABLE 3`.

use super::Health;
use crate::entity::{
    Cond, CronJobInfo, HpaInfo, IngressInfo, JobInfo, JobState, NamespaceInfo, NodeInfo, NodePressure,
    PvcInfo, PvcPhase, ServiceInfo, ServiceType, WorkloadInfo,
};
use crate::id::Kind;

/// Deployments, replicasets, statefulsets and daemonsets.
pub fn workload(kind: Kind, w: &WorkloadInfo) -> Health {
    let r = w.replicas;
    if r.desired == 0 {
        return Health::healthy();
    }
    let (up, word) =
        if kind == Kind::StatefulSet { (r.ready, "ready") } else { (r.ready.min(r.available), "available") };
    if up >= r.desired {
        Health::healthy()
    } else if up == 0 {
        Health::unhealthy(format!("0/{} replicas {word}", r.desired))
    } else {
        Health::degraded(format!("{up}/{} replicas {word}", r.desired))
    }
}

/// Jobs.
pub fn job(job: &JobInfo) -> Health {
    match job.state {
        JobState::Failed => Health::unhealthy(format!("Failed after {} failed pods", job.failed)),
        JobState::Running if job.failed > 0 => Health::degraded(format!(
            "{} failed attempt{}",
            job.failed,
            if job.failed == 1 { "" } else { "s" }
        )),
        JobState::Running | JobState::Complete | JobState::Suspended => Health::healthy(),
    }
}

/// Cron jobs: always healthy; their jobs and pods carry the failures.
pub fn cronjob(_: &CronJobInfo) -> Health {
    Health::healthy()
}

/// Nodes.
pub fn node(node: &NodeInfo) -> Health {
    let mut unhealthy = Vec::new();
    let mut degraded = Vec::new();
    match node.ready {
        Cond::True => {}
        Cond::False => unhealthy.push("NotReady".to_owned()),
        Cond::Unknown => unhealthy.push("NotReady: the kubelet stopped reporting".to_owned()),
    }
    for pressure in &node.pressures {
        match pressure {
            NodePressure::NetworkUnavailable => unhealthy.push(pressure.as_str().to_owned()),
            _ => degraded.push(pressure.as_str().to_owned()),
        }
    }
    if node.unschedulable {
        degraded.push("SchedulingDisabled".to_owned());
    }
    if !unhealthy.is_empty() {
        unhealthy.extend(degraded);
        Health { level: super::HealthLevel::Unhealthy, reasons: unhealthy }
    } else if !degraded.is_empty() {
        Health { level: super::HealthLevel::Degraded, reasons: degraded }
    } else {
        Health::healthy()
    }
}

/// Services.
pub fn service(svc: &ServiceInfo) -> Health {
    if svc.service_type == ServiceType::ExternalName {
        return Health::healthy();
    }
    match svc.endpoints {
        None => Health::unknown("endpoints not reported"),
        Some(e) if e.ready == 0 => Health::unhealthy(if e.not_ready == 0 {
            "no endpoints".to_owned()
        } else {
            format!("0 ready endpoints, {} not ready", e.not_ready)
        }),
        Some(e) if e.not_ready > 0 => {
            Health::degraded(format!("{} of {} endpoints not ready", e.not_ready, e.ready + e.not_ready))
        }
        Some(_) => Health::healthy(),
    }
}

/// Ingresses.
pub fn ingress(ing: &IngressInfo) -> Health {
    if ing.backends.is_empty() {
        Health::degraded("no backend service")
    } else if !ing.has_address {
        Health::degraded("no address assigned by an ingress controller")
    } else {
        Health::healthy()
    }
}

/// Persistent volume claims.
pub fn pvc(pvc: &PvcInfo) -> Health {
    match pvc.phase {
        PvcPhase::Bound => Health::healthy(),
        PvcPhase::Pending => Health::degraded("Pending: not bound to a volume"),
        PvcPhase::Lost => Health::unhealthy("Lost: its volume is gone"),
    }
}

/// Horizontal pod autoscalers.
pub fn hpa(hpa: &HpaInfo) -> Health {
    if hpa.able_to_scale == Cond::False {
        Health::unhealthy("AbleToScale is False")
    } else if hpa.scaling_active == Cond::False {
        Health::degraded("ScalingActive is False: metrics are missing")
    } else if hpa.min_replicas < hpa.max_replicas && hpa.desired_replicas >= hpa.max_replicas {
        Health::degraded(format!("pinned at its maximum of {} replicas", hpa.max_replicas))
    } else {
        Health::healthy()
    }
}

/// Namespaces.
pub fn namespace(ns: &NamespaceInfo) -> Health {
    if ns.terminating {
        Health::degraded("Terminating")
    } else {
        Health::healthy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        entity::{Endpoints, Replicas},
        health::HealthLevel,
        id::Ref,
    };

    fn replicas(desired: u32, ready: u32, available: u32) -> WorkloadInfo {
        WorkloadInfo {
            replicas: Replicas { desired, current: desired, ready, available, updated: desired },
            ..WorkloadInfo::default()
        }
    }

    fn check(case: &str, health: &Health, level: HealthLevel, reasons: &[&str]) {
        assert_eq!(health.level, level, "level of {case}");
        assert_eq!(health.reasons, reasons, "reasons of {case}");
    }

    #[test]
    fn workloads_follow_kubectl_ready_and_available_columns() {
        let cases = [
            ("all available", Kind::Deployment, replicas(3, 3, 3), HealthLevel::Healthy, vec![]),
            (
                "unavailable replicas",
                Kind::Deployment,
                replicas(3, 2, 2),
                HealthLevel::Degraded,
                vec!["2/3 replicas available"],
            ),
            (
                "ready but not yet available",
                Kind::Deployment,
                replicas(3, 3, 1),
                HealthLevel::Degraded,
                vec!["1/3 replicas available"],
            ),
            (
                "nothing available",
                Kind::Deployment,
                replicas(2, 0, 0),
                HealthLevel::Unhealthy,
                vec!["0/2 replicas available"],
            ),
            ("scaled to zero", Kind::ReplicaSet, replicas(0, 0, 0), HealthLevel::Healthy, vec![]),
            (
                "statefulset counts ready",
                Kind::StatefulSet,
                replicas(3, 2, 0),
                HealthLevel::Degraded,
                vec!["2/3 replicas ready"],
            ),
            ("daemonset on every node", Kind::DaemonSet, replicas(3, 3, 3), HealthLevel::Healthy, vec![]),
        ];
        for (case, kind, info, level, reasons) in cases {
            check(case, &workload(kind, &info), level, &reasons);
        }
    }

    #[test]
    fn jobs_fail_on_their_failed_condition() {
        let job_with = |state, failed| JobInfo { failed, state, ..JobInfo::default() };
        check("succeeded", &job(&job_with(JobState::Complete, 0)), HealthLevel::Healthy, &[]);
        check(
            "failed",
            &job(&job_with(JobState::Failed, 6)),
            HealthLevel::Unhealthy,
            &["Failed after 6 failed pods"],
        );
        check(
            "retrying",
            &job(&job_with(JobState::Running, 1)),
            HealthLevel::Degraded,
            &["1 failed attempt"],
        );
    }

    #[test]
    fn nodes_are_unhealthy_when_not_ready_and_degraded_under_pressure() {
        let ready = NodeInfo { ready: Cond::True, ..NodeInfo::default() };
        check("ready", &node(&ready), HealthLevel::Healthy, &[]);
        let not_ready = NodeInfo { ready: Cond::False, ..NodeInfo::default() };
        check("not ready", &node(&not_ready), HealthLevel::Unhealthy, &["NotReady"]);
        let pressure =
            NodeInfo { pressures: vec![NodePressure::Memory, NodePressure::Disk], ..ready.clone() };
        check("pressure", &node(&pressure), HealthLevel::Degraded, &["MemoryPressure", "DiskPressure"]);
        let cordoned = NodeInfo { unschedulable: true, ..ready };
        check("cordoned", &node(&cordoned), HealthLevel::Degraded, &["SchedulingDisabled"]);
        let lost = NodeInfo { ready: Cond::Unknown, unschedulable: true, ..NodeInfo::default() };
        check(
            "lost",
            &node(&lost),
            HealthLevel::Unhealthy,
            &["NotReady: the kubelet stopped reporting", "SchedulingDisabled"],
        );
    }

    #[test]
    fn services_are_judged_by_their_ready_endpoints() {
        let svc = |ready, not_ready| ServiceInfo {
            endpoints: Some(Endpoints { ready, not_ready }),
            ..ServiceInfo::default()
        };
        check("all ready", &service(&svc(3, 0)), HealthLevel::Healthy, &[]);
        check("zero ready endpoints", &service(&svc(0, 0)), HealthLevel::Unhealthy, &["no endpoints"]);
        check(
            "only not ready",
            &service(&svc(0, 2)),
            HealthLevel::Unhealthy,
            &["0 ready endpoints, 2 not ready"],
        );
        check("some not ready", &service(&svc(2, 1)), HealthLevel::Degraded, &["1 of 3 endpoints not ready"]);
        check(
            "unreported",
            &service(&ServiceInfo::default()),
            HealthLevel::Unknown,
            &["endpoints not reported"],
        );
        let external = ServiceInfo { service_type: ServiceType::ExternalName, ..ServiceInfo::default() };
        check("external name", &service(&external), HealthLevel::Healthy, &[]);
    }

    #[test]
    fn claims_ingresses_autoscalers_and_namespaces_have_their_rules() {
        check(
            "lost claim",
            &pvc(&PvcInfo { phase: PvcPhase::Lost, ..PvcInfo::default() }),
            HealthLevel::Unhealthy,
            &["Lost: its volume is gone"],
        );
        check(
            "pending claim",
            &pvc(&PvcInfo::default()),
            HealthLevel::Degraded,
            &["Pending: not bound to a volume"],
        );
        let routed =
            IngressInfo { backends: vec!["web".into()], has_address: true, ..IngressInfo::default() };
        check("routed ingress", &ingress(&routed), HealthLevel::Healthy, &[]);
        let unaddressed = IngressInfo { has_address: false, ..routed };
        check(
            "ingress without address",
            &ingress(&unaddressed),
            HealthLevel::Degraded,
            &["no address assigned by an ingress controller"],
        );
        let scaler = HpaInfo {
            target: Ref::new(Kind::Deployment, "ns", "web"),
            min_replicas: 2,
            max_replicas: 5,
            current_replicas: 5,
            desired_replicas: 5,
            able_to_scale: Cond::True,
            scaling_active: Cond::True,
        };
        check("hpa at max", &hpa(&scaler), HealthLevel::Degraded, &["pinned at its maximum of 5 replicas"]);
        check("hpa in range", &hpa(&HpaInfo { desired_replicas: 3, ..scaler }), HealthLevel::Healthy, &[]);
        check(
            "terminating namespace",
            &namespace(&NamespaceInfo { terminating: true }),
            HealthLevel::Degraded,
            &["Terminating"],
        );
    }
}
