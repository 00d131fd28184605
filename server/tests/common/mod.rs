//! What the integration tests that drive the real `gestalt-live demo` binary share: start it on a free port with
//! its simulated cluster (still: no churn, so a test sees only its own changes), reach that cluster with kube-rs
//! through the kubeconfig the demo writes, open sockets and make raw HTTP requests, and show the demo's log when
//! a test fails.
// Each test file uses a different part of this.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A WebSocket to the demo.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any wait in these tests may take before it fails (generous: CI machines are busy, and a restarted
/// demo relists its whole cluster before its findings engine resumes).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A running `gestalt-live demo`, killed (and its directory removed) when dropped.
pub struct Demo {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Demo {
    /// Starts the demo with the `kgents` scenario in a fresh directory named after `test`; `configure` adds
    /// arguments or files (it gets the directory).
    pub fn start(test: &str, configure: impl FnOnce(&Path, &mut Command)) -> Demo {
        let dir = std::env::temp_dir().join(format!("gestalt-live-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
        std::fs::write(dir.join("site/pkg/gestalt-live.js"), "").unwrap();
        Self::launch(dir, configure)
    }

    /// Stops this demo and starts another in the same directory (same files, same database; the log goes on),
    /// configured anew.
    pub fn restart(mut self, configure: impl FnOnce(&Path, &mut Command)) -> Demo {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The directory now belongs to the next demo: this one's Drop must not remove it.
        let dir = std::mem::take(&mut self.dir);
        Self::launch(dir, configure)
    }

    fn launch(dir: PathBuf, configure: impl FnOnce(&Path, &mut Command)) -> Demo {
        let log = std::fs::File::options().create(true).append(true).open(dir.join("demo.log")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_gestalt-live"));
        command
            .args(["demo", "--scenario", "kgents", "--listen", &addr.to_string(), "--site-root"])
            .arg(dir.join("site"))
            .arg("--write-kubeconfig")
            .arg(dir.join("kubeconfig"))
            .env("GESTALT_LOG", "info")
            // A still cluster: tests count the diffs of their own writes, and churn could replace what they plant.
            .env("GESTALT_CHURN", "0")
            .stdout(Stdio::null())
            .stderr(log);
        configure(&dir, &mut command);
        let child = command.spawn().expect("start gestalt-live demo");
        Demo { child, addr, dir }
    }

    /// Waits until the demo listens and its cluster's kubeconfig is written. The socket answers before the first
    /// list is done; that is fine, it says "connecting" until then.
    pub async fn ready(&self) {
        within("the demo to listen", || async {
            (tokio::net::TcpStream::connect(self.addr).await.is_ok() && self.dir.join("kubeconfig").exists())
                .then_some(())
        })
        .await;
    }

    /// A kube-rs client of the demo's simulated cluster.
    pub async fn kube(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(self.dir.join("kubeconfig")).unwrap();
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
        Client::try_from(config).unwrap()
    }

    /// `/api/v1/live{query}`, with a bearer token when given.
    pub async fn socket(&self, query: &str, token: Option<&str>) -> Socket {
        let mut request = format!("ws://{}/api/v1/live{query}", self.addr).into_client_request().unwrap();
        if let Some(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        tokio_tungstenite::connect_async(request).await.expect("WebSocket handshake").0
    }

    /// The status and raw bytes (headers included) of a GET, with a bearer token when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let authorization = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: {}\r\n{authorization}connection: close\r\n\r\n", self.addr);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response)).await.unwrap().unwrap();
        let status = String::from_utf8_lossy(&response[..12.min(response.len())])
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, response)
    }

    /// The JSON body of a GET that must answer 200 (HTTP/1.0, so the body is never chunked).
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> serde_json::Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let authorization = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!("GET {path} HTTP/1.0\r\nhost: {}\r\n{authorization}\r\n", self.addr);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert_eq!(head.split_whitespace().nth(1), Some("200"), "GET {path}: {head}");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// What the demo logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("demo.log")).unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.dir.as_os_str().is_empty() {
            return; // restarted: the directory went to the next demo
        }
        if std::thread::panicking() {
            eprintln!("----- gestalt-live demo log:\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` every 100 ms until it gives a value; fails after [`TIMEOUT`] naming `what`.
pub async fn within<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
