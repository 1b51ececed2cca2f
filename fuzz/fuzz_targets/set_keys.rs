//! `cache_keys_url` documents (JWKS or kid→PEM maps) for each key family.
#![no_main]

use std::sync::LazyLock;

use jitsi_tokens_verifier::{Options, Verifier};
use libfuzzer_sys::fuzz_target;

static VERIFIERS: LazyLock<Vec<Verifier>> = LazyLock::new(|| {
    ["RS256", "PS512", "ES256", "ES384", "EdDSA"]
        .iter()
        .map(|alg| {
            Verifier::new(Options {
                app_id: Some("app".into()),
                cache_keys_url: Some("https://keys.example.com/jwks".into()),
                signature_algorithm: Some((*alg).into()),
                ..Options::default()
            })
            .unwrap()
        })
        .collect()
});

const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsifQ.e30.AAAA";

fuzz_target!(|data: &[u8]| {
    for v in VERIFIERS.iter() {
        if let Ok(n) = v.set_keys(data) {
            assert!(n > 0);
        }
        let _ = v.verify(TOKEN, None, 0);
    }
});
