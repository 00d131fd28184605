//! `gestalt-live simulate`: makes any cluster's control plane live without real nodes, for tests and demos.
//!
//! Unlike the collector, this is a **writer**: it registers simulated Node objects and acts as their kubelet
//! ([`kubelet`]), and writes a scenario's workloads ([`scenario`]) through the API, as a person applying
//! manifests would. The cluster's own controller-manager then makes replica sets and pods, its scheduler binds
//! them to the simulated nodes, and the simulated kubelet reports them running (or failing, as the scenario
//! says, see [`pod`]). That is how the collector's integration tests get a live cluster from a bare
//! kube-apiserver + controller-manager + scheduler, and how the simulator's fidelity is checked against the
//! real thing: the same scenario, written here and simulated there, must give the same map.
//!
//! Point it at test clusters only: it creates nodes, namespaces and workloads, and deletes terminating pods on
//! its nodes.

pub mod kubelet;
pub mod node;
pub mod pod;
pub mod scenario;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};

use crate::cli::{AuthArgs, SimulateArgs};
use crate::collector::auth;

/// Why `simulate` stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// No usable credentials.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The kube client could not be built.
    #[error("cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
    /// The scenario could not be built.
    #[error("cannot build the scenario")]
    Scenario(#[source] sim::SimError),
    /// A node of that name exists and was not made by `simulate`: it will not pretend to be its kubelet.
    #[error("node {0} exists and is not a simulated node (no gestalt.dev/simulated=true label): refusing to act as its kubelet; use --node-prefix")]
    NodeTaken(String),
    /// A node could not be registered or reported ready.
    #[error("cannot register node {node}")]
    Register {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A scenario object could not be created.
    #[error("cannot create {what}")]
    Create {
        /// `Kind namespace/name`.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// Registers the nodes, writes the scenario, then runs the kubelet until the process is stopped.
///
/// # Errors
/// [`SimulateError`] when the cluster cannot be reached, a node name is taken, or an object is refused.
pub async fn run(args: SimulateArgs) -> Result<(), SimulateError> {
    let auth_args = AuthArgs {
        kubeconfig: Some(args.kubeconfig.clone()),
        context: args.context.clone(),
        server: None,
        token_file: None,
        ca_file: None,
        cluster_name: None,
    };
    let (config, cluster) = auth::config(&auth_args).await?;
    let client = Client::try_from(config).map_err(SimulateError::Client)?;
    let nodes = node::SimNode::all(&args.node_prefix, args.nodes);
    kubelet::register(&client, &nodes).await?;
    tracing::info!(%cluster, nodes = nodes.len(), "simulated nodes are Ready");
    let simulated = sim::Sim::new(sim::SimConfig {
        scenario: args.scenario.clone(),
        seed: args.seed,
        ..sim::SimConfig::default()
    })
    .map_err(SimulateError::Scenario)?;
    let manifests = scenario::manifests(simulated.store());
    let created = write(&client, &manifests).await?;
    tracing::info!(scenario = %args.scenario, created, existing = manifests.len() - created, "scenario written");
    kubelet::run(client, nodes, scenario::namespaces(&manifests)).await;
    Ok(())
}

/// Creates each manifest, skipping those that exist; returns how many were created.
async fn write(client: &Client, manifests: &[scenario::Manifest]) -> Result<usize, SimulateError> {
    let mut created = 0;
    for manifest in manifests {
        let api_version = manifest.object["apiVersion"].as_str().unwrap_or_default().to_owned();
        let versions = std::iter::once(api_version.as_str()).chain(manifest.fallbacks.iter().copied());
        let mut last = None;
        for gv in versions {
            match create(client, manifest, gv).await {
                Ok(true) => {
                    created += 1;
                    last = None;
                    break;
                }
                Ok(false) => {
                    last = None;
                    break;
                }
                // Not served in this version: try the next.
                Err(kube::Error::Api(s)) if s.code == 404 && s.reason == "NotFound" => {
                    last = Some(kube::Error::Api(s));
                }
                // Invalid for this server's version (a field it does not accept): the rest is still worth having.
                Err(kube::Error::Api(s)) if s.code == 400 || s.code == 422 => {
                    tracing::warn!(what = %manifest.describe(), error = %s.message, "refused by this cluster: skipped");
                    last = None;
                    break;
                }
                Err(error) => return Err(SimulateError::Create { what: manifest.describe(), source: error }),
            }
        }
        if let Some(error) = last {
            tracing::warn!(what = %manifest.describe(), %error, "not served by this cluster in any version we know: skipped");
        }
    }
    Ok(created)
}

/// Creates one object as `group_version`; `Ok(false)` when it already exists.
async fn create(
    client: &Client,
    manifest: &scenario::Manifest,
    group_version: &str,
) -> Result<bool, kube::Error> {
    let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
    let kind = manifest.object["kind"].as_str().unwrap_or_default();
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), manifest.plural);
    let mut object = manifest.object.clone();
    object["apiVersion"] = serde_json::json!(group_version);
    let object: DynamicObject = serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
    let api = match object.metadata.namespace.as_deref() {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
        None => Api::<DynamicObject>::all_with(client.clone(), &resource),
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}
