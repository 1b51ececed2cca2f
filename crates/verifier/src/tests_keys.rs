//! Public-key mode: RFC 7515 vectors, every asymmetric algorithm, PEM forms,
//! the parsed-key cache, JWKS and PEM-map documents.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::Engine;
use pem_rfc7468::LineEnding;
use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000;

fn pem(label: &str, der: &[u8]) -> String {
    pem_rfc7468::encode_string(label, LineEnding::LF, der).unwrap()
}

fn b64(b: &[u8]) -> String {
    decode::B64.encode(b)
}

/// A generated key: private PKCS#8 PEM, public SPKI PEM, and its JWK.
struct TestKey {
    private_pem: String,
    public_pem: String,
    jwk: serde_json::Value,
}

fn rsa_key() -> (TestKey, RsaKeyPair) {
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
    let spki = kp.public_key().as_der().unwrap();
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
    let key = TestKey {
        private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
        public_pem: pem("PUBLIC KEY", spki.as_ref()),
        jwk: json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)}),
    };
    (key, kp)
}

fn ec_key(alg: Algorithm) -> (TestKey, EcdsaKeyPair) {
    let (sa, crv, len) = match alg {
        Algorithm::ES256 => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        _ => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
    };
    let kp = EcdsaKeyPair::generate(sa).unwrap();
    let point = kp.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 1 + 2 * len);
    let key = TestKey {
        private_pem: pem("PRIVATE KEY", kp.to_pkcs8v1().unwrap().as_ref()),
        public_pem: pem("PUBLIC KEY", kp.public_key().as_der().unwrap().as_ref()),
        jwk: json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])}),
    };
    (key, kp)
}

fn ed_key() -> TestKey {
    let kp = Ed25519KeyPair::generate().unwrap();
    TestKey {
        private_pem: pem("PRIVATE KEY", kp.to_pkcs8v1().unwrap().as_ref()),
        public_pem: pem("PUBLIC KEY", kp.public_key().as_der().unwrap().as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())}),
    }
}

fn key_for(alg: Algorithm) -> TestKey {
    match alg.family() {
        algorithm::Family::Rsa => rsa_key().0,
        algorithm::Family::Ec => ec_key(alg).0,
        _ => ed_key(),
    }
}

fn claims() -> Claims {
    json!({"iss": "app", "aud": "jitsi", "sub": "*", "room": "*", "exp": NOW + 60})
        .as_object()
        .unwrap()
        .clone()
}

fn key_server(alg: Algorithm) -> Verifier {
    Verifier::new(Options {
        app_id: Some("app".into()),
        asap_key_server: Some("https://keys.example.com/asap".into()),
        signature_algorithm: Some(alg.to_string()),
        ..Options::default()
    })
    .unwrap()
}

fn keys_url(alg: Algorithm) -> Verifier {
    Verifier::new(Options {
        app_id: Some("app".into()),
        cache_keys_url: Some("https://keys.example.com/jwks.json".into()),
        signature_algorithm: Some(alg.to_string()),
        ..Options::default()
    })
    .unwrap()
}

fn reason_of<T: std::fmt::Debug>(r: Result<T, Failure>) -> String {
    r.expect_err("must be refused").reason
}

fn asymmetric() -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric())
}

// RFC 7515 appendix A.1 (HS256): token and key are the RFC's.
const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

// RFC 7515 appendix A.2 (RS256).
const A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.\
eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJd\
bF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN938\
3LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkW\
ywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt\
0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e\
-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q\
2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";

fn flip_last_sig_byte(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig = decode::B64.decode(sig).unwrap();
    sig[0] ^= 1;
    format!("{head}.{}", b64(&sig))
}

#[test]
fn rfc7515_a1_hs256() {
    let key = decode::B64.decode(A1_KEY).unwrap();
    verify_signature(A1_TOKEN, Algorithm::HS256, VerifyKey::Secret(&key)).unwrap();
    assert_eq!(
        reason_of(verify_signature(
            &flip_last_sig_byte(A1_TOKEN),
            Algorithm::HS256,
            VerifyKey::Secret(&key)
        )),
        reason::INVALID_SIGNATURE
    );
    // Through the full check order: typ, alg, signature, exp and iss pass; the
    // example has no aud, which is the first check it fails.
    let v = Verifier::new(Options {
        app_id: Some("joe".into()),
        app_secret: Some(key),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(
        reason_of(v.verify(A1_TOKEN, None, 1_300_819_379)),
        reason::AUD_MISSING
    );
    assert_eq!(
        reason_of(v.verify(A1_TOKEN, None, 1_300_819_390)),
        "Not acceptable by exp (10 sec since expired)"
    );
}

#[test]
fn rfc7515_a2_rs256() {
    let jwk = json!({"kty": "RSA", "n": A2_N, "e": "AQAB"}).to_string();
    verify_signature(A2_TOKEN, Algorithm::RS256, VerifyKey::Jwk(&jwk)).unwrap();
    assert_eq!(
        reason_of(verify_signature(
            &flip_last_sig_byte(A2_TOKEN),
            Algorithm::RS256,
            VerifyKey::Jwk(&jwk)
        )),
        reason::INVALID_SIGNATURE
    );
    // The same key loaded through a JWKS document.
    let v = keys_url(Algorithm::RS256);
    let doc = json!({"keys": [{"kty": "RSA", "kid": "rfc", "n": A2_N, "e": "AQAB"}]});
    assert_eq!(v.set_keys(doc.to_string().as_bytes()).unwrap(), 1);
    let key = v.key_set.read().unwrap().get("rfc").cloned().unwrap();
    let (input, sig) = A2_TOKEN.rsplit_once('.').unwrap();
    key.verify_sig(input.as_bytes(), &decode::B64.decode(sig).unwrap())
        .unwrap();
    // The RFC's header has no kid: key mode refuses it at check 5.
    let lax = Verifier::new(Options {
        app_id: Some("joe".into()),
        cache_keys_url: Some("https://k.example/jwks".into()),
        token_require_typ: Some(false),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(
        reason_of(lax.verify(A2_TOKEN, None, 1_300_819_379)),
        reason::KID_MISSING
    );
}

#[test]
fn every_asymmetric_algorithm_round_trips_in_key_server_mode() {
    for alg in asymmetric() {
        let k = key_for(alg);
        let t = mint(
            alg,
            SigningKey::PrivatePem(&k.private_pem),
            Some("kid-1"),
            &claims(),
        )
        .unwrap();
        let v = key_server(alg);
        assert_eq!(
            v.verify(&t, Some(&k.public_pem), NOW).unwrap(),
            claims(),
            "{alg}"
        );
        assert_eq!(
            reason_of(v.verify(&flip_last_sig_byte(&t), Some(&k.public_pem), NOW)),
            reason::INVALID_SIGNATURE
        );
        // Another key of the same kind: bad signature.
        let other = key_for(alg);
        assert_eq!(
            reason_of(v.verify(&t, Some(&other.public_pem), NOW)),
            reason::INVALID_SIGNATURE,
            "{alg}"
        );
        // Through a JWKS instead of a PEM.
        let mut jwk = k.jwk.clone();
        jwk["kid"] = json!("kid-1");
        let w = keys_url(alg);
        assert_eq!(
            w.set_keys(json!({"keys": [jwk]}).to_string().as_bytes())
                .unwrap(),
            1,
            "{alg}"
        );
        w.verify(&t, None, NOW)
            .unwrap_or_else(|f| panic!("{alg}: {f}"));
        // Standalone signature check with the JWK.
        verify_signature(&t, alg, VerifyKey::Jwk(&k.jwk.to_string())).unwrap();
        verify_signature(&t, alg, VerifyKey::Pem(&k.public_pem)).unwrap();
    }
}

#[test]
fn another_family_key_is_could_not_obtain() {
    let (ec, _) = ec_key(Algorithm::ES256);
    let rsa = rsa_key().0;
    let t = mint(
        Algorithm::RS256,
        SigningKey::PrivatePem(&rsa.private_pem),
        Some("k"),
        &claims(),
    )
    .unwrap();
    let v = key_server(Algorithm::RS256);
    assert_eq!(
        reason_of(v.verify(&t, Some(&ec.public_pem), NOW)),
        reason::NO_PUBLIC_KEY
    );
    // ES384 verifier with a P-256 key.
    let t = mint(
        Algorithm::ES256,
        SigningKey::PrivatePem(&ec.private_pem),
        Some("k"),
        &claims(),
    )
    .unwrap();
    let v = key_server(Algorithm::ES384);
    assert_eq!(
        reason_of(v.verify(&t, Some(&ec.public_pem), NOW)),
        reason::INVALID_ALG
    );
    // Garbage and private keys are not public keys.
    let v = key_server(Algorithm::ES256);
    for bad in [
        "",
        "not a pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        &ec.private_pem,
    ] {
        assert_eq!(
            reason_of(v.verify(&t, Some(bad), NOW)),
            reason::NO_PUBLIC_KEY
        );
    }
}

#[test]
fn rsa_public_key_forms_pkcs1_and_spki() {
    let (k, kp) = rsa_key();
    let pkcs1 = pem("RSA PUBLIC KEY", kp.public_key().as_ref());
    let t = mint(
        Algorithm::PS256,
        SigningKey::PrivatePem(&k.private_pem),
        Some("k"),
        &claims(),
    )
    .unwrap();
    let v = key_server(Algorithm::PS256);
    v.verify(&t, Some(&pkcs1), NOW).unwrap();
    v.verify(&t, Some(&k.public_pem), NOW).unwrap();
    // Surrounding text (comments, CRLF) around the block is tolerated.
    let noisy = format!(
        "# key for kid k\r\n{}\r\ntrailing\r\n",
        k.public_pem.replace('\n', "\r\n")
    );
    v.verify(&t, Some(&noisy), NOW).unwrap();
}

#[test]
fn sec1_ec_private_key_mints() {
    let (k, kp) = ec_key(Algorithm::ES256);
    let sec1 = kp.private_key().as_der().unwrap();
    let sec1_pem = pem("EC PRIVATE KEY", sec1.as_ref());
    let t = mint(
        Algorithm::ES256,
        SigningKey::PrivatePem(&sec1_pem),
        Some("k"),
        &claims(),
    )
    .unwrap();
    key_server(Algorithm::ES256)
        .verify(&t, Some(&k.public_pem), NOW)
        .unwrap();
}

#[test]
fn key_mode_check_order() {
    let alg = Algorithm::RS256;
    let k = rsa_key().0;
    let v = key_server(alg);
    let no_kid = mint(alg, SigningKey::PrivatePem(&k.private_pem), None, &claims()).unwrap();
    assert_eq!(
        reason_of(v.verify(&no_kid, Some(&k.public_pem), NOW)),
        reason::KID_MISSING
    );
    // kid must be a non-empty string.
    let empty_kid = mint(
        alg,
        SigningKey::PrivatePem(&k.private_pem),
        Some(""),
        &claims(),
    )
    .unwrap();
    assert_eq!(
        reason_of(v.verify(&empty_kid, Some(&k.public_pem), NOW)),
        reason::KID_MISSING
    );
    let good = mint(
        alg,
        SigningKey::PrivatePem(&k.private_pem),
        Some("k"),
        &claims(),
    )
    .unwrap();
    // No key given and none loaded.
    assert_eq!(reason_of(v.verify(&good, None, NOW)), reason::KEY_MISSING);
    // Algorithm confusion: an HS256 token "signed" with the public PEM as secret.
    let confused = mint(
        Algorithm::HS256,
        SigningKey::Secret(k.public_pem.as_bytes()),
        Some("k"),
        &claims(),
    )
    .unwrap();
    assert_eq!(
        reason_of(v.verify(&confused, Some(&k.public_pem), NOW)),
        reason::INVALID_ALG
    );
    // Claims are checked after the signature in key mode too.
    let mut c = claims();
    c.remove("sub");
    let t = mint(alg, SigningKey::PrivatePem(&k.private_pem), Some("k"), &c).unwrap();
    let f = v.verify(&t, Some(&k.public_pem), NOW).unwrap_err();
    assert_eq!(
        (f.reason.as_str(), f.condition),
        (reason::SUB_MISSING, Condition::NotAuthorized)
    );
}

#[test]
fn kid_only_rs_guard_blocks_hmac_in_key_mode() {
    // `new` never builds this state; force it to exercise the defence in depth.
    let mut v = key_server(Algorithm::RS256);
    v.config.algorithm = Algorithm::HS256;
    let t = mint(
        Algorithm::HS256,
        SigningKey::Secret(b"pem-as-secret"),
        Some("k"),
        &claims(),
    )
    .unwrap();
    assert_eq!(
        reason_of(v.verify(&t, Some("pem-as-secret"), NOW)),
        reason::KID_ONLY_RS
    );
}

#[test]
fn a_pem_is_parsed_once() {
    let alg = Algorithm::RS256;
    let k1 = rsa_key().0;
    let k2 = rsa_key().0;
    let t1 = mint(
        alg,
        SigningKey::PrivatePem(&k1.private_pem),
        Some("1"),
        &claims(),
    )
    .unwrap();
    let t2 = mint(
        alg,
        SigningKey::PrivatePem(&k2.private_pem),
        Some("2"),
        &claims(),
    )
    .unwrap();
    let v = key_server(alg);
    assert_eq!(v.key_parses(), 0);
    for _ in 0..5 {
        v.verify(&t1, Some(&k1.public_pem), NOW).unwrap();
    }
    assert_eq!(v.key_parses(), 1);
    v.verify(&t2, Some(&k2.public_pem), NOW).unwrap();
    v.verify(&t1, Some(&k1.public_pem), NOW).unwrap();
    assert_eq!(v.key_parses(), 2);
    assert_eq!(v.cached_keys(), 2);
    // An unusable PEM is not cached as a key.
    let _ = v.verify(&t1, Some("junk"), NOW);
    let _ = v.verify(&t1, Some("junk"), NOW);
    assert_eq!(v.cached_keys(), 2);
    // Bounded: with room for one key, alternating keys are parsed each time.
    v.set_key_cache_size(1);
    assert_eq!(v.cached_keys(), 1);
    let before = v.key_parses();
    v.verify(&t1, Some(&k1.public_pem), NOW).unwrap();
    v.verify(&t2, Some(&k2.public_pem), NOW).unwrap();
    v.verify(&t1, Some(&k1.public_pem), NOW).unwrap();
    assert!(v.key_parses() >= before + 2);
    assert_eq!(v.cached_keys(), 1);
}

#[test]
fn shared_across_threads() {
    let alg = Algorithm::ES256;
    let k = key_for(alg);
    let t = mint(
        alg,
        SigningKey::PrivatePem(&k.private_pem),
        Some("k"),
        &claims(),
    )
    .unwrap();
    let v = std::sync::Arc::new(key_server(alg));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (v, t, p) = (v.clone(), t.clone(), k.public_pem.clone());
            std::thread::spawn(move || (0..50).all(|_| v.verify(&t, Some(&p), NOW).is_ok()))
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
    // Racing first uses may parse concurrently; never once per login.
    assert!(v.key_parses() <= 4);
}

#[test]
fn jwks_document_selection() {
    let alg = Algorithm::ES256;
    let (k, _) = ec_key(alg);
    let (k384, _) = ec_key(Algorithm::ES384);
    let rsa = rsa_key().0;
    let with = |mut j: serde_json::Value, extra: serde_json::Value| {
        for (a, b) in extra.as_object().unwrap() {
            j[a] = b.clone();
        }
        j
    };
    let doc = json!({"keys": [
        with(k.jwk.clone(), json!({"kid": "good", "use": "sig", "alg": "ES256"})),
        with(k.jwk.clone(), json!({"kid": "enc", "use": "enc"})),
        with(k.jwk.clone(), json!({"kid": "other-alg", "alg": "ES384"})),
        with(k384.jwk.clone(), json!({"kid": "p384"})),
        with(rsa.jwk.clone(), json!({"kid": "rsa"})),
        k.jwk.clone(),
        "not an object",
        {"kid": "broken", "kty": "EC", "crv": "P-256", "x": "!!", "y": "AA"},
    ]});
    let v = keys_url(alg);
    assert_eq!(v.set_keys(doc.to_string().as_bytes()).unwrap(), 1);
    let sign = |kid: &str| {
        mint(
            alg,
            SigningKey::PrivatePem(&k.private_pem),
            Some(kid),
            &claims(),
        )
        .unwrap()
    };
    v.verify(&sign("good"), None, NOW).unwrap();
    for skipped in ["enc", "other-alg", "p384", "rsa", "broken", "unknown"] {
        assert_eq!(
            reason_of(v.verify(&sign(skipped), None, NOW)),
            reason::KEY_MISSING,
            "{skipped}"
        );
    }
    // A bad document leaves the loaded keys in place.
    for bad in [
        &b"not json"[..],
        b"[]",
        b"{\"keys\": 5}",
        b"{\"keys\": []}",
        b"{}",
        b"{\"k\": 5}",
    ] {
        let e = v.set_keys(bad).unwrap_err();
        assert!(e.0.starts_with("keys document:"), "{}", e.0);
    }
    let rsa_only = json!({"keys": [with(rsa.jwk.clone(), json!({"kid": "rsa"}))]});
    let e = v.set_keys(rsa_only.to_string().as_bytes()).unwrap_err();
    assert!(e.0.contains("no key usable with ES256"), "{}", e.0);
    assert!(e.0.contains("\"rsa\""), "{}", e.0);
    v.verify(&sign("good"), None, NOW).unwrap();
    // A huge document is refused before parsing.
    let huge = vec![b' '; MAX_DOCUMENT_LEN + 1];
    assert!(v.set_keys(&huge).is_err());
    // An HS verifier has no use for keys.
    let hs = Verifier::new(Options {
        app_id: Some("app".into()),
        app_secret: Some(b"x".to_vec()),
        ..Options::default()
    })
    .unwrap();
    assert!(hs.set_keys(doc.to_string().as_bytes()).is_err());
}

#[test]
fn jwk_rsa_modulus_with_leading_zero() {
    let (k, _) = rsa_key();
    let n = decode::B64.decode(k.jwk["n"].as_str().unwrap()).unwrap();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    let jwk = json!({"kty": "RSA", "kid": "z", "n": b64(&padded), "e": k.jwk["e"]});
    let v = keys_url(Algorithm::RS256);
    v.set_keys(json!({"keys": [jwk]}).to_string().as_bytes())
        .unwrap();
    let t = mint(
        Algorithm::RS256,
        SigningKey::PrivatePem(&k.private_pem),
        Some("z"),
        &claims(),
    )
    .unwrap();
    v.verify(&t, None, NOW).unwrap();
}

#[test]
fn pem_map_document_and_pem_precedence() {
    let alg = Algorithm::EdDSA;
    let a = ed_key();
    let b = ed_key();
    let doc = json!({"a": a.public_pem, "b": b.public_pem, "n": 5, "bad": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"});
    let v = keys_url(alg);
    assert_eq!(v.set_keys(doc.to_string().as_bytes()).unwrap(), 2);
    let ta = mint(
        alg,
        SigningKey::PrivatePem(&a.private_pem),
        Some("a"),
        &claims(),
    )
    .unwrap();
    let tb = mint(
        alg,
        SigningKey::PrivatePem(&b.private_pem),
        Some("b"),
        &claims(),
    )
    .unwrap();
    v.verify(&ta, None, NOW).unwrap();
    v.verify(&tb, None, NOW).unwrap();
    // A kid pointing at the wrong key fails the signature.
    let ta_as_b = mint(
        alg,
        SigningKey::PrivatePem(&a.private_pem),
        Some("b"),
        &claims(),
    )
    .unwrap();
    assert_eq!(
        reason_of(v.verify(&ta_as_b, None, NOW)),
        reason::INVALID_SIGNATURE
    );
    // A PEM passed in wins over the loaded set.
    v.verify(&ta_as_b, Some(&a.public_pem), NOW).unwrap();
    // Replacing the document drops old kids.
    assert_eq!(
        v.set_keys(json!({"b": b.public_pem}).to_string().as_bytes())
            .unwrap(),
        1
    );
    assert_eq!(reason_of(v.verify(&ta, None, NOW)), reason::KEY_MISSING);
}

#[test]
fn mint_refuses_mismatched_keys() {
    let (rsa, _) = rsa_key();
    let (ec, _) = ec_key(Algorithm::ES256);
    let c = claims();
    assert!(mint(
        Algorithm::HS256,
        SigningKey::PrivatePem(&rsa.private_pem),
        None,
        &c
    )
    .is_err());
    assert!(mint(Algorithm::HS256, SigningKey::Secret(b""), None, &c).is_err());
    assert!(mint(Algorithm::RS256, SigningKey::Secret(b"x"), None, &c).is_err());
    assert!(mint(
        Algorithm::RS256,
        SigningKey::PrivatePem(&ec.private_pem),
        None,
        &c
    )
    .is_err());
    assert!(mint(
        Algorithm::ES384,
        SigningKey::PrivatePem(&ec.private_pem),
        None,
        &c
    )
    .is_err());
    assert!(mint(
        Algorithm::EdDSA,
        SigningKey::PrivatePem(&ec.private_pem),
        None,
        &c
    )
    .is_err());
    assert!(mint(
        Algorithm::ES256,
        SigningKey::PrivatePem(&rsa.public_pem),
        None,
        &c
    )
    .is_err());
    assert!(mint(Algorithm::ES256, SigningKey::PrivatePem("junk"), None, &c).is_err());
    let enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let e = mint(Algorithm::RS256, SigningKey::PrivatePem(enc), None, &c).unwrap_err();
    assert!(e.0.contains("encrypted"), "{}", e.0);
    // Errors never carry key material.
    let e = mint(
        Algorithm::RS256,
        SigningKey::PrivatePem(&ec.private_pem),
        None,
        &c,
    )
    .unwrap_err();
    let body: String = ec.private_pem.lines().nth(1).unwrap().into();
    assert!(!e.0.contains(&body));
}

#[test]
fn minted_header_shape() {
    let (k, _) = ec_key(Algorithm::ES384);
    let t = mint(
        Algorithm::ES384,
        SigningKey::PrivatePem(&k.private_pem),
        Some("x/y"),
        &claims(),
    )
    .unwrap();
    let h = header(&t).unwrap();
    assert_eq!(
        serde_json::Value::Object(h),
        json!({"alg": "ES384", "typ": "JWT", "kid": "x/y"})
    );
    // ES384 signatures are fixed-width r || s: 96 bytes.
    let sig = decode::B64.decode(t.rsplit_once('.').unwrap().1).unwrap();
    assert_eq!(sig.len(), 96);
}
