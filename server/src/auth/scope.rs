//! What one viewer may see: a set of namespaces and kinds, enforced on the server by narrowing whatever
//! [`Filters`] the client asks for. A client can only ever narrow its scope, never widen it: an empty client
//! filter means "everything in my scope".
//!
//! Cluster-scoped entities (nodes, the cluster, and any other kind that is not namespaced) are *not* shown to a
//! viewer whose namespaces are restricted: a node's name, labels and capacity describe infrastructure shared
//! with other tenants, and the relations pod → node would let a tenant map where other teams' workloads run.
//! The namespace entities of the viewer's own namespaces are shown.

use std::collections::BTreeSet;

use topology::protocol::Filters;
use topology::{EntityId, Kind};

/// A namespace name no Kubernetes namespace can have (namespaces are DNS labels, `/` separates id parts): a
/// filter on it alone admits nothing, which [`Filters`] cannot otherwise say (its empty lists mean "all").
const NOTHING: &str = "/";

/// The namespaces and kinds a viewer may see; `None` means no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// The namespaces, or `None` for all of them (and the cluster-scoped entities).
    pub namespaces: Option<BTreeSet<String>>,
    /// The kinds, or `None` for all.
    pub kinds: Option<BTreeSet<Kind>>,
}

impl Scope {
    /// Everything: the anonymous loopback user and identities with `*`.
    pub fn all() -> Scope {
        Scope::default()
    }

    /// Nothing at all (an authenticated identity whose groups map to no namespace).
    pub fn nothing() -> Scope {
        Scope { namespaces: Some(BTreeSet::new()), kinds: None }
    }

    /// Exactly these namespaces (`*` among them means all).
    pub fn namespaces<I, S>(names: I) -> Scope
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: BTreeSet<String> = names.into_iter().map(Into::into).collect();
        if names.contains("*") {
            Scope::all()
        } else {
            Scope { namespaces: Some(names), kinds: None }
        }
    }

    /// Whether nothing is restricted.
    pub fn is_all(&self) -> bool {
        self.namespaces.is_none() && self.kinds.is_none()
    }

    /// The union of two scopes (an identity in two groups sees both groups' namespaces).
    #[must_use]
    pub fn union(&self, other: &Scope) -> Scope {
        let namespaces = match (&self.namespaces, &other.namespaces) {
            (Some(a), Some(b)) => Some(a.union(b).cloned().collect()),
            _ => None,
        };
        let kinds = match (&self.kinds, &other.kinds) {
            (Some(a), Some(b)) => Some(a.union(b).copied().collect()),
            _ => None,
        };
        Scope { namespaces, kinds }
    }

    /// Whether this scope lets its viewer see the entity with this id.
    pub fn admits(&self, id: &EntityId) -> bool {
        let kind_ok = self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&id.kind()));
        let namespace_ok = match &self.namespaces {
            None => true,
            Some(names) => match id.kind() {
                Kind::Namespace => names.contains(id.name()),
                kind if kind.is_namespaced() => names.contains(id.namespace()),
                // Cluster-scoped: see the module docs.
                _ => false,
            },
        };
        kind_ok && namespace_ok
    }

    /// Whether this scope lets its viewer see a Kubernetes event recorded in `namespace` about `involved`: both
    /// must be in scope (a node's events, recorded in `default`, stay hidden from a tenant of `default`). An event
    /// about no object is shown only without a kinds restriction.
    pub fn admits_event(&self, namespace: &str, involved: Option<&EntityId>) -> bool {
        let namespace_ok = self.namespaces.as_ref().is_none_or(|names| names.contains(namespace));
        namespace_ok && involved.map_or(self.kinds.is_none(), |id| self.admits(id))
    }

    /// The filters to apply for a client in this scope that asked for `wanted`: admits exactly what both admit
    /// (property-tested below).
    pub fn restrict(&self, wanted: &Filters) -> Filters {
        if self.is_all() {
            return wanted.clone();
        }
        let mut kinds: Vec<Kind> = Kind::ALL
            .iter()
            .copied()
            .filter(|kind| wanted.kinds.is_empty() || wanted.kinds.contains(kind))
            .filter(|kind| self.kinds.as_ref().is_none_or(|allowed| allowed.contains(kind)))
            .filter(|kind| self.namespaces.is_none() || *kind == Kind::Namespace || kind.is_namespaced())
            .collect();
        let mut namespaces: Vec<String> = match &self.namespaces {
            None => wanted.namespaces.clone(),
            Some(allowed) if wanted.namespaces.is_empty() => allowed.iter().cloned().collect(),
            Some(allowed) => wanted.namespaces.iter().filter(|n| allowed.contains(*n)).cloned().collect(),
        };
        if self.namespaces.is_some() && namespaces.is_empty() {
            namespaces.push(NOTHING.to_owned());
        }
        if kinds.is_empty() {
            // Nothing passes the kinds; an empty list would mean "all", so admit only a namespace that cannot
            // exist.
            kinds.push(Kind::Namespace);
            namespaces = vec![NOTHING.to_owned()];
        }
        Filters { namespaces, kinds }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(kind: Kind, ns: &str, name: &str) -> EntityId {
        let ns = if kind.is_namespaced() { ns } else { "" };
        EntityId::new("c", kind, ns, name)
    }

    #[test]
    fn an_empty_client_filter_means_everything_in_scope_not_everything() {
        let scope = Scope::namespaces(["a"]);
        let filters = scope.restrict(&Filters::default());
        assert!(filters.admits(&id(Kind::Pod, "a", "p")));
        assert!(!filters.admits(&id(Kind::Pod, "b", "p")));
        assert!(!filters.admits(&id(Kind::Node, "", "n1")), "nodes are cluster-scoped: not for a tenant");
        assert!(filters.admits(&id(Kind::Namespace, "", "a")));
        assert!(!filters.admits(&id(Kind::Namespace, "", "b")));
    }

    #[test]
    fn a_client_cannot_widen_its_scope_by_asking_for_other_namespaces() {
        let scope = Scope::namespaces(["a"]);
        let filters = scope.restrict(&Filters { namespaces: vec!["b".into()], kinds: vec![] });
        assert!(!filters.admits(&id(Kind::Pod, "b", "p")));
        assert!(!filters.admits(&id(Kind::Pod, "a", "p")));
        assert!(!filters.admits(&id(Kind::Node, "", "n")));
    }

    #[test]
    fn asking_only_for_nodes_in_a_namespace_scope_admits_nothing() {
        let scope = Scope::namespaces(["a"]);
        let filters = scope.restrict(&Filters { namespaces: vec![], kinds: vec![Kind::Node] });
        assert!(!filters.is_empty());
        for kind in Kind::ALL {
            assert!(!filters.admits(&id(kind, "a", "x")), "{kind:?}");
        }
    }

    #[test]
    fn a_star_is_everything_and_restricts_nothing() {
        let scope = Scope::namespaces(["a", "*"]);
        assert!(scope.is_all());
        let wanted = Filters { namespaces: vec!["x".into()], kinds: vec![Kind::Pod] };
        assert_eq!(scope.restrict(&wanted), wanted);
    }

    #[test]
    fn events_need_their_namespace_and_their_object_in_scope() {
        let scope = Scope::namespaces(["a"]);
        assert!(scope.admits_event("a", Some(&id(Kind::Pod, "a", "p"))));
        assert!(scope.admits_event("a", None));
        assert!(!scope.admits_event("b", Some(&id(Kind::Pod, "b", "p"))));
        assert!(!scope.admits_event("a", Some(&id(Kind::Node, "", "n1"))), "a node's event recorded in a");
        assert!(!scope.admits_event("b", None));
        assert!(Scope::all().admits_event("b", Some(&id(Kind::Node, "", "n1"))));
        let pods_only = Scope { namespaces: None, kinds: Some([Kind::Pod].into()) };
        assert!(!pods_only.admits_event("a", None));
    }

    #[test]
    fn the_union_of_scopes_sees_both() {
        let union = Scope::namespaces(["a"]).union(&Scope::namespaces(["b"]));
        assert_eq!(union, Scope::namespaces(["a", "b"]));
        assert!(Scope::namespaces(["a"]).union(&Scope::all()).is_all());
        assert_eq!(Scope::nothing().union(&Scope::nothing()), Scope::nothing());
    }

    fn any_kind() -> impl Strategy<Value = Kind> {
        proptest::sample::select(Kind::ALL.to_vec())
    }

    fn any_scope() -> impl Strategy<Value = Scope> {
        let names = proptest::collection::btree_set(proptest::sample::select(vec!["a", "b", "c"]), 0..3)
            .prop_map(|s| s.into_iter().map(str::to_owned).collect::<BTreeSet<_>>());
        let kinds = proptest::collection::btree_set(any_kind(), 0..4);
        (proptest::option::of(names), proptest::option::of(kinds))
            .prop_map(|(namespaces, kinds)| Scope { namespaces, kinds })
    }

    fn any_filters() -> impl Strategy<Value = Filters> {
        let names = proptest::collection::vec(proptest::sample::select(vec!["a", "b", "c", "/"]), 0..3)
            .prop_map(|v| v.into_iter().map(str::to_owned).collect());
        (names, proptest::collection::vec(any_kind(), 0..3))
            .prop_map(|(namespaces, kinds)| Filters { namespaces, kinds })
    }

    proptest! {
        #[test]
        fn restricted_filters_admit_exactly_what_scope_and_client_both_admit(
            scope in any_scope(),
            wanted in any_filters(),
            kind in any_kind(),
            ns in proptest::sample::select(vec!["a", "b", "c", "d"]),
            name in proptest::sample::select(vec!["a", "b", "x"]),
        ) {
            let id = id(kind, ns, name);
            let restricted = scope.restrict(&wanted);
            prop_assert_eq!(restricted.admits(&id), wanted.admits(&id) && scope.admits(&id));
        }
    }
}
