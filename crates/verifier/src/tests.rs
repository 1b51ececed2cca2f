//! Unit tests: one per row of tokens.md plus the edges the spec calls out.

use serde_json::json;

use super::*;

const SECRET: &[u8] = b"s3cret-for-tests";
const NOW: i64 = 1_700_000_000;

fn opts() -> Options {
    Options {
        app_id: Some("my_app".into()),
        app_secret: Some(SECRET.to_vec()),
        ..Options::default()
    }
}

fn hs() -> Verifier {
    Verifier::new(opts()).unwrap()
}

fn good_claims() -> Claims {
    json!({
        "iss": "my_app", "aud": "jitsi", "sub": "meet.example.com", "room": "*",
        "exp": NOW + 3600, "nbf": NOW - 10,
        "context": {"user": {"name": "Ada", "email": "ada@example.com", "id": "1"}}
    })
    .as_object()
    .unwrap()
    .clone()
}

fn with(f: impl FnOnce(&mut Claims)) -> Claims {
    let mut c = good_claims();
    f(&mut c);
    c
}

fn hs_token(claims: &Claims) -> String {
    mint(Algorithm::HS256, SigningKey::Secret(SECRET), None, claims).unwrap()
}

/// A token from raw header/claims JSON text and an HS256 signature over it.
fn raw_token(header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    decode::B64.encode(b)
}

fn fails(v: &Verifier, token: &str, reason: &str, cond: Condition) {
    let f = v
        .verify(token, None, NOW)
        .expect_err("token must be refused");
    assert_eq!(f.reason, reason);
    assert_eq!(f.condition, cond, "condition for {reason}");
}

fn refused(v: &Verifier, token: &str, reason: &str) {
    fails(v, token, reason, Condition::NotAllowed)
}

#[test]
fn good_hs256_token_returns_claims() {
    let claims = good_claims();
    let got = hs().verify(&hs_token(&claims), None, NOW).unwrap();
    assert_eq!(got, claims);
}

#[test]
fn row2_size_segments_base64() {
    let v = hs();
    let good = hs_token(&good_claims());
    refused(&v, "", reason::INVALID_TOKEN);
    refused(&v, "123", reason::INVALID_TOKEN);
    refused(&v, "a.b", reason::INVALID_TOKEN);
    refused(&v, &format!("{good}.x"), reason::INVALID_TOKEN);
    refused(&v, "%FF%FE.%00.x", reason::INVALID_TOKEN);
    refused(&v, "ab$.cd.ef", reason::INVALID_TOKEN);
    // 1 MiB: refused by size before any decoding.
    let big = format!("{}.{}.{}", "a".repeat(1 << 20), "b", "c");
    refused(&v, &big, reason::INVALID_TOKEN);
    // Just over the limit with a valid signature still fails; just under passes.
    let pad = |n: usize| {
        with(|c| {
            c.insert("pad".into(), json!("x".repeat(n)));
        })
    };
    let mut n = 12_000;
    let under = loop {
        let t = hs_token(&pad(n));
        if t.len() >= MAX_TOKEN_LEN - 4 {
            break t;
        }
        n += 1;
    };
    assert!(under.len() <= MAX_TOKEN_LEN);
    v.verify(&under, None, NOW).unwrap();
    let over = hs_token(&pad(n + 8));
    assert!(over.len() > MAX_TOKEN_LEN);
    refused(&v, &over, reason::INVALID_TOKEN);
}

#[test]
fn non_canonical_base64_trailing_bits_are_refused() {
    // "QQ" is canonical for "A"; "QR" differs only in unused bits.
    let good = hs_token(&good_claims());
    let (head, sig) = good.rsplit_once('.').unwrap();
    // A 32-byte HS256 tag is 43 chars: the last carries 2 unused bits.
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let i = alphabet.find(last).unwrap();
    let twin = alphabet.chars().nth(i ^ 1).unwrap();
    let t = format!("{head}.{}{twin}", &sig[..sig.len() - 1]);
    refused(&hs(), &t, reason::INVALID_TOKEN);
}

#[test]
fn padded_base64_is_tolerated() {
    // A body of 1 and of 2 bytes past a multiple of 3 needs 2 and 1 `=`: both are
    // tried, whatever the other claims' lengths.
    let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
    let mut padded = Vec::new();
    for filler in ["", "x", "xx"] {
        let mut claims = good_claims();
        claims.insert("filler".into(), json!(filler));
        let good = hs_token(&claims);
        let parts: Vec<&str> = good.split('.').collect();
        let body = pad(parts[1]);
        padded.push(body.len() - parts[1].len());
        let t = format!("{}.{body}.{}", pad(parts[0]), parts[2]);
        if t == good {
            // Nothing to pad: the token is as minted, and valid.
            hs().verify(&t, None, NOW).unwrap();
        } else {
            // Padding changes the signing input text, so the signature no longer
            // matches; what matters is that decoding reaches the signature check.
            refused(&hs(), &t, reason::INVALID_SIGNATURE);
        }
    }
    padded.sort_unstable();
    assert_eq!(padded, [0, 1, 2], "each padding length was exercised");
}

#[test]
fn row2_header_and_body_not_objects() {
    let v = hs();
    let body = good_claims();
    let body = serde_json::to_string(&body).unwrap();
    refused(&v, &raw_token("[1]", &body), reason::INVALID_HEADER);
    refused(&v, &raw_token("not json", &body), reason::INVALID_HEADER);
    refused(&v, &raw_token("\"JWT\"", &body), reason::INVALID_HEADER);
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    refused(&v, &raw_token(h, "[]"), reason::INVALID_BODY);
    refused(&v, &raw_token(h, "42"), reason::INVALID_BODY);
    refused(&v, &raw_token(h, "{\"a\":1"), reason::INVALID_BODY);
    // Header is checked before body.
    refused(&v, &raw_token("[]", "[]"), reason::INVALID_HEADER);
}

#[test]
fn row2_deep_json_is_refused_without_overflow() {
    let v = hs();
    let body = serde_json::to_string(&good_claims()).unwrap();
    // 100,000 levels (too long for a token) are in json.rs's tests.
    // Within the size limit: 5000 levels.
    let d = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
    refused(
        &v,
        &raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &d),
        reason::INVALID_BODY,
    );
    refused(&v, &raw_token(&d, &body), reason::INVALID_HEADER);
    // Moderate nesting (what real tokens have) is fine.
    let ok = with(|c| {
        c.insert("nest".into(), json!([[[[[[[[[[{"a": [1]}]]]]]]]]]]));
    });
    v.verify(&hs_token(&ok), None, NOW).unwrap();
}

#[test]
fn invalid_utf8_is_refused() {
    let v = hs();
    let body = serde_json::to_string(&good_claims()).unwrap();
    let mut bad = br#"{"alg":"HS256","typ":"JWT","x":""#.to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"\"}");
    let input = format!("{}.{}", b64(&bad), b64(body.as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
    refused(
        &v,
        &format!("{input}.{}", b64(tag.as_ref())),
        reason::INVALID_HEADER,
    );
    // Raw non-UTF-8 token bytes.
    let f = v.verify_bytes(b"\xff\xfe.\x00.x", None, NOW).unwrap_err();
    assert_eq!(f.reason, reason::INVALID_TOKEN);
}

#[test]
fn row3_typ() {
    let v = hs();
    let body = serde_json::to_string(&good_claims()).unwrap();
    for h in [
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"jwt"}"#,
        r#"{"alg":"HS256","typ":"at+jwt"}"#,
        r#"{"alg":"HS256","typ":null}"#,
        r#"{"alg":"HS256","typ":1}"#,
    ] {
        refused(&v, &raw_token(h, &body), reason::INVALID_TYP);
    }
    v.verify(
        &raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &body),
        None,
        NOW,
    )
    .unwrap();

    let lax = Verifier::new(Options {
        token_require_typ: Some(false),
        ..opts()
    })
    .unwrap();
    lax.verify(&raw_token(r#"{"alg":"HS256"}"#, &body), None, NOW)
        .unwrap();
    lax.verify(
        &raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &body),
        None,
        NOW,
    )
    .unwrap();
    // Documented choice: a present typ must still be JWT.
    refused(
        &lax,
        &raw_token(r#"{"alg":"HS256","typ":"at+jwt"}"#, &body),
        reason::INVALID_TYP,
    );
    // typ is checked before alg.
    refused(
        &v,
        &raw_token(r#"{"alg":"none"}"#, &body),
        reason::INVALID_TYP,
    );
}

#[test]
fn row4_alg() {
    let v = hs();
    let body = serde_json::to_string(&good_claims()).unwrap();
    for h in [
        r#"{"typ":"JWT"}"#,
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None","typ":"JWT"}"#,
        r#"{"alg":"hs256","typ":"JWT"}"#,
        r#"{"alg":"HS512","typ":"JWT"}"#,
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"alg":["HS256"],"typ":"JWT"}"#,
    ] {
        refused(&v, &raw_token(h, &body), reason::INVALID_ALG);
    }
    // An unsigned token (empty signature) with alg none.
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(body.as_bytes())
    );
    refused(&v, &unsigned, reason::INVALID_ALG);
    // HS384 verifier refuses an HS256 token and accepts its own.
    let v384 = Verifier::new(Options {
        signature_algorithm: Some("HS384".into()),
        ..opts()
    })
    .unwrap();
    refused(&v384, &hs_token(&good_claims()), reason::INVALID_ALG);
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let v = Verifier::new(Options {
            signature_algorithm: Some(alg.to_string()),
            ..opts()
        })
        .unwrap();
        let t = mint(alg, SigningKey::Secret(SECRET), None, &good_claims()).unwrap();
        v.verify(&t, None, NOW).unwrap();
    }
}

#[test]
fn row6_signature() {
    let v = hs();
    let other = mint(
        Algorithm::HS256,
        SigningKey::Secret(b"other"),
        None,
        &good_claims(),
    )
    .unwrap();
    refused(&v, &other, reason::INVALID_SIGNATURE);
    let good = hs_token(&good_claims());
    let (head, _) = good.rsplit_once('.').unwrap();
    refused(&v, &format!("{head}."), reason::INVALID_SIGNATURE);
    refused(&v, &format!("{head}.AAAA"), reason::INVALID_SIGNATURE);
    // Changed payload, old signature.
    let tampered = hs_token(&with(|c| {
        c.insert("room".into(), json!("other"));
    }));
    let forged = format!(
        "{}.{}",
        tampered.rsplit_once('.').unwrap().0,
        good.rsplit_once('.').unwrap().1
    );
    refused(&v, &forged, reason::INVALID_SIGNATURE);
}

#[test]
fn every_single_bit_flip_is_refused() {
    let v = hs();
    let good = hs_token(&good_claims());
    let parts: Vec<Vec<u8>> = good
        .split('.')
        .map(|p| {
            use base64::Engine;
            decode::B64.decode(p).unwrap()
        })
        .collect();
    for seg in 0..3 {
        for byte in 0..parts[seg].len() {
            for bit in 0..8 {
                let mut p = parts.clone();
                p[seg][byte] ^= 1 << bit;
                let t = format!("{}.{}.{}", b64(&p[0]), b64(&p[1]), b64(&p[2]));
                assert!(
                    v.verify(&t, None, NOW).is_err(),
                    "segment {seg} byte {byte} bit {bit}"
                );
            }
        }
    }
}

#[test]
fn row7_exp_nbf_types() {
    let v = hs();
    for bad in [
        json!("1700003600"),
        json!(null),
        json!(true),
        json!([1]),
        json!({}),
    ] {
        let t = hs_token(&with(|c| {
            c.insert("exp".into(), bad.clone());
        }));
        refused(&v, &t, reason::EXP_NOT_NUMBER);
        let t = hs_token(&with(|c| {
            c.insert("nbf".into(), bad.clone());
        }));
        refused(&v, &t, reason::NBF_NOT_NUMBER);
    }
    // Both wrong: exp reports first.
    let t = hs_token(&with(|c| {
        c.insert("exp".into(), json!("x"));
        c.insert("nbf".into(), json!("y"));
    }));
    refused(&v, &t, reason::EXP_NOT_NUMBER);
    // Type errors come before an expired exp.
    let t = hs_token(&with(|c| {
        c.insert("exp".into(), json!(NOW - 5));
        c.insert("nbf".into(), json!("y"));
    }));
    refused(&v, &t, reason::NBF_NOT_NUMBER);
}

#[test]
fn row7_exp_and_nbf_times() {
    let v = hs();
    let exp = |e: serde_json::Value| {
        hs_token(&with(|c| {
            c.insert("exp".into(), e);
        }))
    };
    refused(
        &v,
        &exp(json!(NOW)),
        "Not acceptable by exp (0 sec since expired)",
    );
    refused(
        &v,
        &exp(json!(NOW - 42)),
        "Not acceptable by exp (42 sec since expired)",
    );
    v.verify(&exp(json!(NOW + 1)), None, NOW).unwrap();
    // exp is optional.
    let no_exp = hs_token(&with(|c| {
        c.remove("exp");
    }));
    v.verify(&no_exp, None, NOW).unwrap();
    // nbf.
    let nbf = |n: i64| {
        hs_token(&with(|c| {
            c.insert("nbf".into(), json!(n));
        }))
    };
    refused(&v, &nbf(NOW + 1), reason::NBF_NOT_YET);
    v.verify(&nbf(NOW), None, NOW).unwrap();
    // Expired and not yet valid: exp reports first.
    let both = hs_token(&with(|c| {
        c.insert("exp".into(), json!(NOW - 1));
        c.insert("nbf".into(), json!(NOW + 1));
    }));
    refused(&v, &both, "Not acceptable by exp (1 sec since expired)");
}

#[test]
fn row7_leeway_edges() {
    let v = Verifier::new(Options {
        token_clock_leeway: Some(30),
        ..opts()
    })
    .unwrap();
    let t = |k: &str, n: i64| {
        hs_token(&with(|c| {
            c.insert(k.into(), json!(n));
        }))
    };
    // exp: refused when now >= exp + leeway.
    v.verify(&t("exp", NOW - 29), None, NOW).unwrap();
    refused(
        &v,
        &t("exp", NOW - 30),
        "Not acceptable by exp (30 sec since expired)",
    );
    refused(
        &v,
        &t("exp", NOW - 31),
        "Not acceptable by exp (31 sec since expired)",
    );
    // nbf: refused when now + leeway < nbf.
    v.verify(&t("nbf", NOW + 30), None, NOW).unwrap();
    refused(&v, &t("nbf", NOW + 31), reason::NBF_NOT_YET);
}

#[test]
fn row7_huge_and_fractional_numbers() {
    let v = Verifier::new(Options {
        token_clock_leeway: Some(crate::option_table::Whole::MAX),
        ..opts()
    })
    .unwrap();
    let t = |k: &str, n: serde_json::Value| {
        hs_token(&with(|c| {
            c.insert(k.into(), n);
        }))
    };
    // The largest leeway must not overflow, and still moves the point of refusal.
    let oldest = NOW - i64::from(u32::MAX) + 1;
    v.verify(&t("exp", json!(oldest)), None, NOW).unwrap();
    refused(
        &v,
        &t("exp", json!(i64::MIN)),
        &format!("Not acceptable by exp ({} sec since expired)", i64::MAX),
    );
    let v = hs();
    v.verify(&t("exp", json!(u64::MAX)), None, NOW).unwrap();
    v.verify(&t("exp", json!(1e300)), None, NOW).unwrap();
    refused(
        &v,
        &t("exp", json!(i64::MIN)),
        &format!("Not acceptable by exp ({} sec since expired)", i64::MAX),
    );
    refused(
        &v,
        &t("exp", json!(-1e300)),
        &format!("Not acceptable by exp ({} sec since expired)", i64::MAX),
    );
    refused(
        &v,
        &t("exp", json!(NOW as f64 - 2.5)),
        "Not acceptable by exp (2 sec since expired)",
    );
    v.verify(&t("exp", json!(NOW as f64 + 0.5)), None, NOW)
        .unwrap();
    refused(&v, &t("nbf", json!(1e300)), reason::NBF_NOT_YET);
    refused(&v, &t("nbf", json!(u64::MAX)), reason::NBF_NOT_YET);
    v.verify(&t("nbf", json!(-1e300)), None, NOW).unwrap();
    refused(&v, &t("nbf", json!(NOW as f64 + 0.5)), reason::NBF_NOT_YET);
    // Extreme `now` values.
    let good = hs_token(&good_claims());
    assert!(v.verify(&good, None, i64::MAX).is_err());
    assert!(v.verify(&good, None, i64::MIN).is_err());
}

#[test]
fn row8_iss() {
    let v = hs();
    let t = |iss: Option<serde_json::Value>| {
        hs_token(&with(|c| match iss {
            Some(i) => {
                c.insert("iss".into(), i);
            }
            None => {
                c.remove("iss");
            }
        }))
    };
    refused(&v, &t(None), reason::ISS_MISSING);
    refused(&v, &t(Some(json!(null))), reason::ISS_MISSING);
    refused(&v, &t(Some(json!("other_app"))), reason::ISS_INVALID);
    refused(&v, &t(Some(json!(["my_app"]))), reason::ISS_INVALID);
    refused(&v, &t(Some(json!("MY_APP"))), reason::ISS_INVALID);
    // Default accepted issuers is { app_id }.
    v.verify(&t(Some(json!("my_app"))), None, NOW).unwrap();
    let any = Verifier::new(Options {
        asap_accepted_issuers: Some(vec!["*".into()]),
        ..opts()
    })
    .unwrap();
    any.verify(&t(Some(json!("whoever"))), None, NOW).unwrap();
    refused(&any, &t(None), reason::ISS_MISSING);
    let list = Verifier::new(Options {
        asap_accepted_issuers: Some(vec!["a".into(), "b".into()]),
        ..opts()
    })
    .unwrap();
    list.verify(&t(Some(json!("b"))), None, NOW).unwrap();
    refused(&list, &t(Some(json!("my_app"))), reason::ISS_INVALID);
}

#[test]
fn row9_aud_including_arrays() {
    let t = |aud: Option<serde_json::Value>| {
        hs_token(&with(|c| match aud {
            Some(a) => {
                c.insert("aud".into(), a);
            }
            None => {
                c.remove("aud");
            }
        }))
    };
    // Default "*": any present aud.
    let v = hs();
    refused(&v, &t(None), reason::AUD_MISSING);
    refused(&v, &t(Some(json!(null))), reason::AUD_MISSING);
    v.verify(&t(Some(json!("anything"))), None, NOW).unwrap();
    v.verify(&t(Some(json!(["x", "y"]))), None, NOW).unwrap();
    let v = Verifier::new(Options {
        asap_accepted_audiences: Some(vec!["jitsi".into(), "meet".into()]),
        ..opts()
    })
    .unwrap();
    v.verify(&t(Some(json!("meet"))), None, NOW).unwrap();
    refused(&v, &t(Some(json!("other"))), reason::AUD_INVALID);
    v.verify(&t(Some(json!(["other", "jitsi"]))), None, NOW)
        .unwrap();
    refused(&v, &t(Some(json!(["other", "x"]))), reason::AUD_INVALID);
    refused(&v, &t(Some(json!([]))), reason::AUD_INVALID);
    refused(&v, &t(Some(json!([["jitsi"]]))), reason::AUD_INVALID);
    refused(&v, &t(Some(json!(7))), reason::AUD_INVALID);
}

#[test]
fn rows10_11_room_and_sub_are_not_authorized() {
    let v = hs();
    let no_room = hs_token(&with(|c| {
        c.remove("room");
    }));
    fails(&v, &no_room, reason::ROOM_MISSING, Condition::NotAuthorized);
    let null_room = hs_token(&with(|c| {
        c.insert("room".into(), json!(null));
    }));
    fails(
        &v,
        &null_room,
        reason::ROOM_MISSING,
        Condition::NotAuthorized,
    );
    let no_sub = hs_token(&with(|c| {
        c.remove("sub");
    }));
    fails(&v, &no_sub, reason::SUB_MISSING, Condition::NotAuthorized);
    // Room before sub.
    let neither = hs_token(&with(|c| {
        c.remove("sub");
        c.remove("room");
    }));
    fails(&v, &neither, reason::ROOM_MISSING, Condition::NotAuthorized);
    // Without the room requirement, a roomless token passes.
    let lax = Verifier::new(Options {
        asap_require_room_claim: Some(false),
        ..opts()
    })
    .unwrap();
    lax.verify(&no_room, None, NOW).unwrap();
    fails(
        &lax,
        &neither,
        reason::SUB_MISSING,
        Condition::NotAuthorized,
    );
}

#[test]
fn first_failing_check_in_order_reports() {
    let v = hs();
    // A token wrong in every claim: each fix reveals the next check.
    let mut c = with(|c| {
        c.insert("exp".into(), json!(NOW - 1));
        c.remove("iss");
        c.remove("aud");
        c.remove("room");
        c.remove("sub");
    });
    let header_bad = raw_token(
        r#"{"alg":"HS256","typ":"JWS"}"#,
        &serde_json::to_string(&c).unwrap(),
    );
    refused(&v, &header_bad, reason::INVALID_TYP);
    let wrong_alg = raw_token(
        r#"{"alg":"HS384","typ":"JWT"}"#,
        &serde_json::to_string(&c).unwrap(),
    );
    refused(&v, &wrong_alg, reason::INVALID_ALG);
    let bad_sig = mint(Algorithm::HS256, SigningKey::Secret(b"wrong"), None, &c).unwrap();
    refused(&v, &bad_sig, reason::INVALID_SIGNATURE);
    let steps: [(&str, serde_json::Value, &str, Condition); 5] = [
        (
            "exp",
            json!(NOW + 60),
            "Not acceptable by exp (1 sec since expired)",
            Condition::NotAllowed,
        ),
        (
            "iss",
            json!("my_app"),
            reason::ISS_MISSING,
            Condition::NotAllowed,
        ),
        (
            "aud",
            json!("jitsi"),
            reason::AUD_MISSING,
            Condition::NotAllowed,
        ),
        (
            "room",
            json!("r"),
            reason::ROOM_MISSING,
            Condition::NotAuthorized,
        ),
        (
            "sub",
            json!("s"),
            reason::SUB_MISSING,
            Condition::NotAuthorized,
        ),
    ];
    for (claim, fix, reason, cond) in steps {
        fails(&v, &hs_token(&c), reason, cond);
        c.insert(claim.into(), fix);
    }
    v.verify(&hs_token(&c), None, NOW).unwrap();
}

#[test]
fn option_defaults() {
    let v = hs();
    assert_eq!(v.algorithm(), Algorithm::HS256);
    assert!(!v.uses_public_keys());
    let c = &v.config;
    assert_eq!(c.issuers, vec!["my_app".to_string()]);
    assert_eq!(c.audiences, vec!["*".to_string()]);
    assert!(c.require_room && c.require_typ);
    assert_eq!(c.leeway, 0);
    let k = Verifier::new(Options {
        app_id: Some("a".into()),
        asap_key_server: Some("https://keys.example.com/asap".into()),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(k.algorithm(), Algorithm::RS256);
    assert!(k.uses_public_keys());
    let k = Verifier::new(Options {
        app_id: Some("a".into()),
        cache_keys_url: Some("https://keys.example.com/jwks.json".into()),
        signature_algorithm: Some("EdDSA".into()),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(k.algorithm(), Algorithm::EdDSA);
}

fn config_err(o: Options, needle: &str) {
    let e = Verifier::new(o).expect_err("must be refused");
    assert!(e.0.contains(needle), "{:?} should mention {needle:?}", e.0);
}

#[test]
fn config_errors_say_what_to_fix() {
    config_err(
        Options {
            app_id: None,
            ..opts()
        },
        "app_id is required",
    );
    config_err(
        Options {
            app_id: Some(String::new()),
            ..opts()
        },
        "app_id is required",
    );
    config_err(
        Options {
            app_secret: None,
            ..opts()
        },
        "set app_secret",
    );
    config_err(
        Options {
            app_secret: Some(vec![]),
            ..opts()
        },
        "app_secret is empty",
    );
    config_err(
        Options {
            signature_algorithm: Some("none".into()),
            ..opts()
        },
        "not supported",
    );
    config_err(
        Options {
            signature_algorithm: Some("HS257".into()),
            ..opts()
        },
        "use one of",
    );
    config_err(
        Options {
            signature_algorithm: Some("RS256".into()),
            ..opts()
        },
        "needs public keys",
    );
    let ks = |url: &str| Options {
        app_id: Some("a".into()),
        asap_key_server: Some(url.into()),
        ..Options::default()
    };
    config_err(
        Options {
            signature_algorithm: Some("HS256".into()),
            ..ks("https://k.example")
        },
        "uses a shared secret",
    );
    config_err(
        Options {
            app_secret: Some(SECRET.to_vec()),
            signature_algorithm: Some("HS512".into()),
            cache_keys_url: Some("https://k.example/jwks".into()),
            ..opts()
        },
        "uses a shared secret",
    );
    config_err(ks("http://keys.example.com/"), "must use https");
    config_err(ks("http://127.0.0.1.example.com/"), "must use https");
    config_err(ks("ftp://127.0.0.1/"), "must be an https URL");
    config_err(ks("not a url"), "not a valid URL");
    let e = Verifier::new(ks("http://user:hunter2@keys.example.com/")).unwrap_err();
    assert!(
        e.0.contains("keys.example.com") && !e.0.contains("hunter2"),
        "{}",
        e.0
    );
    config_err(
        Options {
            cache_keys_url: Some("http://10.0.0.1/jwks".into()),
            ..ks("https://ok.example")
        },
        "cache_keys_url must use https",
    );
    for ok in [
        "https://keys.example.com/",
        "http://127.0.0.1:8080/keys",
        "http://127.9.9.9/",
        "http://[::1]:9000/",
        "http://localhost/",
        "http://LOCALHOST:1/",
    ] {
        Verifier::new(ks(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    config_err(
        Options {
            asap_accepted_issuers: Some(vec![]),
            ..opts()
        },
        "asap_accepted_issuers is empty",
    );
    config_err(
        Options {
            asap_accepted_audiences: Some(vec![]),
            ..opts()
        },
        "asap_accepted_audiences is empty",
    );
}

#[test]
fn secret_with_key_server_is_ignored() {
    let v = Verifier::new(Options {
        asap_key_server: Some("https://keys.example.com/".into()),
        ..opts()
    })
    .unwrap();
    assert!(v.uses_public_keys());
    assert_eq!(v.algorithm(), Algorithm::RS256);
    assert!(v.config.secret.is_none() && v.hmac_key.is_none());
    // A token signed with the (ignored) secret does not pass.
    let t = mint(
        Algorithm::HS256,
        SigningKey::Secret(SECRET),
        Some("k"),
        &good_claims(),
    )
    .unwrap();
    refused(&v, &t, reason::INVALID_ALG);
}

#[test]
fn header_decodes_without_verifying() {
    let t = mint(
        Algorithm::HS256,
        SigningKey::Secret(SECRET),
        Some("k1"),
        &good_claims(),
    )
    .unwrap();
    let h = header(&t).unwrap();
    assert_eq!(h.get("kid"), Some(&json!("k1")));
    assert_eq!(h.get("alg"), Some(&json!("HS256")));
    assert_eq!(h.get("typ"), Some(&json!("JWT")));
    assert_eq!(
        header("%FF%FE.%00.x").unwrap_err().reason,
        reason::INVALID_TOKEN
    );
    assert_eq!(
        header("W10.e30.x").unwrap_err().reason,
        reason::INVALID_HEADER
    );
    assert_eq!(header("e30").unwrap_err().reason, reason::INVALID_TOKEN);
    assert_eq!(
        header_bytes(b"\xff\xfe.\x00.x").unwrap_err().reason,
        reason::INVALID_TOKEN
    );
    assert_eq!(header_bytes(t.as_bytes()).unwrap(), h);
}

#[test]
fn key_file_is_hex_sha256() {
    // sha256("") and sha256("abc") are well-known.
    assert_eq!(
        key_file(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.pem"
    );
    assert_eq!(
        key_file("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.pem"
    );
}

#[test]
fn reasons_never_echo_token_or_secret() {
    let v = hs();
    let secret_claims = with(|c| {
        c.insert("iss".into(), json!("TOPSECRETISS"));
    });
    let t = hs_token(&secret_claims);
    let f = v.verify(&t, None, NOW).unwrap_err();
    assert!(!f.reason.contains("TOPSECRET"));
    assert!(!format!("{v:?}").contains("s3cret"));
}

#[test]
fn verifier_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Verifier>();
}
