//! The seam to callers: reason codes, what a refusal read of the token, a
//! key-server verification that waits for its key without decoding twice, and
//! the local-key mode of `token verify`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use pem_rfc7468::LineEnding;
use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000;

/// (private PKCS#8 PEM, public SPKI PEM)
fn rsa_pems() -> (String, String) {
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
    let spki = kp.public_key().as_der().unwrap();
    (
        pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, pkcs8.as_ref()).unwrap(),
        pem_rfc7468::encode_string("PUBLIC KEY", LineEnding::LF, spki.as_ref()).unwrap(),
    )
}

fn options(key_server: bool) -> Options {
    Options {
        app_id: Some("app".into()),
        asap_key_server: key_server.then(|| "https://keys.example.com/asap".into()),
        ..Options::default()
    }
}

fn claims(exp: i64) -> Claims {
    json!({"iss": "app", "aud": "jitsi", "sub": "meet.example", "room": "*", "exp": exp})
        .as_object()
        .unwrap()
        .clone()
}

fn rs_token(private: &str, kid: Option<&str>, exp: i64) -> String {
    mint(
        Algorithm::RS256,
        SigningKey::PrivatePem(private),
        kid,
        &claims(exp),
    )
    .unwrap()
}

fn sub_of(claims: Object<'_>) -> String {
    claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn a_key_server_login_decodes_its_token_once() {
    let (private, public) = rsa_pems();
    let v = Verifier::new(options(true)).unwrap();
    let token = rs_token(&private, Some("kid-1"), NOW + 60);
    let before = decodes();
    let refused = v
        .verify_or_pend(token.as_bytes(), None, NOW, |c, _| sub_of(c))
        .expect_err("no key yet");
    assert_eq!(refused.failure.code, Reason::KeyMissing);
    assert_eq!(refused.failure.reason, reason::KEY_MISSING);
    let pending = refused.pending.expect("a key server can finish it");
    assert_eq!(pending.kid(), "kid-1");
    let read = &refused.failure.read;
    assert_eq!(
        (
            read.kid.as_deref(),
            read.iss.as_deref(),
            read.sub.as_deref()
        ),
        (Some("kid-1"), Some("app"), Some("meet.example"))
    );
    let done = v.finish(&pending, Some(&public), NOW, |c, kid| {
        (sub_of(c), kid.map(str::to_owned))
    });
    assert_eq!(done, Ok(("meet.example".into(), Some("kid-1".into()))));
    assert_eq!(decodes() - before, 1, "verify, kid, finish: one decode");
}

#[test]
fn a_pending_token_is_refused_as_it_would_be_with_the_key() {
    let (private, public) = rsa_pems();
    let (_, other_public) = rsa_pems();
    let v = Verifier::new(options(true)).unwrap();
    let pend = |token: &str| {
        v.verify_or_pend(token.as_bytes(), None, NOW, |_, _| ())
            .err()
            .unwrap()
            .pending
            .unwrap()
    };
    let good = pend(&rs_token(&private, Some("k"), NOW + 60));
    let f = v.finish(&good, None, NOW, |_, _| ()).unwrap_err();
    assert_eq!(
        (f.code, f.reason.as_str()),
        (Reason::NoPublicKey, reason::NO_PUBLIC_KEY)
    );
    assert_eq!(
        f.read.kid.as_deref(),
        Some("k"),
        "a failed fetch still names the kid"
    );
    let f = v
        .finish(&good, Some(&other_public), NOW, |_, _| ())
        .unwrap_err();
    assert_eq!(f.code, Reason::InvalidSignature);
    let f = v
        .finish(&good, Some("not a key"), NOW, |_, _| ())
        .unwrap_err();
    assert_eq!(f.code, Reason::NoPublicKey);
    // The claims are judged when the key has arrived, as if the token came then.
    let f = v
        .finish(&good, Some(&public), NOW + 61, |_, _| ())
        .unwrap_err();
    assert_eq!(
        (f.code, f.reason.as_str()),
        (
            Reason::Expired,
            "Not acceptable by exp (1 sec since expired)"
        )
    );
    assert!(v.finish(&good, Some(&public), NOW, |_, _| ()).is_ok());
}

#[test]
fn only_a_missing_key_leaves_a_verification_pending() {
    let (private, public) = rsa_pems();
    let v = Verifier::new(options(true)).unwrap();
    let no_kid = rs_token(&private, None, NOW + 60);
    let r = v
        .verify_or_pend(no_kid.as_bytes(), None, NOW, |_, _| ())
        .err()
        .unwrap();
    assert_eq!(r.failure.code, Reason::KidMissing);
    assert!(r.pending.is_none());
    let r = v
        .verify_or_pend(b"a.b", None, NOW, |_, _| ())
        .err()
        .unwrap();
    assert_eq!(
        (r.failure.code, r.failure.read.clone()),
        (Reason::InvalidToken, Unverified::default())
    );
    assert!(r.pending.is_none());
    // With the PEM at hand nothing waits.
    let token = rs_token(&private, Some("k"), NOW + 60);
    let kid = v.verify_or_pend(token.as_bytes(), Some(&public), NOW, |_, kid| {
        kid.map(str::to_owned)
    });
    assert_eq!(kid.ok(), Some(Some("k".into())));
}

#[test]
fn every_refusal_carries_its_code_condition_and_what_the_token_said() {
    let v = Verifier::new(Options {
        app_id: Some("app".into()),
        app_secret: Some(b"a shared secret for the seam tests".to_vec()),
        ..Options::default()
    })
    .unwrap();
    let forged = mint(
        Algorithm::HS256,
        SigningKey::Secret(b"another secret, not the host's one"),
        Some("kid-7"),
        &claims(NOW + 60),
    )
    .unwrap();
    let f = v.verify(&forged, None, NOW).unwrap_err();
    assert_eq!(
        (f.code, f.condition),
        (Reason::InvalidSignature, Condition::NotAllowed)
    );
    assert_eq!(
        f.read,
        Unverified {
            kid: Some("kid-7".into()),
            iss: Some("app".into()),
            sub: Some("meet.example".into())
        }
    );
    let mut no_sub = claims(NOW + 60);
    no_sub.remove("sub");
    let t = mint(
        Algorithm::HS256,
        SigningKey::Secret(b"a shared secret for the seam tests"),
        None,
        &no_sub,
    )
    .unwrap();
    let f = v.verify(&t, None, NOW).unwrap_err();
    assert_eq!(
        (f.code, f.condition, f.reason.as_str()),
        (
            Reason::SubMissing,
            Condition::NotAuthorized,
            reason::SUB_MISSING
        )
    );
    for code in Reason::ALL {
        let f = Failure::new(code);
        assert_eq!(
            (f.reason.as_str(), f.condition),
            (code.text(), code.condition())
        );
    }
}

#[test]
fn a_local_public_key_is_a_key_source_of_its_own() {
    let (private, public) = rsa_pems();
    let v = Verifier::with_public_key(options(false), &public).unwrap();
    assert!(v.uses_public_keys());
    assert_eq!(v.algorithm(), Algorithm::RS256);
    let token = rs_token(&private, Some("any"), NOW + 60);
    assert!(v.verify(&token, None, NOW).is_ok());
    // Prosody's key-server rules still apply: a kid is required.
    let f = v
        .verify(&rs_token(&private, None, NOW + 60), None, NOW)
        .unwrap_err();
    assert_eq!(f.code, Reason::KidMissing);
    let (_, other) = rsa_pems();
    let v = Verifier::with_public_key(options(false), &other).unwrap();
    assert_eq!(
        v.verify(&token, None, NOW).unwrap_err().code,
        Reason::InvalidSignature
    );
    // Without it the same options have no key source at all.
    assert!(Verifier::new(options(false)).is_err());
}
