//! The security flags, shared by `serve` and `demo`, and `gestalt-live token …`.
//!
//! Safe by default: without any auth mode the server listens only on loopback; a non-loopback `--listen`
//! needs an auth mode or an explicit `--allow-anonymous` (which logs a warning).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::auth::files::{GroupMap, TokenFile};
use crate::auth::oidc::{JwksSource, Oidc, OidcError, OidcSettings};
use crate::auth::proxy::{Cidr, Proxy};
use crate::auth::reload::Reloading;
use crate::auth::signed::{self, Revocations, SignedError, SigningKey, ViewClaims};
use crate::auth::{Scope, Security};

/// Errors in the security settings or the token commands.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// Anonymous access on a non-loopback address without `--allow-anonymous`.
    #[error(
        "refusing to serve {0} to anyone without authentication: configure an auth mode (--auth-token-file, \
         --auth-proxy-user-header, --oidc-issuer, --signing-key-file) or pass --allow-anonymous"
    )]
    Exposed(SocketAddr),
    /// The signing key.
    #[error(transparent)]
    Key(#[from] SignedError),
    /// The token file.
    #[error("the token file: {0}")]
    TokenFile(String),
    /// The group map.
    #[error("the group namespaces file: {0}")]
    GroupFile(String),
    /// A header name.
    #[error("{0:?} is not a valid header name")]
    Header(String),
    /// OIDC.
    #[error("OIDC")]
    Oidc(#[from] OidcError),
    /// A token command without a key file.
    #[error("view tokens need --signing-key-file (or GESTALT_SIGNING_KEY_FILE)")]
    NoKeyFile,
    /// The issued-tokens ledger.
    #[error("cannot update the token ledger {0}")]
    Ledger(PathBuf, #[source] std::io::Error),
}

/// Whether session cookies get the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CookieSecure {
    /// Secure unless the server listens on loopback (plain http that never leaves the machine; Safari drops
    /// `Secure` cookies on `http://localhost`).
    Auto,
    /// Always (the server is behind TLS).
    Always,
    /// Never (plain http on a trusted network only).
    Never,
}

/// The signing key of view tokens and sessions.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// HMAC-SHA256 key for view tokens and session cookies; created (mode 0600) if absent. Setting it enables
    /// view tokens. Without it sessions use a per-process key and end with the process.
    #[arg(long, env = "GESTALT_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Revoked view-token ids, one per line, re-read when it changes (default: the key file + `.revoked`).
    #[arg(long, env = "GESTALT_REVOCATION_FILE")]
    pub revocation_file: Option<PathBuf>,
}

impl KeyArgs {
    fn key_file(&self) -> Result<&Path, SecurityError> {
        self.signing_key_file.as_deref().ok_or(SecurityError::NoKeyFile)
    }

    fn revocation_file(&self) -> Result<PathBuf, SecurityError> {
        match (&self.revocation_file, &self.signing_key_file) {
            (Some(path), _) => Ok(path.clone()),
            (None, Some(key)) => Ok(with_suffix(key, ".revoked")),
            (None, None) => Err(SecurityError::NoKeyFile),
        }
    }

    fn ledger(&self) -> Result<PathBuf, SecurityError> {
        Ok(with_suffix(self.key_file()?, ".issued"))
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Who may see what.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // Independent switches, each with its own flag.
pub struct SecurityArgs {
    /// Serve without authentication on a non-loopback address (everyone who can reach it sees everything).
    #[arg(long, env = "GESTALT_ALLOW_ANONYMOUS", conflicts_with_all = ["auth_token_file", "auth_proxy_user_header", "oidc_issuer", "signing_key_file"])]
    pub allow_anonymous: bool,
    /// Static bearer tokens, one per line: `TOKEN [name=N] [namespaces=a,b|*] [groups=g1,g2]`; re-read on change.
    #[arg(long, env = "GESTALT_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Trust this header for the user name, from `--auth-proxy-cidrs` peers only (e.g. `X-Forwarded-User`).
    #[arg(long, env = "GESTALT_AUTH_PROXY_USER_HEADER", requires = "auth_proxy_cidrs")]
    pub auth_proxy_user_header: Option<String>,
    /// The header with the user's groups, comma-separated (e.g. `X-Forwarded-Groups`).
    #[arg(long, env = "GESTALT_AUTH_PROXY_GROUPS_HEADER", requires = "auth_proxy_user_header")]
    pub auth_proxy_groups_header: Option<String>,
    /// The reverse proxies' networks (TCP peer addresses; `X-Forwarded-For` is never used).
    #[arg(
        long,
        value_delimiter = ',',
        env = "GESTALT_AUTH_PROXY_CIDRS",
        requires = "auth_proxy_user_header"
    )]
    pub auth_proxy_cidrs: Vec<Cidr>,
    /// Accept OIDC ID tokens from this issuer (`iss`).
    #[arg(long, env = "GESTALT_OIDC_ISSUER", requires_all = ["oidc_audience", "oidc_jwks"])]
    pub oidc_issuer: Option<String>,
    /// The audience (`aud`, the client id) ID tokens must carry.
    #[arg(long, env = "GESTALT_OIDC_AUDIENCE", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
    /// The issuer's JWKS: an `https://` URL or a file.
    #[arg(long, env = "GESTALT_OIDC_JWKS", requires = "oidc_issuer")]
    pub oidc_jwks: Option<String>,
    /// The ID-token claim with the user's groups.
    #[arg(long, default_value = "groups", env = "GESTALT_OIDC_GROUPS_CLAIM")]
    pub oidc_groups_claim: String,
    /// Groups → namespaces, `group: ns1, ns2` per line (`*`: all). Without it, authenticated users see all.
    #[arg(long, env = "GESTALT_AUTH_GROUP_NAMESPACES")]
    pub auth_group_namespaces: Option<PathBuf>,
    /// The signing key.
    #[command(flatten)]
    pub keys: KeyArgs,
    /// How long a login lasts (`30m`, `12h`, `7d`).
    #[arg(long, default_value = "12h", env = "GESTALT_SESSION_TTL", value_parser = parse_duration)]
    pub session_ttl: Duration,
    /// Whether session cookies are `Secure`.
    #[arg(long, value_enum, default_value_t = CookieSecure::Auto, env = "GESTALT_COOKIE_SECURE")]
    pub cookie_secure: CookieSecure,
    /// Origins allowed to open the live socket besides the page's own (`https://portal.example.com`).
    #[arg(long, value_delimiter = ',', env = "GESTALT_ALLOWED_ORIGINS")]
    pub allowed_origins: Vec<String>,
    /// Who may frame the page (CSP `frame-ancestors`), e.g. `'self' https://portal.example.com`.
    #[arg(long, default_value = "'none'", env = "GESTALT_FRAME_ANCESTORS")]
    pub frame_ancestors: String,
    /// Send `Strict-Transport-Security` (only when every client reaches the server over https).
    #[arg(long, env = "GESTALT_HSTS")]
    pub hsts: bool,
    /// Live connections one identity may hold; more are refused with HTTP 429.
    #[arg(long, default_value_t = 20, env = "GESTALT_MAX_CONNECTIONS_PER_IDENTITY")]
    pub max_connections_per_identity: usize,
}

impl SecurityArgs {
    /// Whether an auth mode is configured.
    pub fn auth_configured(&self) -> bool {
        self.auth_token_file.is_some()
            || self.auth_proxy_user_header.is_some()
            || self.oidc_issuer.is_some()
            || self.keys.signing_key_file.is_some()
    }

    /// Refuses anonymous access on a non-loopback address unless `--allow-anonymous`.
    ///
    /// # Errors
    /// [`SecurityError::Exposed`].
    pub fn check(&self, listen: SocketAddr) -> Result<(), SecurityError> {
        if self.auth_configured() || listen.ip().is_loopback() {
            return Ok(());
        }
        if !self.allow_anonymous {
            return Err(SecurityError::Exposed(listen));
        }
        tracing::warn!(
            "serving {listen} WITHOUT authentication (--allow-anonymous): anyone who can reach it sees the whole cluster"
        );
        Ok(())
    }

    /// The settings the web server enforces.
    ///
    /// # Errors
    /// [`SecurityError`] naming the file or setting that is wrong.
    pub async fn build(&self, listen: SocketAddr) -> Result<Security, SecurityError> {
        self.check(listen)?;
        let key = match &self.keys.signing_key_file {
            Some(path) => SigningKey::load_or_create(path)?,
            None => SigningKey::ephemeral()?,
        };
        let mut security = Security::with_key(key);
        if let Some(path) = &self.auth_token_file {
            let tokens = Reloading::load(path.clone(), TokenFile::parse).map_err(SecurityError::TokenFile)?;
            tracing::info!("auth: {} static tokens from {}", tokens.get().len(), path.display());
            security = security.with_tokens(tokens);
        }
        if let Some(path) = &self.auth_group_namespaces {
            let groups = Reloading::load(path.clone(), GroupMap::parse).map_err(SecurityError::GroupFile)?;
            security = security.with_groups(groups);
        }
        if let Some(user) = &self.auth_proxy_user_header {
            let header = |name: &str| {
                axum::http::HeaderName::try_from(name).map_err(|_| SecurityError::Header(name.to_owned()))
            };
            let proxy = Proxy {
                user_header: header(user)?,
                groups_header: self.auth_proxy_groups_header.as_deref().map(header).transpose()?,
                cidrs: self.auth_proxy_cidrs.clone(),
            };
            security = security.with_proxy(proxy);
        }
        if let (Some(issuer), Some(audience), Some(jwks)) =
            (&self.oidc_issuer, &self.oidc_audience, &self.oidc_jwks)
        {
            let settings = OidcSettings {
                issuer: issuer.clone(),
                audience: audience.clone(),
                groups_claim: self.oidc_groups_claim.clone(),
                jwks: JwksSource::parse(jwks),
            };
            security = security.with_oidc(Oidc::start(settings).await?);
        }
        if self.keys.signing_key_file.is_some() {
            security = security.with_view_tokens(Revocations::follow(self.keys.revocation_file()?));
        }
        security.session_ttl = self.session_ttl;
        security.cookie_secure = match self.cookie_secure {
            CookieSecure::Auto => !listen.ip().is_loopback(),
            CookieSecure::Always => true,
            CookieSecure::Never => false,
        };
        security.allowed_origins =
            self.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_owned()).collect();
        security.frame_ancestors.clone_from(&self.frame_ancestors);
        security.hsts = self.hsts;
        security.connections = crate::auth::limits::Connections::new(self.max_connections_per_identity);
        Ok(security)
    }
}

/// `gestalt-live token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new view token: read-only, expiring, scoped to namespaces.
    Create(TokenCreate),
    /// Revoke a view token by id (servers following the revocation file refuse it at once).
    Revoke {
        /// The token's id (`token list` shows it).
        id: String,
        /// The key.
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// List the view tokens created with this key file.
    List {
        /// The key.
        #[command(flatten)]
        keys: KeyArgs,
    },
}

/// `token create`.
#[derive(Debug, Args)]
pub struct TokenCreate {
    /// The namespaces it shows (comma-separated; `*` for all).
    #[arg(long, value_delimiter = ',', required = true)]
    pub namespaces: Vec<String>,
    /// The kinds it shows (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<topology::Kind>,
    /// How long it is valid (`30d`, `12h`).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    pub ttl: Duration,
    /// A name for people (`lobby`).
    #[arg(long, default_value = "")]
    pub name: String,
    /// The key.
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// One line of the ledger of issued tokens (never the token itself).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Issued {
    id: String,
    name: String,
    scope: Scope,
    iat: u64,
    exp: u64,
}

/// Runs a token command; returns what to print on stdout.
///
/// # Errors
/// [`SecurityError`].
pub fn run_token(command: &TokenCommand) -> Result<String, SecurityError> {
    match command {
        TokenCommand::Create(create) => {
            let key = SigningKey::load_or_create(create.keys.key_file()?)?;
            let mut scope =
                Scope::namespaces(create.namespaces.iter().map(|n| n.trim()).filter(|n| !n.is_empty()));
            if !create.kinds.is_empty() {
                scope.kinds = Some(create.kinds.iter().copied().collect());
            }
            let iat = signed::now();
            let id = signed::random_bytes::<8>()?.iter().fold(String::new(), |mut id, byte| {
                let _ = write!(id, "{byte:02x}");
                id
            });
            let claims = ViewClaims {
                id: id.clone(),
                name: create.name.clone(),
                scope: scope.clone(),
                iat,
                exp: iat + create.ttl.as_secs(),
            };
            let ledger = create.keys.ledger()?;
            let line =
                serde_json::to_string(&Issued { id, name: create.name.clone(), scope, iat, exp: claims.exp })
                    .unwrap_or_default();
            append(&ledger, &line).map_err(|e| SecurityError::Ledger(ledger.clone(), e))?;
            Ok(key.view_token(&claims))
        }
        TokenCommand::Revoke { id, keys } => {
            let path = keys.revocation_file()?;
            Revocations::revoke(&path, id.trim())?;
            Ok(format!("revoked {id} (in {})", path.display()))
        }
        TokenCommand::List { keys } => {
            let ledger = keys.ledger()?;
            let text = match std::fs::read_to_string(&ledger) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(SecurityError::Ledger(ledger, e)),
            };
            let revoked = Revocations::follow(keys.revocation_file()?);
            let now = signed::now();
            let mut out = String::from("ID                NAME            STATE    EXPIRES-IN  NAMESPACES\n");
            for issued in text.lines().filter_map(|l| serde_json::from_str::<Issued>(l).ok()) {
                let state = if revoked.is_revoked(&issued.id) {
                    "revoked"
                } else if issued.exp <= now {
                    "expired"
                } else {
                    "active"
                };
                let namespaces = issued
                    .scope
                    .namespaces
                    .map_or_else(|| "*".to_owned(), |n| n.into_iter().collect::<Vec<_>>().join(","));
                let left = issued.exp.saturating_sub(now);
                let _ = writeln!(
                    out,
                    "{:<17} {:<15} {state:<8} {:>9}h  {namespaces}",
                    issued.id,
                    issued.name,
                    left / 3600
                );
            }
            Ok(out)
        }
    }
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")
}

/// `90s`, `30m`, `12h`, `30d` (a bare number is seconds).
///
/// # Errors
/// A message for clap.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration such as 30m, 12h or 30d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    number
        .checked_mul(seconds)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn serve(args: &[&str]) -> crate::cli::ServeArgs {
        let cli = crate::cli::Cli::try_parse_from([&["gestalt-live", "serve"], args].concat()).unwrap();
        match cli.command {
            crate::cli::Command::Serve(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_non_loopback_listen_without_auth_is_refused_unless_anonymous_is_allowed() {
        let args = serve(&["--listen", "0.0.0.0:3000"]);
        assert!(matches!(args.web.security.check(args.web.listen), Err(SecurityError::Exposed(_))));
        let args = serve(&["--listen", "0.0.0.0:3000", "--allow-anonymous"]);
        assert!(args.web.security.check(args.web.listen).is_ok());
        let args = serve(&["--listen", "127.0.0.1:3000"]);
        assert!(args.web.security.check(args.web.listen).is_ok());
        let args = serve(&["--listen", "[::1]:3000"]);
        assert!(args.web.security.check(args.web.listen).is_ok());
        let args = serve(&["--listen", "0.0.0.0:3000", "--auth-token-file", "/tokens"]);
        assert!(args.web.security.check(args.web.listen).is_ok());
    }

    #[test]
    fn demo_takes_the_same_flags() {
        let cli = crate::cli::Cli::try_parse_from([
            "gestalt-live",
            "demo",
            "--listen",
            "0.0.0.0:1",
            "--allow-anonymous",
        ])
        .unwrap();
        let crate::cli::Command::Demo(demo) = cli.command else { panic!() };
        assert!(demo.web.security.allow_anonymous);
    }

    #[test]
    fn anonymous_does_not_combine_with_auth() {
        let parsed = crate::cli::Cli::try_parse_from([
            "gestalt-live",
            "serve",
            "--allow-anonymous",
            "--auth-token-file",
            "/tokens",
        ]);
        assert!(parsed.is_err());
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn create_list_and_revoke_a_view_token() {
        let dir = std::env::temp_dir().join(format!("gestalt-token-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keys = KeyArgs { signing_key_file: Some(dir.join("key")), revocation_file: None };
        let create = TokenCreate {
            namespaces: vec!["a".into(), "b".into()],
            kinds: vec![],
            ttl: Duration::from_secs(3600),
            name: "lobby".into(),
            keys: keys.clone(),
        };
        let token = run_token(&TokenCommand::Create(create)).unwrap();
        let key = SigningKey::load_or_create(&dir.join("key")).unwrap();
        let claims = key.verify_view_token(&token, signed::now()).unwrap();
        assert_eq!(claims.scope, Scope::namespaces(["a", "b"]));
        assert_eq!(claims.name, "lobby");
        let list = run_token(&TokenCommand::List { keys: keys.clone() }).unwrap();
        assert!(list.contains(&claims.id) && list.contains("active") && list.contains("a,b"), "{list}");
        assert!(!list.contains(&token), "the ledger never holds the token");
        run_token(&TokenCommand::Revoke { id: claims.id.clone(), keys: keys.clone() }).unwrap();
        let list = run_token(&TokenCommand::List { keys: keys.clone() }).unwrap();
        assert!(list.contains("revoked"), "{list}");
        assert!(Revocations::follow(dir.join("key.revoked")).is_revoked(&claims.id));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
