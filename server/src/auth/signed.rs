//! Things the server signs with its own key: view tokens for wall displays and session cookies.
//!
//! Both are `<base64url(JSON payload)>.<base64url(HMAC-SHA256)>`; the MAC covers a purpose label as well as
//! the payload, so a view token is never accepted as a cookie or the other way round. Nothing is stored on the
//! server for either (a restart or a second replica with the same key file accepts them), which is why
//! revocation is by token id in a file (see [`Revocations`]) and sessions carry their own expiry.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::reload::Reloading;
use super::scope::Scope;

/// The prefix of every view token, so a token is recognisable in a config file and in a `Bearer` header.
pub const VIEW_TOKEN_PREFIX: &str = "glv1.";

/// How long a signed value may be (a cookie or token bigger than this is refused before any work).
const MAX_SIGNED_LEN: usize = 8 << 10;

/// Errors with the signing key or the revocation file.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// The key file exists but cannot be read.
    #[error("cannot read the signing key {0}")]
    ReadKey(PathBuf, #[source] std::io::Error),
    /// The key file is too short to be a key.
    #[error("the signing key {0} holds fewer than 32 bytes")]
    ShortKey(PathBuf),
    /// The key file is readable by others or writable by its group.
    #[error("the signing key {0} is readable by others or writable by its group: chmod 600 it")]
    OpenKey(PathBuf),
    /// A new key file cannot be written.
    #[error("cannot write a new signing key to {0}")]
    WriteKey(PathBuf, #[source] std::io::Error),
    /// The system random source failed.
    #[error("the system random number generator failed")]
    Random,
    /// The revocation file cannot be updated.
    #[error("cannot update the revocation file {0}")]
    Revoke(PathBuf, #[source] std::io::Error),
}

/// Why a signed value was refused. Never shown in detail to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not of the expected shape.
    #[error("malformed")]
    Malformed,
    /// The MAC does not match.
    #[error("bad signature")]
    Signature,
    /// Past its expiry.
    #[error("expired")]
    Expired,
    /// Revoked, or its source is gone.
    #[error("revoked")]
    Revoked,
}

/// The server's HMAC key.
#[derive(Clone)]
pub struct SigningKey(hmac::Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// 32 random bytes from the system.
///
/// # Errors
/// [`SignedError::Random`].
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SignedError> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| SignedError::Random)?;
    Ok(bytes)
}

impl SigningKey {
    /// A key that lives as long as the process (sessions end with it): used when no key file is configured.
    ///
    /// # Errors
    /// [`SignedError::Random`].
    pub fn ephemeral() -> Result<SigningKey, SignedError> {
        Ok(SigningKey(hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>()?)))
    }

    /// Reads the key file, or creates it (mode 0600, 32 random bytes, base64) when it does not exist. A key file
    /// others can read is refused: anyone who reads it can mint tokens.
    ///
    /// # Errors
    /// [`SignedError`] naming the step that failed.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, SignedError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                check_private(path)?;
                let text = String::from_utf8_lossy(&bytes);
                let key = URL_SAFE_NO_PAD.decode(text.trim()).unwrap_or_else(|_| bytes.clone());
                if key.len() < 32 {
                    return Err(SignedError::ShortKey(path.to_owned()));
                }
                Ok(SigningKey(hmac::Key::new(hmac::HMAC_SHA256, &key)))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>()?;
                write_private(path, format!("{}\n", URL_SAFE_NO_PAD.encode(key)).as_bytes())
                    .map_err(|e| SignedError::WriteKey(path.to_owned(), e))?;
                tracing::info!("created a new signing key in {}", path.display());
                Ok(SigningKey(hmac::Key::new(hmac::HMAC_SHA256, &key)))
            }
            Err(error) => Err(SignedError::ReadKey(path.to_owned(), error)),
        }
    }

    /// `payload.mac` for this purpose.
    fn sign<T: Serialize>(&self, purpose: &str, payload: &T) -> String {
        let json = serde_json::to_vec(payload).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let tag = hmac::sign(&self.0, format!("{purpose}\0{body}").as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The payload of `signed` if its MAC is right (checked in constant time before anything is parsed).
    fn verify<T: DeserializeOwned>(&self, purpose: &str, signed: &str) -> Result<T, Refused> {
        if signed.len() > MAX_SIGNED_LEN {
            return Err(Refused::Malformed);
        }
        let (body, tag) = signed.split_once('.').ok_or(Refused::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Refused::Malformed)?;
        hmac::verify(&self.0, format!("{purpose}\0{body}").as_bytes(), &tag)
            .map_err(|_| Refused::Signature)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| Refused::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| Refused::Malformed)
    }

    /// A new view token.
    pub fn view_token(&self, claims: &ViewClaims) -> String {
        format!("{VIEW_TOKEN_PREFIX}{}", self.sign("view", claims))
    }

    /// The claims of a view token that is well signed and unexpired (revocation is the caller's check).
    ///
    /// # Errors
    /// [`Refused`].
    pub fn verify_view_token(&self, token: &str, now: u64) -> Result<ViewClaims, Refused> {
        let signed = token.strip_prefix(VIEW_TOKEN_PREFIX).ok_or(Refused::Malformed)?;
        let claims: ViewClaims = self.verify("view", signed)?;
        if claims.exp <= now {
            return Err(Refused::Expired);
        }
        Ok(claims)
    }

    /// A session cookie's value.
    pub fn session(&self, session: &Session) -> String {
        self.sign("session", session)
    }

    /// A session cookie's content, if well signed and unexpired.
    ///
    /// # Errors
    /// [`Refused`].
    pub fn verify_session(&self, value: &str, now: u64) -> Result<Session, Refused> {
        let session: Session = self.verify("session", value)?;
        if session.exp <= now {
            return Err(Refused::Expired);
        }
        Ok(session)
    }
}

/// What a view token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewClaims {
    /// Its id (random, 16 hex digits), for revocation.
    pub id: String,
    /// A name for people (`lobby`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What it may see.
    pub scope: Scope,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// Where a session came from: re-checked on every request, so removing a token from the token file or revoking
/// a view token ends the sessions made with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Origin {
    /// A static token of the token file, by fingerprint.
    Token {
        /// The token's fingerprint.
        fingerprint: String,
    },
    /// A view token, by id.
    View {
        /// The view token's id.
        id: String,
    },
    /// An OIDC ID token (its groups were mapped at login).
    Oidc,
}

/// A session cookie's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who (for logs and the per-identity connection cap).
    pub sub: String,
    /// Where the session came from.
    pub origin: Origin,
    /// What the session may see (for static tokens the token file's current entry wins).
    pub scope: Scope,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// The value of cookie `name` in one `Cookie` header value (`a=1; b=2`).
pub fn cookie_value<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, v)| v)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Revoked view-token ids: one per line (`#` comments), re-read when the file changes.
#[derive(Debug, Clone)]
pub struct Revocations(Reloading<std::collections::BTreeSet<String>>);

impl Revocations {
    /// Follows `path` (a missing file means nothing is revoked).
    pub fn follow(path: PathBuf) -> Revocations {
        Revocations(Reloading::new(path, parse_revocations))
    }

    /// Whether `id` is revoked.
    pub fn is_revoked(&self, id: &str) -> bool {
        self.0.get().contains(id)
    }

    /// Appends `id`.
    ///
    /// # Errors
    /// [`SignedError::Revoke`].
    pub fn revoke(path: &Path, id: &str) -> Result<(), SignedError> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| SignedError::Revoke(path.to_owned(), e))?;
        writeln!(file, "{id}").map_err(|e| SignedError::Revoke(path.to_owned(), e))
    }
}

#[allow(clippy::unnecessary_wraps)] // The signature of a `Reloading` parser.
fn parse_revocations(text: &str) -> Result<std::collections::BTreeSet<String>, String> {
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Writes a file only its owner can read (created with mode 0600, never widened).
///
/// # Errors
/// The I/O error.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn check_private(path: &Path) -> Result<(), SignedError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| SignedError::ReadKey(path.to_owned(), e))?
            .permissions()
            .mode();
        // Others may not read it, nor the group write it. Group *read* is allowed: Kubernetes mounts Secrets
        // group-readable for the pod's fsGroup (mode 0440), and that group is the pod's own.
        if mode & 0o027 != 0 {
            return Err(SignedError::OpenKey(path.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> ViewClaims {
        ViewClaims {
            id: "0123456789abcdef".into(),
            name: "lobby".into(),
            scope: Scope::namespaces(["a"]),
            iat: 1,
            exp,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gestalt-signed-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("key")
    }

    #[test]
    fn a_view_token_round_trips_and_expires() {
        let key = SigningKey::ephemeral().unwrap();
        let token = key.view_token(&claims(100));
        assert!(token.starts_with(VIEW_TOKEN_PREFIX));
        assert_eq!(key.verify_view_token(&token, 99).unwrap(), claims(100));
        assert_eq!(key.verify_view_token(&token, 100), Err(Refused::Expired));
    }

    #[test]
    fn a_token_signed_by_another_key_or_tampered_with_is_refused() {
        let key = SigningKey::ephemeral().unwrap();
        let token = SigningKey::ephemeral().unwrap().view_token(&claims(100));
        assert_eq!(key.verify_view_token(&token, 0), Err(Refused::Signature));
        // Widening the scope in the payload breaks the MAC.
        let good = key.view_token(&claims(100));
        let (body, tag) = good.strip_prefix(VIEW_TOKEN_PREFIX).unwrap().split_once('.').unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        let wider = URL_SAFE_NO_PAD.encode(json.replace("[\"a\"]", "[\"a\",\"b\"]"));
        let forged = format!("{VIEW_TOKEN_PREFIX}{wider}.{tag}");
        assert_eq!(key.verify_view_token(&forged, 0), Err(Refused::Signature));
    }

    #[test]
    fn a_view_token_is_not_a_session_cookie() {
        let key = SigningKey::ephemeral().unwrap();
        let token = key.view_token(&claims(100));
        let signed = token.strip_prefix(VIEW_TOKEN_PREFIX).unwrap();
        assert_eq!(key.verify_session(signed, 0), Err(Refused::Signature));
    }

    #[test]
    fn a_new_key_file_is_private_and_read_back_the_same() {
        let path = temp("new");
        let key = SigningKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = SigningKey::load_or_create(&path).unwrap();
        let token = key.view_token(&claims(100));
        assert!(again.verify_view_token(&token, 0).is_ok());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = temp("open");
        SigningKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(SigningKey::load_or_create(&path), Err(SignedError::OpenKey(_))));
        // A Kubernetes Secret mounted for the pod's fsGroup.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
        assert!(SigningKey::load_or_create(&path).is_ok());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_revoked_id_is_seen_after_the_file_changes() {
        let path = temp("revoked");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let revocations = Revocations::follow(path.clone());
        assert!(!revocations.is_revoked("abc"));
        Revocations::revoke(&path, "abc").unwrap();
        assert!(revocations.is_revoked("abc"));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
