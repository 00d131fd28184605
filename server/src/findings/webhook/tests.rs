//! Delivery against a local HTTP receiver: 500s then success, a dead receiver filling the spool, the spool
//! replayed once it is back, and payloads in both formats.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use topology::finding::{Detector, Tier};
use topology::{EntityId, Kind};

use super::*;

#[derive(Clone, Default)]
struct Receiver {
    /// Statuses to answer, in order; 200 once empty.
    script: Arc<Mutex<VecDeque<u16>>>,
    /// Every body received (whatever the answer).
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn receive(listener: tokio::net::TcpListener, receiver: Receiver) {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let receiver = receiver.clone();
            async move {
                receiver.bodies.lock().unwrap().push(body);
                let code = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
                StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    axum::serve(listener, app).await.unwrap();
}

async fn start(receiver: &Receiver) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(receive(listener, receiver.clone()));
    addr
}

fn notice(transition: Transition) -> Notice {
    let subject = EntityId::new("prod", Kind::Pod, "shop", "web-a");
    Notice {
        transition,
        finding: Finding {
            key: Finding::key_of(Detector::OomKilled, &subject),
            detector: Detector::OomKilled,
            severity: Severity::Critical,
            tier: Tier::P0,
            entities: vec![subject.clone()],
            subject,
            message: "container main was OOMKilled (2 restarts)".into(),
            opened: 100,
            resolved: (transition == Transition::Resolved).then_some(160),
            events: Vec::new(),
        },
        peak: Severity::Critical,
    }
}

fn settings(spool: Option<PathBuf>) -> Settings {
    Settings {
        targets: Vec::new(),
        min_severity: Severity::Warning,
        spool,
        per_minute: 6000,
        attempts: 4,
        backoff: Duration::from_millis(1),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gestalt-webhook-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn server_errors_are_retried_until_the_receiver_accepts() {
    let receiver = Receiver::default();
    receiver.script.lock().unwrap().extend([500, 503, 500]);
    let addr = start(&receiver).await;
    let target = Target::parse(&format!("json:http://{addr}/hook"), Format::Slack).unwrap();
    let mut worker = Worker::new(target, &settings(None), Metrics::shared()).unwrap();
    worker.deliver(payload(Format::Json, &notice(Transition::Opened))).await.unwrap();
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 4, "three failures, then the delivery");
    let body: serde_json::Value = serde_json::from_str(&bodies[3]).unwrap();
    assert_eq!(body["event"], "opened");
    assert_eq!(body["key"], "oom-killed/prod/pod/shop/web-a");
    assert_eq!(body["severity"], "CRITICAL");
    assert_eq!(body["tier"], "P0");
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let receiver = Receiver::default();
    receiver.script.lock().unwrap().extend([400]);
    let addr = start(&receiver).await;
    let target = Target::parse(&format!("http://{addr}/hook"), Format::Json).unwrap();
    let mut worker = Worker::new(target, &settings(None), Metrics::shared()).unwrap();
    let error = worker.deliver(payload(Format::Json, &notice(Transition::Opened))).await.unwrap_err();
    assert!(error.to_string().ends_with("answered 400 Bad Request"), "{error}");
    assert_eq!(receiver.bodies.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn undeliverable_notifications_are_spooled_and_replayed_once_the_receiver_is_back() {
    // A port nobody listens on: bind, note it, close.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let dir = temp_dir("spool");
    let target = Target::parse(&format!("slack:http://{addr}/hook"), Format::Json).unwrap();
    let metrics = Metrics::shared();
    let mut worker = Worker::new(target.clone(), &settings(Some(dir.clone())), metrics.clone()).unwrap();
    worker.deliver_or_spool(payload(Format::Slack, &notice(Transition::Opened))).await;
    worker.deliver_or_spool(payload(Format::Slack, &notice(Transition::Resolved))).await;
    let spool = dir.join(format!("{}.jsonl", target.id()));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&spool).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["text"],
        ":rotating_light: *OPEN* CRITICAL (P0) `oom-killed` pod shop/web-a in prod: container main was OOMKilled (2 restarts)"
    );
    assert!(!std::fs::read_to_string(&spool).unwrap().contains("/hook"), "the URL stays out of the spool");
    // Still down: nothing is lost.
    assert_eq!(worker.replay().await.unwrap(), 0);
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 2);
    // Back up on the same address.
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(receive(listener, receiver.clone()));
    assert_eq!(worker.replay().await.unwrap(), 2);
    assert_eq!(std::fs::read_to_string(&spool).unwrap(), "");
    assert_eq!((metrics.webhook_undelivered.get(), metrics.webhook_delivered.get()), (2, 2));
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert!(bodies[0].contains("*OPEN*") && bodies[1].contains("*RESOLVED*"), "{bodies:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn what_is_spooled_during_a_replay_and_what_a_crash_left_aside_are_both_kept_in_order() {
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let dir = temp_dir("spool-merge");
    std::fs::create_dir_all(&dir).unwrap();
    let target = Target::parse(&format!("json:http://{addr}/hook"), Format::Json).unwrap();
    let mut worker = Worker::new(target.clone(), &settings(Some(dir.clone())), Metrics::shared()).unwrap();
    let spool = dir.join(format!("{}.jsonl", target.id()));
    // A replay that crashed had moved "a" aside; "b" was spooled after it.
    std::fs::write(spool.with_extension("jsonl.replaying"), "{\"n\":\"a\"}\n").unwrap();
    std::fs::write(&spool, "{\"n\":\"b\"}\n").unwrap();
    assert_eq!(worker.replay().await.unwrap(), 0, "the receiver is down");
    assert_eq!(std::fs::read_to_string(&spool).unwrap(), "{\"n\":\"a\"}\n{\"n\":\"b\"}\n");
    assert!(!spool.with_extension("jsonl.replaying").exists());
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(receive(listener, receiver.clone()));
    assert_eq!(worker.replay().await.unwrap(), 2);
    assert_eq!(*receiver.bodies.lock().unwrap(), ["{\"n\":\"a\"}", "{\"n\":\"b\"}"]);
    assert_eq!(std::fs::read_to_string(&spool).unwrap(), "");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_dispatcher_filters_by_severity_and_sends_each_transition_once() {
    let receiver = Receiver::default();
    let addr = start(&receiver).await;
    let mut s = settings(None);
    s.targets = vec![Target::parse(&format!("json:http://{addr}/hook"), Format::Json).unwrap()];
    s.min_severity = Severity::High;
    let (tx, rx) = mpsc::channel(16);
    spawn(&s, rx, &Metrics::shared()).unwrap();
    let mut low = notice(Transition::Opened);
    low.finding.severity = Severity::Warning;
    low.finding.key = "restarts/prod/pod/shop/web-b".into();
    tx.send(low).await.unwrap();
    tx.send(notice(Transition::Opened)).await.unwrap();
    tx.send(notice(Transition::Opened)).await.unwrap();
    tx.send(notice(Transition::Resolved)).await.unwrap();
    // Wait for the two deliveries (no timing asserted, only a bound on how long to wait).
    for _ in 0..500 {
        if receiver.bodies.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events: Vec<String> = receiver
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["opened", "resolved"]);
}

/// (key, transition, severity, peak) → what a receiver with minimum `High` gets.
async fn dispatched(
    notices: &[(&str, Transition, Severity, Severity)],
    expect: usize,
) -> Vec<(String, String)> {
    let receiver = Receiver::default();
    let addr = start(&receiver).await;
    let mut s = settings(None);
    s.targets = vec![Target::parse(&format!("json:http://{addr}/hook"), Format::Json).unwrap()];
    s.min_severity = Severity::High;
    let (tx, rx) = mpsc::channel(16);
    spawn(&s, rx, &Metrics::shared()).unwrap();
    for (key, transition, severity, peak) in notices {
        let mut n = notice(*transition);
        n.finding.key = (*key).to_owned();
        n.finding.severity = *severity;
        n.peak = *peak;
        tx.send(n).await.unwrap();
    }
    for _ in 0..500 {
        if receiver.bodies.lock().unwrap().len() >= expect {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let bodies = receiver.bodies.lock().unwrap();
    bodies
        .iter()
        .map(|b| {
            let v = serde_json::from_str::<serde_json::Value>(b).unwrap();
            (v["key"].as_str().unwrap().to_owned(), v["event"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_receiver_told_of_an_incident_hears_its_end_and_one_that_reached_its_minimum_late_hears_of_it() {
    use Severity::{Critical, High, Warning};
    use Transition::{Escalated, Opened, Resolved};
    let got = dispatched(
        &[
            // Opened High, calmed down to Warning, resolved: the resolve is sent (its peak was High).
            ("calmed", Opened, High, High),
            ("calmed", Resolved, Warning, High),
            // Opened Warning (below the minimum), escalated to Critical, resolved as Warning.
            ("worse", Opened, Warning, Warning),
            ("worse", Escalated, Critical, Critical),
            ("worse", Resolved, Warning, Critical),
            // Never above Warning: nothing.
            ("quiet", Opened, Warning, Warning),
            ("quiet", Resolved, Warning, Warning),
        ],
        4,
    )
    .await;
    let got: Vec<(&str, &str)> = got.iter().map(|(k, e)| (k.as_str(), e.as_str())).collect();
    assert_eq!(
        got,
        [("calmed", "opened"), ("calmed", "resolved"), ("worse", "escalated"), ("worse", "resolved")]
    );
}

#[test]
fn targets_parse_with_a_format_prefix_and_refuse_other_schemes() {
    let t = Target::parse("slack:https://hooks.slack.com/services/T0/B0/SECRET", Format::Json).unwrap();
    assert_eq!(t.format, Format::Slack);
    assert!(t.id().starts_with("hooks.slack.com-"));
    assert!(!t.id().contains("SECRET"));
    assert_eq!(Target::parse("https://h/x", Format::Slack).unwrap().format, Format::Slack);
    let error = Target::parse("ftp://h/SECRET", Format::Json).unwrap_err().to_string();
    assert!(!error.contains("SECRET"), "{error}");
}

#[test]
fn the_rate_limit_spaces_notifications_evenly_and_saves_no_slots_while_idle() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = runtime.enter();
    let mut s = settings(None);
    s.per_minute = 2;
    let target = Target::parse("json:http://127.0.0.1:9/hook", Format::Json).unwrap();
    let mut worker = Worker::new(target, &s, Metrics::shared()).unwrap();
    let start = tokio::time::Instant::now();
    let slots: Vec<u64> = (0..3).map(|_| (worker.take_slot(start) - start).as_secs()).collect();
    assert_eq!(slots, [0, 30, 60]);
    // An hour later the next one goes at once, and the one after waits its 30 s again.
    let later = start + Duration::from_secs(3600);
    assert_eq!(worker.take_slot(later), later);
    assert_eq!(worker.take_slot(later) - later, Duration::from_secs(30));
}
