//! Property-based fuzzing of everything that parses what a client sends for authentication: the
//! `Authorization` and `Cookie` values, view tokens and session cookies (random and mutated), the token and
//! group files, CIDRs, and the login page's redirect target. The same functions have cargo-fuzz targets in
//! `fuzz/` (see SECURITY.md for why those are not part of `make test`); these run in every `cargo test`.

use proptest::prelude::*;

use super::files::{GroupMap, TokenFile};
use super::proxy::Cidr;
use super::signed::{cookie_value, now, SigningKey, ViewClaims};
use super::Scope;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, ..ProptestConfig::default() }
}

/// Strings made of the characters the parsers split on, so the cases reach the interesting branches.
fn tricky() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9=;., _/+%#:*\\-\\n\\r\\t\"\\\\\u{0}\u{e9}]{0,80}").unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_text_never_passes_as_a_view_token_or_session(text in tricky(), prefix in proptest::bool::ANY) {
        let key = SigningKey::ephemeral().unwrap();
        let candidate = if prefix { format!("glv1.{text}") } else { text.clone() };
        prop_assert!(key.verify_view_token(&candidate, 0).is_err());
        prop_assert!(key.verify_session(&candidate, 0).is_err());
    }

    #[test]
    fn any_change_to_a_view_token_is_refused(position in 0usize..400, byte in proptest::num::u8::ANY) {
        let key = SigningKey::ephemeral().unwrap();
        let claims = ViewClaims { id: "id".into(), name: "n".into(), scope: Scope::namespaces(["a"]), iat: 0, exp: now() + 60 };
        let token = key.view_token(&claims);
        let mut bytes = token.clone().into_bytes();
        let at = position % bytes.len();
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        // Base64 has several encodings of the last character's unused bits: a mutation there can decode to the
        // same bytes, and then it is the same token.
        if let Ok(decoded) = key.verify_view_token(&mutated, 0) {
            prop_assert_eq!(decoded, claims);
        }
    }

    #[test]
    fn cookie_and_bearer_parsing_take_any_header_value(text in tricky(), name in "[a-z_-]{1,12}") {
        if let Some(value) = cookie_value(&text, &name) {
            prop_assert!(!value.contains(';'));
        }
        if let Some(token) = super::bearer(&text) {
            prop_assert!(!token.is_empty() && token.len() < text.len());
        }
    }

    #[test]
    fn the_operator_files_parse_or_fail_cleanly(text in tricky()) {
        let _ = TokenFile::parse(&text);
        let _ = GroupMap::parse(&text);
        let _ = text.parse::<Cidr>();
    }

    #[test]
    fn no_random_bearer_or_cookie_authenticates(text in "[ -~]{0,60}") {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let path = std::env::temp_dir().join(format!("gestalt-fuzz-tokens-{}", std::process::id()));
        std::fs::write(&path, "the-one-real-token-0123456789\n").unwrap();
        let tokens = super::reload::Reloading::load(path, TokenFile::parse).unwrap();
        let security = super::Security::with_key(SigningKey::ephemeral().unwrap()).with_tokens(tokens);
        for (header, value) in [("authorization", format!("Bearer {text}")), ("cookie", format!("gestalt-session={text}")), ("cookie", format!("__Host-gestalt-session={text}"))] {
            let Ok(value) = axum::http::HeaderValue::from_str(&value) else { continue };
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(header, value);
            let outcome = runtime.block_on(security.authenticate(&headers, None));
            prop_assert!(!matches!(outcome, super::Outcome::Known(_)), "{header}: {text:?}");
        }
    }
}
