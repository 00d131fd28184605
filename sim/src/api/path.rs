//! Kubernetes URL paths, parsed into what they address.

use crate::resource::ResourceId;

/// What a path under `/api` or `/apis` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1`, `/apis/{group}/{version}`: the resource list of a group version.
    Resources {
        /// The group (`""` for core).
        group: &'static str,
        /// The version.
        version: &'static str,
    },
    /// `/apis/{group}`: one API group.
    Group(&'static str),
    /// A collection, an object or a subresource.
    Target(Target),
    /// Nothing served here.
    NotFound,
}

/// A collection (`name` unset), an object, or an object's subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The resource.
    pub resource: ResourceId,
    /// The namespace in the path, for namespaced resources; `None` across all namespaces.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: Option<String>,
    /// `status`, the only subresource served.
    pub subresource: Option<String>,
    /// The version asked for when it is not the stored one: objects are converted to it (see
    /// [`super::convert`]).
    pub version: Option<&'static str>,
}

/// Parses a request path (`/api/v1/namespaces/default/pods/web-0/status`).
pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group] => {
            return ResourceId::all()
                .find(|id| id.get().group == *group)
                .map_or(Route::NotFound, |id| Route::Group(id.get().group));
        }
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Route::NotFound,
    };
    if let Some((resource, alternate)) = super::convert::alternate(group, version, None) {
        let (group, version) = (resource.get().group, alternate);
        let found = |plural: &str| super::convert::alternate(group, version, Some(plural)).map(|(id, _)| id);
        let target = match rest {
            [] => return Route::Resources { group, version },
            ["namespaces", ns, plural, tail @ ..] => target(found(plural), Some(ns), tail),
            [plural] => target(found(plural), None, &[]),
            _ => None,
        };
        return target.map_or(Route::NotFound, |t| Route::Target(Target { version: Some(version), ..t }));
    }
    let Some(served) = ResourceId::all().find(|id| id.get().group == group && id.get().version == version)
    else {
        return Route::NotFound;
    };
    let (group, version) = (served.get().group, served.get().version);
    let find = |plural: &str| ResourceId::find(group, version, plural);
    let target = match rest {
        [] => return Route::Resources { group, version },
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.get().namespaced) => {
            target(find(plural), Some(ns), tail)
        }
        [plural, tail @ ..] => match find(plural) {
            Some(r) if r.get().namespaced && !tail.is_empty() => None,
            found => target(found, None, tail),
        },
    };
    target.map_or(Route::NotFound, Route::Target)
}

fn target(resource: Option<ResourceId>, namespace: Option<&str>, tail: &[&str]) -> Option<Target> {
    let resource = resource?;
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(*name), None),
        [name, "status"] if resource.get().has_status => (Some(*name), Some("status")),
        _ => return None,
    };
    Some(Target {
        resource,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
        version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{DEPLOYMENTS, HPAS, NAMESPACES, NODES, PODS, POD_METRICS};

    fn t(resource: ResourceId, ns: Option<&str>, name: Option<&str>, sub: Option<&str>) -> Route {
        Route::Target(Target {
            resource,
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
            version: None,
        })
    }

    #[test]
    fn paths_address_what_the_api_server_serves_there() {
        let cases = [
            ("/api/v1", Route::Resources { group: "", version: "v1" }),
            ("/apis/apps/v1", Route::Resources { group: "apps", version: "v1" }),
            ("/apis/apps", Route::Group("apps")),
            ("/api/v1/pods", t(PODS, None, None, None)),
            ("/api/v1/namespaces/shop/pods", t(PODS, Some("shop"), None, None)),
            ("/api/v1/namespaces/shop/pods/web-0", t(PODS, Some("shop"), Some("web-0"), None)),
            (
                "/api/v1/namespaces/shop/pods/web-0/status",
                t(PODS, Some("shop"), Some("web-0"), Some("status")),
            ),
            ("/api/v1/namespaces", t(NAMESPACES, None, None, None)),
            ("/api/v1/namespaces/shop", t(NAMESPACES, None, Some("shop"), None)),
            ("/api/v1/namespaces/shop/status", t(NAMESPACES, None, Some("shop"), Some("status"))),
            ("/api/v1/nodes/n1/status", t(NODES, None, Some("n1"), Some("status"))),
            ("/apis/apps/v1/namespaces/shop/deployments/", t(DEPLOYMENTS, Some("shop"), None, None)),
            ("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods", t(POD_METRICS, Some("shop"), None, None)),
            ("/api/v1/pods/web-0", Route::NotFound),
            ("/api/v1/namespaces/shop/nodes", Route::NotFound),
            ("/api/v1/namespaces/shop/pods/web-0/exec", Route::NotFound),
            ("/api/v1/namespaces/shop/configmaps/c/status", Route::NotFound),
            ("/api/v2/pods", Route::NotFound),
            ("/apis/apps/v1beta1/deployments", Route::NotFound),
            ("/apis/autoscaling/v1", Route::Resources { group: "autoscaling", version: "v1" }),
            (
                "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers/web",
                Route::Target(Target {
                    version: Some("v1"),
                    ..target(Some(HPAS), Some("shop"), &["web"]).unwrap()
                }),
            ),
            (
                "/apis/autoscaling/v1/horizontalpodautoscalers",
                Route::Target(Target { version: Some("v1"), ..target(Some(HPAS), None, &[]).unwrap() }),
            ),
            (
                "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers/web/status",
                Route::Target(Target {
                    version: Some("v1"),
                    ..target(Some(HPAS), Some("shop"), &["web", "status"]).unwrap()
                }),
            ),
            ("/apis/autoscaling/v1/pods", Route::NotFound),
            ("/apis/nope", Route::NotFound),
            ("/api/v1/widgets", Route::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), want, "{path}");
        }
    }
}
