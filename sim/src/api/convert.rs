//! Older versions served by conversion: `autoscaling/v1` horizontal pod autoscalers, read from the
//! `autoscaling/v2` objects the store keeps.
//!
//! The real API server stores one version and converts on the way out; collectors that speak the version every
//! server has (ours reads `autoscaling/v1`, served since 1.2) must find the objects there too, or the demo map
//! silently lacks them. Only reads are converted (get, list, watch): writes in the old version are refused
//! with 405, because nothing that talks to the simulator writes them and a lossy reverse conversion would
//! invent data. What `v1` cannot say (metrics other than CPU utilization, conditions) the real server keeps in
//! annotations; here it is left out.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::resource::{ResourceId, HPAS};

/// Versions served besides the table's own: (resource, version).
pub const ALTERNATES: [(ResourceId, &str); 1] = [(HPAS, "v1")];

/// The resource served under `group`/`version` as a converted alternate of its stored version.
pub fn alternate(group: &str, version: &str, plural: Option<&str>) -> Option<(ResourceId, &'static str)> {
    ALTERNATES.iter().copied().find(|(id, v)| {
        let r = id.get();
        r.group == group && *v == version && plural.is_none_or(|p| p == r.plural)
    })
}

/// `object` as served in `version` (`None`: as stored).
pub fn object(resource: ResourceId, version: Option<&str>, object: &Arc<Value>) -> Arc<Value> {
    match version {
        Some("v1") if resource == HPAS => Arc::new(hpa_v2_to_v1(object)),
        _ => object.clone(),
    }
}

/// The CPU utilization in a v2 metric list entry (`spec.metrics[]` with `target`, `status.currentMetrics[]`
/// with `current`), the one metric `autoscaling/v1` can express.
fn cpu_utilization<'a>(metrics: &'a Value, field: &str) -> Option<&'a Value> {
    metrics.as_array()?.iter().find_map(|m| {
        let resource = &m["resource"];
        (m["type"] == "Resource" && resource["name"] == "cpu")
            .then(|| &resource[field]["averageUtilization"])
            .filter(|u| u.is_number())
    })
}

/// An `autoscaling/v2` HPA as `autoscaling/v1`: scale target, replica bounds and CPU utilization target in the
/// spec; observed generation, last scale time, replica counts and current CPU utilization in the status.
pub fn hpa_v2_to_v1(v2: &Value) -> Value {
    let mut spec = Map::new();
    for key in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if !v2["spec"][key].is_null() {
            spec.insert(key.to_owned(), v2["spec"][key].clone());
        }
    }
    if let Some(target) = cpu_utilization(&v2["spec"]["metrics"], "target") {
        spec.insert("targetCPUUtilizationPercentage".to_owned(), target.clone());
    }
    let mut status = Map::new();
    for key in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] {
        if !v2["status"][key].is_null() {
            status.insert(key.to_owned(), v2["status"][key].clone());
        }
    }
    if let Some(current) = cpu_utilization(&v2["status"]["currentMetrics"], "current") {
        status.insert("currentCPUUtilizationPercentage".to_owned(), current.clone());
    }
    // v1 requires currentReplicas and desiredReplicas in a status (a fresh object has no status yet).
    if v2["status"].is_object() {
        for key in ["currentReplicas", "desiredReplicas"] {
            status.entry(key).or_insert(json!(0));
        }
    }
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": v2["metadata"].clone(),
        "spec": spec,
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v2_autoscaler_reads_as_v1_with_its_cpu_target_and_replica_counts() {
        let v2 = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                ],
            },
            "status": {
                "observedGeneration": 3,
                "currentReplicas": 4,
                "desiredReplicas": 5,
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 91, "averageValue": "455m"}}},
                ],
                "conditions": [{"type": "AbleToScale", "status": "True"}],
            },
        });
        assert_eq!(
            hpa_v2_to_v1(&v2),
            json!({
                "apiVersion": "autoscaling/v1",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2,
                    "maxReplicas": 10,
                    "targetCPUUtilizationPercentage": 70,
                },
                "status": {
                    "observedGeneration": 3,
                    "currentReplicas": 4,
                    "desiredReplicas": 5,
                    "currentCPUUtilizationPercentage": 91,
                },
            })
        );
    }

    #[test]
    fn an_autoscaler_on_memory_only_has_no_cpu_target_in_v1() {
        let v2 = json!({
            "metadata": {"name": "m"},
            "spec": {"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
        });
        let v1 = hpa_v2_to_v1(&v2);
        assert_eq!(v1["spec"], json!({"maxReplicas": 3}));
        assert_eq!(v1["status"], json!({}));
    }

    #[test]
    fn only_autoscaling_v1_is_an_alternate() {
        assert_eq!(alternate("autoscaling", "v1", Some("horizontalpodautoscalers")), Some((HPAS, "v1")));
        assert_eq!(alternate("autoscaling", "v1", None), Some((HPAS, "v1")));
        assert_eq!(alternate("autoscaling", "v2", None), None);
        assert_eq!(alternate("apps", "v1", None), None);
    }
}
