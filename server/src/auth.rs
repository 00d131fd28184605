//! Who is asking, and what they may see. Gestalt Live shows a cluster's shape (names, labels, health); behind
//! an ingress that is information about other teams' workloads, so when auth is configured every request
//! carries an identity and every identity a [`Scope`] that the server enforces on everything it sends.
//!
//! Credentials, combinable (the first that is present decides; a present but wrong one is refused, never
//! skipped):
//! 1. `Authorization: Bearer …`: a static token of `--auth-token-file`, a view token ([`signed`]) or an OIDC
//!    ID token ([`oidc`]);
//! 2. identity headers from a trusted reverse proxy ([`proxy`]), by TCP peer address;
//! 3. the session cookie a login (form, `?token=`) set, re-checked against its source on every request.
//!
//! With no auth configured, everyone is the anonymous viewer with the whole cluster in scope, which the command
//! line allows only on a loopback address or with `--allow-anonymous` (see `cli::SecurityArgs::check`).

pub mod files;
pub mod limits;
pub mod oidc;
pub mod proxy;
pub mod reload;
pub mod scope;
pub mod signed;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;

use self::files::{GroupMap, TokenEntry, TokenFile};
use self::limits::{Connections, FailedLogins};
use self::oidc::Oidc;
use self::proxy::Proxy;
use self::reload::Reloading;
pub use self::scope::Scope;
use self::signed::{Origin, Revocations, Session, SigningKey, VIEW_TOKEN_PREFIX};

/// How an identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// No auth configured.
    Anonymous,
    /// A static token.
    Token,
    /// A view token.
    View,
    /// A trusted proxy's headers.
    Proxy,
    /// An OIDC ID token.
    Oidc,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A name for logs and the connection cap (`alice@example.com`, `token:team-a`, `view:lobby`).
    pub name: String,
    /// What they may see.
    pub scope: Scope,
    /// How.
    pub via: Via,
}

impl Identity {
    /// The anonymous viewer (no auth configured): everything.
    pub fn anonymous() -> Identity {
        Identity { name: "anonymous".into(), scope: Scope::all(), via: Via::Anonymous }
    }
}

/// The outcome of looking at a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A valid identity.
    Known(Identity),
    /// No credentials.
    Missing,
    /// Credentials that are wrong, expired or revoked (counts as a failed login).
    Refused,
}

/// The security settings and state the web server checks requests against.
pub struct Security {
    /// Whether any auth mode is configured (else everyone is anonymous).
    pub enabled: bool,
    pub(crate) tokens: Option<Reloading<TokenFile>>,
    pub(crate) groups: Option<Reloading<GroupMap>>,
    pub(crate) proxy: Option<Proxy>,
    pub(crate) oidc: Option<Arc<Oidc>>,
    pub(crate) key: Option<SigningKey>,
    /// Revocations, when view tokens are enabled (a signing key file is configured).
    pub(crate) revocations: Option<Revocations>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Whether cookies get `Secure` (and the `__Host-` prefix).
    pub cookie_secure: bool,
    /// Origins allowed besides the request's own host.
    pub allowed_origins: Vec<String>,
    /// The CSP `frame-ancestors` value.
    pub frame_ancestors: String,
    /// Whether to send `Strict-Transport-Security`.
    pub hsts: bool,
    /// Failed logins per client IP.
    pub failed: FailedLogins,
    /// Live connections per identity.
    pub connections: Connections,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security").field("enabled", &self.enabled).finish_non_exhaustive()
    }
}

/// Failed logins allowed per client IP per window.
pub const MAX_FAILED_LOGINS: u32 = 10;
/// The failed-login window.
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(300);
/// Client IPs remembered by the failed-login limiter.
const MAX_TRACKED_CLIENTS: usize = 10_000;

impl Security {
    /// No auth: the loopback default (and `--allow-anonymous`). No key: there are no sessions.
    pub fn anonymous() -> Security {
        Security {
            enabled: false,
            tokens: None,
            groups: None,
            proxy: None,
            oidc: None,
            key: None,
            revocations: None,
            session_ttl: Duration::from_secs(12 * 3600),
            cookie_secure: true,
            allowed_origins: Vec::new(),
            frame_ancestors: "'none'".into(),
            hsts: false,
            failed: FailedLogins::new(MAX_FAILED_LOGINS, FAILED_LOGIN_WINDOW, MAX_TRACKED_CLIENTS),
            connections: Connections::new(20),
        }
    }

    /// Defaults around `key`, every mode off; the command line (`cli::SecurityArgs::build`) fills them in.
    pub fn with_key(key: SigningKey) -> Security {
        Security { key: Some(key), ..Security::anonymous() }
    }

    /// Static tokens from this file.
    #[must_use]
    pub fn with_tokens(mut self, tokens: Reloading<TokenFile>) -> Security {
        self.tokens = Some(tokens);
        self.enabled = true;
        self
    }

    /// Groups → namespaces from this file.
    #[must_use]
    pub fn with_groups(mut self, groups: Reloading<GroupMap>) -> Security {
        self.groups = Some(groups);
        self
    }

    /// Trusted proxy headers.
    #[must_use]
    pub fn with_proxy(mut self, proxy: Proxy) -> Security {
        self.proxy = Some(proxy);
        self.enabled = true;
        self
    }

    /// OIDC ID tokens.
    #[must_use]
    pub fn with_oidc(mut self, oidc: Oidc) -> Security {
        self.oidc = Some(Arc::new(oidc));
        self.enabled = true;
        self
    }

    /// View tokens signed with the key, revoked in this file.
    #[must_use]
    pub fn with_view_tokens(mut self, revocations: Revocations) -> Security {
        self.revocations = Some(revocations);
        self.enabled = true;
        self
    }

    /// The name of the session cookie: `__Host-` prefixed when `Secure`, so no subdomain can set or shadow it.
    pub fn cookie_name(&self) -> &'static str {
        if self.cookie_secure {
            "__Host-gestalt-session"
        } else {
            "gestalt-session"
        }
    }

    /// The scope of these groups: the group map's union, or everything when no map is configured.
    fn group_scope<S: AsRef<str>>(&self, groups: &[S]) -> Scope {
        match &self.groups {
            Some(map) => map.get().scope(groups),
            None => Scope::all(),
        }
    }

    fn token_scope(&self, entry: &TokenEntry) -> Scope {
        match (&entry.namespaces, entry.groups.is_empty()) {
            (None, true) => Scope::all(),
            (namespaces, _) => {
                let own = namespaces.clone().unwrap_or_else(Scope::nothing);
                if entry.groups.is_empty() {
                    own
                } else {
                    own.union(&self.group_scope(&entry.groups))
                }
            }
        }
    }

    /// Who sends this request.
    pub async fn authenticate(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Outcome {
        if !self.enabled {
            return Outcome::Known(Identity::anonymous());
        }
        if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
            return match value.to_str().ok().and_then(bearer) {
                Some(token) => {
                    self.credential(token).await.map_or(Outcome::Refused, |(id, _)| Outcome::Known(id))
                }
                None => Outcome::Refused,
            };
        }
        if let Some(user) = self.proxy.as_ref().and_then(|p| p.user(headers, peer)) {
            let scope = self.group_scope(&user.groups);
            return Outcome::Known(Identity { name: user.user, scope, via: Via::Proxy });
        }
        match self.session(headers) {
            Some(identity) => Outcome::Known(identity),
            None => Outcome::Missing,
        }
    }

    /// The identity a token stands for, and the session a login with it starts.
    pub async fn credential(&self, token: &str) -> Option<(Identity, Session)> {
        let now = signed::now();
        let ttl = self.session_ttl.as_secs();
        if token.starts_with(VIEW_TOKEN_PREFIX) {
            let revocations = self.revocations.as_ref()?;
            let claims = self.key.as_ref()?.verify_view_token(token, now).ok()?;
            if revocations.is_revoked(&claims.id) {
                return None;
            }
            let name = if claims.name.is_empty() { claims.id.clone() } else { claims.name.clone() };
            let identity =
                Identity { name: format!("view:{name}"), scope: claims.scope.clone(), via: Via::View };
            let session = Session {
                sub: identity.name.clone(),
                origin: Origin::View { id: claims.id },
                scope: claims.scope,
                exp: claims.exp.min(now + ttl),
            };
            return Some((identity, session));
        }
        if token.split('.').count() == 3 {
            if let Some(oidc) = &self.oidc {
                let user = oidc.verify(token).await?;
                let scope = self.group_scope(&user.groups);
                let identity = Identity { name: user.user, scope: scope.clone(), via: Via::Oidc };
                let session = Session {
                    sub: identity.name.clone(),
                    origin: Origin::Oidc,
                    scope,
                    exp: user.exp.min(now + ttl),
                };
                return Some((identity, session));
            }
        }
        let tokens = self.tokens.as_ref()?.get();
        let entry = tokens.find(token)?;
        let identity = Identity {
            name: format!("token:{}", entry.name),
            scope: self.token_scope(entry),
            via: Via::Token,
        };
        let session = Session {
            sub: identity.name.clone(),
            origin: Origin::Token { fingerprint: entry.fingerprint.clone() },
            scope: identity.scope.clone(),
            exp: now + ttl,
        };
        Some((identity, session))
    }

    /// The identity of a valid session cookie whose source is still valid.
    fn session(&self, headers: &HeaderMap) -> Option<Identity> {
        let value = cookie(headers, self.cookie_name())?;
        let session = self.key.as_ref()?.verify_session(value, signed::now()).ok()?;
        match &session.origin {
            Origin::Token { fingerprint } => {
                let tokens = self.tokens.as_ref()?.get();
                let entry = tokens.by_fingerprint(fingerprint)?;
                Some(Identity { name: session.sub, scope: self.token_scope(entry), via: Via::Token })
            }
            Origin::View { id } => {
                if self.revocations.as_ref()?.is_revoked(id) {
                    return None;
                }
                Some(Identity { name: session.sub, scope: session.scope, via: Via::View })
            }
            Origin::Oidc => {
                self.oidc.as_ref()?;
                Some(Identity { name: session.sub, scope: session.scope, via: Via::Oidc })
            }
        }
    }

    /// The `Set-Cookie` value for a session.
    pub fn session_cookie(&self, session: &Session) -> Option<String> {
        let max_age = session.exp.saturating_sub(signed::now());
        let value = self.key.as_ref()?.session(session);
        Some(format!("{}={value}; {}; Max-Age={max_age}", self.cookie_name(), self.cookie_attributes()))
    }

    /// The `Set-Cookie` value that ends the session.
    pub fn clear_cookie(&self) -> String {
        format!("{}=; {}; Max-Age=0", self.cookie_name(), self.cookie_attributes())
    }

    fn cookie_attributes(&self) -> &'static str {
        if self.cookie_secure {
            "Path=/; HttpOnly; Secure; SameSite=Strict"
        } else {
            "Path=/; HttpOnly; SameSite=Strict"
        }
    }

    /// The key the connection cap counts under: the identity, or for anonymous viewers their IP (none on
    /// loopback, where the one local user and the benchmarks open as many as they like).
    pub fn connection_key(identity: &Identity, peer: Option<IpAddr>) -> Option<String> {
        match identity.via {
            Via::Anonymous => match peer.map(proxy::canonical) {
                Some(ip) if ip.is_loopback() => None,
                Some(ip) => Some(format!("ip:{ip}")),
                None => Some("anonymous".into()),
            },
            _ => Some(identity.name.clone()),
        }
    }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| signed::cookie_value(v, name))
}

/// The token of an `Authorization: Bearer …` value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
