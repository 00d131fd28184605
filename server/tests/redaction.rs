//! The redaction suite: secret-looking values planted in the simulated cluster through its Kubernetes API
//! (kube-rs, the honest path: the collector sees them exactly as it would on a real cluster), then every byte
//! the server sends a client is scanned for them: the SSR page, every REST endpoint, `/metrics`, and the live
//! socket's snapshot and diffs in both wire formats. Also: the real binary with a token file, where a viewer
//! scoped to another namespace does not even see the planted objects' names.

mod common;

use std::time::Duration;

use common::{Demo, Socket, TIMEOUT};

use futures_util::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio_tungstenite::tungstenite::Message;
use topology::protocol::{ClientMsg, Filters, ServerMsg};
use topology::{Kind, Topology};

const NS: &str = "kgents-triad";
const OTHER_NS: &str = "kgents-gateway";
const ADMIN: &str = "redaction-admin-token-0123456789";
const OTHER: &str = "redaction-other-team-token-0123";

/// Values no client may ever see (each also checked base64-encoded, as a Secret's `data` holds it).
const PLANTED: &[&str] = &[
    "GLPLANT-ENV-VALUE-93e1c7",
    "GLPLANT-POD-ANNOTATION-5b2d",
    "GLPLANT-LAST-APPLIED-8c4f0a",
    "GLPLANT-CONFIGMAP-DATA-1f9e",
    "GLPLANT-SECRET-DATA-77aa42",
    "GLPLANT-SECRET-STRING-0d3b",
    "GLPLANT-DIFF-ENV-4e6a99",
];

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Fails naming the value and where it leaked.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for value in PLANTED {
        assert!(!text.contains(value), "{value} leaked into {what}");
        assert!(!text.contains(&base64(value)), "{value} (base64) leaked into {what}");
    }
}

fn json(value: serde_json::Value) -> serde_json::Value {
    value
}

async fn plant(client: &Client) {
    let last_applied = json(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "data": { "password": "GLPLANT-LAST-APPLIED-8c4f0a" }
    }))
    .to_string();
    let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "planted-config", "namespace": NS,
            "annotations": { "kubectl.kubernetes.io/last-applied-configuration": last_applied }
        },
        "data": { "database-url": "postgres://user:GLPLANT-CONFIGMAP-DATA-1f9e@db/app" }
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "planted-secret", "namespace": NS },
        "type": "Opaque",
        "data": { "token": base64("GLPLANT-SECRET-DATA-77aa42") },
        "stringData": { "extra": "GLPLANT-SECRET-STRING-0d3b" }
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), NS).create(&PostParams::default(), &secret).await.unwrap();
    Api::<Pod>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &pod("planted-pod", "GLPLANT-ENV-VALUE-93e1c7"))
        .await
        .unwrap();
}

fn pod(name: &str, env: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": NS, "labels": { "app": "planted" },
            "annotations": { "example.com/note": "GLPLANT-POD-ANNOTATION-5b2d" }
        },
        "spec": { "containers": [{
            "name": "main", "image": "busybox:1.36",
            "env": [
                { "name": "API_KEY", "value": env },
                { "name": "FROM_SECRET", "valueFrom": { "secretKeyRef": { "name": "planted-secret", "key": "token" } } }
            ],
            "envFrom": [{ "configMapRef": { "name": "planted-config" } }]
        }] }
    }))
    .unwrap()
}

/// Every message on the socket until `done` holds for the copy; returns the raw bytes of all of them.
async fn collect(socket: &mut Socket, copy: &mut Topology, done: impl Fn(&Topology) -> bool) -> Vec<u8> {
    let mut raw = Vec::new();
    while !done(copy) {
        let message =
            tokio::time::timeout(TIMEOUT, socket.next()).await.expect("a message").unwrap().unwrap();
        let decoded = match message {
            Message::Binary(bytes) => {
                raw.extend_from_slice(&bytes);
                ServerMsg::from_bytes(&bytes).unwrap()
            }
            Message::Text(text) => {
                raw.extend_from_slice(text.as_bytes());
                ServerMsg::from_json(text.as_str()).unwrap()
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        };
        match decoded {
            ServerMsg::Snapshot(topology) => *copy = topology,
            ServerMsg::Diff(diff) => copy.apply(&diff).unwrap(),
            ServerMsg::Status(_) | ServerMsg::Pong { .. } => {}
        }
    }
    raw
}

fn has(copy: &Topology, kind: Kind, name: &str) -> bool {
    copy.entities().any(|e| e.kind == kind && e.id.namespace() == NS && e.id.name() == name)
}

async fn hello(socket: &mut Socket, json: bool) {
    let hello = ClientMsg::hello(None, Filters::default());
    let message = if json {
        Message::Text(hello.to_json().unwrap().into())
    } else {
        Message::Binary(hello.to_bytes().unwrap().into())
    };
    socket.send(message).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_reaches_any_client_and_a_foreign_viewer_sees_not_even_the_names() {
    let demo = Demo::start("redaction", |dir, command| {
        std::fs::write(
            dir.join("tokens"),
            format!("{ADMIN} name=admin\n{OTHER} name=other namespaces={OTHER_NS}\n"),
        )
        .unwrap();
        command.arg("--auth-token-file").arg(dir.join("tokens"));
    });
    demo.ready().await;
    let client = demo.kube().await;
    plant(&client).await;
    let planted_in = |copy: &Topology| {
        has(copy, Kind::Pod, "planted-pod")
            && has(copy, Kind::ConfigMap, "planted-config")
            && has(copy, Kind::Secret, "planted-secret")
    };

    // The socket, both formats: the snapshot with the planted objects, then a diff with a new planted pod.
    let mut binary = demo.socket("?format=binary", Some(ADMIN)).await;
    let mut text = demo.socket("?format=json", Some(ADMIN)).await;
    let mut foreign = demo.socket("?format=binary", Some(OTHER)).await;
    hello(&mut binary, false).await;
    hello(&mut text, true).await;
    hello(&mut foreign, false).await;
    let (mut copy_binary, mut copy_text, mut copy_foreign) =
        (Topology::new(), Topology::new(), Topology::new());
    let mut seen_binary = collect(&mut binary, &mut copy_binary, planted_in).await;
    let mut seen_text = collect(&mut text, &mut copy_text, planted_in).await;
    let mut seen_foreign = collect(&mut foreign, &mut copy_foreign, |t| !t.is_empty()).await;
    Api::<Pod>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &pod("planted-diff", "GLPLANT-DIFF-ENV-4e6a99"))
        .await
        .unwrap();
    seen_binary.extend(collect(&mut binary, &mut copy_binary, |t| has(t, Kind::Pod, "planted-diff")).await);
    seen_text.extend(collect(&mut text, &mut copy_text, |t| has(t, Kind::Pod, "planted-diff")).await);
    assert_clean("the binary live stream", &seen_binary);
    assert_clean("the JSON live stream", &seen_text);
    // The foreign viewer's stream up to now: no planted value, no planted name, nothing of the namespace.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        seen_foreign.extend(collect(&mut foreign, &mut copy_foreign, |_| false).await);
    })
    .await;
    assert_clean("a foreign viewer's stream", &seen_foreign);
    let foreign_text = String::from_utf8_lossy(&seen_foreign);
    assert!(!foreign_text.contains("planted-") && !foreign_text.contains(NS), "the foreign viewer saw {NS}");
    assert!(copy_foreign.entities().all(|e| e.id.namespace() == OTHER_NS || e.id.name() == OTHER_NS));

    // Every REST endpoint and the page, for the admin; the planted names are there, their values are not.
    let mut paths = vec![
        "/gestalt/live".to_owned(),
        "/api/v1/topology".to_owned(),
        "/api/v1/topology?format=json".to_owned(),
        format!("/api/v1/topology?namespace={NS}"),
        "/api/v1/health".to_owned(),
        "/api/v1/events".to_owned(),
        "/api/v1/findings?state=all".to_owned(),
        "/metrics".to_owned(),
    ];
    for entity in copy_binary.entities().filter(|e| e.id.namespace() == NS) {
        paths.push(format!("/api/v1/entities/{}", entity.id));
    }
    let mut saw_names = false;
    for path in &paths {
        let (status, body) = demo.get(path, Some(ADMIN)).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert_clean(path, &body);
        saw_names |= String::from_utf8_lossy(&body).contains("planted-secret");
    }
    assert!(saw_names, "the scan looked at responses that do show the planted objects");
    // The foreign viewer over REST: the planted objects do not exist for it.
    for path in ["/api/v1/topology", "/api/v1/events", "/api/v1/health", "/api/v1/findings?state=all"] {
        let (status, body) = demo.get(path, Some(OTHER)).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            !body.contains("planted-") && !body.contains(NS),
            "{path} showed {NS} to a foreign viewer: {body}"
        );
    }
    let pod_id = copy_binary.entities().find(|e| e.id.name() == "planted-pod").unwrap().id.to_string();
    assert_eq!(demo.get(&format!("/api/v1/entities/{pod_id}"), Some(OTHER)).await.0, 404);
    // Without a token: nothing.
    assert_eq!(demo.get("/api/v1/topology", Some("not-a-valid-token-at-all")).await.0, 401);
}
