//! Server-side printing: the `Table`s `kubectl get` asks for, with the columns the real API server prints
//! for the common resources and `NAME`/`AGE` for the rest.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::format::{partial, Include};
use crate::clock::{human_duration, parse_rfc3339};
use crate::resource::{
    ResourceId, DEPLOYMENTS, EVENTS, NAMESPACES, NODES, PODS, REPLICASETS, SERVICES, STATEFULSETS,
};

/// (name, type, priority): priority 1 columns show only with `-o wide`.
type Column = (&'static str, &'static str, u8);

fn columns(resource: ResourceId) -> &'static [Column] {
    match resource {
        PODS => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        NODES => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        DEPLOYMENTS => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
        ],
        REPLICASETS => &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
        ],
        STATEFULSETS => &[("Name", "string", 0), ("Ready", "string", 0), ("Age", "string", 0)],
        SERVICES => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
        ],
        NAMESPACES => &[("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
        EVENTS => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        _ => &[("Name", "string", 0), ("Age", "string", 0)],
    }
}

/// A `Table` of `objects`.
pub fn table(
    resource: ResourceId,
    objects: &[Arc<Value>],
    version: &str,
    include: Include,
    now: i64,
    meta: &Map<String, Value>,
) -> Value {
    let definitions: Vec<Value> = columns(resource)
        .iter()
        .map(|(name, kind, priority)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": kind, "format": format, "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": cells(resource, object, now)});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial(object, version),
                Include::Object => row["object"] = (**object).clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_owned()
    } else {
        s
    }
}

fn age(field: &Value, now: i64) -> String {
    field.as_str().and_then(parse_rfc3339).map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now - t))
}

fn cells(resource: ResourceId, o: &Value, now: i64) -> Vec<Value> {
    let name = json!(o["metadata"]["name"]);
    let created = json!(age(&o["metadata"]["creationTimestamp"], now));
    let count = |v: &Value| json!(v.as_i64().unwrap_or(0));
    let ready_of = |o: &Value| {
        let (ready, want) = (o["status"]["readyReplicas"].as_i64(), o["spec"]["replicas"].as_i64());
        json!(format!("{}/{}", ready.unwrap_or(0), want.unwrap_or(1)))
    };
    match resource {
        PODS => {
            let (ready, status, restarts) = pod_summary(o, now);
            let (ip, node) = (or_none(s(&o["status"]["podIP"])), or_none(s(&o["spec"]["nodeName"])));
            vec![name, json!(ready), json!(status), json!(restarts), created, json!(ip), json!(node)]
        }
        NODES => node_cells(o, name, created),
        DEPLOYMENTS => {
            let st = &o["status"];
            vec![name, ready_of(o), count(&st["updatedReplicas"]), count(&st["availableReplicas"]), created]
        }
        REPLICASETS => {
            let st = &o["status"];
            vec![
                name,
                count(&o["spec"]["replicas"]),
                count(&st["replicas"]),
                count(&st["readyReplicas"]),
                created,
            ]
        }
        STATEFULSETS => vec![name, ready_of(o), created],
        SERVICES => service_cells(o, name, created),
        NAMESPACES => vec![name, json!(s(&o["status"]["phase"])), created],
        EVENTS => {
            let last = if o["lastTimestamp"].is_string() { &o["lastTimestamp"] } else { &o["eventTime"] };
            let involved = &o["involvedObject"];
            let object = format!("{}/{}", s(&involved["kind"]).to_lowercase(), s(&involved["name"]));
            vec![
                json!(age(last, now)),
                json!(s(&o["type"])),
                json!(s(&o["reason"])),
                json!(object),
                json!(s(&o["message"])),
            ]
        }
        _ => vec![name, created],
    }
}

fn node_cells(o: &Value, name: Value, created: Value) -> Vec<Value> {
    let ready = o["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True");
    let mut status = if ready { "Ready".to_owned() } else { "NotReady".to_owned() };
    if o["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = o["metadata"]["labels"]
        .as_object()
        .map(|l| l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect())
        .unwrap_or_default();
    let internal = o["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
        .map(|a| s(&a["address"]))
        .unwrap_or_default();
    let info = &o["status"]["nodeInfo"];
    vec![
        name,
        json!(status),
        json!(or_none(roles.join(","))),
        created,
        json!(s(&info["kubeletVersion"])),
        json!(or_none(internal)),
        json!(s(&info["osImage"])),
        json!(s(&info["containerRuntimeVersion"])),
    ]
}

fn service_cells(o: &Value, name: Value, created: Value) -> Vec<Value> {
    let spec = &o["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    let lb: Vec<String> = o["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|i| i.iter().map(|i| s(&i["ip"])).collect())
        .unwrap_or_default();
    let external = match (kind, lb.is_empty()) {
        ("LoadBalancer", true) => "<pending>".to_owned(),
        _ => or_none(lb.join(",")),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(node_port) => format!("{}:{node_port}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    let cluster_ip = or_none(s(&spec["clusterIP"]));
    vec![name, json!(kind), json!(cluster_ip), json!(external), json!(or_none(ports.join(","))), created]
}

/// (READY, STATUS, RESTARTS) as `kubectl get pods` prints them.
fn pod_summary(pod: &Value, now: i64) -> (String, String, String) {
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let statuses = pod["status"]["containerStatuses"].as_array().map(Vec::as_slice).unwrap_or_default();
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let restarts: i64 = statuses.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum();
    let last_restart = statuses
        .iter()
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .filter_map(parse_rfc3339)
        .max();
    let mut reason =
        pod["status"]["reason"].as_str().or(pod["status"]["phase"].as_str()).unwrap_or("Unknown");
    let mut running = false;
    for c in statuses.iter().rev() {
        let state = &c["state"];
        if let Some(r) = state["waiting"]["reason"].as_str().filter(|r| !r.is_empty()) {
            reason = r;
        } else if let Some(r) = state["terminated"]["reason"].as_str().filter(|r| !r.is_empty()) {
            reason = r;
        } else if state["running"].is_object() && c["ready"] == true {
            running = true;
        }
    }
    if reason == "Completed" && running {
        reason = "Running";
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        reason = "Terminating";
    }
    let restarts = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason.to_owned(), restarts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_564_800;

    #[test]
    fn a_crash_looping_pod_prints_its_waiting_reason_and_restarts() {
        let pod = json!({
            "metadata": {"name": "api-0", "creationTimestamp": "2024-04-28T12:00:00Z"},
            "spec": {"containers": [{"name": "api"}, {"name": "sidecar"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [
                {"name": "api", "ready": false, "restartCount": 7,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": "2024-05-01T11:58:00Z"}}},
                {"name": "sidecar", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
        });
        let row = cells(PODS, &pod, NOW);
        assert_eq!(
            row,
            [
                json!("api-0"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("7 (2m ago)"),
                json!("3d"),
                json!("10.244.1.5"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn a_table_has_column_definitions_rows_and_metadata_objects() {
        let pod = Arc::new(
            json!({"metadata": {"name": "a", "namespace": "ns", "creationTimestamp": "2024-05-01T11:59:00Z"},
                                  "spec": {"containers": [{"name": "c"}]},
                                  "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
        );
        let t = table(PODS, &[pod], "v1", Include::Metadata, NOW, &Map::new());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["rows"][0]["cells"], json!(["a", "1/1", "Running", "0", "60s", "<none>", "<none>"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "ns");
    }

    #[test]
    fn services_print_type_ips_and_ports() {
        let svc = json!({"metadata": {"name": "kong-proxy", "creationTimestamp": "2024-05-01T12:00:00Z"},
                         "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20",
                                  "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]},
                         "status": {"loadBalancer": {}}});
        assert_eq!(
            cells(SERVICES, &svc, NOW),
            [
                json!("kong-proxy"),
                json!("LoadBalancer"),
                json!("10.96.0.20"),
                json!("<pending>"),
                json!("80:30080/TCP,443/TCP"),
                json!("0s")
            ]
        );
    }

    #[test]
    fn nodes_print_readiness_roles_and_version() {
        let node = json!({"metadata": {"name": "cp", "creationTimestamp": "2024-05-01T12:00:00Z",
                                       "labels": {"node-role.kubernetes.io/control-plane": ""}},
                          "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                     "nodeInfo": {"kubeletVersion": "v1.33.1"}}});
        assert_eq!(
            cells(NODES, &node, NOW)[..5],
            [json!("cp"), json!("Ready"), json!("control-plane"), json!("0s"), json!("v1.33.1")]
        );
    }
}
