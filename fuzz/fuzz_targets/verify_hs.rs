//! HS256 mode. Raw input as a token (decoding, size and segment checks), then the
//! input split at the first 0xFF into header and body JSON and signed with the
//! verifier's secret, so the fuzzer reaches the typ/alg/claim checks too. The
//! verifier's own JSON view is checked against serde_json's reading of the same
//! bytes: the header always, the claims whenever a token passes.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jitsi_tokens_verifier::{header, Options, Verifier};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

static VERIFIERS: LazyLock<[Verifier; 2]> = LazyLock::new(|| {
    let base = Options {
        app_id: Some("app".into()),
        app_secret: Some(SECRET.to_vec()),
        ..Options::default()
    };
    [
        Verifier::new(base.clone()).unwrap(),
        Verifier::new(Options {
            token_clock_leeway: Some(u32::MAX),
            token_require_typ: Some(false),
            asap_accepted_issuers: Some(vec!["*".into()]),
            asap_accepted_audiences: Some(vec!["a".into(), "b".into()]),
            asap_require_room_claim: Some(false),
            ..base
        })
        .unwrap(),
    ]
});

fuzz_target!(|data: &[u8]| {
    let now = 1_700_000_000;
    for v in VERIFIERS.iter() {
        let _ = v.verify_bytes(data, None, now);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = header(s);
    }
    let (h, b) = match data.iter().position(|&x| x == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(b));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let expected_header = match serde_json::from_slice::<serde_json::Value>(h) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    };
    assert_eq!(header(&token).ok(), expected_header);
    for v in VERIFIERS.iter() {
        match v.verify(&token, None, now) {
            // A pass means every rule held: recheck the ones we can see.
            Ok(claims) => {
                let hv: serde_json::Value = serde_json::from_slice(h).unwrap();
                assert_eq!(hv["alg"], "HS256");
                assert!(claims.get("sub").is_some_and(|s| !s.is_null()));
                let expected: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(b).unwrap();
                assert_eq!(claims, expected);
            }
            Err(f) => assert!(!f.reason.contains(&input), "reason echoes the token"),
        }
    }
});
