//! Tests of the wire protocol: sizes, tagging, versions, filters, and decoders fed with garbage.

use proptest::{collection::vec, prelude::*};

use super::*;
use crate::{
    entity::{ContainerState, ContainerStatus, Details, Reason},
    sample::kgents,
};

/// The most frequent message: one pod of `kgents` starts crash-looping, as the hub would send it after a
/// million diffs.
fn pod_status_change() -> (Topology, Diff) {
    let mut topology = kgents();
    topology.set_seq(1_000_000);
    let id = EntityId::new("kgents", Kind::Pod, "kgents-triad", "kgent-api-7d9c8b5f6-x2x9k");
    let mut pod = topology.get(&id).unwrap().clone();
    if let Details::Pod(info) = &mut pod.details {
        info.conditions.ready = crate::entity::Cond::False;
        info.containers[0].status = ContainerStatus {
            ready: false,
            restarts: 4,
            state: ContainerState::Waiting { reason: Some(Reason::CrashLoopBackOff) },
            last_termination: Some(Reason::OOMKilled),
            last_termination_at: None,
        };
    }
    let mut tx = topology.transaction();
    tx.upsert(pod).unwrap();
    let diff = tx.commit().unwrap();
    (topology, diff)
}

#[test]
fn a_pod_status_change_fits_in_64_bytes() {
    let (_, diff) = pod_status_change();
    let bytes = ServerMsg::Diff(diff.clone()).to_bytes().unwrap();
    assert_eq!(bytes.len(), 27);
    assert!(bytes.len() <= 64);
    assert_eq!(encode_diff(&diff).unwrap(), bytes);
    assert_eq!(ServerMsg::from_bytes(&bytes).unwrap(), ServerMsg::Diff(diff));
}

#[test]
fn a_diff_applies_on_a_replica_after_the_wire() {
    let (owner, diff) = pod_status_change();
    let mut replica = kgents();
    replica.set_seq(1_000_000);
    let ServerMsg::Diff(received) = ServerMsg::from_bytes(&encode_diff(&diff).unwrap()).unwrap() else {
        panic!("not a diff")
    };
    replica.apply(&received).unwrap();
    assert_eq!(replica, owner);
}

#[test]
fn a_snapshot_encodes_by_reference_to_the_same_bytes() {
    let topology = kgents();
    let bytes = encode_snapshot(&topology).unwrap();
    assert_eq!(bytes, ServerMsg::Snapshot(topology.clone()).to_bytes().unwrap());
    assert_eq!(ServerMsg::from_bytes(&bytes).unwrap(), ServerMsg::Snapshot(topology));
}

#[test]
fn json_messages_are_tagged_with_their_type_and_carry_seq() {
    let (topology, diff) = pod_status_change();
    let status = ServerMsg::Status(Status {
        state: LinkState::Stale,
        seq: 9,
        message: "API server unreachable".into(),
    });
    let cases = [
        (ServerMsg::Snapshot(topology), r#"{"type":"snapshot","v":3,"seq":1000001,"#),
        (
            ServerMsg::Diff(diff),
            r#"{"type":"diff","v":3,"base_seq":1000000,"seq":1000001,"ops":[{"patch":{"key":"#,
        ),
        (status, r#"{"type":"status","v":3,"seq":9,"state":"stale","message":"API server unreachable"}"#),
        (ServerMsg::Pong { nonce: 3 }, r#"{"type":"pong","v":3,"nonce":3}"#),
    ];
    for (msg, prefix) in cases {
        let json = msg.to_json().unwrap();
        assert!(json.starts_with(prefix), "{json}");
        assert_eq!(ServerMsg::from_json(&json).unwrap(), msg);
        assert_eq!(ServerMsg::from_bytes(&msg.to_bytes().unwrap()).unwrap(), msg);
    }
}

#[test]
fn client_messages_round_trip() {
    let filters = Filters { namespaces: vec!["kgents-triad".into()], kinds: vec![Kind::Pod, Kind::Service] };
    let hello = ClientMsg::hello(Some(41), filters);
    assert_eq!(
        hello.to_json().unwrap(),
        r#"{"type":"hello","v":3,"protocol":3,"last_seq":41,"filters":{"namespaces":["kgents-triad"],"kinds":["pod","service"]}}"#
    );
    for msg in [hello, ClientMsg::Ping { nonce: 7 }] {
        assert_eq!(ClientMsg::from_json(&msg.to_json().unwrap()).unwrap(), msg);
        assert_eq!(ClientMsg::from_bytes(&msg.to_bytes().unwrap()).unwrap(), msg);
    }
    assert_eq!(ClientMsg::Ping { nonce: 7 }.to_bytes().unwrap(), [3, 1, 7]);
}

#[test]
fn another_protocol_version_is_a_clear_error() {
    let err = ServerMsg::from_bytes(&[2, 3, 0]).unwrap_err();
    assert_eq!(err.to_string(), "peer speaks protocol version 2, this side speaks 3: reload the page");
    let err = ClientMsg::from_json(r#"{"type":"ping","v":2,"nonce":1}"#).unwrap_err();
    assert!(matches!(err, ProtocolError::VersionMismatch { got: 2, expected: 3 }));
}

#[test]
fn trailing_bytes_and_inconsistent_snapshots_are_refused() {
    let mut bytes = ClientMsg::Ping { nonce: 7 }.to_bytes().unwrap();
    bytes.push(0);
    assert!(matches!(ClientMsg::from_bytes(&bytes), Err(ProtocolError::TrailingBytes(1))));
    let json = ServerMsg::Snapshot(kgents()).to_json().unwrap().replacen(r#""seq":1,"#, r#""seq":2,"#, 1);
    assert!(matches!(
        ServerMsg::from_json(&json),
        Err(ProtocolError::SnapshotSeq { message: 2, topology: 1 })
    ));
}

#[test]
fn a_snapshot_with_a_duplicated_key_is_refused() {
    let json = ServerMsg::Snapshot(kgents()).to_json().unwrap();
    let duplicated = json.replacen("[1,{", "[0,{", 1);
    let err = ServerMsg::from_json(&duplicated).unwrap_err();
    assert!(matches!(err, ProtocolError::Json(_)), "{err:?}");
    assert!(format!("{err:?}").contains("key #0 appears twice"), "{err:?}");
}

#[test]
fn filters_keep_a_namespace_its_cluster_scoped_objects_and_consistent_diffs() {
    let (owner, diff) = pod_status_change();
    let filters = Filters { namespaces: vec!["kgents-triad".into()], kinds: vec![] };
    let mut before = kgents();
    before.set_seq(1_000_000);
    let mut view = filters.topology(&before);
    assert_eq!(view.len(), 1 + 1 + 3 + 28);
    assert!(view.entities().all(|e| e.namespace() == "kgents-triad" || !e.kind.is_namespaced()));
    view.apply(&filters.diff(&before, &diff)).unwrap();
    assert_eq!(view, filters.topology(&owner));
    let others = Filters { namespaces: vec!["default".into()], kinds: vec![] };
    assert!(others.diff(&before, &diff).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let _ = ServerMsg::from_bytes(&bytes);
        let _ = ClientMsg::from_bytes(&bytes);
    }

    #[test]
    fn decoding_random_payloads_of_the_right_version_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let mut framed = vec![1_u8];
        framed.extend(&bytes);
        let _ = ServerMsg::from_bytes(&framed);
        let _ = ClientMsg::from_bytes(&framed);
    }

    #[test]
    fn decoding_random_text_never_panics(text in ".{0,200}") {
        let _ = ServerMsg::from_json(&text);
        let _ = ClientMsg::from_json(&text);
    }

    #[test]
    fn decoding_corrupted_messages_never_panics(flip in 0..4096_usize, value in any::<u8>()) {
        let (_, diff) = pod_status_change();
        for mut bytes in [encode_diff(&diff).unwrap(), encode_snapshot(&kgents()).unwrap()] {
            let at = flip % bytes.len();
            bytes[at] = value;
            let _ = ServerMsg::from_bytes(&bytes);
            bytes.truncate(at);
            let _ = ServerMsg::from_bytes(&bytes);
        }
    }
}

#[test]
fn a_diff_decodes_from_its_own_encoding_and_nothing_else_does() {
    let diff = Diff { base_seq: 4, seq: 5, ops: Vec::new() };
    assert_eq!(decode_diff(&encode_diff(&diff).unwrap()).unwrap(), diff);
    let pong = ServerMsg::Pong { nonce: 1 }.to_bytes().unwrap();
    assert!(matches!(decode_diff(&pong), Err(ProtocolError::UnexpectedMessage("diff"))));
}
