//! The gate through the real router: headers, login, view-token exchange, scoping of every REST endpoint and
//! the page, and (on a real socket) the live socket's auth, Origin check, connection cap and scope.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use leptos::config::LeptosOptions;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use topology::protocol::{ClientMsg, Filters, ServerMsg};
use topology::{Kind, Topology};
use tower::ServiceExt;

use crate::auth::files::TokenFile;
use crate::auth::reload::Reloading;
use crate::auth::signed::{self, Revocations, SigningKey, ViewClaims};
use crate::auth::{Scope, Security};
use crate::live::testing::Owner;
use crate::metrics::Metrics;
use crate::web::{router, State};

const ADMIN: &str = "admin-token-0123456789";
const TEAM: &str = "team-token-0123456789";
/// The team's namespace in the kgents sample.
const NS: &str = "kgents-triad";

struct Fixture {
    owner: Owner,
    dir: std::path::PathBuf,
    key: SigningKey,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn options() -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("gestalt-live")
        .site_root(std::env::temp_dir().join("gestalt-live-test-site").to_string_lossy().into_owned())
        .build()
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("gestalt-guard-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokens"), format!("{ADMIN} name=admin\n{TEAM} name=team namespaces={NS}\n"))
        .unwrap();
    let owner = Owner::new(topology::sample::kgents(), crate::live::Config::default());
    Fixture { owner, dir, key: SigningKey::ephemeral().unwrap() }
}

impl Fixture {
    fn security(&self) -> Security {
        let mut security = Security::with_key(self.key.clone())
            .with_tokens(Reloading::load(self.dir.join("tokens"), TokenFile::parse).unwrap())
            .with_view_tokens(Revocations::follow(self.dir.join("revoked")));
        security.connections = crate::auth::limits::Connections::new(2);
        security
    }

    fn router(&self, security: Security) -> Router {
        self.router_with_events(security, crate::collector::events::EventLog::new(0))
    }

    fn router_with_events(&self, security: Security, events: crate::collector::events::EventLog) -> Router {
        let (_, watchers) = watch::channel(BTreeMap::new());
        let ready = watch::channel(true).1;
        router(
            State::live(self.owner.hub.clone(), ready, watchers, Metrics::shared())
                .with_events(events)
                .secured(security)
                .with_options(options()),
        )
    }

    fn view_token(&self, id: &str, namespaces: &[&str], ttl: i64) -> String {
        let now = signed::now();
        self.key.view_token(&ViewClaims {
            id: id.into(),
            name: "lobby".into(),
            scope: Scope::namespaces(namespaces.iter().copied()),
            iat: now,
            exp: now.saturating_add_signed(ttl),
        })
    }
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    (status, headers, String::from_utf8_lossy(&bytes).into_owned())
}

fn get(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

fn login(token: &str, origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/gestalt/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "gestalt.example.com");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(Body::from(format!("token={token}&next=/gestalt/live?x=1"))).unwrap()
}

fn cookie_of(headers: &HeaderMap) -> String {
    let set = headers.get("set-cookie").expect("a Set-Cookie").to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Every namespace and node name of the sample that `scope` must not reveal.
fn foreign_names(scope: &Scope) -> Vec<String> {
    let sample = topology::sample::kgents();
    let visible = scope.restrict(&Filters::default()).topology(&sample);
    let mut names: Vec<String> = sample
        .entities()
        .filter(|e| !visible.entities().any(|v| v.id == e.id))
        .filter(|e| matches!(e.kind, Kind::Namespace | Kind::Deployment | Kind::Service | Kind::Pod))
        .map(|e| e.id.name().to_owned())
        .collect();
    names.sort();
    names.dedup();
    // Names the team also has (e.g. a service named like another namespace's) are not secrets.
    names.retain(|n| !visible.entities().any(|v| v.id.name() == n));
    names
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_the_page_csp_allows_its_own_scripts_only() {
    let f = fixture("headers");
    let router = f.router(Security::anonymous());
    for uri in ["/gestalt/live", "/api/v1/topology", "/healthz", "/nope"] {
        let (_, headers, _) = send(&router, get(uri, None)).await;
        let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
        assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
        assert!(headers.get(super::NONCE_HEADER).is_none(), "the internal nonce header never leaves");
        assert!(headers.get("strict-transport-security").is_none());
    }
    let (_, headers, html) = send(&router, get("/gestalt/live", None)).await;
    let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
    let nonce =
        csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the CSP");
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "leptos hydrates with inline scripts: {html}");
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), html.matches("nonce=\"").count());
    for script in html.split("<script").skip(1) {
        assert!(
            script.starts_with(&format!(" type=\"module\" nonce=\"{nonce}\""))
                || script.contains(&format!("nonce=\"{nonce}\"")),
            "{script}"
        );
    }
    // A fresh nonce per response.
    let (_, again, _) = send(&router, get("/gestalt/live", None)).await;
    assert_ne!(again.get("content-security-policy"), headers.get("content-security-policy"));
}

#[tokio::test]
async fn frame_ancestors_and_hsts_follow_the_settings() {
    let f = fixture("frames");
    let mut security = Security::anonymous();
    security.frame_ancestors = "'self' https://portal.example.com".into();
    security.hsts = true;
    let (_, headers, _) = send(&f.router(security), get("/healthz", None)).await;
    let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.ends_with("frame-ancestors 'self' https://portal.example.com"), "{csp}");
    assert!(headers.get("x-frame-options").is_none());
    assert!(headers.get("strict-transport-security").is_some());
}

#[tokio::test]
async fn with_auth_on_nothing_but_probes_assets_and_login_is_served_without_an_identity() {
    let f = fixture("required");
    let router = f.router(f.security());
    assert_eq!(send(&router, get("/healthz", None)).await.0, StatusCode::OK);
    assert_eq!(send(&router, get("/readyz", None)).await.0, StatusCode::OK);
    assert_eq!(send(&router, get("/gestalt/login", None)).await.0, StatusCode::OK);
    for uri in ["/api/v1/topology", "/api/v1/health", "/metrics", "/api/v1/live", "/api/nope"] {
        let (status, headers, _) = send(&router, get(uri, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
    }
    let (status, headers, body) = send(&router, get("/gestalt/live?x=1", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers.get("location").unwrap(), "/gestalt/login?next=/gestalt/live%3Fx%3D1");
    assert_eq!(send(&router, get("/api/v1/topology", Some(ADMIN))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_scoped_identity_sees_only_its_namespaces_in_every_rest_endpoint_and_the_page() {
    let f = fixture("scoped");
    let router = f.router(f.security());
    let scope = Scope::namespaces([NS]);
    let foreign = foreign_names(&scope);
    assert!(foreign.contains(&"kgents-gateway".to_owned()) && foreign.len() > 10, "{foreign:?}");
    let (status, _, body) = send(&router, get("/api/v1/topology", Some(TEAM))).await;
    assert_eq!(status, StatusCode::OK);
    let topology: Topology = serde_json::from_str(&body).unwrap();
    assert!(topology.len() > 3);
    assert!(topology.entities().all(|e| e.id.namespace() == NS || e.id.name() == NS), "{body}");
    assert!(topology.entities().all(|e| e.kind != Kind::Node && e.kind != Kind::Cluster));
    // Asking for more does not give more.
    let (_, _, wider) =
        send(&router, get("/api/v1/topology?namespace=kgents-gateway,default", Some(TEAM))).await;
    assert_eq!(serde_json::from_str::<Topology>(&wider).unwrap().len(), 0, "{wider}");
    let (_, _, health) = send(&router, get("/api/v1/health", Some(TEAM))).await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["entities"], topology.len());
    // Out of scope is a 404 exactly like a missing entity.
    let sample = topology::sample::kgents();
    let other = sample.entities().find(|e| e.kind == Kind::Pod && e.id.namespace() != NS).unwrap().id.clone();
    let missing = format!("{}/pod/{}/no-such-pod", other.cluster(), other.namespace());
    let (status, _, hidden) = send(&router, get(&format!("/api/v1/entities/{other}"), Some(TEAM))).await;
    let (_, _, absent) = send(&router, get(&format!("/api/v1/entities/{missing}"), Some(TEAM))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.replace(&other.to_string(), "ID"), absent.replace(&missing, "ID"));
    // An in-scope pod's relations name nothing out of scope (its node, other namespaces).
    let own = sample.entities().find(|e| e.kind == Kind::Pod && e.id.namespace() == NS).unwrap().id.clone();
    let (status, _, view) = send(&router, get(&format!("/api/v1/entities/{own}"), Some(TEAM))).await;
    assert_eq!(status, StatusCode::OK);
    let view: crate::api::EntityView = serde_json::from_str(&view).unwrap();
    assert!(view.outgoing.iter().chain(&view.incoming).all(|r| scope.admits(&r.from) && scope.admits(&r.to)));
    let (_, _, all) = send(&router, get("/api/v1/topology", Some(TEAM))).await;
    let (_, _, page) = send(&router, get("/gestalt/live", Some(TEAM))).await;
    for name in &foreign {
        assert!(!all.contains(&format!("\"{name}\"")), "{name} leaked into the topology");
        // "default" is also a word of the hydration script (`mod.default`).
        assert!(name == "default" || !page.contains(name.as_str()), "{name} leaked into the page");
    }
    // The metrics describe the whole cluster: not for a scoped identity.
    assert_eq!(send(&router, get("/metrics", Some(TEAM))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&router, get("/metrics", Some(ADMIN))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn events_are_served_within_the_scope_whatever_the_query_asks() {
    let f = fixture("events");
    let events = crate::collector::events::EventLog::new(16);
    let record =
        |namespace: &str, involved: Option<topology::EntityId>, reason: &str| topology::EventRecord {
            namespace: namespace.into(),
            involved,
            reason: reason.into(),
            message: format!("{reason} happened"),
            kind: topology::event::EventType::Normal,
            count: 1,
            first_seen: 1,
            last_seen: 1,
        };
    let own = topology::EntityId::new("c", Kind::Pod, NS, "own-pod");
    let other = topology::EntityId::new("c", Kind::Pod, "kgents-gateway", "other-pod");
    let node = topology::EntityId::new("c", Kind::Node, "", "worker-1");
    events.upsert("1".into(), record(NS, Some(own), "OwnReason"));
    events.upsert("2".into(), record("kgents-gateway", Some(other), "ForeignReason"));
    events.upsert("3".into(), record(NS, Some(node), "NodeReason"));
    let router = f.router_with_events(f.security(), events);
    let (status, _, body) = send(&router, get("/api/v1/events", Some(TEAM))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("OwnReason") && !body.contains("ForeignReason") && !body.contains("NodeReason"),
        "{body}"
    );
    let (_, _, asked) = send(&router, get("/api/v1/events?namespace=kgents-gateway", Some(TEAM))).await;
    assert_eq!(asked, "[]");
    let (_, _, all) = send(&router, get("/api/v1/events", Some(ADMIN))).await;
    assert!(all.contains("ForeignReason") && all.contains("NodeReason"), "{all}");
}

#[tokio::test]
async fn a_view_token_link_becomes_a_cookie_and_leaves_the_address_bar() {
    let f = fixture("exchange");
    let router = f.router(f.security());
    let token = f.view_token("v1", &[NS], 3600);
    let (status, headers, _) =
        send(&router, get(&format!("/gestalt/live?kiosk=1&token={token}"), None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers.get("location").unwrap(), "/gestalt/live?kiosk=1");
    let set = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"), "{set}");
    let cookie = cookie_of(&headers);
    let request = Request::get("/api/v1/topology").header("cookie", &cookie).body(Body::empty()).unwrap();
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_str::<Topology>(&body)
        .unwrap()
        .entities()
        .all(|e| e.id.namespace() == NS || e.id.name() == NS));
    // Revoked: the link and the session it made stop working.
    Revocations::revoke(&f.dir.join("revoked"), "v1").unwrap();
    let request = Request::get("/api/v1/topology").header("cookie", &cookie).body(Body::empty()).unwrap();
    assert_eq!(send(&router, request).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(&router, get(&format!("/gestalt/live?token={token}"), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("invalid, expired or revoked"));
    let expired = f.view_token("v2", &[NS], -10);
    assert_eq!(
        send(&router, get(&format!("/gestalt/live?token={expired}"), None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A view token is read-only: it gives no access to the metrics (its scope is not the cluster).
    let token = f.view_token("v3", &["*"], 3600);
    assert_eq!(send(&router, get("/api/v1/topology", Some(&token))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn login_sets_a_session_refuses_cross_site_posts_and_never_redirects_off_site() {
    let f = fixture("login");
    let router = f.router(f.security());
    let (status, headers, _) = send(&router, login(TEAM, Some("https://gestalt.example.com"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers.get("location").unwrap(), "/gestalt/live?x=1");
    let request =
        Request::get("/api/v1/health").header("cookie", cookie_of(&headers)).body(Body::empty()).unwrap();
    assert_eq!(send(&router, request).await.0, StatusCode::OK);
    assert_eq!(send(&router, login(TEAM, Some("https://evil.example"))).await.0, StatusCode::FORBIDDEN);
    let cross = Request::post("/gestalt/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!("token={TEAM}")))
        .unwrap();
    assert_eq!(send(&router, cross).await.0, StatusCode::FORBIDDEN);
    let logout = Request::post("/gestalt/logout")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, logout).await.0, StatusCode::FORBIDDEN);
    let offsite = Request::post("/gestalt/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={TEAM}&next=//evil.example/x")))
        .unwrap();
    assert_eq!(send(&router, offsite).await.1.get("location").unwrap(), "/gestalt/live");
    let logout = Request::post("/gestalt/logout").body(Body::empty()).unwrap();
    let (status, headers, _) = send(&router, logout).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_and_big_bodies_refused() {
    let f = fixture("limit");
    let router = f.router(f.security());
    for _ in 0..crate::auth::MAX_FAILED_LOGINS {
        assert_eq!(send(&router, login("wrong-token-0123456789", None)).await.0, StatusCode::UNAUTHORIZED);
    }
    // Now even the right token waits: guessing costs time.
    assert_eq!(send(&router, login(TEAM, None)).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(send(&router, get("/api/v1/topology", Some(TEAM))).await.0, StatusCode::TOO_MANY_REQUESTS);
    let big = Request::post("/gestalt/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", (crate::web::MAX_REQUEST_BODY + 1).to_string())
        .body(Body::from(vec![b'a'; crate::web::MAX_REQUEST_BODY + 1]))
        .unwrap();
    assert_eq!(send(&router, big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn origins_match_the_host_or_the_allowed_list() {
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    };
    let allowed = vec!["https://portal.example.com".to_owned()];
    assert!(super::same_origin(
        &headers(&[("host", "g.example"), ("origin", "https://g.example")]),
        &allowed
    ));
    assert!(super::same_origin(
        &headers(&[("host", "g.example"), ("origin", "https://portal.example.com")]),
        &allowed
    ));
    assert!(!super::same_origin(
        &headers(&[("host", "g.example"), ("origin", "https://g.example.evil")]),
        &allowed
    ));
    assert!(!super::same_origin(&headers(&[("host", "g.example"), ("origin", "null")]), &allowed));
    assert!(!super::same_origin(&headers(&[("sec-fetch-site", "cross-site")]), &allowed));
    assert!(super::same_origin(&headers(&[("sec-fetch-site", "same-origin")]), &allowed));
    assert!(super::same_origin(&headers(&[]), &allowed), "not a browser: no ambient credentials");
}

#[test]
fn query_values_are_percent_decoded_strictly() {
    assert_eq!(super::query_value(Some("a=1&token=x%2By%3D"), "token").as_deref(), Some("x+y="));
    assert_eq!(super::percent_decode("%+1%zz%4"), "% 1%zz%4", "`+` is a space, `%+1` is no escape");
    assert_eq!(super::safe_next("/gestalt/live?x=1"), "/gestalt/live?x=1");
    for evil in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/a\r\nSet-Cookie: x",
    ] {
        assert_eq!(super::safe_next(evil), "/gestalt/live", "{evil}");
    }
}

/// The router on a real loopback port, with peer addresses.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    addr
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    let mut request = format!("ws://{addr}/api/v1/live").into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

async fn snapshot(socket: &mut Socket, filters: Filters) -> Topology {
    let hello = ClientMsg::hello(None, filters).to_bytes().unwrap();
    socket.send(Message::Binary(hello.into())).await.unwrap();
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await.unwrap();
        if let Some(Ok(Message::Binary(bytes))) = message {
            if let ServerMsg::Snapshot(topology) = ServerMsg::from_bytes(&bytes).unwrap() {
                return topology;
            }
        }
    }
}

#[tokio::test]
async fn the_live_socket_needs_auth_and_a_same_site_origin_before_upgrading_and_is_capped_per_identity() {
    let f = fixture("socket");
    let addr = serve(f.router(f.security())).await;
    let team = format!("Bearer {TEAM}");
    assert_eq!(socket(addr, &[]).await.err(), Some(401));
    assert_eq!(socket(addr, &[("authorization", "Bearer wrong-token-0123456789")]).await.err(), Some(401));
    let evil = [("authorization", team.as_str()), ("origin", "https://evil.example")];
    assert_eq!(socket(addr, &evil).await.err(), Some(403));
    let host = format!("http://{addr}");
    let same = [("authorization", team.as_str()), ("origin", host.as_str())];
    let mut first = socket(addr, &same).await.unwrap();
    // An empty filter is "everything in my scope"; asking for another namespace gives nothing.
    let seen = snapshot(&mut first, Filters::default()).await;
    assert!(seen.len() > 3 && seen.entities().all(|e| e.id.namespace() == NS || e.id.name() == NS));
    let mut second = socket(addr, &same).await.unwrap();
    let wider = Filters { namespaces: vec!["kgents-gateway".into()], kinds: vec![Kind::Node, Kind::Pod] };
    assert_eq!(snapshot(&mut second, wider).await.len(), 0);
    // The cap (2 in this fixture) counts per identity: a third for the team is refused, the admin is not.
    assert_eq!(socket(addr, &same).await.err(), Some(429));
    let admin = format!("Bearer {ADMIN}");
    let mut admin_socket = socket(addr, &[("authorization", admin.as_str())]).await.unwrap();
    assert_eq!(snapshot(&mut admin_socket, Filters::default()).await.len(), topology::sample::kgents().len());
    // Closing one frees a place.
    first.close(None).await.unwrap();
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        match socket(addr, &same).await {
            Ok(s) => {
                again = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert!(again.is_some(), "the permit is released when the session ends");
}

proptest::proptest! {
    #[test]
    fn the_redirect_after_login_never_leaves_the_site(next in "[ -~\u{0}-\u{1f}\u{e9}]{0,40}") {
        let target = super::safe_next(&next);
        proptest::prop_assert!(target.starts_with('/') && !target.starts_with("//") && !target.contains('\\'));
        proptest::prop_assert!(target.is_ascii() && !target.chars().any(char::is_control));
        proptest::prop_assert!(axum::http::HeaderValue::from_str(&target).is_ok(), "a valid Location");
    }

    #[test]
    fn query_decoding_takes_any_input(query in "[ -~\u{e9}]{0,60}") {
        let _ = super::query_value(Some(&query), "token");
        let _ = super::percent_decode(&query);
    }
}
