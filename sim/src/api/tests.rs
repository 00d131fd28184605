//! API tests through the router (no socket): status codes and bodies, paging, output formats, watches, faults.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::clock::ManualClock;
use crate::resource::PODS;
use crate::{Scenario, Sim, SimConfig};

const NOW: i64 = 1_714_564_800;

fn sim() -> Sim {
    let sim = Sim::new(SimConfig {
        scenario: Scenario::Empty,
        history: 50,
        bookmark_interval: Duration::from_millis(50),
        clock: Arc::new(ManualClock::new(NOW)),
        ..SimConfig::default()
    })
    .unwrap();
    for name in ["shop", "ops"] {
        sim.store().create(crate::resource::NAMESPACES, None, json!({"metadata": {"name": name}})).unwrap();
    }
    for i in 0..7 {
        let ns = if i < 5 { "shop" } else { "ops" };
        let app = if i % 2 == 0 { "web" } else { "db" };
        let pod = json!({"metadata": {"name": format!("p{i}"), "labels": {"app": app}},
                         "spec": {"nodeName": format!("n{}", i % 2), "containers": [{"name": "c"}]}});
        sim.store().create(PODS, Some(ns), pod).unwrap();
    }
    sim
}

async fn call_with(
    sim: &Sim,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = sim.router().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn call(sim: &Sim, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    call_with(sim, method, uri, &[("content-type", "application/json")], body).await
}

async fn get(sim: &Sim, uri: &str) -> (StatusCode, Value) {
    call(sim, "GET", uri, "").await
}

fn names(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn discovery_documents_are_served_and_openapi_v2_is_a_404_status() {
    let sim = sim();
    let (code, version) = get(&sim, "/version").await;
    assert_eq!((code, version["major"].as_str()), (StatusCode::OK, Some("1")));
    let (_, api) = get(&sim, "/api").await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, groups) = get(&sim, "/apis").await;
    assert!(groups["groups"].as_array().unwrap().iter().any(|g| g["name"] == "apps"));
    let (_, apps) = get(&sim, "/apis/apps/v1").await;
    assert_eq!(apps["groupVersion"], "apps/v1");
    for path in ["/openapi/v2", "/apis/nope/v1", "/api/v1/widgets"] {
        let (code, status) = get(&sim, path).await;
        assert_eq!(
            (code, status["kind"].as_str(), status["reason"].as_str()),
            (StatusCode::NOT_FOUND, Some("Status"), Some("NotFound")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn lists_have_kind_version_and_respect_namespaces_and_selectors() {
    let sim = sim();
    let (code, all) = get(&sim, "/api/v1/pods").await;
    assert_eq!(
        (code, all["kind"].as_str(), all["apiVersion"].as_str()),
        (StatusCode::OK, Some("PodList"), Some("v1"))
    );
    assert_eq!(names(&all), ["p5", "p6", "p0", "p1", "p2", "p3", "p4"], "ops before shop: key order");
    assert_eq!(all["metadata"]["resourceVersion"], "15");
    assert!(all["items"][0].get("kind").is_none());
    let (_, shop) = get(&sim, "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb").await;
    assert_eq!(names(&shop), ["p0", "p2", "p4"]);
    let (_, on_n1) =
        get(&sim, "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1,metadata.namespace%3Dshop").await;
    assert_eq!(names(&on_n1), ["p1", "p3"]);
    let (_, sets) = get(&sim, "/api/v1/pods?labelSelector=app+in+(db),!missing").await;
    assert_eq!(names(&sets), ["p5", "p1", "p3"]);
    let (code, bad) = get(&sim, "/api/v1/pods?labelSelector=app+in+web").await;
    assert_eq!((code, bad["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")));
    let (code, _) = get(&sim, "/api/v1/pods?fieldSelector=spec.image%3Dx").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn continue_tokens_page_through_everything_once() {
    let sim = sim();
    let (_, first) = get(&sim, "/api/v1/pods?limit=3").await;
    assert_eq!(first["metadata"]["remainingItemCount"], 4);
    let mut seen: Vec<String> = names(&first).iter().map(|s| (*s).to_owned()).collect();
    let mut token = first["metadata"]["continue"].as_str().map(str::to_owned);
    while let Some(t) = token {
        let (code, page) = get(&sim, &format!("/api/v1/pods?limit=3&continue={t}")).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(page["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
        seen.extend(names(&page).iter().map(|s| (*s).to_owned()));
        token = page["metadata"]["continue"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["p5", "p6", "p0", "p1", "p2", "p3", "p4"]);
}

#[tokio::test]
async fn writes_answer_kubernetes_status_codes() {
    let sim = sim();
    let pod = r#"{"metadata": {"name": "new"}, "spec": {"containers": [{"name": "c"}]}}"#;
    let (code, created) = call(&sim, "POST", "/api/v1/namespaces/shop/pods", pod).await;
    assert_eq!((code, created["status"]["phase"].as_str()), (StatusCode::CREATED, Some("Pending")));
    let (code, exists) = call(&sim, "POST", "/api/v1/namespaces/shop/pods", pod).await;
    assert_eq!((code, exists["reason"].as_str()), (StatusCode::CONFLICT, Some("AlreadyExists")));
    assert_eq!(exists["message"], "pods \"new\" already exists");
    let (code, invalid) =
        call(&sim, "POST", "/api/v1/namespaces/shop/pods", r#"{"metadata": {"name": "No_Way"}}"#).await;
    assert_eq!((code, invalid["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")));
    assert_eq!(invalid["details"]["causes"][0]["field"], "metadata.name");
    let (code, missing_ns) = call(&sim, "POST", "/api/v1/namespaces/nope/pods", pod).await;
    assert_eq!(
        (code, missing_ns["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("namespaces \"nope\" not found"))
    );
    let (code, _) = call(&sim, "POST", "/api/v1/namespaces/shop/pods/new", pod).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let (code, conflict) = call(&sim, "PUT", "/api/v1/namespaces/shop/pods/new", &stale.to_string()).await;
    assert_eq!((code, conflict["reason"].as_str()), (StatusCode::CONFLICT, Some("Conflict")));
    let (code, _) = call(&sim, "PUT", "/api/v1/namespaces/shop/pods/new", &created.to_string()).await;
    assert_eq!(code, StatusCode::OK);
    let (code, gone) = get(&sim, "/api/v1/namespaces/shop/pods/gone").await;
    assert_eq!((code, gone["details"]["name"].as_str()), (StatusCode::NOT_FOUND, Some("gone")));
}

#[tokio::test]
async fn patches_and_status_writes_change_what_they_should() {
    let sim = sim();
    let uri = "/api/v1/namespaces/shop/pods/p0";
    let merge = [("content-type", "application/merge-patch+json")];
    let (code, patched) =
        call_with(&sim, "PATCH", uri, &merge, r#"{"metadata": {"labels": {"app": null, "tier": "1"}}}"#)
            .await;
    assert_eq!((code, &patched["metadata"]["labels"]), (StatusCode::OK, &json!({"tier": "1"})));
    let strategic = [("content-type", "application/strategic-merge-patch+json")];
    let (_, patched) = call_with(
        &sim,
        "PATCH",
        uri,
        &strategic,
        r#"{"spec": {"containers": [{"name": "c", "image": "x"}]}}"#,
    )
    .await;
    assert_eq!(patched["spec"]["containers"], json!([{"name": "c", "image": "x"}]));
    let json_patch = [("content-type", "application/json-patch+json")];
    let (code, _) = call_with(&sim, "PATCH", uri, &json_patch, "[]").await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, status) = call_with(
        &sim,
        "PATCH",
        &format!("{uri}/status"),
        &merge,
        r#"{"status": {"phase": "Running"}, "spec": {"x": 1}}"#,
    )
    .await;
    assert_eq!((status["status"]["phase"].as_str(), status["spec"].get("x")), (Some("Running"), None));
    let (_, main) = call_with(&sim, "PATCH", uri, &merge, r#"{"status": {"phase": "Failed"}}"#).await;
    assert_eq!(main["status"]["phase"], "Running", "the main resource ignores status");
}

#[tokio::test]
async fn deletes_accept_delete_options_with_preconditions() {
    let sim = sim();
    let uri = "/api/v1/namespaces/shop/pods/p0";
    let (code, _) =
        call(&sim, "DELETE", uri, r#"{"kind": "DeleteOptions", "preconditions": {"uid": "nope"}}"#).await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, deleted) =
        call(&sim, "DELETE", uri, r#"{"kind": "DeleteOptions", "gracePeriodSeconds": 0}"#).await;
    assert_eq!((code, deleted["metadata"]["name"].as_str()), (StatusCode::OK, Some("p0")));
    assert_eq!(get(&sim, uri).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metadata_only_responses_carry_only_metadata() {
    let sim = sim();
    let list_accept = [("accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")];
    let (_, list) = call_with(&sim, "GET", "/api/v1/namespaces/ops/pods", &list_accept, "").await;
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    let item = &list["items"][0];
    assert_eq!((item["kind"].as_str(), item.get("spec")), (Some("PartialObjectMetadata"), None));
    assert_eq!(item["metadata"]["name"], "p5");
    let one_accept = [("accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")];
    let (_, one) = call_with(&sim, "GET", "/api/v1/namespaces/ops/pods/p5", &one_accept, "").await;
    assert_eq!((one["kind"].as_str(), one.get("status")), (Some("PartialObjectMetadata"), None));
}

#[tokio::test]
async fn kubectl_gets_a_table_of_pods() {
    let sim = sim();
    let accept = [("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")];
    let (_, table) = call_with(&sim, "GET", "/api/v1/pods?limit=500", &accept, "").await;
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(table["rows"][0]["cells"], json!(["p5", "0/1", "Pending", "0", "0s", "<none>", "n1"]));
    assert_eq!(table["rows"][0]["object"]["metadata"]["namespace"], "ops");
    let (code, _) = call_with(&sim, "GET", "/api/v1/pods", &[("accept", "application/yaml")], "").await;
    assert_eq!(code, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn computed_metrics_are_read_only() {
    let sim = crate::Sim::new(SimConfig {
        scenario: Scenario::Kgents,
        clock: Arc::new(ManualClock::new(NOW)),
        ..SimConfig::default()
    })
    .unwrap();
    let (code, list) = get(&sim, "/apis/metrics.k8s.io/v1beta1/namespaces/kgents-agents/pods").await;
    assert_eq!((code, list["kind"].as_str()), (StatusCode::OK, Some("PodMetricsList")));
    assert_eq!(list["items"].as_array().unwrap().len(), 4, "the image-pull pod runs nothing");
    let (_, nodes) = get(&sim, "/apis/metrics.k8s.io/v1beta1/nodes/kgents-worker").await;
    assert!(nodes["usage"]["cpu"].as_str().unwrap().ends_with('n'));
    let (code, _) = get(&sim, "/apis/metrics.k8s.io/v1beta1/pods?watch=1").await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
}

// ---- watches and faults ----

async fn open(sim: &Sim, uri: &str) -> impl Stream<Item = Bytes> + Unpin {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let response = sim.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    Box::pin(response.into_body().into_data_stream().filter_map(|r| async move { r.ok() }))
}

async fn next_event(stream: &mut (impl Stream<Item = Bytes> + Unpin)) -> Option<Value> {
    let chunk =
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("an event in time")?;
    assert!(chunk.ends_with(b"\n"), "one event per line");
    Some(serde_json::from_slice(&chunk).unwrap())
}

fn summary(event: &Value) -> (String, String) {
    (
        event["type"].as_str().unwrap().to_owned(),
        event["object"]["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_watch_replays_from_its_version_then_streams_live_changes() {
    let sim = sim();
    let mut watch =
        open(&sim, "/api/v1/namespaces/shop/pods?watch=1&resourceVersion=12&labelSelector=app%3Dweb").await;
    assert_eq!(summary(&next_event(&mut watch).await.unwrap()), ("ADDED".into(), "p4".into()));
    sim.store().modify(PODS, Some("shop"), "p2", |p| p["metadata"]["labels"]["app"] = json!("db")).unwrap();
    assert_eq!(
        summary(&next_event(&mut watch).await.unwrap()),
        ("DELETED".into(), "p2".into()),
        "left the selection"
    );
    sim.store().modify(PODS, Some("shop"), "p1", |p| p["metadata"]["labels"]["app"] = json!("web")).unwrap();
    assert_eq!(summary(&next_event(&mut watch).await.unwrap()), ("ADDED".into(), "p1".into()), "entered it");
}

#[tokio::test]
async fn a_watch_without_a_version_starts_with_the_current_objects() {
    let sim = sim();
    let mut watch = open(&sim, "/api/v1/namespaces/ops/pods?watch=true").await;
    let first = [next_event(&mut watch).await.unwrap(), next_event(&mut watch).await.unwrap()];
    assert_eq!(first.map(|e| summary(&e)), [("ADDED".into(), "p5".into()), ("ADDED".into(), "p6".into())]);
}

#[tokio::test]
async fn a_watch_from_an_expired_version_gets_a_410_error_event() {
    let sim = sim();
    for i in 0..60 {
        sim.store()
            .create(crate::resource::CONFIGMAPS, Some("ops"), json!({"metadata": {"name": format!("c{i}")}}))
            .unwrap();
    }
    let mut watch = open(&sim, "/api/v1/pods?watch=1&resourceVersion=3").await;
    let error = next_event(&mut watch).await.unwrap();
    assert_eq!(error["type"], "ERROR");
    assert_eq!(
        error["object"],
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired", "code": 410,
               "message": "too old resource version: 3 (25)"})
    );
    assert!(next_event(&mut watch).await.is_none());
}

#[tokio::test]
async fn a_watch_with_bookmarks_gets_the_latest_revision_even_from_other_resources() {
    let sim = sim();
    let mut watch = open(&sim, "/api/v1/pods?watch=1&resourceVersion=15&allowWatchBookmarks=true").await;
    sim.store().create(crate::resource::CONFIGMAPS, Some("ops"), json!({"metadata": {"name": "c"}})).unwrap();
    let bookmark = next_event(&mut watch).await.unwrap();
    assert_eq!(
        bookmark,
        json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "16"}}})
    );
}

#[tokio::test]
async fn send_initial_events_ends_with_an_annotated_bookmark() {
    let sim = sim();
    let uri = "/api/v1/namespaces/ops/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true";
    let mut watch = open(&sim, uri).await;
    next_event(&mut watch).await.unwrap();
    next_event(&mut watch).await.unwrap();
    let end = next_event(&mut watch).await.unwrap();
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

#[tokio::test]
async fn injected_faults_answer_as_a_failing_server_would() {
    let sim = sim();
    sim.faults().forbid("pods");
    let (code, denied) = get(&sim, "/api/v1/namespaces/shop/pods").await;
    assert_eq!((code, denied["reason"].as_str()), (StatusCode::FORBIDDEN, Some("Forbidden")));
    assert!(denied["message"]
        .as_str()
        .unwrap()
        .contains("cannot list resource \"pods\" in API group \"\" in the namespace \"shop\""));
    sim.faults().clear();
    sim.faults().fail("pods", 503);
    assert_eq!(get(&sim, "/api/v1/pods").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&sim, "/api/v1/namespaces").await.0, StatusCode::OK, "other resources are served");
    sim.faults().clear();
    sim.faults().set_latency(Duration::from_millis(100));
    let started = std::time::Instant::now();
    assert_eq!(get(&sim, "/api/v1/pods").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(100));
    sim.faults().clear();
    sim.faults().expire_next_watch("pods");
    let mut expired = open(&sim, "/api/v1/pods?watch=1&resourceVersion=15").await;
    assert_eq!(next_event(&mut expired).await.unwrap()["object"]["code"], 410);
    let mut fine = open(&sim, "/api/v1/pods?watch=1&resourceVersion=15").await;
    sim.store().create(PODS, Some("ops"), json!({"metadata": {"name": "late"}})).unwrap();
    assert_eq!(summary(&next_event(&mut fine).await.unwrap()), ("ADDED".into(), "late".into()));
}

#[tokio::test]
async fn dropping_watches_cuts_every_open_stream() {
    let sim = sim();
    let request =
        Request::builder().uri("/api/v1/pods?watch=1&resourceVersion=15").body(Body::empty()).unwrap();
    let response = sim.router().oneshot(request).await.unwrap();
    let mut body = response.into_body().into_data_stream();
    sim.faults().drop_watches();
    let item = tokio::time::timeout(Duration::from_secs(5), body.next()).await.unwrap();
    assert!(matches!(item, Some(Err(_))), "the stream fails instead of ending cleanly: {item:?}");
}

#[tokio::test]
async fn a_watch_ends_after_its_timeout() {
    let sim = sim();
    let mut watch = open(&sim, "/api/v1/pods?watch=1&resourceVersion=15&timeoutSeconds=1").await;
    let ended = tokio::time::timeout(Duration::from_secs(3), watch.next()).await.unwrap();
    assert!(ended.is_none());
}

#[tokio::test]
async fn autoscalers_stored_as_v2_are_read_and_watched_as_v1_but_not_written() {
    let sim = sim();
    let hpa = json!({
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}],
        },
    });
    sim.store().create(crate::resource::HPAS, Some("shop"), hpa).unwrap();
    let (status, list) = get(&sim, "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (list["kind"].as_str(), list["apiVersion"].as_str()),
        (Some("HorizontalPodAutoscalerList"), Some("autoscaling/v1"))
    );
    // What a v1 client (the collector's k8s-openapi type) reads.
    // (List items carry no kind, as the API server's; the typed object wants them.)
    let mut item = list["items"][0].clone();
    item["apiVersion"] = json!("autoscaling/v1");
    item["kind"] = json!("HorizontalPodAutoscaler");
    let typed: k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler =
        serde_json::from_value(item).unwrap();
    let spec = typed.spec.as_ref().unwrap();
    assert_eq!((spec.max_replicas, spec.target_cpu_utilization_percentage), (5, Some(60)));
    let (status, one) = get(&sim, "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers/web").await;
    assert_eq!((status, one["apiVersion"].as_str()), (StatusCode::OK, Some("autoscaling/v1")));
    let (_, v2) = get(&sim, "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web").await;
    assert_eq!(v2["spec"]["metrics"][0]["resource"]["name"], "cpu", "still stored and served as v2");
    let mut watch = open(&sim, "/apis/autoscaling/v1/horizontalpodautoscalers?watch=1").await;
    let event = next_event(&mut watch).await.unwrap();
    assert_eq!(event["object"]["apiVersion"], "autoscaling/v1");
    assert_eq!(event["object"]["spec"]["targetCPUUtilizationPercentage"], 60);
    let (status, _) =
        call(&sim, "DELETE", "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers/web", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
