//! The shared language of Gestalt Live: what the collector, the hub and the browser say to each other about a
//! Kubernetes cluster.
//!
//! This crate is pure (serde, postcard, `serde_json` and thiserror only: no Kubernetes client, no async runtime,
//! no browser API) so that the very same code runs in the server and, compiled to wasm32, in the page. Each
//! module's docs say why it is built the way it is; this page is the overview.
//!
//! # The model
//!
//! An [`Entity`] is the compact projection of one Kubernetes object: its [`EntityId`]
//! (`cluster/kind/namespace/name`, the cluster included from day one so several clusters can share a map), its
//! uid, labels (capped, see [`labels`]), owner, creation time as unix seconds (never a relative age, which would
//! change every second), usage, a derived [`Health`] and kind-specific [`Details`] (phase, conditions,
//! container states with reasons and restarts, requests and limits, replica counts, endpoints…).
//! Config maps and secrets appear only as *references*: a name that pods mount, never data.
//!
//! [`Relation`]s (`owns`, `selects`, `routes_to`, `runs_on`, `mounts`, `scales`) are not stored as facts: each
//! is written on one end of the edge in Kubernetes (an owner reference, a `nodeName`, a selector), so the
//! [`Topology`] derives them from the entities and keeps them up to date incrementally. They never travel on
//! the wire, and an edge shows only once both of its ends exist, so a deleted pod leaves no ghost edge.
//!
//! # Health
//!
//! Each entity is [`HealthLevel::Healthy`], `Degraded`, `Unhealthy` or `Unknown`, with reasons in kubectl's
//! words. The rules ([`health::pod`], [`health::rules`]) start from what `kubectl get` prints (for pods, the very
//! STATUS string of [`health::pod_status`]) so that the map and the terminal never disagree: a crash loop, an
//! image pull failure, an OOM kill, an unschedulable pod, a failed job, a deployment with no available replica,
//! a node that is not ready or a service with no ready endpoint is unhealthy; a pod that is starting or not
//! ready, a deployment with some replicas unavailable, a node under pressure or cordoned is degraded.
//!
//! The cluster's **score** ([`health::grade`]) is `100 × (healthy + ½·degraded) / (healthy + degraded +
//! unhealthy)`; unknown entities are left out. The letter grade uses the US school scale calibrated so a few
//! failing pods among dozens of healthy objects still read A+: A+ ≥ 97, A ≥ 93, A- ≥ 90, B+ ≥ 87, B ≥ 83,
//! B- ≥ 80, C+ ≥ 77, C ≥ 73, C- ≥ 70, D+ ≥ 67, D ≥ 63, D- ≥ 60, F below.
//!
//! # Diffs and sequence numbers
//!
//! One task owns the topology and changes it in a [`Transaction`]; committing yields a [`Diff`] from `base_seq`
//! to `seq = base_seq + 1`. [`Topology::apply`] refuses a diff that does not start at its own `seq`, so a replica
//! that missed something notices and asks for a snapshot instead of drifting. [`Topology::diff`] computes the
//! same thing between two arbitrary topologies. Patches list only the changed fields, down to one container's
//! status, and name their entity by a compact [`EntityKey`] assigned by the owner.
//!
//! # Wire
//!
//! [`protocol`] defines versioned messages ([`protocol::ServerMsg`]: snapshot, diff, status, pong;
//! [`protocol::ClientMsg`]: hello with the last applied `seq` and filters, ping), encoded with postcard for the
//! live stream and JSON for debugging. Keys instead of ids, one-byte reasons and health recomputed on arrival
//! keep a pod status change around 30 bytes; decoding anything, garbage included, returns an error rather than
//! panicking.
//!
//! # Layout
//!
//! [`layout::Layout`] places every entity: Y by abstraction layer (ingresses and services on top, workloads,
//! replicasets, pods, mounted config, nodes at the bottom), X by namespace band (fixed width, clusters side by
//! side), Z by attention (unhealthy entities come forward). It is deterministic and *stable*: adding or removing
//! one entity re-places only its (cluster, namespace, layer) group and moves each member of it by at most one
//! grid cell, which is what makes a live map readable. It updates incrementally from diffs, and
//! [`interp::Animator`] eases the scene from one layout to the next.
//!
//! # Example: one change, from the owner to a browser
//!
//! ```no_run
//! use topology::{layout::Layout, protocol::{encode_diff, ServerMsg}, sample, Kind, Labels};
//!
//! // The hub's owner task changes its topology in a transaction and publishes the diff.
//! let mut owner = sample::kgents();
//! let mut replica = owner.clone(); // what a browser holds after its snapshot
//! let mut layout = Layout::compute(&replica);
//! let mut pod = owner.entities().find(|e| e.kind == Kind::Pod).expect("a pod").clone();
//! pod.labels = Labels::from_pairs([("app", "renamed")]);
//! let mut tx = owner.transaction();
//! tx.upsert(pod)?;
//! let diff = tx.commit().expect("something changed");
//! let bytes = encode_diff(&diff)?;
//!
//! // The browser decodes it, applies it in order and updates only what moved.
//! if let ServerMsg::Diff(diff) = ServerMsg::from_bytes(&bytes)? {
//!     replica.apply(&diff)?;
//!     let delta = layout.apply_diff(&replica, &diff);
//!     for id in &delta.moved {
//!         let _target = layout.position(id);
//!     }
//! }
//! assert_eq!(replica, owner);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Samples
//!
//! [`sample::kgents`] is the demo cluster of the plan; [`sample::scale`] generates large clusters for
//! benchmarks.

pub mod diff;
pub mod entity;
pub mod event;
pub mod finding;
pub mod health;
pub mod id;
pub mod interp;
pub mod labels;
pub mod layout;
pub mod load;
pub mod protocol;
pub mod relation;
pub mod sample;
pub mod selector;
mod topology;

#[cfg(test)]
mod fixtures;

pub use crate::{
    diff::{Change, Diff, DiffError, Op},
    entity::{Details, Entity},
    event::{EventRecord, EventType},
    health::{Health, HealthLevel},
    id::{EntityId, EntityKey, Kind, Ref},
    labels::Labels,
    layout::Layout,
    relation::{Relation, RelationKind},
    topology::{Topology, TopologyError, Transaction},
};
