//! Key-server mode: the input as a token verified with fixed public keys, and the
//! input as the PEM a key server returned, with a well-formed token (and as a URL
//! to show in a log).
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jitsi_tokens_verifier::{loggable_url, mint, Algorithm, Options, Reason, SigningKey, Verifier};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    rs: Verifier,
    es: Verifier,
    es_pem: String,
    token: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).unwrap()
}

static F: LazyLock<Fixture> = LazyLock::new(|| {
    let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let es_pem = pem("PUBLIC KEY", kp.public_key().as_der().unwrap().as_ref());
    let private = pem("PRIVATE KEY", kp.to_pkcs8v1().unwrap().as_ref());
    let claims = serde_json::json!({"iss": "app", "aud": "x", "room": "*", "sub": "*"});
    let token = mint(
        Algorithm::ES256,
        SigningKey::PrivatePem(&private),
        Some("k"),
        claims.as_object().unwrap(),
    )
    .unwrap();
    let mk = |alg: &str| {
        Verifier::new(Options {
            app_id: Some("app".into()),
            asap_key_server: Some("https://keys.example.com/".into()),
            signature_algorithm: Some(alg.into()),
            ..Options::default()
        })
        .unwrap()
    };
    let es = mk("ES256");
    es.verify(&token, Some(&es_pem), 0)
        .expect("fixture token verifies");
    Fixture {
        rs: mk("RS256"),
        es,
        es_pem,
        token,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*F;
    let _ = f.es.verify_bytes(data, Some(&f.es_pem), 0);
    let _ = f.es.verify_bytes(data, None, 0);
    if let Ok(pem) = std::str::from_utf8(data) {
        let r = f.es.verify(&f.token, Some(pem), 0);
        let _ = f.rs.verify(&f.token, Some(pem), 0);
        if r.is_ok() {
            // Only the real key (possibly with surrounding text) can verify.
            assert!(pem.contains("-----BEGIN"));
        }
        // What the plugin caches is exactly what verify can use.
        let checked = f.es.check_public_key(pem);
        match &r {
            Err(e) if e.code == Reason::NoPublicKey => assert!(checked.is_err()),
            _ => assert!(checked.is_ok()),
        }
        let _ = loggable_url(pem);
    }
});
