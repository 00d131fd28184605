//! kube-runtime watchers against the simulated API on a real socket: the collector's own code path.
//!
//! Paged initial lists, live events, and recovery from a forced `410 Expired` by relisting without duplicates.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::json;
use sim::resource::{NAMESPACES, PODS};

/// Counts the continued list requests (`continue=` in the query), to prove the initial list was paged.
#[derive(Clone, Default)]
struct Continued(Arc<AtomicUsize>);

async fn start() -> (sim::Sim, Client, Continued) {
    let sim = sim::Sim::new(sim::SimConfig { scenario: sim::Scenario::Empty, ..sim::SimConfig::default() })
        .unwrap();
    sim.store().create(NAMESPACES, None, json!({"metadata": {"name": "shop"}})).unwrap();
    for i in 0..12 {
        let pod = json!({"metadata": {"name": format!("pod-{i:02}")}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        sim.store().create(PODS, Some("shop"), pod).unwrap();
    }
    let continued = Continued::default();
    let counter = continued.clone();
    let router = sim.router().layer(middleware::from_fn(move |request: Request, next: Next| {
        if request.uri().query().is_some_and(|q| q.contains("continue=")) {
            counter.0.fetch_add(1, Ordering::SeqCst);
        }
        next.run(request)
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let kubeconfig = Kubeconfig::from_yaml(&sim::kubeconfig(addr)).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    (sim, Client::try_from(config).unwrap(), continued)
}

/// The next watcher event, skipping the errors a watcher reports (and recovers from) on its own.
async fn next<K>(stream: &mut (impl Stream<Item = Result<Event<K>, watcher::Error>> + Unpin)) -> Event<K> {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.next().await.expect("watchers do not end") {
                Ok(event) => return event,
                Err(e) => eprintln!("watcher error (it retries): {e}"),
            }
        }
    })
    .await
    .expect("a watcher event in time")
}

/// Reads one whole (re)list: `Init`, `InitApply`…, `InitDone`; returns the names listed.
async fn relist<K: ResourceExt>(
    stream: &mut (impl Stream<Item = Result<Event<K>, watcher::Error>> + Unpin),
) -> Vec<String> {
    assert!(matches!(next(stream).await, Event::Init), "a list starts with Init");
    let mut names = Vec::new();
    loop {
        match next(stream).await {
            Event::InitApply(object) => names.push(object.name_any()),
            Event::InitDone => return names,
            _ => panic!("only InitApply and InitDone belong to a list"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_lists_in_pages_follows_changes_and_relists_after_410() {
    let (sim, client, continued) = start().await;
    let pods: Api<Pod> = Api::all(client);
    let mut stream = watcher::watcher(pods, watcher::Config::default().page_size(5)).boxed();

    let listed = relist(&mut stream).await;
    assert_eq!(listed.len(), 12);
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 12, "no duplicates");
    assert_eq!(continued.0.load(Ordering::SeqCst), 2, "12 pods in pages of 5: two continued requests");

    let pod =
        json!({"metadata": {"name": "pod-new"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    sim.store().create(PODS, Some("shop"), pod).unwrap();
    match next(&mut stream).await {
        Event::Apply(pod) => assert_eq!(pod.name_any(), "pod-new"),
        other => panic!("expected the new pod, got {other:?}"),
    }

    sim.faults().expire_next_watch("pods");
    sim.faults().drop_watches();
    let relisted = relist(&mut stream).await;
    let unique: BTreeSet<&String> = relisted.iter().collect();
    assert_eq!((relisted.len(), unique.len()), (13, 13), "a full relist without duplicates: {relisted:?}");

    sim.store().delete(PODS, Some("shop"), "pod-03", &sim::store::Preconditions::default()).unwrap();
    match next(&mut stream).await {
        Event::Delete(pod) => assert_eq!(pod.name_any(), "pod-03"),
        other => panic!("expected the deletion, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_watcher_receives_only_metadata() {
    let (sim, client, _) = start().await;
    let pods: Api<PartialObjectMeta<Pod>> = Api::namespaced(client, "shop");
    let mut stream = watcher::watcher(pods, watcher::Config::default()).boxed();
    assert_eq!(relist(&mut stream).await.len(), 12);
    sim.store()
        .modify(PODS, Some("shop"), "pod-00", |p| p["metadata"]["labels"] = json!({"tier": "web"}))
        .unwrap();
    match next(&mut stream).await {
        Event::Apply(meta) => assert_eq!(meta.labels().get("tier").map(String::as_str), Some("web")),
        other => panic!("expected the relabelled pod, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_gets_its_initial_events_from_the_watch() {
    let (sim, client, _) = start().await;
    let pods: Api<Pod> = Api::all(client);
    let mut stream = watcher::watcher(pods, watcher::Config::default().streaming_lists()).boxed();
    assert_eq!(relist(&mut stream).await.len(), 12);
    sim.store().delete(PODS, Some("shop"), "pod-00", &sim::store::Preconditions::default()).unwrap();
    assert!(matches!(next(&mut stream).await, Event::Delete(pod) if pod.name_any() == "pod-00"));
}
