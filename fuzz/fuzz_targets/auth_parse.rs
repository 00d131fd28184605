//! What a client sends for authentication, through the server's own parsing code (included from
//! `server/src/auth/`, which is a binary crate's module): cookie headers, view tokens and session cookies
//! (never accepted without the key), and the operator's token and group files.
#![no_main]
#![allow(dead_code, missing_docs)]

use libfuzzer_sys::fuzz_target;

// At the crate root, as siblings, because they name each other `super::…` as in `server/src/auth/`.
#[path = "../../server/src/auth/files.rs"]
mod files;
#[path = "../../server/src/auth/reload.rs"]
mod reload;
#[path = "../../server/src/auth/scope.rs"]
mod scope;
#[path = "../../server/src/auth/signed.rs"]
mod signed;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = files::TokenFile::parse(text);
    let _ = files::GroupMap::parse(text);
    if let Some(value) = signed::cookie_value(text, "__Host-gestalt-session") {
        assert!(!value.contains(';'));
    }
    let key = signed::SigningKey::ephemeral().expect("randomness");
    assert!(key.verify_view_token(text, 0).is_err(), "a view token forged without the key");
    assert!(key.verify_session(text, 0).is_err(), "a session forged without the key");
});
