//! Store tests: versioning, preconditions, pagination and the change feed.

use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::patch::PatchKind;
use crate::resource::{CONFIGMAPS, DEPLOYMENTS, NAMESPACES, NODES, PODS};

/// 2024-05-01T12:00:00Z
const NOW: i64 = 1_714_564_800;

fn store_with(history: usize) -> Store {
    let store =
        Store::new(&StoreConfig { history, watch_buffer: 64, seed: 1 }, Arc::new(ManualClock::new(NOW)));
    store.create(NAMESPACES, None, json!({"metadata": {"name": "ns"}})).unwrap();
    store
}

fn store() -> Store {
    store_with(100)
}

fn pod(name: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}})
}

fn version(object: &Value) -> &str {
    object["metadata"]["resourceVersion"].as_str().unwrap()
}

#[test]
fn every_write_takes_the_next_global_resource_version() {
    let store = store();
    let a = store.create(PODS, Some("ns"), pod("a")).unwrap();
    let node = store.create(NODES, None, json!({"metadata": {"name": "n"}})).unwrap();
    let b = store.create(PODS, Some("ns"), pod("b")).unwrap();
    assert_eq!([version(&a), version(&node), version(&b)], ["2", "3", "4"]);
    assert_eq!(store.revision(), 4);
}

#[test]
fn the_server_stamps_uid_timestamp_generation_kind_and_pending_status() {
    let a = store().create(PODS, Some("ns"), pod("a")).unwrap();
    let again = store().create(PODS, Some("ns"), pod("a")).unwrap();
    assert_eq!(a["metadata"]["uid"], again["metadata"]["uid"], "uids come from the seed");
    assert_eq!(a["metadata"]["creationTimestamp"], "2024-05-01T12:00:00Z");
    assert_eq!(a["metadata"]["generation"], 1);
    assert_eq!(a["metadata"]["namespace"], "ns");
    assert_eq!((a["kind"].as_str(), a["apiVersion"].as_str()), (Some("Pod"), Some("v1")));
    assert_eq!(a["status"]["phase"], "Pending");
    let cm = store().create(CONFIGMAPS, Some("ns"), json!({"metadata": {"name": "c"}})).unwrap();
    assert!(cm["metadata"].get("generation").is_none());
}

#[test]
fn generate_name_gets_a_random_suffix() {
    let created = store().create(PODS, Some("ns"), json!({"metadata": {"generateName": "web-"}})).unwrap();
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
}

#[test]
fn creating_twice_or_in_a_missing_namespace_or_without_a_name_fails() {
    let store = store();
    store.create(PODS, Some("ns"), pod("a")).unwrap();
    assert!(matches!(store.create(PODS, Some("ns"), pod("a")), Err(StoreError::AlreadyExists { .. })));
    assert_eq!(
        store.create(PODS, Some("nope"), pod("a")).unwrap_err(),
        StoreError::NotFound { resource: NAMESPACES, name: "nope".into() }
    );
    assert!(matches!(store.create(PODS, Some("ns"), json!({})), Err(StoreError::Invalid { .. })));
    assert!(matches!(store.create(PODS, Some("ns"), pod("Bad_Name")), Err(StoreError::Invalid { .. })));
}

#[test]
fn an_update_with_a_stale_resource_version_conflicts() {
    let store = store();
    let a = store.create(PODS, Some("ns"), pod("a")).unwrap();
    let mut changed = (*a).clone();
    changed["metadata"]["labels"]["app"] = json!("db");
    let updated = store.update(PODS, Some("ns"), "a", changed.clone(), Part::Main).unwrap();
    assert_eq!(updated["metadata"]["labels"]["app"], "db");
    let err = store.update(PODS, Some("ns"), "a", changed, Part::Main).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("the object has been modified"));
}

#[test]
fn an_update_without_a_resource_version_is_unconditional_and_keeps_server_fields() {
    let store = store();
    let a = store.create(PODS, Some("ns"), pod("a")).unwrap();
    let body = json!({"metadata": {"name": "a", "uid": "forged"}, "spec": {"containers": []},
                      "status": {"phase": "Running"}});
    let updated = store.update(PODS, Some("ns"), "a", body, Part::Main).unwrap();
    assert_eq!(updated["metadata"]["uid"], a["metadata"]["uid"]);
    assert_eq!(updated["metadata"]["generation"], 2, "the spec changed");
    assert_eq!(updated["status"]["phase"], "Pending", "main writes keep the status");
}

#[test]
fn a_status_write_changes_only_the_status_and_not_the_generation() {
    let store = store();
    store.create(PODS, Some("ns"), pod("a")).unwrap();
    let body = json!({"metadata": {"name": "a", "labels": {}}, "spec": {}, "status": {"phase": "Running"}});
    let updated = store.update(PODS, Some("ns"), "a", body, Part::Status).unwrap();
    assert_eq!(updated["status"]["phase"], "Running");
    assert_eq!(updated["metadata"]["labels"]["app"], "web");
    assert_eq!(updated["spec"]["containers"][0]["name"], "c");
    assert_eq!(updated["metadata"]["generation"], 1);
}

#[test]
fn a_write_that_changes_nothing_is_not_a_change() {
    let store = store();
    let a = store.create(PODS, Some("ns"), pod("a")).unwrap();
    let same = store.update(PODS, Some("ns"), "a", (*a).clone(), Part::Main).unwrap();
    assert_eq!(version(&same), version(&a));
    assert_eq!(store.revision(), 2);
}

#[test]
fn a_patch_merges_and_checks_a_resource_version_it_carries() {
    let store = store();
    store
        .create(DEPLOYMENTS, Some("ns"), json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}}))
        .unwrap();
    let patched = store
        .patch(DEPLOYMENTS, Some("ns"), "d", PatchKind::Merge, &json!({"spec": {"replicas": 3}}), Part::Main)
        .unwrap();
    assert_eq!(
        (patched["spec"]["replicas"].as_i64(), patched["metadata"]["generation"].as_i64()),
        (Some(3), Some(2))
    );
    let stale = json!({"metadata": {"resourceVersion": "2"}, "spec": {"replicas": 4}});
    let err = store.patch(DEPLOYMENTS, Some("ns"), "d", PatchKind::Merge, &stale, Part::Main).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    let status = json!({"spec": {"replicas": 9}, "status": {"readyReplicas": 3}});
    let patched = store.patch(DEPLOYMENTS, Some("ns"), "d", PatchKind::Merge, &status, Part::Status).unwrap();
    assert_eq!(
        (patched["spec"]["replicas"].as_i64(), patched["status"]["readyReplicas"].as_i64()),
        (Some(3), Some(3))
    );
}

#[test]
fn a_delete_checks_preconditions_and_reports_the_deletion_revision() {
    let store = store();
    let a = store.create(PODS, Some("ns"), pod("a")).unwrap();
    let wrong = Preconditions { uid: Some("other".into()), resource_version: None };
    assert!(matches!(store.delete(PODS, Some("ns"), "a", &wrong), Err(StoreError::Conflict { .. })));
    let right =
        Preconditions { uid: a["metadata"]["uid"].as_str().map(str::to_owned), resource_version: None };
    let deleted = store.delete(PODS, Some("ns"), "a", &right).unwrap();
    assert_eq!(version(&deleted), "3");
    assert!(matches!(store.get(PODS, Some("ns"), "a"), Err(StoreError::NotFound { .. })));
}

#[test]
fn deleting_a_namespace_deletes_what_is_in_it() {
    let store = store();
    store.create(PODS, Some("ns"), pod("a")).unwrap();
    store.create(CONFIGMAPS, Some("ns"), json!({"metadata": {"name": "c"}})).unwrap();
    store.delete(NAMESPACES, None, "ns", &Preconditions::default()).unwrap();
    assert_eq!((store.count(PODS), store.count(CONFIGMAPS), store.count(NAMESPACES)), (0, 0, 0));
}

#[test]
fn pages_cover_every_object_exactly_once_in_key_order() {
    let store = store();
    store.create(NAMESPACES, None, json!({"metadata": {"name": "other"}})).unwrap();
    for i in 0..23 {
        let ns = if i % 3 == 0 { "other" } else { "ns" };
        store.create(PODS, Some(ns), pod(&format!("p{i:02}"))).unwrap();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut remaining = Vec::new();
    loop {
        let page = store.list(PODS, &Filter::default(), Some(5), token.as_deref()).unwrap();
        assert_eq!(page.revision, 25, "every page reports the first page's revision");
        seen.extend(
            page.items.iter().map(|p| format!("{}/{}", p["metadata"]["namespace"], p["metadata"]["name"])),
        );
        remaining.push(page.remaining);
        match page.continue_token {
            Some(t) => token = Some(t),
            None => break,
        }
        store.create(PODS, Some("ns"), pod(&format!("late{}", seen.len()))).unwrap();
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in key order, no duplicates");
    assert_eq!(seen.iter().filter(|s| s.contains("\"p")).count(), 23);
    assert_eq!(remaining[0], Some(18));
    assert_eq!(remaining.last(), Some(&None));
}

#[test]
fn a_namespaced_selecting_list_pages_within_its_selection() {
    let store = store();
    store.create(NAMESPACES, None, json!({"metadata": {"name": "zz"}})).unwrap();
    for i in 0..6 {
        store.create(PODS, Some("ns"), pod(&format!("p{i}"))).unwrap();
        store.create(PODS, Some("zz"), pod(&format!("p{i}"))).unwrap();
    }
    let filter = Filter::parse(PODS, Some("ns"), Some("app=web"), None).unwrap();
    let first = store.list(PODS, &filter, Some(4), None).unwrap();
    assert_eq!((first.items.len(), first.remaining), (4, None), "no count with a selector");
    let rest = store.list(PODS, &filter, Some(4), first.continue_token.as_deref()).unwrap();
    assert_eq!((rest.items.len(), rest.continue_token), (2, None));
}

#[test]
fn a_continue_token_from_before_the_history_expires() {
    let store = store_with(3);
    for i in 0..4 {
        store.create(PODS, Some("ns"), pod(&format!("p{i}"))).unwrap();
    }
    let first = store.list(PODS, &Filter::default(), Some(2), None).unwrap();
    for i in 4..8 {
        store.create(PODS, Some("ns"), pod(&format!("p{i}"))).unwrap();
    }
    let err = store.list(PODS, &Filter::default(), Some(2), first.continue_token.as_deref()).unwrap_err();
    assert_eq!(err, StoreError::ContinueExpired);
    assert!(matches!(store.list(PODS, &Filter::default(), None, Some("zz")), Err(StoreError::BadRequest(_))));
}

#[test]
fn a_watch_replays_the_changes_after_its_revision_then_goes_live() {
    let store = store();
    store.create(PODS, Some("ns"), pod("a")).unwrap();
    let from = store.revision();
    store.create(CONFIGMAPS, Some("ns"), json!({"metadata": {"name": "c"}})).unwrap();
    store.create(PODS, Some("ns"), pod("b")).unwrap();
    let mut sub = store.watch(PODS, WatchFrom::Revision(from)).unwrap();
    let replayed: Vec<_> =
        sub.initial.iter().map(|e| (e.kind, e.object["metadata"]["name"].clone())).collect();
    assert_eq!(replayed, [(EventType::Added, json!("b"))]);
    store.delete(PODS, Some("ns"), "a", &Preconditions::default()).unwrap();
    let live = sub.receiver.try_recv().unwrap();
    assert_eq!(
        (live.kind, live.revision, live.object["metadata"]["resourceVersion"].as_str()),
        (EventType::Deleted, 5, Some("5"))
    );
    assert_eq!(live.previous.as_ref().unwrap()["metadata"]["resourceVersion"], "2");
}

#[test]
fn a_watch_from_now_starts_with_the_current_objects() {
    let store = store();
    store.create(PODS, Some("ns"), pod("a")).unwrap();
    store.create(PODS, Some("ns"), pod("b")).unwrap();
    let sub = store.watch(PODS, WatchFrom::Now).unwrap();
    assert_eq!(sub.initial.len(), 2);
    assert!(sub.initial.iter().all(|e| e.kind == EventType::Added));
    assert_eq!(sub.revision, 3);
}

#[test]
fn a_watch_from_before_the_history_is_expired() {
    let store = store_with(2);
    for i in 0..5 {
        store.create(PODS, Some("ns"), pod(&format!("p{i}"))).unwrap();
    }
    assert_eq!(store.oldest_revision(), 4);
    assert_eq!(
        store.watch(PODS, WatchFrom::Revision(3)).unwrap_err(),
        StoreError::Expired { requested: 3, oldest: 4 }
    );
    assert_eq!(store.watch(PODS, WatchFrom::Revision(4)).unwrap().initial.len(), 2);
}

#[test]
fn the_simulator_keeps_the_status_and_age_it_inserts() {
    let store = store();
    let mut old = pod("old");
    old["metadata"]["namespace"] = json!("ns");
    old["metadata"]["creationTimestamp"] = json!("2024-04-28T12:00:00Z");
    old["status"] = json!({"phase": "Running"});
    let inserted = store.insert(PODS, old).unwrap();
    assert_eq!(
        (inserted["status"]["phase"].as_str(), inserted["metadata"]["creationTimestamp"].as_str()),
        (Some("Running"), Some("2024-04-28T12:00:00Z"))
    );
    let modified = store.modify(PODS, Some("ns"), "old", |p| p["status"]["phase"] = json!("Failed")).unwrap();
    assert_eq!(modified["status"]["phase"], "Failed");
    assert_eq!(modified["metadata"]["generation"], 1);
}

fn owned(name: &str, owners: &[&Arc<Value>]) -> Value {
    let refs: Vec<Value> = owners
        .iter()
        .map(|o| json!({"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}))
        .collect();
    let mut object = pod(name);
    object["metadata"]["ownerReferences"] = json!(refs);
    object
}

#[test]
fn deleting_an_owner_garbage_collects_its_dependents_after_it() {
    let store = store();
    let deploy = store.create(DEPLOYMENTS, Some("ns"), json!({"metadata": {"name": "web"}})).unwrap();
    let mut rs = owned("web-1", &[&deploy]);
    rs.as_object_mut().unwrap().remove("spec");
    let rs = store.create(crate::resource::REPLICASETS, Some("ns"), rs).unwrap();
    store.create(PODS, Some("ns"), owned("web-1-a", &[&rs])).unwrap();
    store.create(PODS, Some("ns"), pod("unowned")).unwrap();
    let before = store.revision();
    let mut feed = store.watch(PODS, WatchFrom::Revision(before)).unwrap().receiver;
    store.delete(DEPLOYMENTS, Some("ns"), "web", &Preconditions::default()).unwrap();
    assert_eq!(store.count(crate::resource::REPLICASETS), 0);
    assert!(store.get(PODS, Some("ns"), "web-1-a").is_err());
    assert!(store.get(PODS, Some("ns"), "unowned").is_ok());
    let kinds: Vec<(&str, u64)> =
        std::iter::from_fn(|| feed.try_recv().ok()).map(|e| (e.resource.get().kind, e.revision)).collect();
    assert_eq!(kinds, [("Deployment", before + 1), ("ReplicaSet", before + 2), ("Pod", before + 3)]);
}

#[test]
fn a_dependent_with_another_living_owner_only_loses_the_dead_reference() {
    let store = store();
    let a = store.create(CONFIGMAPS, Some("ns"), json!({"metadata": {"name": "a"}})).unwrap();
    let b = store.create(CONFIGMAPS, Some("ns"), json!({"metadata": {"name": "b"}})).unwrap();
    store.create(PODS, Some("ns"), owned("shared", &[&a, &b])).unwrap();
    store.delete(CONFIGMAPS, Some("ns"), "a", &Preconditions::default()).unwrap();
    let shared = store.get(PODS, Some("ns"), "shared").unwrap();
    assert_eq!(shared["metadata"]["ownerReferences"].as_array().unwrap().len(), 1);
    assert_eq!(shared["metadata"]["ownerReferences"][0]["name"], "b");
    store.delete(CONFIGMAPS, Some("ns"), "b", &Preconditions::default()).unwrap();
    assert!(store.get(PODS, Some("ns"), "shared").is_err());
}
