//! A kubeconfig for the simulated cluster, so `kubectl` and kube-rs reach it exactly as they reach a real one.
//!
//! Written by hand: it is a fixed shape with one value that varies, not worth a YAML dependency. Plain HTTP
//! on loopback (both clients accept `http://` servers); the token is sent and ignored.

use std::net::SocketAddr;

/// The kubeconfig YAML for a simulator listening on `addr`: cluster, user and context `gestalt-sim`.
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: gestalt-sim
  cluster:
    server: http://{addr}
contexts:
- name: gestalt-sim
  context:
    cluster: gestalt-sim
    user: gestalt-sim
    namespace: default
current-context: gestalt-sim
users:
- name: gestalt-sim
  user:
    token: gestalt-sim-token
preferences: {{}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_points_at_the_address_with_a_token_user() {
        let config = kubeconfig("127.0.0.1:6443".parse().unwrap());
        assert!(config.contains("    server: http://127.0.0.1:6443\n"));
        assert!(config.contains("current-context: gestalt-sim\n"));
        assert!(config.contains("    token: gestalt-sim-token\n"));
        assert!(!config.contains('\t'), "YAML forbids tabs");
    }
}
