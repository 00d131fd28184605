//! Pod health and kubectl's STATUS column.
//!
//! [`pod_status`] is a port of kubectl's `printPod` (`pkg/printers/internalversion/printers.go`): the phase, then
//! `status.reason`, overridden by the first unfinished init container (`Init:1/2`, `Init:CrashLoopBackOff`), then
//! by the last container with a waiting or terminated reason, then `Terminating` when a deletion timestamp is set.
//! Not ported: restartable init containers (sidecars) are treated like ordinary init containers.
//!
//! [`pod_health`] rules, first match wins:
//! 1. Deleting: `Unknown` if `status.reason` is `NodeLost`, else `Degraded` ("Terminating") unless already
//!    terminal.
//! 2. Phase `Succeeded` → `Healthy`; `Failed` → `Unhealthy`; `Unknown` → `Unknown`.
//! 3. Any container, init or main, waiting with a failing reason (`CrashLoopBackOff`, `ImagePullBackOff`,
//!    `ErrImagePull`, `CreateContainerConfigError`… see [`Reason::is_failing_wait`]) or terminated with
//!    `OOMKilled` or a non-zero exit code → `Unhealthy`, one reason per such container.
//! 4. Pending: `Unschedulable` → `Unhealthy`; otherwise `Degraded` (starting: `ContainerCreating`, `Init:0/1`…).
//! 5. Running with every container ready → `Healthy`; otherwise `Degraded` ("Running: 1/2 containers ready").

use super::{Health, HealthLevel};
use crate::entity::{Cond, Container, ContainerState, PodInfo, PodPhase, Reason, Scheduling};

/// The STATUS column of `kubectl get pods` for this pod.
pub fn pod_status(pod: &PodInfo) -> String {
    let mut status = pod.reason.as_ref().map_or_else(|| pod.phase.as_str().to_owned(), ToString::to_string);
    if pod.conditions.scheduled == Scheduling::Gated {
        status = Reason::SchedulingGated.to_string();
    }
    let mut initializing = false;
    for (i, container) in pod.init_containers.iter().enumerate() {
        match &container.status.state {
            ContainerState::Terminated { exit_code: 0, .. } => continue,
            ContainerState::Terminated { reason, exit_code, signal } => {
                status = match named(reason.as_ref()) {
                    Some(r) => format!("Init:{r}"),
                    None if *signal != 0 => format!("Init:Signal:{signal}"),
                    None => format!("Init:ExitCode:{exit_code}"),
                };
            }
            ContainerState::Waiting { reason }
                if named(reason.as_ref()).is_some_and(|r| *r != Reason::PodInitializing) =>
            {
                status = format!("Init:{}", named(reason.as_ref()).map_or("", Reason::as_str));
            }
            _ => status = format!("Init:{i}/{}", pod.init_containers.len()),
        }
        initializing = true;
        break;
    }
    if !initializing || pod.conditions.initialized == Cond::True {
        let mut has_running = false;
        for container in pod.containers.iter().rev() {
            match &container.status.state {
                ContainerState::Waiting { reason } | ContainerState::Terminated { reason, .. }
                    if named(reason.as_ref()).is_some() =>
                {
                    status = named(reason.as_ref()).map_or_else(String::new, ToString::to_string);
                }
                ContainerState::Terminated { signal, .. } if *signal != 0 => {
                    status = format!("Signal:{signal}");
                }
                ContainerState::Terminated { exit_code, .. } => status = format!("ExitCode:{exit_code}"),
                ContainerState::Running if container.status.ready => has_running = true,
                _ => {}
            }
        }
        if status == "Completed" && has_running {
            if pod.conditions.ready == Cond::True { "Running" } else { "NotReady" }.clone_into(&mut status);
        }
    }
    if pod.deleting && pod.reason == Some(Reason::NodeLost) {
        "Unknown".clone_into(&mut status);
    } else if pod.deleting && !pod.phase.is_terminal() {
        "Terminating".clone_into(&mut status);
    }
    status
}

/// A reason that says something (kubectl treats an empty reason as none).
fn named(reason: Option<&Reason>) -> Option<&Reason> {
    reason.filter(|r| !r.as_str().is_empty())
}

/// The health of a pod, by the rules in the module docs.
pub fn pod_health(pod: &PodInfo) -> Health {
    let status = pod_status(pod);
    if pod.deleting && pod.reason == Some(Reason::NodeLost) {
        return Health::unknown("node lost while terminating");
    }
    if pod.deleting && !pod.phase.is_terminal() {
        return Health::degraded("Terminating");
    }
    match pod.phase {
        PodPhase::Succeeded => return Health::healthy(),
        PodPhase::Failed => return Health::unhealthy(format!("Failed: {status}")),
        PodPhase::Unknown => return Health::unknown("phase Unknown: the node stopped reporting"),
        PodPhase::Pending | PodPhase::Running => {}
    }
    let failing: Vec<String> = pod
        .init_containers
        .iter()
        .chain(&pod.containers)
        .filter_map(|c| failing_container(c, pod.phase))
        .collect();
    if !failing.is_empty() {
        return Health { level: HealthLevel::Unhealthy, reasons: failing };
    }
    if pod.phase == PodPhase::Pending {
        return if pod.conditions.scheduled == Scheduling::Unschedulable {
            Health::unhealthy("Unschedulable: no node fits the pod")
        } else {
            Health::degraded(status)
        };
    }
    let (ready, total) = pod.ready_containers();
    if total > 0 && ready == total {
        Health::healthy()
    } else {
        Health::degraded(format!("{status}: {ready}/{total} containers ready"))
    }
}

/// Why a container is failing, if it is.
fn failing_container(container: &Container, phase: PodPhase) -> Option<String> {
    let status = &container.status;
    let what = match &status.state {
        ContainerState::Waiting { reason: Some(r) } if r.is_failing_wait() => r.to_string(),
        ContainerState::Terminated { reason: Some(Reason::OOMKilled), .. } => Reason::OOMKilled.to_string(),
        ContainerState::Terminated { reason, exit_code, .. }
            if *exit_code != 0 && phase == PodPhase::Running =>
        {
            named(reason.as_ref()).map_or_else(|| format!("ExitCode:{exit_code}"), ToString::to_string)
        }
        _ => return None,
    };
    let mut detail = Vec::new();
    if status.restarts > 0 {
        detail.push(format!("{} restart{}", status.restarts, if status.restarts == 1 { "" } else { "s" }));
    }
    if let Some(last) = &status.last_termination {
        detail.push(format!("last {last}"));
    }
    Some(if detail.is_empty() {
        format!("{}: {what}", container.name)
    } else {
        format!("{}: {what} ({})", container.name, detail.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{ContainerStatus, PodConditions};

    fn running(ready: bool) -> ContainerStatus {
        ContainerStatus {
            ready,
            restarts: 0,
            state: ContainerState::Running,
            last_termination: None,
            last_termination_at: None,
        }
    }

    fn waiting(reason: Reason, restarts: u32, last: Option<Reason>) -> ContainerStatus {
        ContainerStatus {
            ready: false,
            restarts,
            state: ContainerState::Waiting { reason: Some(reason) },
            last_termination: last,
            last_termination_at: None,
        }
    }

    fn terminated(reason: Option<Reason>, exit_code: i32) -> ContainerStatus {
        ContainerStatus {
            ready: false,
            restarts: 0,
            state: ContainerState::Terminated { reason, exit_code, signal: 0 },
            last_termination: None,
            last_termination_at: None,
        }
    }

    fn pod(phase: PodPhase, statuses: Vec<ContainerStatus>) -> PodInfo {
        let ready = statuses.iter().all(|s| s.ready);
        PodInfo {
            phase,
            conditions: PodConditions {
                scheduled: Scheduling::Scheduled,
                initialized: Cond::True,
                ready: if ready { Cond::True } else { Cond::False },
            },
            containers: statuses
                .into_iter()
                .enumerate()
                .map(|(i, status)| Container { status, ..Container::new(["app", "sidecar"][i % 2], "img") })
                .collect(),
            ..PodInfo::default()
        }
    }

    fn with_init(mut pod: PodInfo, init: Vec<ContainerStatus>) -> PodInfo {
        pod.conditions.initialized = Cond::False;
        pod.init_containers = init
            .into_iter()
            .enumerate()
            .map(|(i, status)| Container { status, ..Container::new(format!("init-{i}"), "img") })
            .collect();
        pod
    }

    /// (case, pod, kubectl STATUS, level, reasons)
    #[allow(clippy::too_many_lines)] // One table, one row per case.
    fn cases() -> Vec<(&'static str, PodInfo, &'static str, HealthLevel, Vec<&'static str>)> {
        let mut deleting = pod(PodPhase::Running, vec![running(true)]);
        deleting.deleting = true;
        let mut node_lost = deleting.clone();
        node_lost.reason = Some(Reason::NodeLost);
        let mut unschedulable = pod(PodPhase::Pending, vec![]);
        unschedulable.conditions.scheduled = Scheduling::Unschedulable;
        let mut gated = pod(PodPhase::Pending, vec![]);
        gated.conditions.scheduled = Scheduling::Gated;
        let mut evicted = pod(PodPhase::Failed, vec![]);
        evicted.reason = Some(Reason::Evicted);
        vec![
            (
                "running and ready",
                pod(PodPhase::Running, vec![running(true)]),
                "Running",
                HealthLevel::Healthy,
                vec![],
            ),
            (
                "running, not ready",
                pod(PodPhase::Running, vec![running(true), running(false)]),
                "Running",
                HealthLevel::Degraded,
                vec!["Running: 1/2 containers ready"],
            ),
            (
                "crash loop",
                pod(PodPhase::Running, vec![waiting(Reason::CrashLoopBackOff, 7, Some(Reason::Error))]),
                "CrashLoopBackOff",
                HealthLevel::Unhealthy,
                vec!["app: CrashLoopBackOff (7 restarts, last Error)"],
            ),
            (
                "image pull back-off",
                pod(PodPhase::Pending, vec![waiting(Reason::ImagePullBackOff, 0, None)]),
                "ImagePullBackOff",
                HealthLevel::Unhealthy,
                vec!["app: ImagePullBackOff"],
            ),
            (
                "oom killed",
                pod(PodPhase::Running, vec![terminated(Some(Reason::OOMKilled), 137)]),
                "OOMKilled",
                HealthLevel::Unhealthy,
                vec!["app: OOMKilled"],
            ),
            (
                "crash loop after oom",
                pod(PodPhase::Running, vec![waiting(Reason::CrashLoopBackOff, 1, Some(Reason::OOMKilled))]),
                "CrashLoopBackOff",
                HealthLevel::Unhealthy,
                vec!["app: CrashLoopBackOff (1 restart, last OOMKilled)"],
            ),
            ("pending", pod(PodPhase::Pending, vec![]), "Pending", HealthLevel::Degraded, vec!["Pending"]),
            (
                "creating containers",
                pod(PodPhase::Pending, vec![waiting(Reason::ContainerCreating, 0, None)]),
                "ContainerCreating",
                HealthLevel::Degraded,
                vec!["ContainerCreating"],
            ),
            (
                "unschedulable",
                unschedulable,
                "Pending",
                HealthLevel::Unhealthy,
                vec!["Unschedulable: no node fits the pod"],
            ),
            ("scheduling gated", gated, "SchedulingGated", HealthLevel::Degraded, vec!["SchedulingGated"]),
            (
                "succeeded job pod",
                pod(PodPhase::Succeeded, vec![terminated(Some(Reason::Completed), 0)]),
                "Completed",
                HealthLevel::Healthy,
                vec![],
            ),
            (
                "failed job pod",
                pod(PodPhase::Failed, vec![terminated(Some(Reason::Error), 1)]),
                "Error",
                HealthLevel::Unhealthy,
                vec!["Failed: Error"],
            ),
            ("evicted", evicted, "Evicted", HealthLevel::Unhealthy, vec!["Failed: Evicted"]),
            (
                "exit code without reason",
                pod(PodPhase::Running, vec![terminated(None, 2)]),
                "ExitCode:2",
                HealthLevel::Unhealthy,
                vec!["app: ExitCode:2"],
            ),
            ("terminating", deleting, "Terminating", HealthLevel::Degraded, vec!["Terminating"]),
            ("node lost", node_lost, "Unknown", HealthLevel::Unknown, vec!["node lost while terminating"]),
            (
                "first init container running",
                with_init(
                    pod(PodPhase::Pending, vec![waiting(Reason::PodInitializing, 0, None)]),
                    vec![running(false)],
                ),
                "Init:0/1",
                HealthLevel::Degraded,
                vec!["Init:0/1"],
            ),
            (
                "second init container running",
                with_init(
                    pod(PodPhase::Pending, vec![waiting(Reason::PodInitializing, 0, None)]),
                    vec![terminated(Some(Reason::Completed), 0), running(false)],
                ),
                "Init:1/2",
                HealthLevel::Degraded,
                vec!["Init:1/2"],
            ),
            (
                "init container crash loop",
                with_init(
                    pod(PodPhase::Pending, vec![waiting(Reason::PodInitializing, 0, None)]),
                    vec![waiting(Reason::CrashLoopBackOff, 3, Some(Reason::Error))],
                ),
                "Init:CrashLoopBackOff",
                HealthLevel::Unhealthy,
                vec!["init-0: CrashLoopBackOff (3 restarts, last Error)"],
            ),
            (
                "completed container next to a running one",
                pod(PodPhase::Running, vec![terminated(Some(Reason::Completed), 0), running(true)]),
                "NotReady",
                HealthLevel::Degraded,
                vec!["NotReady: 1/2 containers ready"],
            ),
            (
                "phase unknown",
                pod(PodPhase::Unknown, vec![]),
                "Unknown",
                HealthLevel::Unknown,
                vec!["phase Unknown: the node stopped reporting"],
            ),
        ]
    }

    #[test]
    fn pod_status_and_health_agree_with_kubectl() {
        for (case, pod, status, level, reasons) in cases() {
            assert_eq!(pod_status(&pod), status, "status of {case}");
            let health = pod_health(&pod);
            assert_eq!(health.level, level, "level of {case}");
            assert_eq!(health.reasons, reasons, "reasons of {case}");
        }
    }

    #[test]
    fn a_completed_container_beside_a_ready_one_prints_running_with_the_ready_condition() {
        let mut p = pod(PodPhase::Running, vec![terminated(Some(Reason::Completed), 0), running(true)]);
        p.conditions.ready = Cond::True;
        assert_eq!(pod_status(&p), "Running");
    }

    #[test]
    fn init_signal_and_exit_codes_print_like_kubectl() {
        let mut killed = terminated(None, 137);
        killed.state = ContainerState::Terminated { reason: None, exit_code: 137, signal: 9 };
        let p = with_init(pod(PodPhase::Pending, vec![]), vec![killed]);
        assert_eq!(pod_status(&p), "Init:Signal:9");
        let p = with_init(pod(PodPhase::Pending, vec![]), vec![terminated(None, 3)]);
        assert_eq!(pod_status(&p), "Init:ExitCode:3");
    }
}
