//! A locally generated P-256 key pair, its JWKS served by a throwaway HTTP server on loopback, and ID tokens
//! signed with it: the checks the real issuer's tokens go through.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "gestalt-live";

struct Issuer {
    pkcs8: Vec<u8>,
    jwks: String,
}

fn issuer() -> Issuer {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap().as_ref().to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).unwrap();
    let public = pair.public_key().as_ref();
    let (x, y) = (URL_SAFE_NO_PAD.encode(&public[1..33]), URL_SAFE_NO_PAD.encode(&public[33..65]));
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "k1", "alg": "ES256", "use": "sig"}]});
    Issuer { pkcs8, jwks: jwks.to_string() }
}

/// Serves `body` to every GET on a loopback port; returns the URL.
async fn serve_jwks(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/jwks.json")
}

fn claims(exp_in: i64) -> serde_json::Value {
    let now = super::super::signed::now() as i64;
    serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "email": "alice@example.com",
        "groups": ["dev", "ops"], "iat": now, "exp": now + exp_in,
    })
}

fn sign(issuer: &Issuer, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&issuer.pkcs8)).unwrap()
}

async fn verifier(issuer: &Issuer) -> Oidc {
    let url = serve_jwks(issuer.jwks.clone()).await;
    let settings = OidcSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        groups_claim: "groups".into(),
        jwks: JwksSource::parse(&url),
    };
    Oidc::start(settings).await.unwrap()
}

#[tokio::test]
async fn a_valid_id_token_from_the_jwks_url_names_the_user_and_groups() {
    let issuer = issuer();
    let oidc = verifier(&issuer).await;
    let user = oidc.verify(&sign(&issuer, Some("k1"), &claims(300))).await.unwrap();
    assert_eq!(user.user, "alice@example.com");
    assert_eq!(user.groups, vec!["dev", "ops"]);
}

#[tokio::test]
async fn wrong_issuer_audience_expiry_or_not_before_are_refused() {
    let issuer = issuer();
    let oidc = verifier(&issuer).await;
    let with = |key: &str, value: serde_json::Value| {
        let mut c = claims(300);
        c[key] = value;
        sign(&issuer, Some("k1"), &c)
    };
    assert!(oidc.verify(&with("iss", "https://evil.test".into())).await.is_none());
    assert!(oidc.verify(&with("aud", "another-app".into())).await.is_none());
    // Beyond the leeway.
    assert!(oidc.verify(&sign(&issuer, Some("k1"), &claims(-(LEEWAY_SECONDS as i64) - 60))).await.is_none());
    let now = super::super::signed::now();
    assert!(oidc.verify(&with("nbf", (now + LEEWAY_SECONDS + 600).into())).await.is_none());
    // Within the leeway, both pass.
    assert!(oidc.verify(&sign(&issuer, Some("k1"), &claims(-5))).await.is_some());
    assert!(oidc.verify(&with("nbf", (now + 5).into())).await.is_some());
}

#[tokio::test]
async fn another_key_a_tampered_payload_and_other_algorithms_are_refused() {
    let issuer = issuer();
    let oidc = verifier(&issuer).await;
    let stranger = self::issuer();
    assert!(oidc.verify(&sign(&stranger, Some("k1"), &claims(300))).await.is_none());
    let good = sign(&issuer, Some("k1"), &claims(300));
    let parts: Vec<&str> = good.split('.').collect();
    let mut widened = claims(300);
    widened["groups"] = serde_json::json!(["admins"]);
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(widened.to_string()), parts[2]);
    assert!(oidc.verify(&forged).await.is_none());
    // alg "none", and HS256 keyed with the public JWKS (the classic confusion attack).
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#), parts[1]);
    assert!(oidc.verify(&none).await.is_none());
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let hmac =
        jsonwebtoken::encode(&hs, &claims(300), &EncodingKey::from_secret(issuer.jwks.as_bytes())).unwrap();
    assert!(oidc.verify(&hmac).await.is_none());
    assert!(oidc.verify("not a jwt").await.is_none());
    assert!(oidc.verify(&sign(&issuer, Some("unknown-kid"), &claims(300))).await.is_none());
}

#[tokio::test]
async fn a_jwks_file_works_and_plain_http_to_a_remote_host_is_refused() {
    let issuer = issuer();
    let path = std::env::temp_dir().join(format!("gestalt-jwks-{}.json", std::process::id()));
    std::fs::write(&path, &issuer.jwks).unwrap();
    let settings = OidcSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        groups_claim: "groups".into(),
        jwks: JwksSource::parse(path.to_str().unwrap()),
    };
    let oidc = Oidc::start(settings.clone()).await.unwrap();
    assert!(oidc.verify(&sign(&issuer, None, &claims(300))).await.is_some(), "one key, no kid: that key");
    std::fs::remove_file(&path).unwrap();
    let remote = OidcSettings { jwks: JwksSource::parse("http://issuer.example.com/jwks"), ..settings };
    assert!(matches!(Oidc::start(remote).await, Err(OidcError::InsecureUrl(_))));
}
