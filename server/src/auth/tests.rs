use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::files::TokenFile;
use super::proxy::Proxy;
use super::reload::Reloading;
use super::signed::{Revocations, SigningKey, ViewClaims};
use super::*;

const ADMIN: &str = "admin-token-0123456789";
const TEAM_A: &str = "team-a-token-0123456789";

struct Files {
    dir: std::path::PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("gestalt-auth-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn security(files: &Files) -> Security {
    std::fs::write(files.path("tokens"), format!("{ADMIN} name=admin\n{TEAM_A} name=team-a namespaces=a\n"))
        .unwrap();
    let tokens = Reloading::load(files.path("tokens"), TokenFile::parse).unwrap();
    Security::with_key(SigningKey::ephemeral().unwrap())
        .with_tokens(tokens)
        .with_view_tokens(Revocations::follow(files.path("revoked")))
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    headers
}

fn with_cookie(security: &Security, set_cookie: &str) -> HeaderMap {
    let pair = set_cookie.split(';').next().unwrap();
    assert!(pair.starts_with(security.cookie_name()));
    let mut headers = HeaderMap::new();
    headers.insert("cookie", HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
    headers
}

fn known(outcome: Outcome) -> Identity {
    match outcome {
        Outcome::Known(identity) => identity,
        other => panic!("expected an identity, got {other:?}"),
    }
}

#[tokio::test]
async fn without_auth_everyone_is_anonymous_with_everything_in_scope() {
    let identity = known(Security::anonymous().authenticate(&HeaderMap::new(), None).await);
    assert_eq!(identity, Identity::anonymous());
}

#[tokio::test]
async fn static_tokens_carry_their_scope_and_wrong_ones_are_refused() {
    let files = Files::new("static");
    let security = security(&files);
    assert!(known(security.authenticate(&bearer(ADMIN), None).await).scope.is_all());
    let team = known(security.authenticate(&bearer(TEAM_A), None).await);
    assert_eq!((team.name.as_str(), team.scope), ("token:team-a", Scope::namespaces(["a"])));
    assert_eq!(security.authenticate(&bearer("team-a-token-0123456780"), None).await, Outcome::Refused);
    let mut basic = HeaderMap::new();
    basic.insert("authorization", HeaderValue::from_static("Basic YWRtaW46YWRtaW4="));
    assert_eq!(security.authenticate(&basic, None).await, Outcome::Refused);
    assert_eq!(security.authenticate(&HeaderMap::new(), None).await, Outcome::Missing);
}

#[tokio::test]
async fn a_session_ends_when_its_token_leaves_the_token_file() {
    let files = Files::new("session");
    let security = security(&files);
    let (_, session) = security.credential(TEAM_A).await.unwrap();
    let cookie = security.session_cookie(&session).unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(TEAM_A), "the cookie never holds the token");
    let headers = with_cookie(&security, &cookie);
    assert_eq!(known(security.authenticate(&headers, None).await).scope, Scope::namespaces(["a"]));
    // The operator narrows the token's scope: the session follows at once.
    std::fs::write(files.path("tokens"), format!("{ADMIN}\n{TEAM_A} name=team-a namespaces=b # narrowed\n"))
        .unwrap();
    assert_eq!(known(security.authenticate(&headers, None).await).scope, Scope::namespaces(["b"]));
    std::fs::write(files.path("tokens"), format!("{ADMIN}\n")).unwrap();
    assert_eq!(security.authenticate(&headers, None).await, Outcome::Missing);
}

#[tokio::test]
async fn a_session_cookie_from_another_key_or_tampered_is_ignored() {
    let files = Files::new("forged");
    let security = security(&files);
    let other = Security::with_key(SigningKey::ephemeral().unwrap());
    let (_, session) = security.credential(ADMIN).await.unwrap();
    let forged = other.session_cookie(&session).unwrap();
    assert_eq!(security.authenticate(&with_cookie(&security, &forged), None).await, Outcome::Missing);
}

#[tokio::test]
async fn view_tokens_are_scoped_expire_and_are_revocable_sessions_included() {
    let files = Files::new("view");
    let security = security(&files);
    let key = security.key.clone().unwrap();
    let now = signed::now();
    let claims = |id: &str, exp: u64| ViewClaims {
        id: id.into(),
        name: "lobby".into(),
        scope: Scope::namespaces(["b"]),
        iat: now,
        exp,
    };
    let token = key.view_token(&claims("v1", now + 3600));
    let identity = known(security.authenticate(&bearer(&token), None).await);
    assert_eq!((identity.name.as_str(), identity.via), ("view:lobby", Via::View));
    assert_eq!(identity.scope, Scope::namespaces(["b"]));
    let expired = key.view_token(&claims("v2", now - 1));
    assert_eq!(security.authenticate(&bearer(&expired), None).await, Outcome::Refused);
    // The session made from it ends no later than the token.
    let (_, session) = security.credential(&token).await.unwrap();
    assert!(session.exp <= now + 3600);
    let headers = with_cookie(&security, &security.session_cookie(&session).unwrap());
    assert!(matches!(security.authenticate(&headers, None).await, Outcome::Known(_)));
    Revocations::revoke(&files.path("revoked"), "v1").unwrap();
    assert_eq!(security.authenticate(&bearer(&token), None).await, Outcome::Refused);
    assert_eq!(security.authenticate(&headers, None).await, Outcome::Missing, "its session ends too");
}

#[tokio::test]
async fn proxy_headers_count_from_trusted_peers_and_groups_map_to_namespaces() {
    let files = Files::new("proxy");
    std::fs::write(files.path("groups"), "dev: a, b\nops: *\n").unwrap();
    let security = Security::with_key(SigningKey::ephemeral().unwrap())
        .with_proxy(Proxy {
            user_header: "x-forwarded-user".parse().unwrap(),
            groups_header: Some("x-forwarded-groups".parse().unwrap()),
            cidrs: vec!["10.0.0.0/8".parse().unwrap()],
        })
        .with_groups(Reloading::load(files.path("groups"), super::files::GroupMap::parse).unwrap());
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-user", HeaderValue::from_static("alice"));
    headers.insert("x-forwarded-groups", HeaderValue::from_static("dev"));
    let proxy: IpAddr = "10.0.0.5".parse().unwrap();
    let alice = known(security.authenticate(&headers, Some(proxy)).await);
    assert_eq!((alice.name.as_str(), alice.scope), ("alice", Scope::namespaces(["a", "b"])));
    let stranger: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(security.authenticate(&headers, Some(stranger)).await, Outcome::Missing);
    headers.insert("x-forwarded-groups", HeaderValue::from_static("nobody"));
    assert_eq!(known(security.authenticate(&headers, Some(proxy)).await).scope, Scope::nothing());
}

#[test]
fn the_connection_cap_counts_identities_and_remote_anonymous_viewers_by_ip() {
    let anonymous = Identity::anonymous();
    assert_eq!(Security::connection_key(&anonymous, Some("127.0.0.1".parse().unwrap())), None);
    assert_eq!(
        Security::connection_key(&anonymous, Some("::ffff:10.0.0.1".parse().unwrap())),
        Some("ip:10.0.0.1".into())
    );
    let alice = Identity { name: "alice".into(), scope: Scope::all(), via: Via::Proxy };
    assert_eq!(Security::connection_key(&alice, Some("127.0.0.1".parse().unwrap())), Some("alice".into()));
}

#[test]
fn insecure_cookies_drop_secure_and_the_host_prefix() {
    let mut security = Security::with_key(SigningKey::ephemeral().unwrap());
    security.session_ttl = Duration::from_secs(60);
    security.cookie_secure = false;
    assert_eq!(security.cookie_name(), "gestalt-session");
    assert!(!security.clear_cookie().contains("Secure"));
    security.cookie_secure = true;
    assert_eq!(security.cookie_name(), "__Host-gestalt-session");
}
