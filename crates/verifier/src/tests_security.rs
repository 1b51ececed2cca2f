//! Issue 16: critical header parameters, key-server bodies, URLs in logs.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use base64::Engine;
use pem_rfc7468::LineEnding;

use super::*;

const SECRET: &[u8] = b"s3cret-for-security-tests";
const NOW: i64 = 1_700_000_000;
const CLAIMS: &str = r#"{"iss":"app","aud":"jitsi","sub":"*","room":"*","exp":1700000060}"#;

fn hs() -> Verifier {
    Verifier::new(Options {
        app_id: Some("app".into()),
        app_secret: Some(SECRET.to_vec()),
        ..Options::default()
    })
    .unwrap()
}

/// An HS256 token over exactly this header text.
fn token_with_header(header: &str) -> String {
    let b64 = |b: &[u8]| decode::B64.encode(b);
    let input = format!("{}.{}", b64(header.as_bytes()), b64(CLAIMS.as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn verdict(header: &str) -> Result<(), String> {
    hs().verify(&token_with_header(header), None, NOW)
        .map(|_| ())
        .map_err(|f| f.reason)
}

#[test]
fn crit_naming_an_unknown_parameter_is_invalid_header() {
    let refused = [
        r#"{"alg":"HS256","typ":"JWT","crit":["x-unknown"],"x-unknown":1}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["x-unknown"]}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["b64","x-unknown"],"b64":true,"x-unknown":1}"#,
        // Names the JWS spec itself defines must not be listed (RFC 7515 §4.1.11).
        r#"{"alg":"HS256","typ":"JWT","crit":["alg"]}"#,
        // Not a non-empty list of names.
        r#"{"alg":"HS256","typ":"JWT","crit":[]}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":"b64","b64":true}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":[1],"b64":true}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":null}"#,
        // Lists b64 without the header carrying it.
        r#"{"alg":"HS256","typ":"JWT","crit":["b64"]}"#,
    ];
    for header in refused {
        assert_eq!(verdict(header), Err("Invalid header".into()), "{header}");
    }
}

#[test]
fn unencoded_payload_is_invalid_header() {
    // RFC 7797: the signature covers the raw payload, which is not implemented here.
    for header in [
        r#"{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","typ":"JWT","b64":false}"#,
        r#"{"alg":"HS256","typ":"JWT","b64":"false"}"#,
    ] {
        assert_eq!(verdict(header), Err("Invalid header".into()), "{header}");
    }
}

#[test]
fn understood_extensions_pass() {
    for header in [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"HS256","typ":"JWT","b64":true}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":true}"#,
    ] {
        assert_eq!(verdict(header), Ok(()), "{header}");
    }
}

#[test]
fn header_check_comes_before_typ_and_alg() {
    assert_eq!(
        verdict(r#"{"alg":"none","typ":"at+jwt","crit":["x"]}"#),
        Err("Invalid header".into())
    );
}

fn rsa_pems() -> (String, String) {
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
    let spki = kp.public_key().as_der().unwrap();
    let pem = |label, der: &[u8]| pem_rfc7468::encode_string(label, LineEnding::LF, der).unwrap();
    (
        pem("PRIVATE KEY", pkcs8.as_ref()),
        pem("PUBLIC KEY", spki.as_ref()),
    )
}

fn key_server(alg: &str) -> Verifier {
    Verifier::new(Options {
        app_id: Some("app".into()),
        asap_key_server: Some("https://keys.example.com/asap".into()),
        signature_algorithm: Some(alg.into()),
        ..Options::default()
    })
    .unwrap()
}

#[test]
fn check_public_key_accepts_only_a_usable_public_key() {
    let (private_pem, public_pem) = rsa_pems();
    let v = key_server("RS256");
    assert_eq!(v.check_public_key(&public_pem), Ok(()));
    assert_eq!(
        v.cached_keys(),
        1,
        "a checked key is parsed once, for the login too"
    );
    let garbage = "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n";
    let not_a_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    for bad in [
        private_pem.as_str(),
        garbage,
        not_a_key,
        "<html>hello</html>",
        "",
    ] {
        let e = v.check_public_key(bad).expect_err(bad);
        assert!(!e.is_empty());
        assert!(
            !e.contains("MII"),
            "the error must not echo key material: {e}"
        );
    }
    // An RSA key for an EC verifier is unusable too.
    assert!(key_server("ES256").check_public_key(&public_pem).is_err());
    assert!(hs().check_public_key(&public_pem).is_err());
}

#[test]
fn loggable_url_drops_userinfo_and_masks_query_values() {
    let cases = [
        (
            "http://user:pass@127.0.0.1:8080/keys?access_token=s3cret&x=1",
            "http://127.0.0.1:8080/keys?access_token=***&x=***",
        ),
        (
            "https://user@keys.example.com/jwks.json",
            "https://keys.example.com/jwks.json",
        ),
        (
            "https://keys.example.com/a/b.pem",
            "https://keys.example.com/a/b.pem",
        ),
        (
            "https://keys.example.com/k?token",
            "https://keys.example.com/k?token=***",
        ),
        ("https://keys.example.com/k?", "https://keys.example.com/k"),
        (
            "https://keys.example.com/k#frag",
            "https://keys.example.com/k",
        ),
        ("not a url s3cret", "(a URL that does not parse)"),
    ];
    for (raw, shown) in cases {
        assert_eq!(loggable_url(raw), shown, "{raw}");
    }
}
