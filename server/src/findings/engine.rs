//! The engine: runs the detectors whenever the topology or the events change (at most once a second) and
//! every few seconds regardless (thresholds like "pending for five minutes" pass without any change), diffs
//! the keys against what is open, and records and announces what opened and what resolved.
//!
//! It owns the set of open findings; the API reads the history database, the notifier reads a channel.
//! Memory is bounded by the topology: at most one open finding and one candidate per (detector, entity).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use topology::finding::{detect, Detector, Finding, RestartHistory, Severity, Thresholds, Tiers};
use topology::{EventRecord, Topology};

use super::store::{Store, StoreError};
use super::webhook::{Notice, Transition};
use crate::collector::events::{EventLog, EVENT_CAPACITY};
use crate::live::Hub;
use crate::metrics::Metrics;

/// How often a change can trigger an evaluation.
const DEBOUNCE: Duration = Duration::from_secs(1);
/// How often the detectors run without any change.
const TICK: Duration = Duration::from_secs(10);

/// Detectors whose condition is normal for a moment (a rollout briefly has unavailable replicas, a fresh
/// service has no endpoints yet, a claim waits for its volume): they open only once it held for the grace.
fn needs_grace(detector: Detector) -> bool {
    matches!(
        detector,
        Detector::UnavailableReplicas
            | Detector::StatefulSetNotReady
            | Detector::DaemonSetMisscheduled
            | Detector::NoEndpoints
            | Detector::PvcPending
    )
}

/// What one evaluation changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Keys that opened.
    pub opened: Vec<String>,
    /// Keys that resolved.
    pub resolved: Vec<String>,
}

/// The open findings and the rules' settings.
pub struct Engine {
    store: Store,
    tiers: Tiers,
    thresholds: Thresholds,
    grace_secs: i64,
    open: HashMap<String, Finding>,
    /// Key → first seen, for findings waiting out their grace.
    candidates: HashMap<String, i64>,
    notices: Option<mpsc::Sender<Notice>>,
    metrics: Arc<Metrics>,
    /// Recent restart counts per pod, for the restart-spike detector (bounded by the pods present).
    restarts: RestartHistory,
    /// Incidents resumed from the history and not seen again yet, and when this engine first evaluated. For a
    /// grace after a restart they are not resolved: the cluster view is rebuilt from scratch then, and a pod caught
    /// between two states would otherwise resolve its incident and reopen it seconds later, notifying both.
    resumed: HashSet<String>,
    started: Option<i64>,
    /// The highest severity each open incident reached: a resolve is sent to whoever was told of the incident,
    /// even when it calmed down below their minimum severity before it went away.
    peaks: HashMap<String, Severity>,
}

impl Engine {
    /// An engine resuming the incidents the history says are open (a restart neither loses nor re-announces
    /// them).
    pub async fn resume(
        store: Store,
        tiers: Tiers,
        thresholds: Thresholds,
        grace_secs: i64,
        notices: Option<mpsc::Sender<Notice>>,
        metrics: Arc<Metrics>,
    ) -> Result<Engine, StoreError> {
        let open: HashMap<String, Finding> =
            store.open_findings().await?.into_iter().map(|f| (f.key.clone(), f)).collect();
        metrics.findings_open.set(i64::try_from(open.len()).unwrap_or(i64::MAX));
        let resumed = open.keys().cloned().collect();
        let peaks = open.values().map(|f| (f.key.clone(), f.severity)).collect();
        Ok(Engine {
            store,
            tiers,
            thresholds,
            grace_secs,
            open,
            candidates: HashMap::new(),
            notices,
            metrics,
            restarts: RestartHistory::default(),
            resumed,
            started: None,
            peaks,
        })
    }

    /// Runs the detectors on this state of the cluster, records the difference and announces it.
    #[cfg(test)]
    pub async fn evaluate(
        &mut self,
        topology: &Topology,
        events: &[EventRecord],
        now: i64,
    ) -> Result<Changes, StoreError> {
        let current = self.detect(topology, events, now);
        self.record(current, now).await
    }

    /// What the detectors find in this state of the cluster (and the restart history it updates). Synchronous
    /// and short, so that it can run on the hub's topology in place: a copy of a 10k-pod topology per round
    /// would cost more than the detectors, and one more topology in memory.
    pub fn detect(&mut self, topology: &Topology, events: &[EventRecord], now: i64) -> Vec<Finding> {
        self.restarts.observe(topology, now, self.thresholds.restart_window_secs);
        detect(topology, events, now, &self.thresholds, &self.tiers, &self.restarts)
    }

    /// Compares what the detectors found with what is open: records the difference and announces it.
    pub async fn record(&mut self, current: Vec<Finding>, now: i64) -> Result<Changes, StoreError> {
        let present: HashSet<String> = current.iter().map(|f| f.key.clone()).collect();
        self.candidates.retain(|key, _| present.contains(key));
        let started = *self.started.get_or_insert(now);
        if now - started >= self.grace_secs {
            self.resumed.clear();
        } else {
            self.resumed.retain(|key| !present.contains(key));
        }
        let mut opened = Vec::new();
        let mut updated = Vec::new();
        for mut finding in current {
            if let Some(previous) = self.open.get(&finding.key) {
                finding.opened = previous.opened;
                // The events that explain it often come after it opened (a kubelet's BackOff follows the
                // restart the detector saw): an open finding takes them as they come.
                let changed = previous.severity != finding.severity
                    || previous.message != finding.message
                    || previous.entities != finding.entities
                    || previous.events != finding.events;
                if changed {
                    updated.push(finding);
                }
                continue;
            }
            let first_seen = *self.candidates.entry(finding.key.clone()).or_insert(now);
            if needs_grace(finding.detector) && now - first_seen < self.grace_secs {
                continue;
            }
            self.candidates.remove(&finding.key);
            finding.opened = first_seen;
            opened.push(finding);
        }
        let resolved: Vec<(String, i64)> = self
            .open
            .keys()
            .filter(|k| !present.contains(*k) && !self.resumed.contains(*k))
            .map(|k| (k.clone(), now))
            .collect();
        if opened.is_empty() && updated.is_empty() && resolved.is_empty() {
            return Ok(Changes::default());
        }
        self.store.apply(opened.clone(), updated.clone(), resolved.clone()).await?;
        let changes = Changes {
            opened: opened.iter().map(|f| f.key.clone()).collect(),
            resolved: resolved.iter().map(|(k, _)| k.clone()).collect(),
        };
        for f in updated {
            let peak = self.peaks.entry(f.key.clone()).or_insert(f.severity);
            if f.severity > *peak {
                // Worse than it ever was while open: told again (a receiver whose minimum it now reaches hears
                // of it for the first time).
                *peak = f.severity;
                self.announce(Transition::Escalated, &f, f.severity);
            }
            self.open.insert(f.key.clone(), f);
        }
        for f in opened {
            self.peaks.insert(f.key.clone(), f.severity);
            self.announce(Transition::Opened, &f, f.severity);
            self.open.insert(f.key.clone(), f);
        }
        for (key, at) in resolved {
            if let Some(mut f) = self.open.remove(&key) {
                f.resolved = Some(at);
                let peak = self.peaks.remove(&key).unwrap_or(f.severity).max(f.severity);
                self.announce(Transition::Resolved, &f, peak);
            }
        }
        self.metrics.findings_opened.inc_by(changes.opened.len() as u64);
        self.metrics.findings_resolved.inc_by(changes.resolved.len() as u64);
        self.metrics.findings_open.set(i64::try_from(self.open.len()).unwrap_or(i64::MAX));
        Ok(changes)
    }

    fn announce(&self, transition: Transition, finding: &Finding, peak: Severity) {
        let Some(notices) = &self.notices else { return };
        // A full queue means the webhooks are far behind; the history still has it.
        if notices.try_send(Notice { transition, finding: finding.clone(), peak }).is_err() {
            tracing::warn!(key = %finding.key, "findings: the notification queue is full, one notification dropped");
        }
    }

    /// How many findings are open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Follows the hub's topology and the event log until the hub shuts down. Nothing is evaluated before the
/// collector's first full list: an empty topology would resolve every incident the history holds.
pub async fn run(mut engine: Engine, hub: Hub, events: EventLog, mut ready: watch::Receiver<bool>) {
    let mut shutdown = hub.shutdown();
    let mut versions = events.subscribe();
    let mut last: Option<(u64, u64)> = None;
    let mut last_run = tokio::time::Instant::now();
    loop {
        if *shutdown.borrow() {
            return;
        }
        if *ready.borrow() {
            let state = (hub.seq(), *versions.borrow_and_update());
            if last != Some(state) || last_run.elapsed() >= TICK {
                let recent = events.recent(EVENT_CAPACITY, |_| true);
                let now = unix_now();
                let current = hub.with_topology(|topology| engine.detect(topology, &recent, now));
                match engine.record(current, now).await {
                    Ok(changes) if changes != Changes::default() => tracing::info!(
                        opened = changes.opened.len(),
                        resolved = changes.resolved.len(),
                        open = engine.open_count(),
                        "findings changed"
                    ),
                    Ok(_) => {}
                    // The next round retries: the open set was left as it was.
                    Err(error) => {
                        tracing::warn!(error = %crate::live::session::one_line(&error), "findings: cannot record");
                    }
                }
                last = Some(state);
                last_run = tokio::time::Instant::now();
            }
        }
        tokio::select! {
            () = tokio::time::sleep(DEBOUNCE) => {}
            _ = shutdown.changed() => {}
            _ = ready.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::entity::{ContainerState, Details, Reason, Replicas, WorkloadInfo};
    use topology::{Entity, EntityId, Kind};

    fn crash_pod(crashing: bool) -> Entity {
        let mut e = Entity::new(EntityId::new("c", Kind::Pod, "shop", "web-a"));
        let mut c = topology::entity::Container::new("main", "img");
        c.status.state = if crashing {
            ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) }
        } else {
            ContainerState::Running
        };
        let Details::Pod(info) = &mut e.details else { unreachable!() };
        info.phase = topology::entity::PodPhase::Running;
        info.containers = vec![c];
        e
    }

    /// An engine with the default rules and a 60 s grace.
    async fn engine(store: Store, notices: Option<mpsc::Sender<Notice>>, metrics: Arc<Metrics>) -> Engine {
        Engine::resume(store, Tiers::default(), Thresholds::default(), 60, notices, metrics).await.unwrap()
    }

    fn topology_of(entities: Vec<Entity>) -> Topology {
        let mut t = Topology::new();
        for e in entities {
            t.upsert(e).unwrap();
        }
        t
    }

    #[tokio::test]
    async fn a_finding_opens_once_resolves_once_and_is_announced_both_times() {
        let (tx, mut rx) = mpsc::channel(8);
        let store = Store::open(None).unwrap();
        let metrics = Metrics::shared();
        let mut engine = engine(store.clone(), Some(tx), metrics.clone()).await;
        let broken = topology_of(vec![crash_pod(true)]);
        let opened = engine.evaluate(&broken, &[], 100).await.unwrap();
        assert_eq!(opened.opened, ["crash-loop/c/pod/shop/web-a"]);
        assert_eq!(engine.evaluate(&broken, &[], 101).await.unwrap(), Changes::default());
        assert_eq!(metrics.findings_open.get(), 1);
        let fixed = topology_of(vec![crash_pod(false)]);
        assert_eq!(
            engine.evaluate(&fixed, &[], 130).await.unwrap().resolved,
            ["crash-loop/c/pod/shop/web-a"]
        );
        let counts =
            (metrics.findings_opened.get(), metrics.findings_resolved.get(), metrics.findings_open.get());
        assert_eq!(counts, (1, 1, 0));
        let first = rx.recv().await.unwrap();
        assert_eq!((first.transition, first.finding.opened), (Transition::Opened, 100));
        let second = rx.recv().await.unwrap();
        assert_eq!((second.transition, second.finding.resolved), (Transition::Resolved, Some(130)));
        let history = store.query(super::super::store::StateFilter::All, 0, 200, 0, 10).await.unwrap();
        assert_eq!(history.iter().map(|f| (f.opened, f.resolved)).collect::<Vec<_>>(), [(100, Some(130))]);
    }

    #[tokio::test]
    async fn an_open_finding_takes_the_events_that_explain_it_as_they_come() {
        let store = Store::open(None).unwrap();
        let mut engine = engine(store.clone(), None, Metrics::shared()).await;
        let broken = topology_of(vec![crash_pod(true)]);
        engine.evaluate(&broken, &[], 100).await.unwrap();
        assert!(store.open_findings().await.unwrap()[0].events.is_empty());
        let backoff = EventRecord {
            namespace: String::from("shop"),
            involved: Some(EntityId::new("c", Kind::Pod, "shop", "web-a")),
            reason: String::from("BackOff"),
            message: String::from("Back-off restarting failed container main"),
            kind: topology::EventType::Warning,
            count: 3,
            first_seen: 95,
            last_seen: 101,
        };
        let changes = engine.evaluate(&broken, std::slice::from_ref(&backoff), 101).await.unwrap();
        assert_eq!(changes, Changes::default(), "nothing opened or resolved");
        let open = store.open_findings().await.unwrap();
        assert_eq!((open.len(), open[0].opened, &open[0].events), (1, 100, &vec![backoff]));
    }

    #[tokio::test]
    async fn a_restart_resumes_open_incidents_without_reopening_them() {
        let store = Store::open(None).unwrap();
        let broken = topology_of(vec![crash_pod(true)]);
        let mut first = engine(store.clone(), None, Metrics::shared()).await;
        first.evaluate(&broken, &[], 100).await.unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let mut second = engine(store.clone(), Some(tx), Metrics::shared()).await;
        assert_eq!(second.evaluate(&broken, &[], 200).await.unwrap(), Changes::default());
        assert!(rx.try_recv().is_err());
        assert_eq!(store.opened_at("crash-loop/c/pod/shop/web-a".into()).await.unwrap(), Some(100));
    }

    #[tokio::test]
    async fn after_a_restart_a_resumed_incident_resolves_only_once_its_cause_stayed_away_for_the_grace() {
        let store = Store::open(None).unwrap();
        let mut first = engine(store.clone(), None, Metrics::shared()).await;
        first.evaluate(&topology_of(vec![crash_pod(true)]), &[], 100).await.unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let mut second = engine(store.clone(), Some(tx), Metrics::shared()).await;
        // The rebuilt view briefly shows the pod between two states: no resolve, no reopen, no notification.
        let fixed = topology_of(vec![crash_pod(false)]);
        assert_eq!(second.evaluate(&fixed, &[], 200).await.unwrap(), Changes::default());
        assert_eq!(
            second.evaluate(&topology_of(vec![crash_pod(true)]), &[], 210).await.unwrap(),
            Changes::default()
        );
        assert!(rx.try_recv().is_err());
        // Seen again, it is an ordinary open incident: gone, it resolves at once.
        assert_eq!(
            second.evaluate(&fixed, &[], 220).await.unwrap().resolved,
            ["crash-loop/c/pod/shop/web-a"]
        );

        // Resumed but never seen again: resolved once the grace (60 s) is over.
        let store = Store::open(None).unwrap();
        let mut before = engine(store.clone(), None, Metrics::shared()).await;
        before.evaluate(&topology_of(vec![crash_pod(true)]), &[], 300).await.unwrap();
        let mut after = engine(store.clone(), None, Metrics::shared()).await;
        assert_eq!(after.evaluate(&fixed, &[], 400).await.unwrap(), Changes::default());
        assert_eq!(after.evaluate(&fixed, &[], 459).await.unwrap(), Changes::default());
        assert_eq!(after.evaluate(&fixed, &[], 460).await.unwrap().resolved, ["crash-loop/c/pod/shop/web-a"]);
    }

    #[tokio::test]
    async fn unavailable_replicas_open_only_after_the_grace_and_date_from_first_sight() {
        let mut deploy = Entity::new(EntityId::new("c", Kind::Deployment, "shop", "web"));
        deploy.details = Details::Workload(WorkloadInfo {
            replicas: Replicas { desired: 2, available: 1, ..Replicas::default() },
            ..WorkloadInfo::default()
        });
        let t = topology_of(vec![deploy]);
        let mut engine = engine(Store::open(None).unwrap(), None, Metrics::shared()).await;
        assert_eq!(engine.evaluate(&t, &[], 1000).await.unwrap(), Changes::default());
        assert_eq!(engine.evaluate(&t, &[], 1059).await.unwrap(), Changes::default());
        assert_eq!(
            engine.evaluate(&t, &[], 1060).await.unwrap().opened,
            ["unavailable-replicas/c/deployment/shop/web"]
        );
        assert_eq!(engine.open["unavailable-replicas/c/deployment/shop/web"].opened, 1000);
    }

    #[tokio::test]
    async fn an_incident_is_announced_again_when_it_gets_worse_and_its_resolve_carries_its_peak() {
        let deployment = |available: u32| {
            let mut deploy = Entity::new(EntityId::new("c", Kind::Deployment, "shop", "web"));
            deploy.details = Details::Workload(WorkloadInfo {
                replicas: Replicas { desired: 2, available, ..Replicas::default() },
                ..WorkloadInfo::default()
            });
            topology_of(vec![deploy])
        };
        let (tx, mut rx) = mpsc::channel(8);
        let mut engine = engine(Store::open(None).unwrap(), Some(tx), Metrics::shared()).await;
        for (available, at) in [(1, 1000), (1, 1060), (0, 1070), (1, 1080), (0, 1090), (1, 1095), (2, 1100)] {
            engine.evaluate(&deployment(available), &[], at).await.unwrap();
        }
        let mut got = Vec::new();
        while let Ok(n) = rx.try_recv() {
            got.push((n.transition, n.finding.severity, n.peak));
        }
        // Warning (1 of 2 unavailable), High (none available): told; back to Warning and up to High again: not
        // news; resolved with the peak it reached.
        assert_eq!(
            got,
            [
                (Transition::Opened, Severity::Warning, Severity::Warning),
                (Transition::Escalated, Severity::High, Severity::High),
                (Transition::Resolved, Severity::Warning, Severity::High),
            ]
        );
    }
}
