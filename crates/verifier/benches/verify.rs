//! `cargo bench -p jitsi-tokens-verifier`: verify time for a realistic Jitsi token
//! (HS256, RS256-2048, ES256, EdDSA) and header-only decoding; then RS256 verifies
//! per second against `openssl speed -seconds 3 rsa2048` on the same machine.
//!
//! Times are the benchmark thread's CPU time, as `openssl speed` (without
//! `-elapsed`) counts user CPU time: on a shared machine wall-clock time mostly
//! measures the other tenants.

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use criterion::Criterion;
use jitsi_tokens_verifier::{header, mint, Algorithm, Claims, Options, SigningKey, Verifier};
use pem_rfc7468::LineEnding;
use serde_json::json;

const NOW: i64 = 1_700_000_000;

fn pem(label: &str, der: &[u8]) -> String {
    pem_rfc7468::encode_string(label, LineEnding::LF, der).unwrap()
}

fn claims() -> Claims {
    json!({
        "context": {
            "user": {"name": "Ada Lovelace", "email": "ada@example.com",
                     "avatar": "https://www.gravatar.com/avatar/0bc83cb571cd1c50ba6f3e8a78ef1346",
                     "id": "abcd:a1b2c3-d4e5f6-0abc1-23de-abcdef01fedcba", "moderator": true},
            "group": "a123-123-456-789",
            "features": {"livestreaming": true, "recording": false}
        },
        "aud": "jitsi", "iss": "my_app_id", "sub": "meet.example.com", "room": "standup",
        "exp": NOW + 3600, "nbf": NOW - 10
    })
    .as_object()
    .unwrap()
    .clone()
}

struct Case {
    name: &'static str,
    verifier: Verifier,
    token: String,
    pem: Option<String>,
}

fn key_server(alg: Algorithm) -> Verifier {
    Verifier::new(Options {
        app_id: Some("my_app_id".into()),
        asap_key_server: Some("https://keys.example.com/asap".into()),
        signature_algorithm: Some(alg.to_string()),
        ..Options::default()
    })
    .unwrap()
}

fn cases() -> Vec<Case> {
    let secret = b"a-64-byte-secret-a-64-byte-secret-a-64-byte-secret-a-64-byte-se";
    let hs = Verifier::new(Options {
        app_id: Some("my_app_id".into()),
        app_secret: Some(secret.to_vec()),
        ..Options::default()
    })
    .unwrap();
    let hs_token = mint(
        Algorithm::HS256,
        SigningKey::Secret(secret),
        None,
        &claims(),
    )
    .unwrap();

    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let rsa_priv = pem(
        "PRIVATE KEY",
        AsDer::<Pkcs8V1Der>::as_der(&rsa).unwrap().as_ref(),
    );
    let rsa_pub = pem("PUBLIC KEY", rsa.public_key().as_der().unwrap().as_ref());
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let ec_priv = pem("PRIVATE KEY", ec.to_pkcs8v1().unwrap().as_ref());
    let ec_pub = pem("PUBLIC KEY", ec.public_key().as_der().unwrap().as_ref());
    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_priv = pem("PRIVATE KEY", ed.to_pkcs8v1().unwrap().as_ref());
    let ed_pub = pem("PUBLIC KEY", ed.public_key().as_der().unwrap().as_ref());

    let asym = |name, alg, private: &str, public: String| Case {
        name,
        verifier: key_server(alg),
        token: mint(
            alg,
            SigningKey::PrivatePem(private),
            Some("kid-1"),
            &claims(),
        )
        .unwrap(),
        pem: Some(public),
    };
    vec![
        Case {
            name: "HS256",
            verifier: hs,
            token: hs_token,
            pem: None,
        },
        asym("RS256-2048", Algorithm::RS256, &rsa_priv, rsa_pub),
        asym("ES256", Algorithm::ES256, &ec_priv, ec_pub),
        asym("EdDSA", Algorithm::EdDSA, &ed_priv, ed_pub),
    ]
}

/// CPU time consumed by this thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Run `f` `iters` times and return the CPU time it took.
fn cpu_timed<R>(iters: u64, mut f: impl FnMut() -> R) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu() - start
}

fn bench(c: &mut Criterion, cases: &[Case]) {
    let mut g = c.benchmark_group("verify");
    for case in cases {
        // Warm and check: the PEM is parsed once, then served from the cache.
        case.verifier
            .verify(&case.token, case.pem.as_deref(), NOW)
            .unwrap();
        g.bench_function(case.name, |b| {
            b.iter_custom(|iters| {
                cpu_timed(iters, || {
                    case.verifier
                        .verify(black_box(&case.token), case.pem.as_deref(), NOW)
                        .unwrap()
                })
            })
        });
    }
    g.finish();
    // What the Lua module calls: the claims as a view, no serde_json map built.
    let hs = cases
        .iter()
        .find(|c| c.name == "HS256")
        .expect("an HS256 case");
    c.bench_function("HS256, claims as a view (verify_with)", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                hs.verifier
                    .verify_with(black_box(hs.token.as_bytes()), None, NOW, |claims| {
                        claims.len()
                    })
                    .unwrap()
            })
        })
    });
    let token = &cases[1].token;
    c.bench_function("header only", |b| {
        b.iter_custom(|iters| cpu_timed(iters, || header(black_box(token)).unwrap()))
    });
}

/// Our RS256 verifies per CPU second over ~3 CPU seconds, like `openssl speed -seconds 3`.
fn our_rs256_per_second(case: &Case) -> f64 {
    let mut spent = Duration::ZERO;
    let mut n = 0u64;
    while spent < Duration::from_secs(3) {
        spent += cpu_timed(100, || {
            case.verifier
                .verify(&case.token, case.pem.as_deref(), NOW)
                .unwrap()
        });
        n += 100;
    }
    n as f64 / spent.as_secs_f64()
}

/// The verify/s column of `openssl speed -seconds 3 rsa2048`.
fn openssl_rsa2048_verify_per_second() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000612s 0.000018s   1634.0  55555.5"
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn main() {
    let cases = cases();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &cases);
    c.final_summary();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let ours = our_rs256_per_second(&cases[1]);
    match openssl_rsa2048_verify_per_second() {
        Some(theirs) => println!(
            "RS256-2048 full verify: {ours:.0}/s; openssl speed rsa2048 verify: {theirs:.0}/s; \
             openssl/ours = {:.2} (target <= 1.5)",
            theirs / ours
        ),
        None => println!("RS256-2048 full verify: {ours:.0}/s; openssl speed unavailable"),
    }
}
