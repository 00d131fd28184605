use super::*;
use crate::live::testing::Owner;
use axum::body::Body;
use axum::http::Request;
use topology::Topology;
use tower::ServiceExt;

fn options() -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("gestalt-live")
        .site_root(std::env::temp_dir().join("gestalt-live-test-site").to_string_lossy().into_owned())
        .build()
}

fn router_over(owner: &Owner, ready: watch::Receiver<bool>) -> Router {
    let (_, watchers) = watch::channel(BTreeMap::new());
    router(State::live(owner.hub.clone(), ready, watchers, Metrics::shared()).with_options(options()))
}

fn test_router(ready: bool) -> Router {
    let owner = Owner::new(topology::sample::kgents(), live::Config::default());
    router_over(&owner, watch::channel(ready).1)
}

async fn get(router: Router, uri: &str) -> (StatusCode, String) {
    let response = router.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn a_live_state_is_503_until_ready_then_serves_the_latest_topology() {
    let mut owner = Owner::new(Topology::new(), live::Config::default());
    let (ready_tx, ready) = watch::channel(false);
    let router = router_over(&owner, ready);
    assert_eq!(get(router.clone(), "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(router.clone(), "/api/v1/topology").await.0, StatusCode::SERVICE_UNAVAILABLE);
    let sample = topology::sample::kgents();
    owner.change(|tx| {
        for entity in sample.entities() {
            tx.upsert(entity.clone()).unwrap();
        }
    });
    owner.settle().await;
    ready_tx.send_replace(true);
    assert_eq!(get(router.clone(), "/readyz").await, (StatusCode::OK, "ready".into()));
    let (status, body) = get(router, "/api/v1/topology").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Topology>(&body).unwrap(), owner.current());
}

#[tokio::test]
async fn healthz_answers_ok() {
    assert_eq!(get(test_router(true), "/healthz").await, (StatusCode::OK, "ok".into()));
}

#[tokio::test]
async fn readyz_is_503_with_a_json_reason_until_ready() {
    let (status, body) = get(test_router(false), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let json = json(&body);
    assert_eq!(json["status"], 503);
    assert_eq!(json["message"], "not ready: the topology is still loading");
    assert_eq!(get(test_router(true), "/readyz").await, (StatusCode::OK, "ready".into()));
}

#[tokio::test]
async fn the_topology_endpoint_returns_the_sample_as_json() {
    let (status, body) = get(test_router(true), "/api/v1/topology").await;
    assert_eq!(status, StatusCode::OK);
    let topology: Topology = serde_json::from_str(&body).unwrap();
    assert_eq!(topology, topology::sample::kgents());
}

#[tokio::test]
async fn topology_filters_keep_only_the_namespaces_and_kinds_asked_for() {
    let (status, body) = get(test_router(true), "/api/v1/topology?namespace=kgents-triad&kind=pod,svc").await;
    assert_eq!(status, StatusCode::OK);
    let topology: Topology = serde_json::from_str(&body).unwrap();
    assert!(topology.len() > 4, "{}", topology.len());
    for entity in topology.entities() {
        assert_eq!(entity.id.namespace(), "kgents-triad", "{}", entity.id);
        assert!(matches!(entity.kind, topology::Kind::Pod | topology::Kind::Service), "{}", entity.id);
    }
}

#[tokio::test]
async fn an_unknown_kind_is_a_json_400_that_names_it() {
    let (status, body) = get(test_router(true), "/api/v1/topology?kind=pods,gizmo").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["message"], "bad request: unknown kind \"gizmo\"");
}

#[tokio::test]
async fn an_entity_comes_with_its_relations_both_ways() {
    let sample = topology::sample::kgents();
    let pod = sample.entities().find(|e| e.kind == topology::Kind::Pod).unwrap().id.clone();
    let (status, body) = get(test_router(true), &format!("/api/v1/entities/{pod}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: api::EntityView = serde_json::from_str(&body).unwrap();
    assert_eq!(view.entity.id, pod);
    assert!(view.outgoing.iter().all(|r| r.from == pod));
    assert!(view.incoming.iter().all(|r| r.to == pod));
    assert!(!view.outgoing.is_empty() || !view.incoming.is_empty(), "a pod has relations: {body}");
    // Percent-encoded works too, and cluster-scoped ids have an empty namespace.
    let node = sample.entities().find(|e| e.kind == topology::Kind::Node).unwrap().id.to_string();
    let encoded = node.replace('/', "%2F");
    assert_eq!(get(test_router(true), &format!("/api/v1/entities/{encoded}")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn errors_the_router_and_layers_make_under_the_api_are_json_too() {
    let request = Request::post("/api/v1/topology").body(Body::from("{}")).unwrap();
    let response = test_router(true).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = json(&String::from_utf8_lossy(&bytes));
    assert_eq!((body["status"].as_u64(), body["message"].as_str()), (Some(405), Some("method not allowed")));
    // A handler's own JSON error is left as it is.
    let (status, body) = get(test_router(true), "/api/v1/topology?kind=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["message"].as_str().unwrap().contains("nonsense"), "{body}");
    // Outside the API, pages stay pages.
    let request = Request::post("/healthz").body(Body::empty()).unwrap();
    let response = test_router(true).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().get("content-type").is_none_or(|t| t != "application/json"));
}

#[tokio::test]
async fn a_missing_or_malformed_entity_is_a_json_error() {
    let (status, body) = get(test_router(true), "/api/v1/entities/kgents/pod/default/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json(&body)["message"], "not found: no entity kgents/pod/default/nope");
    let (status, body) = get(test_router(true), "/api/v1/entities/not-an-id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json(&body)["message"].as_str().unwrap().contains("expected cluster/kind/namespace/name"),
        "{body}"
    );
    let (status, body) = get(test_router(true), "/api/v2/anything").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json(&body)["status"], 404);
}

#[tokio::test]
async fn health_counts_by_level_and_kind_and_grades() {
    let (status, body) = get(test_router(true), "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    let view: api::HealthView = serde_json::from_str(&body).unwrap();
    let sample = topology::sample::kgents();
    assert_eq!(view, api::HealthView::of(&sample, true));
    assert_eq!(view.by_kind[&topology::Kind::Pod], 22);
    assert_eq!(view.by_health.values().sum::<usize>(), sample.len());
    assert_eq!(view.grade.as_deref(), Some(sample.score().unwrap().grade.to_string().as_str()));
    let (_, body) = get(test_router(true), "/api/v1/health?namespace=kgents-agents").await;
    let view: api::HealthView = serde_json::from_str(&body).unwrap();
    assert!(view.entities < sample.len() && view.entities > 0);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_request_latency_by_route() {
    let router = test_router(true);
    get(router.clone(), "/api/v1/health").await;
    let (status, body) = get(router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("gestalt_topology_entities "), "{body}");
    assert!(body.contains("gestalt_live_clients 0"), "{body}");
    assert!(
        body.contains("gestalt_http_request_duration_seconds_count{route=\"/api/v1/health\",method=\"GET\",status=\"200\"} 1"),
        "{body}"
    );
}

#[tokio::test]
async fn the_rest_api_is_gzipped_when_asked() {
    let request =
        Request::get("/api/v1/topology").header("accept-encoding", "gzip").body(Body::empty()).unwrap();
    let response = test_router(true).oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn the_live_page_is_server_rendered_with_a_canvas() {
    let (status, body) = get(test_router(true), "/gestalt/live").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<title>Gestalt Live</title>"), "{body}");
    assert!(body.contains("<canvas"), "{body}");
    assert!(body.contains("/pkg/gestalt-live.js"), "hydration script missing: {body}");
    assert!(body.contains("role=\"status\""), "{body}");
    assert!(body.contains("aria-label=\"Legend\"") && body.contains("Unhealthy (pulses)"), "{body}");
    assert!(body.contains("data-state=\"connecting\""), "the badge starts as connecting: {body}");
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page() {
    let (status, body) = get(test_router(true), "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("404"), "{body}");
    assert!(body.contains("/gestalt/live"), "{body}");
}

#[tokio::test]
async fn events_are_served_newest_first_by_namespace_and_entity() {
    use crate::collector::events::EventLog;
    let log = EventLog::new(10);
    let pod = topology::EntityId::new("c", topology::Kind::Pod, "a", "web-1");
    for (uid, ns, at, involved) in
        [("1", "a", 10, Some(pod.clone())), ("2", "b", 20, None), ("3", "a", 30, None)]
    {
        let record = topology::EventRecord {
            namespace: ns.into(),
            involved,
            reason: format!("R{uid}"),
            message: String::new(),
            kind: topology::EventType::Normal,
            count: 1,
            first_seen: at,
            last_seen: at,
        };
        log.upsert(uid.into(), record);
    }
    let owner = Owner::new(Topology::new(), live::Config::default());
    let (_, watchers) = watch::channel(BTreeMap::new());
    let state = State::live(owner.hub.clone(), watch::channel(true).1, watchers, Metrics::shared());
    let router = router(state.with_events(log).with_options(options()));
    let reasons = |body: &str| {
        serde_json::from_str::<Vec<topology::EventRecord>>(body)
            .unwrap()
            .into_iter()
            .map(|r| r.reason)
            .collect::<Vec<_>>()
    };
    assert_eq!(reasons(&get(router.clone(), "/api/v1/events").await.1), ["R3", "R2", "R1"]);
    assert_eq!(reasons(&get(router.clone(), "/api/v1/events?namespace=a&limit=1").await.1), ["R3"]);
    assert_eq!(reasons(&get(router.clone(), "/api/v1/events?entity=c/pod/a/web-1").await.1), ["R1"]);
    let (status, body) = get(router, "/api/v1/events?entity=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["status"], 400);
}
