//! The live stream over a real socket: the `gestalt-live demo` binary, a real WebSocket client, and the
//! simulated cluster changed through its Kubernetes API (kube-rs), so the whole chain runs: watch event →
//! collector → owner → hub → socket. Also: resume after a disconnect without a snapshot, the JSON format, and
//! "going away" on SIGTERM.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Demo, Socket, TIMEOUT};

use futures_util::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use tokio_tungstenite::tungstenite::Message;
use topology::protocol::{ClientMsg, Filters, LinkState, ServerMsg};
use topology::{EntityId, Kind, Topology};

const NS: &str = "kgents-triad";

async fn hello(socket: &mut Socket, last_seq: Option<u64>) {
    let bytes = ClientMsg::hello(last_seq, Filters::default()).to_bytes().unwrap();
    socket.send(Message::Binary(bytes.into())).await.unwrap();
}

async fn next(socket: &mut Socket) -> ServerMsg {
    loop {
        let message = tokio::time::timeout(TIMEOUT, socket.next()).await.expect("a message in time");
        match message.expect("the socket is open").expect("a frame") {
            Message::Binary(bytes) => return ServerMsg::from_bytes(&bytes).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Applies messages until `done` holds for the copy; returns how many snapshots came.
async fn follow(socket: &mut Socket, copy: &mut Topology, done: impl Fn(&Topology) -> bool) -> usize {
    let mut snapshots = 0;
    while !done(copy) {
        match next(socket).await {
            ServerMsg::Snapshot(topology) => {
                snapshots += 1;
                *copy = topology;
            }
            ServerMsg::Diff(diff) => copy.apply(&diff).unwrap(),
            ServerMsg::Status(_) | ServerMsg::Pong { .. } => {}
        }
    }
    snapshots
}

fn pod_id(copy: &Topology, name: &str) -> Option<EntityId> {
    copy.entities()
        .find(|e| e.kind == Kind::Pod && e.id.namespace() == NS && e.id.name() == name)
        .map(|e| e.id.clone())
}

fn new_pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": NS, "labels": { "app": "socket-test" } },
        "spec": { "containers": [{ "name": "main", "image": "busybox:1.36" }] }
    }))
    .unwrap()
}

#[tokio::test]
async fn a_real_socket_follows_the_cluster_resumes_and_is_told_when_the_server_goes_away() {
    let demo = Demo::start("live-socket", |_, _| {});
    demo.ready().await;
    let pods: Api<Pod> = Api::namespaced(demo.kube().await, NS);

    // Snapshot, then the diff of a pod created through the Kubernetes API.
    let mut socket = demo.socket("", None).await;
    hello(&mut socket, None).await;
    let mut copy = Topology::new();
    follow(&mut socket, &mut copy, |t| t.entities().any(|e| e.kind == Kind::Pod)).await;
    pods.create(&PostParams::default(), &new_pod("socket-a")).await.unwrap();
    let snapshots = follow(&mut socket, &mut copy, |t| pod_id(t, "socket-a").is_some()).await;
    assert_eq!(snapshots, 0, "the new pod came as a diff");

    // Disconnect, change the cluster, come back with the last seq: the missed diffs, no snapshot.
    socket.close(None).await.unwrap();
    drop(socket);
    pods.delete("socket-a", &DeleteParams::default().grace_period(0)).await.unwrap();
    pods.create(&PostParams::default(), &new_pod("socket-b")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut socket = demo.socket("", None).await;
    hello(&mut socket, Some(copy.seq())).await;
    let snapshots = follow(&mut socket, &mut copy, |t| {
        pod_id(t, "socket-a").is_none() && pod_id(t, "socket-b").is_some()
    })
    .await;
    assert_eq!(snapshots, 0, "a resume sends only the missed diffs");

    // The JSON format, for people: every message tagged with its type and seq.
    let mut json = demo.socket("?format=json", None).await;
    let hello_json =
        ClientMsg::hello(None, Filters { namespaces: vec![NS.into()], kinds: vec![] }).to_json().unwrap();
    json.send(Message::Text(hello_json.into())).await.unwrap();
    let mut types = Vec::new();
    while types.len() < 2 {
        if let Message::Text(text) = json.next().await.unwrap().unwrap() {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(value["seq"].is_u64(), "{value}");
            if value["type"] == "snapshot" {
                for entity in value["topology"]["entities"].as_array().into_iter().flatten() {
                    let id = entity["id"].to_string();
                    assert!(!id.contains("kgents-observability"), "filtered out: {id}");
                }
            }
            types.push(value["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(types, ["status", "snapshot"]);

    // Garbage closes that socket with a protocol error; the others keep working.
    json.send(Message::Text("this is not JSON".into())).await.unwrap();
    let close = loop {
        match json.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1002, "{close:?}");

    // SIGTERM: every socket is told the server is going away, and the process exits cleanly.
    let status = Command::new("kill").args(["-TERM", &demo.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let close = loop {
        match tokio::time::timeout(TIMEOUT, socket.next()).await.expect("a close frame in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMsg::Status(status)) = ServerMsg::from_bytes(&bytes) {
                    assert_ne!(status.state, LinkState::Connecting);
                }
            }
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close frame with a code").code), 1001);
    let mut demo = demo;
    let exit = tokio::task::spawn_blocking(move || {
        let status = demo.child.wait().unwrap();
        (status, demo)
    })
    .await
    .unwrap();
    assert!(exit.0.success(), "gestalt-live exited with {:?}:\n{}", exit.0, exit.1.log());
}

/// The close frame a socket ends with (skipping what the server sent before it).
async fn close_code(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(TIMEOUT, socket.next()).await.expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a close frame"),
            Some(Err(error)) => panic!("socket error instead of a close frame: {error}"),
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn an_oversized_or_garbage_message_on_a_real_socket_gets_its_close_code_and_the_server_carries_on() {
    let demo = Demo::start("live-socket-bad-input", |_, _| {});
    demo.ready().await;
    // Over the 64 KiB limit, just and by far: refused by the socket layer before it is read whole, and told so.
    for size in [70 << 10, 4 << 20] {
        let mut socket = demo.socket("", None).await;
        hello(&mut socket, None).await;
        let _ = socket.send(Message::Binary(vec![0_u8; size].into())).await;
        let (code, reason) = close_code(&mut socket).await;
        assert_eq!(code, 1009, "{size} bytes: {reason}");
        assert!(reason.contains("65536"), "{reason}");
    }
    // Not a message at all: a protocol error with a reason.
    let mut socket = demo.socket("", None).await;
    socket.send(Message::Binary(vec![0xff, 0xff, 0xff].into())).await.unwrap();
    let (code, reason) = close_code(&mut socket).await;
    assert_eq!(code, 1002, "{reason}");
    // The server is fine: a new client gets its snapshot.
    let mut socket = demo.socket("", None).await;
    hello(&mut socket, None).await;
    let mut copy = Topology::new();
    follow(&mut socket, &mut copy, |t| t.entities().any(|e| e.kind == Kind::Pod)).await;
}
