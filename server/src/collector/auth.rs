//! Credentials: which API server to talk to and as whom.
//!
//! Three ways, checked in this order: `--server URL --token-file F [--ca-file F]` (a bare token, e.g. a
//! service account's, with the token file re-read by kube as it rotates); `--kubeconfig F [--context C]`; and
//! with neither, in-cluster credentials when running in a pod (`KUBERNETES_SERVICE_HOST` set), else kube's usual
//! inference (`$KUBECONFIG`, `~/.kube/config`). Every failure is one error naming the step and the file.

use std::path::{Path, PathBuf};

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use kube::Config;

use crate::cli::AuthArgs;

/// Why no client configuration could be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The kubeconfig file is missing or does not parse.
    #[error("cannot read kubeconfig {path}")]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig parses but the context, cluster or user it names is unusable.
    #[error("cannot use kubeconfig {path}")]
    UseKubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The `--token-file` cannot be read.
    #[error("cannot read token file {path}")]
    ReadTokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--server` without `--token-file` (or the other way round).
    #[error("--server and --token-file go together")]
    Incomplete,
    /// The in-cluster service account could not be read.
    #[error("cannot read the in-cluster service account")]
    InCluster(#[source] kube::config::InClusterError),
    /// No kubeconfig found and not in a pod.
    #[error("no kubeconfig found (pass --kubeconfig, set KUBECONFIG, or run in a pod)")]
    Infer(#[source] kube::config::InferConfigError),
}

/// The client configuration the flags ask for, and a cluster name for entity ids (the context's name, or
/// `--cluster-name`).
///
/// # Errors
/// An [`AuthError`] naming the step that failed.
pub async fn config(args: &AuthArgs) -> Result<(Config, String), AuthError> {
    let (config, context) = match (&args.server, &args.token_file, &args.kubeconfig) {
        (Some(server), Some(token_file), _) => {
            let kubeconfig = token_kubeconfig(server, token_file, args.ca_file.as_deref())?;
            let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|source| AuthError::UseKubeconfig { path: token_file.clone(), source })?;
            (config, None)
        }
        (Some(_), None, _) | (None, Some(_), _) => return Err(AuthError::Incomplete),
        (None, None, Some(path)) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|source| AuthError::ReadKubeconfig { path: path.clone(), source })?;
            let context = args.context.clone().or_else(|| kubeconfig.current_context.clone());
            let options = KubeConfigOptions { context: args.context.clone(), ..KubeConfigOptions::default() };
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| AuthError::UseKubeconfig { path: path.clone(), source })?;
            (config, context)
        }
        (None, None, None) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            (Config::incluster().map_err(AuthError::InCluster)?, None)
        }
        (None, None, None) => (Config::infer().await.map_err(AuthError::Infer)?, None),
    };
    let name =
        args.cluster_name.clone().or(context).unwrap_or_else(|| "cluster".to_owned()).replace('/', "-");
    Ok((config, name))
}

/// A one-cluster, one-user kubeconfig for `--server` + `--token-file`, so kube parses the CA file itself.
///
/// kube re-reads a token file as it rotates but does not trim it; a file written with `echo` ends in a newline,
/// which is not a valid header value. Such a file is read once, trimmed (and not re-read).
fn token_kubeconfig(
    server: &str,
    token_file: &Path,
    ca_file: Option<&Path>,
) -> Result<Kubeconfig, AuthError> {
    let name = "gestalt-live".to_owned();
    let content = std::fs::read_to_string(token_file)
        .map_err(|source| AuthError::ReadTokenFile { path: token_file.to_path_buf(), source })?;
    let auth_info = if content.trim() == content {
        AuthInfo { token_file: Some(token_file.display().to_string()), ..AuthInfo::default() }
    } else {
        tracing::info!(file = %token_file.display(), "the token file ends in whitespace: read once, trimmed");
        AuthInfo { token: Some(content.trim().to_owned().into()), ..AuthInfo::default() }
    };
    Ok(Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority: ca_file.map(|p| p.display().to_string()),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(auth_info),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context { cluster: name.clone(), user: Some(name.clone()), ..Context::default() }),
            ..NamedContext::default()
        }],
        current_context: Some(name),
        ..Kubeconfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(kubeconfig: PathBuf) -> AuthArgs {
        AuthArgs {
            kubeconfig: Some(kubeconfig),
            context: None,
            server: None,
            token_file: None,
            ca_file: None,
            cluster_name: None,
        }
    }

    #[tokio::test]
    async fn a_malformed_kubeconfig_is_one_clear_error_line() {
        let path = std::env::temp_dir().join(format!("gestalt-bad-kubeconfig-{}", std::process::id()));
        std::fs::write(&path, "clusters: [this is: not yaml").unwrap();
        let error = config(&args(path.clone())).await.unwrap_err();
        let line = crate::one_line(&anyhow::Error::from(error));
        std::fs::remove_file(&path).ok();
        assert!(line.starts_with(&format!("cannot read kubeconfig {}: ", path.display())), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("unclosed bracket"), "{line}");
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_names_the_file() {
        let error = config(&args("/no/such/kubeconfig".into())).await.unwrap_err();
        assert!(crate::one_line(&anyhow::Error::from(error))
            .starts_with("cannot read kubeconfig /no/such/kubeconfig: "));
    }

    #[tokio::test]
    async fn an_unknown_context_is_refused() {
        let path = std::env::temp_dir().join(format!("gestalt-ctx-kubeconfig-{}", std::process::id()));
        std::fs::write(&path, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
            .unwrap();
        let mut a = args(path.clone());
        a.context = Some("nope".into());
        let error = config(&a).await.unwrap_err();
        std::fs::remove_file(&path).ok();
        assert!(crate::one_line(&anyhow::Error::from(error)).starts_with("cannot use kubeconfig"));
    }
}
