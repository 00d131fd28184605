use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use topology::protocol::{ClientMsg, Filters, LinkState, ServerMsg};
use topology::{Entity, EntityId, Kind, Topology};

use super::*;
use crate::live::testing::Owner;
use crate::live::{Config, Link};

fn pod(ns: &str, name: &str) -> Entity {
    let mut entity = Entity::new(EntityId::new("test", Kind::Pod, ns, name));
    entity.uid = format!("uid-{ns}-{name}");
    entity
}

fn with_label(mut entity: Entity, value: &str) -> Entity {
    entity.labels = topology::Labels::from_pairs([("rev", value)]);
    entity
}

fn start_topology() -> Topology {
    let mut topology = Topology::new();
    topology.set_seq(1 << 20);
    for ns in ["a", "b"] {
        for i in 0..3 {
            topology.upsert(pod(ns, &format!("p{i}"))).unwrap();
        }
    }
    topology
}

fn quick() -> Config {
    Config {
        hello_timeout: Duration::from_millis(300),
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(5),
        send_timeout: Duration::from_millis(300),
        ..Config::default()
    }
}

/// A client on channels: what it sends, what it receives, and the session task.
struct Client {
    tx: mpsc::Sender<Incoming>,
    rx: mpsc::Receiver<Outgoing>,
    task: tokio::task::JoinHandle<Ended>,
    format: Format,
}

impl Client {
    fn connect(owner: &Owner, format: Format, buffer: usize) -> Client {
        Client::connect_scoped(owner, format, buffer, Scope::all())
    }

    fn connect_scoped(owner: &Owner, format: Format, buffer: usize, scope: Scope) -> Client {
        let (tx, session_rx) = mpsc::channel(16);
        let (session_tx, rx) = mpsc::channel(buffer);
        let hub = owner.hub.clone();
        let task = tokio::spawn(async move { run(&hub, format, &scope, session_tx, session_rx).await });
        Client { tx, rx, task, format }
    }

    fn hello(owner: &Owner, last_seq: Option<u64>, filters: Filters) -> Client {
        let mut client = Client::connect(owner, Format::Binary, 64);
        client.send(&ClientMsg::hello(last_seq, filters));
        client
    }

    fn send(&mut self, message: &ClientMsg) {
        let incoming = match self.format {
            Format::Binary => Incoming::Binary(message.to_bytes().unwrap().into()),
            Format::Json => Incoming::Text(message.to_json().unwrap().into()),
        };
        self.tx.try_send(incoming).unwrap();
    }

    async fn next(&mut self) -> Outgoing {
        tokio::time::timeout(Duration::from_secs(5), self.rx.next())
            .await
            .expect("a message within 5 s")
            .expect("the session is still sending")
    }

    /// The next protocol message, skipping pings.
    async fn message(&mut self) -> ServerMsg {
        loop {
            match self.next().await {
                Outgoing::Binary(bytes) => return ServerMsg::from_bytes(&bytes).unwrap(),
                Outgoing::Text(bytes) => {
                    return ServerMsg::from_json(std::str::from_utf8(&bytes).unwrap()).unwrap()
                }
                Outgoing::Ping => {}
                Outgoing::Close { code, reason } => panic!("closed {code}: {reason}"),
            }
        }
    }

    async fn snapshot(&mut self) -> Topology {
        loop {
            match self.message().await {
                ServerMsg::Snapshot(topology) => return topology,
                ServerMsg::Status(_) => {}
                other => panic!("expected a snapshot, got {other:?}"),
            }
        }
    }

    /// Applies messages to `copy` until it reaches `seq`; returns the diffs seen.
    async fn follow(&mut self, copy: &mut Topology, seq: u64) -> Vec<topology::diff::Diff> {
        let mut diffs = Vec::new();
        while copy.seq() < seq {
            match self.message().await {
                ServerMsg::Diff(diff) => {
                    copy.apply(&diff).unwrap();
                    diffs.push(diff);
                }
                ServerMsg::Snapshot(topology) => *copy = topology,
                ServerMsg::Status(_) | ServerMsg::Pong { .. } => {}
            }
        }
        diffs
    }

    async fn closed(mut self) -> (u16, String, Ended) {
        loop {
            match self.next().await {
                Outgoing::Close { code, reason } => {
                    let ended = self.task.await.unwrap();
                    return (code, reason, ended);
                }
                Outgoing::Ping | Outgoing::Binary(_) | Outgoing::Text(_) => {}
            }
        }
    }
}

#[tokio::test]
async fn a_client_gets_the_status_then_a_snapshot_then_each_diff_once() {
    let mut owner = Owner::new(start_topology(), quick());
    let mut client = Client::hello(&owner, None, Filters::default());
    match client.message().await {
        ServerMsg::Status(status) => assert_eq!(status.state, LinkState::Live),
        other => panic!("expected a status first, got {other:?}"),
    }
    let mut copy = client.snapshot().await;
    assert_eq!(copy, owner.current());
    owner.upsert(pod("a", "new"));
    owner.upsert(with_label(pod("b", "p1"), "2"));
    owner.remove(&EntityId::new("test", Kind::Pod, "a", "p0"));
    let diffs = client.follow(&mut copy, owner.seq()).await;
    assert_eq!(diffs.len(), 3, "{diffs:?}");
    assert_eq!(copy, owner.current());
}

#[tokio::test]
async fn a_client_that_comes_back_gets_exactly_the_diffs_it_missed() {
    let mut owner = Owner::new(start_topology(), quick());
    let mut first = Client::hello(&owner, None, Filters::default());
    let mut copy = first.snapshot().await;
    owner.upsert(pod("a", "x1"));
    first.follow(&mut copy, owner.seq()).await;
    drop(first);

    let mut missed = Vec::new();
    for i in 0..5 {
        missed.extend(owner.upsert(with_label(pod("b", "p2"), &i.to_string())));
    }
    owner.settle().await;
    let mut again = Client::hello(&owner, Some(copy.seq()), Filters::default());
    let diffs = again.follow(&mut copy, owner.seq()).await;
    assert_eq!(diffs, missed, "exactly the missed diffs, no snapshot");
    assert_eq!(copy, owner.current());
    assert_eq!(owner.hub.metrics().resumes.get(), 1);
    assert_eq!(owner.hub.metrics().snapshots.get(), 1);
}

#[tokio::test]
async fn what_is_published_while_the_cluster_is_listed_is_not_kept_for_resuming() {
    let mut owner = Owner::new(start_topology(), quick());
    owner.link.send_replace(Link { state: LinkState::Connecting, message: String::from("listing") });
    let before = owner.seq();
    for i in 0..3 {
        owner.upsert(pod("a", &format!("new{i}")));
    }
    owner.settle().await;
    assert_eq!(owner.hub.ring_len(), 0, "the initial lists are a snapshot's worth of creations");
    let mut client = Client::hello(&owner, Some(before), Filters::default());
    assert_eq!(client.snapshot().await, owner.current());
    // Listed: from now on a client that drops out resumes.
    owner.link.send_replace(Link { state: LinkState::Live, message: String::new() });
    let mut copy = owner.current();
    let missed = owner.upsert(with_label(pod("a", "p0"), "1"));
    owner.settle().await;
    assert_eq!(owner.hub.ring_len(), 1);
    let mut again = Client::hello(&owner, Some(copy.seq()), Filters::default());
    assert_eq!(again.follow(&mut copy, owner.seq()).await, Vec::from_iter(missed));
    assert_eq!(copy, owner.current());
}

#[tokio::test]
async fn a_cached_snapshot_is_let_go_once_a_diff_makes_it_stale() {
    let mut owner = Owner::new(start_topology(), quick());
    let (seq, first) = owner.hub.snapshot(Format::Binary, &Filters::default()).unwrap();
    let (_, again) = owner.hub.snapshot(Format::Binary, &Filters::default()).unwrap();
    assert_eq!(first.as_ptr(), again.as_ptr(), "encoded once per sequence number");
    owner.upsert(pod("b", "new"));
    owner.settle().await;
    assert!(!owner.hub.snapshot_cached(), "a snapshot of {seq} can never be sent again");
    let (newer, _) = owner.hub.snapshot(Format::Json, &Filters::default()).unwrap();
    assert!(newer > seq && owner.hub.snapshot_cached());
}

#[tokio::test]
async fn a_client_from_an_unknown_or_too_old_seq_gets_a_snapshot() {
    let mut owner = Owner::new(start_topology(), Config { ring_frames: 2, ..quick() });
    let old = owner.seq();
    for i in 0..4 {
        owner.upsert(with_label(pod("a", "p1"), &i.to_string()));
    }
    owner.settle().await;
    let mut client = Client::hello(&owner, Some(old), Filters::default());
    assert_eq!(client.snapshot().await, owner.current());
    // A seq from another run of the server (see `collector::epoch_seq`).
    let mut client = Client::hello(&owner, Some(7), Filters::default());
    assert_eq!(client.snapshot().await, owner.current());
}

#[tokio::test]
async fn a_slow_client_is_resynced_with_one_snapshot_and_its_queue_stays_bounded() {
    // A ring much shorter than the 100 diffs, so that its bound is seen holding (the default would hold them all).
    let config =
        Config { client_queue: 8, ring_frames: 16, send_timeout: Duration::from_secs(30), ..quick() };
    let mut owner = Owner::new(start_topology(), config);
    // The session may hand over 1 message to a client that reads nothing.
    let mut slow = Client::connect(&owner, Format::Binary, 1);
    slow.send(&ClientMsg::hello(None, Filters::default()));
    let mut fast = Client::hello(&owner, None, Filters::default());
    let mut fast_copy = fast.snapshot().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..100 {
        owner.upsert(with_label(pod("a", "p1"), &i.to_string()));
        if i % 10 == 0 {
            // The fast client keeps up while the slow one does not read at all.
            fast.follow(&mut fast_copy, owner.seq()).await;
        }
    }
    fast.follow(&mut fast_copy, owner.seq()).await;
    assert_eq!(fast_copy, owner.current());
    // The stuck client holds at most its queue, however far behind it is, and the ring keeps its bound.
    assert!(owner.hub.queued() <= 8, "{} items held", owner.hub.queued());
    assert!(owner.hub.ring_len() <= 16, "{} frames in the ring", owner.hub.ring_len());
    owner.hub.refresh_gauges();
    assert_eq!(owner.hub.metrics().queue_depth_max.get(), 8, "the gauge shows the stuck client at its bound");
    // Now the slow client reads: it catches up through a resync, not 100 diffs.
    let mut copy = Topology::new();
    let mut resyncing = false;
    let mut diffs = 0;
    while copy.seq() < owner.seq() {
        match slow.message().await {
            ServerMsg::Status(status) => resyncing |= status.state == LinkState::Resyncing,
            ServerMsg::Snapshot(topology) => copy = topology,
            ServerMsg::Diff(diff) => {
                diffs += 1;
                copy.apply(&diff).unwrap();
            }
            ServerMsg::Pong { .. } => {}
        }
    }
    assert_eq!(copy, owner.current());
    assert!(resyncing, "the slow client was told it is resyncing");
    assert!(diffs < 20, "{diffs} diffs: the backlog was not skipped");
    assert!(owner.hub.metrics().resyncs.get() >= 1);
}

#[tokio::test]
async fn a_client_that_does_not_take_messages_is_dropped_after_the_send_timeout() {
    let mut owner = Owner::new(start_topology(), quick());
    let mut stuck = Client::connect(&owner, Format::Binary, 0);
    stuck.send(&ClientMsg::hello(None, Filters::default()));
    for i in 0..5 {
        owner.upsert(with_label(pod("a", "p1"), &i.to_string()));
    }
    let ended = tokio::time::timeout(Duration::from_secs(5), stuck.task).await.unwrap().unwrap();
    assert!(matches!(ended, Ended::Dropped(DropReason::SendTimeout, _)), "{ended:?}");
    assert_eq!(owner.hub.clients(), 0);
}

#[tokio::test]
async fn filters_never_leak_another_namespace() {
    let mut owner = Owner::new(start_topology(), quick());
    let filters = Filters { namespaces: vec!["a".into()], kinds: vec![] };
    let mut client = Client::hello(&owner, None, filters.clone());
    let mut copy = client.snapshot().await;
    let check = |t: &Topology| {
        for entity in t.entities() {
            assert_eq!(entity.id.namespace(), "a", "leaked {}", entity.id);
        }
    };
    check(&copy);
    for i in 0..10 {
        owner.upsert(with_label(pod("b", "p0"), &i.to_string()));
        owner.upsert(pod("b", &format!("extra{i}")));
        if i % 3 == 0 {
            owner.upsert(with_label(pod("a", "p0"), &i.to_string()));
        }
    }
    owner.remove(&EntityId::new("test", Kind::Pod, "b", "p1"));
    owner.upsert(pod("a", "last"));
    let diffs = client.follow(&mut copy, owner.seq()).await;
    check(&copy);
    assert_eq!(copy, filters.topology(&owner.current()));
    assert_eq!(diffs.len(), 5, "only the diffs with something in `a`: {diffs:?}");
}

#[tokio::test]
async fn the_json_format_tags_every_message_with_its_type_and_seq() {
    let mut owner = Owner::new(start_topology(), quick());
    let mut client = Client::connect(&owner, Format::Json, 64);
    client.send(&ClientMsg::hello(None, Filters::default()));
    let mut types = Vec::new();
    while types.len() < 3 {
        if types.len() == 2 {
            owner.upsert(pod("a", "json"));
        }
        if let Outgoing::Text(bytes) = client.next().await {
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(json["seq"].is_u64(), "{json}");
            types.push(json["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(types, ["status", "snapshot", "diff"]);
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    let owner = Owner::new(start_topology(), quick());
    let mut client = Client::hello(&owner, None, Filters::default());
    client.snapshot().await;
    client.send(&ClientMsg::Ping { nonce: 99 });
    loop {
        if let ServerMsg::Pong { nonce } = client.message().await {
            assert_eq!(nonce, 99);
            break;
        }
    }
}

#[tokio::test]
async fn garbage_closes_the_socket_with_a_protocol_error_and_a_reason() {
    let owner = Owner::new(start_topology(), quick());
    let mut client = Client::connect(&owner, Format::Binary, 64);
    // This version's framing, then bytes that are no message.
    let version = u8::try_from(topology::protocol::PROTOCOL_VERSION).unwrap();
    client.tx.try_send(Incoming::Binary(Bytes::from(vec![version, 0xff, 0xff, 0xff, 0xff]))).unwrap();
    let (code, reason, ended) = client.closed().await;
    assert_eq!(code, close::PROTOCOL_ERROR);
    assert!(reason.contains("malformed binary message"), "{reason}");
    assert!(matches!(ended, Ended::Dropped(DropReason::Protocol, _)));

    let mut client = Client::hello(&owner, None, Filters::default());
    client.snapshot().await;
    client.tx.try_send(Incoming::Text(Bytes::from_static(b"{\"type\":\"hello\""))).unwrap();
    let (code, reason, _) = client.closed().await;
    assert_eq!(code, close::PROTOCOL_ERROR);
    assert!(reason.contains("malformed JSON message"), "{reason}");

    let mut client = Client::connect(&owner, Format::Binary, 64);
    client.send(&ClientMsg::Ping { nonce: 1 });
    let (code, reason, _) = client.closed().await;
    assert_eq!((code, reason.as_str()), (close::PROTOCOL_ERROR, "the first message must be a hello"));

    let mut client = Client::connect(&owner, Format::Binary, 64);
    client.tx.try_send(Incoming::Binary(vec![0u8; 70_000].into())).unwrap();
    assert_eq!(client.closed().await.0, close::TOO_BIG);
    assert_eq!(
        owner
            .hub
            .metrics()
            .dropped_clients
            .get_or_create(&crate::metrics::DropLabels { reason: DropReason::Protocol })
            .get(),
        3
    );
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_closed_with_a_policy_violation() {
    let owner = Owner::new(start_topology(), quick());
    let client = Client::connect(&owner, Format::Binary, 64);
    let (code, reason, _) = client.closed().await;
    assert_eq!(code, close::POLICY_VIOLATION);
    assert!(reason.starts_with("no hello within"), "{reason}");
}

#[tokio::test]
async fn a_silent_client_is_closed_as_idle_and_pongs_keep_it_open() {
    let config = Config { idle_timeout: Duration::from_millis(400), ..quick() };
    let owner = Owner::new(start_topology(), config);
    let mut chatty = Client::hello(&owner, None, Filters::default());
    let silent = Client::hello(&owner, None, Filters::default());
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chatty.tx.try_send(Incoming::Pong).unwrap();
        while chatty.rx.try_recv().is_ok() {}
    }
    let (code, _, ended) = silent.closed().await;
    assert_eq!(code, close::IDLE);
    assert!(matches!(ended, Ended::Dropped(DropReason::Idle, _)));
    assert!(!chatty.task.is_finished(), "a client that answers pings stays");
}

#[tokio::test]
async fn shutting_down_closes_every_client_with_going_away() {
    let owner = Owner::new(start_topology(), quick());
    let mut client = Client::hello(&owner, None, Filters::default());
    client.snapshot().await;
    owner.hub.shut_down();
    let (code, reason, ended) = client.closed().await;
    assert_eq!((code, reason.as_str(), ended), (close::GOING_AWAY, "server shutting down", Ended::Shutdown));
}

#[tokio::test]
async fn a_status_change_reaches_connected_clients() {
    let owner = Owner::new(start_topology(), quick());
    let mut client = Client::hello(&owner, None, Filters::default());
    client.snapshot().await;
    owner.link.send_replace(Link { state: LinkState::Stale, message: "watch failing".into() });
    loop {
        if let ServerMsg::Status(status) = client.message().await {
            assert_eq!((status.state, status.message.as_str()), (LinkState::Stale, "watch failing"));
            break;
        }
    }
}

#[tokio::test]
async fn a_hub_that_lost_diffs_starts_over_and_every_client_resyncs() {
    let mut owner = Owner::new(start_topology(), quick());
    let mut client = Client::hello(&owner, None, Filters::default());
    let mut copy = client.snapshot().await;
    // Diffs the hub never sees (as if its channel had overflowed): the next one does not follow.
    owner.change_unseen(|tx| {
        tx.upsert(pod("a", "unseen")).unwrap();
    });
    owner.upsert(pod("b", "seen"));
    let snapshots = {
        let mut snapshots = 0;
        while copy.seq() < owner.seq() {
            match client.message().await {
                ServerMsg::Snapshot(topology) => {
                    snapshots += 1;
                    copy = topology;
                }
                ServerMsg::Diff(diff) => copy.apply(&diff).unwrap(),
                _ => {}
            }
        }
        snapshots
    };
    assert_eq!(copy, owner.current(), "nothing lost: the unseen pod is there too");
    assert_eq!(snapshots, 1);
    assert_eq!(owner.hub.metrics().hub_resets.get(), 1);
}

mod scoped {
    //! Two viewers scoped to different namespaces on one hub: each gets only its own namespace, in the snapshot,
    //! the diffs, on resume and after new filters, and in both wire formats.

    use super::*;
    use crate::auth::Scope;

    fn scoped_hello(
        owner: &Owner,
        format: Format,
        scope: &[&str],
        last_seq: Option<u64>,
        filters: Filters,
    ) -> Client {
        let mut client = Client::connect_scoped(owner, format, 64, Scope::namespaces(scope.iter().copied()));
        client.send(&ClientMsg::hello(last_seq, filters));
        client
    }

    fn only(topology: &Topology, ns: &str) -> bool {
        topology.entities().all(|e| e.id.namespace() == ns)
    }

    #[tokio::test]
    async fn two_viewers_on_different_namespaces_see_only_their_own_snapshot_and_diffs() {
        for format in [Format::Binary, Format::Json] {
            let mut owner = Owner::new(start_topology(), quick());
            let mut a = scoped_hello(&owner, format, &["a"], None, Filters::default());
            let mut b = scoped_hello(&owner, format, &["b"], None, Filters::default());
            let mut copy_a = a.snapshot().await;
            let mut copy_b = b.snapshot().await;
            assert_eq!((copy_a.len(), copy_b.len()), (3, 3));
            assert!(only(&copy_a, "a") && only(&copy_b, "b"));
            owner.upsert(pod("a", "secret-a"));
            owner.upsert(with_label(pod("b", "p1"), "secret-b"));
            owner.upsert(pod("c", "secret-c"));
            owner.upsert(pod("a", "last"));
            let seq_a = owner.seq();
            owner.upsert(pod("b", "last"));
            // Each follows up to its own last change: frames with nothing for a client are not sent to it.
            let diffs_a = a.follow(&mut copy_a, seq_a).await;
            let diffs_b = b.follow(&mut copy_b, owner.seq()).await;
            let text_a = format!("{diffs_a:?}");
            let text_b = format!("{diffs_b:?}");
            assert!(
                text_a.contains("secret-a") && !text_a.contains("secret-b") && !text_a.contains("secret-c"),
                "{text_a}"
            );
            assert!(
                text_b.contains("secret-b") && !text_b.contains("secret-a") && !text_b.contains("secret-c"),
                "{text_b}"
            );
            assert!(only(&copy_a, "a") && copy_a.len() == 5, "{copy_a:?}");
            assert!(only(&copy_b, "b") && copy_b.len() == 4);
        }
    }

    #[tokio::test]
    async fn a_scoped_client_cannot_widen_its_view_with_filters_or_a_second_hello() {
        let mut owner = Owner::new(start_topology(), quick());
        let wider = Filters { namespaces: vec!["a".into(), "b".into()], kinds: vec![] };
        let mut client = scoped_hello(&owner, Format::Binary, &["a"], None, wider.clone());
        let copy = client.snapshot().await;
        assert!(only(&copy, "a") && copy.len() == 3);
        client.send(&ClientMsg::hello(None, Filters { namespaces: vec!["b".into()], kinds: vec![] }));
        assert_eq!(client.snapshot().await.len(), 0, "asking for another namespace gives nothing");
        client.send(&ClientMsg::hello(None, Filters::default()));
        let mut copy = client.snapshot().await;
        assert!(only(&copy, "a") && copy.len() == 3, "an empty filter is everything in scope");
        owner.upsert(pod("b", "hidden"));
        owner.upsert(pod("a", "shown"));
        let diffs = client.follow(&mut copy, owner.seq()).await;
        assert!(!format!("{diffs:?}").contains("hidden"));
        assert!(only(&copy, "a"));
    }

    #[tokio::test]
    async fn a_resumed_scoped_session_gets_only_the_missed_diffs_of_its_scope() {
        let mut owner = Owner::new(start_topology(), quick());
        let mut first = scoped_hello(&owner, Format::Binary, &["a"], None, Filters::default());
        let mut copy = first.snapshot().await;
        drop(first);
        owner.upsert(pod("b", "missed-secret"));
        owner.upsert(pod("a", "missed-own"));
        owner.settle().await;
        let mut again = scoped_hello(&owner, Format::Binary, &["a"], Some(copy.seq()), Filters::default());
        let diffs = again.follow(&mut copy, owner.seq()).await;
        let text = format!("{diffs:?}");
        assert!(text.contains("missed-own") && !text.contains("missed-secret"), "{text}");
        assert!(only(&copy, "a"));
    }
}
