//! The gate in front of every route: security headers on every response, authentication (with the view-token
//! exchange and the login form), CSRF and Origin checks, and the failed-login limiter.
//!
//! Public without a login: `/healthz` and `/readyz` (probes), the login form, and the static assets (`/pkg/…`,
//! favicons), which hold no cluster data. Everything else needs an identity when auth is configured: pages
//! redirect to the login form, `/api/…` and `/metrics` answer 401.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State as Extract};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};

use super::State;
use crate::auth::proxy::canonical;
use crate::auth::signed::VIEW_TOKEN_PREFIX;
use crate::auth::{Outcome, Security};

/// The header the page shell uses to hand its CSP nonce to [`headers`]; never sent to the client.
pub const NONCE_HEADER: &str = app::NONCE_HEADER;

/// The TCP peer of the request (from axum's `ConnectInfo`; `None` when the server was not started with it).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl Peer {
    /// The address the failed-login limiter counts under.
    fn key(self) -> IpAddr {
        self.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/gestalt/login" | "/gestalt/logout" | "/favicon.svg" | "/favicon.ico"
    ) || path.starts_with("/pkg/")
}

/// Security headers on every response (outermost layer, so errors and static files get them too).
pub async fn headers(Extract(security): Extract<Arc<Security>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    let cacheable = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let nonce = response.headers_mut().remove(NONCE_HEADER).and_then(|v| v.to_str().ok().map(str::to_owned));
    let headers = response.headers_mut();
    let script = match &nonce {
        Some(nonce) => format!("'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_owned(),
    };
    // 'self' covers same-origin WebSockets in CSP 3; the explicit ws/wss of this host covers older browsers.
    let connect = host
        .as_deref()
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .map_or_else(|| "'self'".to_owned(), |host| format!("'self' ws://{host} wss://{host}"));
    let csp = format!(
        "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data:; connect-src {connect}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {}",
        security.frame_ancestors
    );
    let cache_control = headers.contains_key(header::CACHE_CONTROL);
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_SECURITY_POLICY, &csp);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if security.frame_ancestors.trim() == "'none'" {
        set(header::X_FRAME_OPTIONS, "DENY");
    }
    if security.hsts {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
    if !cacheable && !cache_control {
        set(header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Authenticates every non-public request and puts its [`Identity`] and [`Peer`] in the extensions.
pub async fn gate(Extract(state): Extract<State>, mut request: Request, next: Next) -> Response {
    let security = state.security.clone();
    let peer = Peer(request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| canonical(c.0.ip())));
    request.extensions_mut().insert(peer);
    let path = request.uri().path().to_owned();
    if is_public(&path) {
        return next.run(request).await;
    }
    let page = !path.starts_with("/api") && path != "/metrics";
    if security.enabled && page && request.method() == Method::GET {
        if let Some(token) = query_value(request.uri().query(), "token") {
            let uri = request.uri().clone();
            return exchange(&security, peer, &uri, &token).await;
        }
    }
    let presents_credentials = request.headers().contains_key(header::AUTHORIZATION);
    if security.enabled && presents_credentials && !security.failed.allowed(peer.key()) {
        return too_many_attempts();
    }
    // Owned: the request's body is not `Sync`, so no reference to the request may live across an await.
    let headers = request.headers().clone();
    match security.authenticate(&headers, peer.0).await {
        Outcome::Known(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Outcome::Refused => {
            security.failed.failed(peer.key());
            tracing::info!(peer = ?peer.0, "auth: refused a credential");
            unauthorized(&path, request.uri())
        }
        Outcome::Missing => unauthorized(&path, request.uri()),
    }
}

fn unauthorized(path: &str, uri: &axum::http::Uri) -> Response {
    if path.starts_with("/api") || path == "/metrics" {
        let body = serde_json::json!({ "status": 401, "message": "authentication required" });
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(body))
            .into_response();
    }
    let next = uri.path_and_query().map_or("/gestalt/live", |p| p.as_str());
    let location = format!("/gestalt/login?next={}", percent_encode(next));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn too_many_attempts() -> Response {
    let body = serde_json::json!({ "status": 429, "message": "too many failed logins from this address: wait a few minutes" });
    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "300")], axum::Json(body)).into_response()
}

/// `?token=` on a page: a view token becomes a session cookie, and the browser is sent to the same URL
/// without it, so the token leaves the address bar and the history.
async fn exchange(security: &Security, peer: Peer, uri: &axum::http::Uri, token: &str) -> Response {
    if !security.failed.allowed(peer.key()) {
        return too_many_attempts();
    }
    let credential =
        if token.starts_with(VIEW_TOKEN_PREFIX) { security.credential(token).await } else { None };
    let Some((identity, session)) = credential else {
        security.failed.failed(peer.key());
        return login_page(
            StatusCode::UNAUTHORIZED,
            "/gestalt/live",
            Some("This link is invalid, expired or revoked."),
        );
    };
    let Some(cookie) = security.session_cookie(&session) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    tracing::info!(who = %identity.name, "auth: view token exchanged for a session");
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("token"))
        .collect();
    let mut location = uri.path().to_owned();
    if !rest.is_empty() {
        location.push('?');
        location.push_str(&rest.join("&"));
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, location), (header::SET_COOKIE, cookie)]).into_response()
}

/// Whether a browser request comes from this site: its `Origin` (or, without one, `Sec-Fetch-Site`) must match
/// the `Host` or an allowed origin. Requests without either header are not from a browser (curl, scripts, a
/// WebSocket library) and carry no ambient cookies an attacker could borrow.
pub fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else { return false };
        let origin = origin.trim_end_matches('/');
        if allowed.iter().any(|a| a == origin) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        return matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => true,
    }
}

/// The login form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

/// The `?next=` of the login page.
#[derive(Debug, serde::Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// `GET /gestalt/login`.
pub async fn login_form(
    Extract(state): Extract<State>,
    query: Result<axum::extract::Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = safe_next(query.as_ref().map_or("", |q| q.next.as_str()));
    if !state.security.enabled {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    }
    login_page(StatusCode::OK, &next, None)
}

/// `POST /gestalt/login`: a token (static, view or OIDC ID token) for a session cookie.
pub async fn login(
    Extract(state): Extract<State>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let security = &state.security;
    let next = safe_next(&form.next);
    if !same_origin(&headers, &security.allowed_origins) {
        return (StatusCode::FORBIDDEN, "cross-site login refused").into_response();
    }
    if !security.enabled {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    }
    if !security.failed.allowed(peer.key()) {
        return too_many_attempts();
    }
    let Some((identity, session)) = security.credential(form.token.trim()).await else {
        security.failed.failed(peer.key());
        tracing::info!(peer = ?peer.0, "auth: failed login");
        return login_page(StatusCode::UNAUTHORIZED, &next, Some("That token is not valid."));
    };
    let Some(cookie) = security.session_cookie(&session) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    tracing::info!(who = %identity.name, "auth: logged in");
    (StatusCode::SEE_OTHER, [(header::LOCATION, next), (header::SET_COOKIE, cookie)]).into_response()
}

/// `POST /gestalt/logout`.
pub async fn logout(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if !same_origin(&headers, &state.security.allowed_origins) {
        return (StatusCode::FORBIDDEN, "cross-site logout refused").into_response();
    }
    let location = "/gestalt/login".to_owned();
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, state.security.clear_cookie())],
    )
        .into_response()
}

/// Only a path on this site: `/x`, never `//evil.example` or `https://…` (no open redirect).
fn safe_next(next: &str) -> String {
    let ok = next.is_ascii()
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok {
        next.to_owned()
    } else {
        "/gestalt/live".to_owned()
    }
}

fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"gl-login-error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>Sign in · {product}</title>\
         <link rel=\"stylesheet\" href=\"/pkg/gestalt-live.css\"><meta name=\"color-scheme\" content=\"dark\"></head>\
         <body><main class=\"gl-login\"><h1>{product}</h1>{error}\
         <form method=\"post\" action=\"/gestalt/login\"><label for=\"token\">Access token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <input type=\"hidden\" name=\"next\" value=\"{next}\"><button type=\"submit\">Sign in</button></form>\
         </main></body></html>",
        product = app::PRODUCT,
        next = escape(next),
    );
    (status, Html(html)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
