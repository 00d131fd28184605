//! Criticality tiers: how much a service matters, from P0 (revenue, everyone pages) to P3 (best effort).
//!
//! The map is a small JSON document rather than TOML or YAML because `serde_json` is already in every crate
//! that needs it, and operators keep such maps in a `ConfigMap` where JSON needs no extra parser:
//!
//! ```json
//! { "default": "P2", "namespaces": { "payments": "P0" }, "services": { "shop/checkout": "P0" } }
//! ```
//!
//! A finding takes the most critical tier of anything in its chain: a node whose pods back a P0 service is a
//! P0 node.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Severity;
use crate::id::{EntityId, Kind};

/// A criticality tier, most critical first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// Business-critical: raises severity two levels.
    P0,
    /// Important: raises severity one level.
    P1,
    /// Normal (the default).
    #[default]
    P2,
    /// Best effort.
    P3,
}

impl Tier {
    /// `severity` as this tier sees it.
    pub fn raise(self, severity: Severity) -> Severity {
        match self {
            Tier::P0 => severity.raised(2),
            Tier::P1 => severity.raised(1),
            Tier::P2 | Tier::P3 => severity,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Why a tiers file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TiersError {
    /// Not the expected JSON.
    #[error("tiers: {0}")]
    Parse(#[source] serde_json::Error),
    /// A service key that is not `namespace/name`.
    #[error("tiers: service {0:?} is not namespace/name")]
    ServiceKey(String),
}

/// The tiers of namespaces and services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// The tier of everything not listed.
    #[serde(default)]
    pub default: Tier,
    /// Namespace → tier.
    #[serde(default)]
    pub namespaces: BTreeMap<String, Tier>,
    /// `namespace/service` → tier.
    #[serde(default)]
    pub services: BTreeMap<String, Tier>,
}

impl Tiers {
    /// Parses a tiers document.
    ///
    /// # Errors
    /// [`TiersError`] when it is not the JSON above.
    pub fn from_json(text: &str) -> Result<Tiers, TiersError> {
        let tiers: Tiers = serde_json::from_str(text).map_err(TiersError::Parse)?;
        if let Some(bad) = tiers.services.keys().find(|k| k.split('/').filter(|p| !p.is_empty()).count() != 2)
        {
            return Err(TiersError::ServiceKey(bad.clone()));
        }
        Ok(tiers)
    }

    /// The tier of one entity: its service's if it is a listed service, else its namespace's, else none.
    fn of(&self, id: &EntityId) -> Option<Tier> {
        let service = (id.kind() == Kind::Service)
            .then(|| self.services.get(&format!("{}/{}", id.namespace(), id.name())).copied())
            .flatten();
        service.or_else(|| self.namespaces.get(id.namespace()).copied())
    }

    /// The most critical tier among a chain of entities, or the default.
    pub fn of_chain<'a>(&self, chain: impl IntoIterator<Item = &'a EntityId>) -> Tier {
        chain.into_iter().filter_map(|id| self.of(id)).min().unwrap_or(self.default)
    }
}
