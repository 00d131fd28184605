//! OIDC ID tokens (JWTs) checked here, not trusted from the network: the signature against the issuer's JWKS
//! (RS256 or ES256 only; `none` and HMAC algorithms are refused, so a public key can never be used as an HMAC
//! secret), then `iss`, `aud`, `exp` and `nbf` with a small leeway for clock skew.
//!
//! The JWKS comes from a file or a URL (`https://`, or `http://` to a loopback address only). A token whose key
//! id is unknown triggers one refetch at most every [`REFETCH_EVERY`], which follows the issuer's key rotation
//! without letting a stream of made-up key ids turn into a stream of requests to the issuer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

/// Clock skew accepted on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;
/// The shortest time between two fetches of the JWKS.
pub const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// The largest token looked at.
const MAX_TOKEN_BYTES: usize = 16 << 10;

/// Errors loading the JWKS.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The JWKS file cannot be read.
    #[error("cannot read the JWKS file {0}")]
    ReadFile(PathBuf, #[source] std::io::Error),
    /// The JWKS URL is not https (or http to loopback).
    #[error("the JWKS URL {0} must be https:// (http:// only to a loopback address)")]
    InsecureUrl(String),
    /// The JWKS cannot be fetched.
    #[error("cannot fetch the JWKS from {0}: {1}")]
    Fetch(String, String),
    /// The document is not a JWKS.
    #[error("the JWKS is malformed")]
    Parse(#[source] serde_json::Error),
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local file.
    File(PathBuf),
    /// A URL.
    Url(String),
}

impl JwksSource {
    /// A URL if it looks like one, else a file.
    pub fn parse(text: &str) -> JwksSource {
        if text.starts_with("https://") || text.starts_with("http://") {
            JwksSource::Url(text.to_owned())
        } else {
            JwksSource::File(PathBuf::from(text))
        }
    }

    async fn load(&self) -> Result<JwkSet, OidcError> {
        let text = match self {
            JwksSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| OidcError::ReadFile(path.clone(), e))?
            }
            JwksSource::Url(url) => fetch(url).await?,
        };
        serde_json::from_str(&text).map_err(OidcError::Parse)
    }
}

/// What the server checks.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud` (the client id).
    pub audience: String,
    /// The claim holding the groups.
    pub groups_claim: String,
    /// The keys' source.
    pub jwks: JwksSource,
}

/// A verified ID token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    /// `email`, else `preferred_username`, else `sub`.
    pub user: String,
    /// The groups claim.
    pub groups: Vec<String>,
    /// `exp`.
    pub exp: u64,
}

/// The verifier, with its cached keys.
#[derive(Debug)]
pub struct Oidc {
    settings: OidcSettings,
    keys: RwLock<(JwkSet, Instant)>,
}

impl Oidc {
    /// Loads the keys once (a server that cannot check tokens should not start).
    ///
    /// # Errors
    /// [`OidcError`].
    pub async fn start(settings: OidcSettings) -> Result<Oidc, OidcError> {
        let keys = settings.jwks.load().await?;
        Ok(Oidc { settings, keys: RwLock::new((keys, Instant::now())) })
    }

    /// The identity in a valid ID token, `None` for anything else.
    pub async fn verify(&self, token: &str) -> Option<OidcUser> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return None;
        }
        let key = if let Some(key) = self.key(header.kid.as_deref(), header.alg).await {
            key
        } else {
            self.refetch().await;
            self.key(header.kid.as_deref(), header.alg).await?
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
                .ok()?;
        let claims = data.claims;
        let text = |name: &str| {
            claims.get(name).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned)
        };
        let user = text("email").or_else(|| text("preferred_username")).or_else(|| text("sub"))?;
        let groups = match claims.get(&self.settings.groups_claim) {
            Some(serde_json::Value::Array(values)) => {
                values.iter().filter_map(|v| v.as_str()).take(256).map(str::to_owned).collect()
            }
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let exp = claims.get("exp").and_then(serde_json::Value::as_u64)?;
        Some(OidcUser { user, groups, exp })
    }

    /// The key for this id and algorithm (a JWKS with one key and a token without `kid`: that key).
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let keys = self.keys.read().await;
        let jwk = match kid {
            Some(kid) => keys.0.find(kid)?,
            None if keys.0.keys.len() == 1 => &keys.0.keys[0],
            None => return None,
        };
        // A key that names its algorithm is used for that one only.
        if let Some(key_alg) = jwk.common.key_algorithm {
            if format!("{key_alg:?}") != format!("{alg:?}") {
                return None;
            }
        }
        DecodingKey::from_jwk(jwk).ok()
    }

    async fn refetch(&self) {
        if self.keys.read().await.1.elapsed() < REFETCH_EVERY {
            return;
        }
        let mut keys = self.keys.write().await;
        if keys.1.elapsed() < REFETCH_EVERY {
            return;
        }
        keys.1 = Instant::now();
        match self.settings.jwks.load().await {
            Ok(fresh) => keys.0 = fresh,
            Err(error) => tracing::warn!(%error, "auth: keeping the previous JWKS"),
        }
    }
}

/// GETs a small document over https (or http to loopback).
async fn fetch(url: &str) -> Result<String, OidcError> {
    use http_body_util::BodyExt as _;
    let fail = |e: &dyn std::fmt::Display| OidcError::Fetch(url.to_owned(), e.to_string());
    let uri: axum::http::Uri = url.parse().map_err(|e| fail(&e))?;
    let loopback = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .is_some_and(|h| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    if uri.scheme_str() != Some("https") && !(uri.scheme_str() == Some("http") && loopback) {
        return Err(OidcError::InsecureUrl(url.to_owned()));
    }
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| fail(&e))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<axum::body::Bytes>>(connector);
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .map_err(|e| fail(&e))?
        .map_err(|e| fail(&e))?;
    if !response.status().is_success() {
        return Err(fail(&response.status()));
    }
    let body = http_body_util::Limited::new(response.into_body(), MAX_JWKS_BYTES);
    let bytes = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .map_err(|e| fail(&e))?
        .map_err(|e| fail(&e))?
        .to_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests;
