//! `jitsi-meet-tokens token mint|verify` driven as a user would: the real binary,
//! keys made by openssl at test time, tokens cross-checked with PyJWT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as Std, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{cmd, exit_and_json, write};
use serde_json::Value;
use tempfile::TempDir;

/// A private key (PKCS#8 PEM) and its public key, made by openssl.
fn keypair(dir: &Path, name: &str, genpkey_args: &[&str]) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let st = Std::new("openssl")
        .arg("genpkey")
        .args(genpkey_args)
        .arg("-out")
        .arg(&private)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let st = Std::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    (private, public)
}

fn mint(args: &[&str]) -> String {
    let out = cmd().args(["token", "mint"]).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "mint failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Nothing but the token on stdout.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout:?}");
    let token = lines[0].to_owned();
    assert_eq!(token.split('.').count(), 3);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    token
}

/// `token verify --output json`; returns (exit code, report).
fn verify_json(token: &str, args: &[&str]) -> (i32, Value) {
    let out = cmd()
        .args(["token", "verify", "--output", "json"])
        .args(args)
        .arg(token)
        .output()
        .unwrap();
    exit_and_json(&out)
}

fn result_of<'a>(report: &'a Value, check: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} in {report}"))["result"]
        .as_str()
        .unwrap()
}

/// Decode with PyJWT (independent implementation), printing the claims as JSON.
fn pyjwt_decode(token: &str, key: &[u8], alg: &str) -> Result<Value, String> {
    let script = r#"
import sys, json, jwt
token, alg = sys.argv[1], sys.argv[2]
key = sys.stdin.buffer.read()
if not alg.startswith("HS"):
    key = key.decode()
print(json.dumps(jwt.decode(token, key, algorithms=[alg], audience="jitsi")))
"#;
    let mut child = Std::new("python3")
        .args(["-c", script, token, alg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(key).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn hs256_round_trip_and_pyjwt_interop() {
    let dir = TempDir::new().unwrap();
    let secret = write(dir.path(), "secret", b"s3cr\"et\\with/odd&chars\n");
    let s = secret.to_str().unwrap();
    let token = mint(&[
        "--app-id",
        "myapp",
        "--app-secret-file",
        s,
        "--room",
        "Room1",
        "--sub",
        "meet.test",
        "--name",
        "Alice",
        "--email",
        "a@example.com",
        "--moderator",
        "--tenant",
        "acme",
        "--ttl",
        "10m",
    ]);
    let (code, report) = verify_json(&token, &["--app-id", "myapp", "--app-secret-file", s]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["valid"], true);
    for c in [
        "decode",
        "typ",
        "alg",
        "signature",
        "time",
        "iss",
        "aud",
        "room",
        "sub",
    ] {
        assert_eq!(result_of(&report, c), "ok", "{c}: {report}");
    }
    assert_eq!(result_of(&report, "key"), "skipped");

    // PyJWT agrees, with the secret minus the trailing newline of the file.
    let claims = pyjwt_decode(&token, b"s3cr\"et\\with/odd&chars", "HS256").unwrap();
    assert_eq!(claims["iss"], "myapp");
    assert_eq!(claims["room"], "Room1");
    assert_eq!(claims["sub"], "meet.test");
    assert_eq!(claims["context"]["user"]["name"], "Alice");
    assert_eq!(claims["context"]["user"]["moderator"], true);
    assert_eq!(claims["context"]["tenant"], "acme");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    // ...and refuses another secret (so the check above can fail).
    assert!(pyjwt_decode(&token, b"s3cr\"et\\with/odd&chars\n", "HS256").is_err());
}

#[test]
fn asymmetric_round_trips_with_pyjwt() {
    let dir = TempDir::new().unwrap();
    let cases: [(&str, &[&str]); 3] = [
        (
            "RS256",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
        (
            "ES256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        ("EdDSA", &["-algorithm", "ed25519"]),
    ];
    for (alg, gen) in cases {
        let (private, public) = keypair(dir.path(), alg, gen);
        let token = mint(&[
            "--alg",
            alg,
            "--private-key",
            private.to_str().unwrap(),
            "--kid",
            "test-key",
            "--app-id",
            "myapp",
        ]);
        let header = jitsi_tokens_verifier::header(&token).unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(header["kid"], "test-key");
        let pubkey = public.to_str().unwrap();
        let (code, report) = verify_json(
            &token,
            &["--app-id", "myapp", "--alg", alg, "--public-key", pubkey],
        );
        assert_eq!(code, 0, "{alg}: {report}");
        assert_eq!(result_of(&report, "key"), "ok");
        assert_eq!(result_of(&report, "signature"), "ok");

        let pem = std::fs::read(&public).unwrap();
        let claims = pyjwt_decode(&token, &pem, alg).unwrap_or_else(|e| panic!("PyJWT {alg}: {e}"));
        assert_eq!(claims["iss"], "myapp");

        // Another key of the same type: both verifiers refuse.
        let (_, other) = keypair(dir.path(), &format!("{alg}-other"), gen);
        let (code, report) = verify_json(
            &token,
            &[
                "--app-id",
                "myapp",
                "--alg",
                alg,
                "--public-key",
                other.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1);
        assert_eq!(report["reason"], "Invalid signature", "{alg}");
        assert!(pyjwt_decode(&token, &std::fs::read(&other).unwrap(), alg).is_err());
    }
}

#[test]
fn wrong_secret_names_the_signature_check() {
    let dir = TempDir::new().unwrap();
    let good = write(dir.path(), "good", b"right-secret");
    let bad = write(dir.path(), "bad", b"wrong-secret");
    let token = mint(&[
        "--app-id",
        "myapp",
        "--app-secret-file",
        good.to_str().unwrap(),
    ]);
    let out = cmd()
        .args([
            "token",
            "verify",
            "--app-id",
            "myapp",
            "--app-secret-file",
            bad.to_str().unwrap(),
            &token,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |label: &str| {
        text.lines()
            .find(|l| l.get(8..8 + label.len()) == Some(label))
            .unwrap_or_else(|| panic!("{label}: {text}"))
    };
    assert!(line("typ").trim_start().starts_with("ok"), "{text}");
    assert!(
        line("signature").contains("FAIL") && line("signature").contains("Invalid signature"),
        "{text}"
    );
    assert!(
        text.contains("hint: the token was signed with another secret"),
        "{text}"
    );
    assert!(
        line("iss").trim_start().starts_with('-'),
        "later checks are not reached: {text}"
    );
    assert!(text
        .contains("REFUSED: Prosody answers SASL <not-allowed/> with text \"Invalid signature\""));
}

#[test]
fn expired_token_reports_seconds() {
    let dir = TempDir::new().unwrap();
    let s = write(dir.path(), "s", b"secret");
    let s = s.to_str().unwrap();
    let token = mint(&[
        "--app-id",
        "a",
        "--app-secret-file",
        s,
        "--at",
        "1700000000",
        "--ttl",
        "1h",
    ]);
    // One second before exp: valid; 42 s after: refused with the count.
    let (code, report) = verify_json(
        &token,
        &[
            "--app-id",
            "a",
            "--app-secret-file",
            s,
            "--at",
            "1700003599",
        ],
    );
    assert_eq!(code, 0, "{report}");
    let (code, report) = verify_json(
        &token,
        &[
            "--app-id",
            "a",
            "--app-secret-file",
            s,
            "--at",
            "1700003642",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        report["reason"],
        "Not acceptable by exp (42 sec since expired)"
    );
    assert_eq!(result_of(&report, "signature"), "ok");
    assert_eq!(result_of(&report, "time"), "fail");
    assert_eq!(result_of(&report, "iss"), "not-reached");
    let time = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "time")
        .unwrap();
    assert!(
        time["hint"].as_str().unwrap().contains("-42 s left"),
        "{time}"
    );
    // Leeway from the flag, as token_clock_leeway would.
    let (code, _) = verify_json(
        &token,
        &[
            "--app-id",
            "a",
            "--app-secret-file",
            s,
            "--at",
            "1700003642",
            "--leeway",
            "60",
        ],
    );
    assert_eq!(code, 0);
    // exp that is not a number: the verifier's text, and the hint says why.
    let odd = mint(&[
        "--app-id",
        "a",
        "--app-secret-file",
        s,
        "--claim",
        "exp=\"soon\"",
    ]);
    let (code, report) = verify_json(&odd, &["--app-id", "a", "--app-secret-file", s]);
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "exp must be number");
    let time = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "time")
        .unwrap();
    assert!(
        time["hint"]
            .as_str()
            .unwrap()
            .contains("exp \"soon\" is not a number"),
        "{time}"
    );
    // Not yet valid.
    let early = mint(&["--app-id", "a", "--app-secret-file", s, "--nbf", "now+10m"]);
    let (code, report) = verify_json(&early, &["--app-id", "a", "--app-secret-file", s]);
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "Not acceptable by nbf");
}

#[test]
fn missing_sub_and_wrong_room() {
    let dir = TempDir::new().unwrap();
    let s = write(dir.path(), "s", b"secret");
    let s = s.to_str().unwrap();
    let no_sub = mint(&["--app-id", "a", "--app-secret-file", s, "--omit", "sub"]);
    let (code, report) = verify_json(&no_sub, &["--app-id", "a", "--app-secret-file", s]);
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "sub claim is missing");
    assert_eq!(report["condition"], "not-authorized");
    assert_eq!(result_of(&report, "room"), "ok");
    assert_eq!(result_of(&report, "sub"), "fail");

    let no_room = mint(&["--app-id", "a", "--app-secret-file", s, "--omit", "room"]);
    let (_, report) = verify_json(&no_room, &["--app-id", "a", "--app-secret-file", s]);
    assert_eq!(report["reason"], "room claim is missing");
    let (code, report) = verify_json(
        &no_room,
        &["--app-id", "a", "--app-secret-file", s, "--no-require-room"],
    );
    assert_eq!(code, 0);
    assert_eq!(result_of(&report, "room"), "skipped");

    // The login passes; joining another room than the claim is refused. Without
    // --domain the room is named by its JID (Prosody's defaults on that MUC).
    let token = mint(&[
        "--app-id",
        "a",
        "--app-secret-file",
        s,
        "--room",
        "Standup",
        "--sub",
        "meet.test",
    ]);
    let (code, report) = verify_json(
        &token,
        &[
            "--app-id",
            "a",
            "--app-secret-file",
            s,
            "--join",
            "standup@conference.meet.test",
        ],
    );
    assert_eq!(code, 0, "room claims compare lowercased: {report}");
    let (code, report) = verify_json(
        &token,
        &[
            "--app-id",
            "a",
            "--app-secret-file",
            s,
            "--join",
            "retro@conference.meet.test",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(report["joins"][0]["condition"], "room-name-does-not-match");
    assert_eq!(report["reason"], Value::Null, "the login itself passes");
    assert_eq!(result_of(&report, "join"), "fail");
    // Issuer and audience lists come from flags like the host options.
    let (code, report) = verify_json(
        &token,
        &["--app-id", "a", "--app-secret-file", s, "--issuer", "other"],
    );
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "invalid 'iss' claim");
    let (_, report) = verify_json(
        &token,
        &["--app-id", "a", "--app-secret-file", s, "--audience", "x"],
    );
    assert_eq!(report["reason"], "invalid 'aud' claim");
}

#[test]
fn garbage_and_stdin() {
    let dir = TempDir::new().unwrap();
    let s = write(dir.path(), "s", b"secret");
    let s = s.to_str().unwrap();
    let (code, report) = verify_json("not-a-token", &["--app-id", "a", "--app-secret-file", s]);
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "Invalid token");
    assert_eq!(result_of(&report, "decode"), "fail");

    // A pasted token with a `Bearer ` prefix and a newline, on stdin.
    let token = mint(&["--app-id", "a", "--app-secret-file", s]);
    cmd()
        .args([
            "token",
            "verify",
            "--app-id",
            "a",
            "--app-secret-file",
            s,
            "-",
        ])
        .write_stdin(format!("Bearer {token}\n"))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "LOGIN ACCEPTED: Prosody accepts this token at login; room joins not checked (no --domain",
        ));
}

/// A root whose one VirtualHost carries `options` (Lua source lines).
fn host_root(options: &str) -> TempDir {
    let root = TempDir::new().unwrap();
    write(
        root.path(),
        "etc/prosody/prosody.cfg.lua",
        format!(
            "VirtualHost \"meet.test\"\n    authentication = \"token\"\n    app_id = \"a\"\n    \
             app_secret = \"secret\"\n{options}\n"
        )
        .as_bytes(),
    );
    root
}

fn verify_on(root: &TempDir, token: &str, extra: &[&str]) -> (i32, Value) {
    let r = root.path().to_str().unwrap();
    let mut args = vec!["--root", r, "--domain", "meet.test"];
    args.extend_from_slice(extra);
    verify_json(token, &args)
}

fn mint_on(root: &TempDir, extra: &[&str]) -> String {
    let r = root.path().to_str().unwrap();
    let mut args = vec!["--root", r, "--domain", "meet.test"];
    args.extend_from_slice(extra);
    mint(&args)
}

#[test]
fn room_join_checked_by_default_with_the_rule_prosody_runs() {
    let root = host_root("    muc_mapper_domain_base = \"meet.test\"");
    // sub another domain: the login passes, every join fails (issue 12 item 6).
    let token = mint_on(&root, &["--room", "standup", "--sub", "other.example"]);
    let (code, report) = verify_on(&root, &token, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["valid"], false);
    assert_eq!(report["reason"], Value::Null, "the login itself passes");
    assert_eq!(report["joins"][0]["room"], "standup@conference.meet.test");
    assert_eq!(report["joins"][0]["condition"], "room-mismatch");
    // sub a number: Prosody compares only strings.
    let token = mint_on(&root, &["--claim", "sub=5"]);
    let (code, report) = verify_on(&root, &token, &["--join", "standup"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["joins"][0]["condition"], "room-mismatch");
    // A pattern room is matched as Prosody matches it.
    let token = mint_on(
        &root,
        &[
            "--room",
            "team%-%d+",
            "--claim",
            r#"context={"room":{"regex":true}}"#,
        ],
    );
    let (code, report) = verify_on(&root, &token, &["--join", "team-12"]);
    assert_eq!(code, 0, "{report}");
    let (code, report) = verify_on(&root, &token, &["--join", "team-x"]);
    assert_eq!(code, 1);
    assert_eq!(report["joins"][0]["condition"], "room-name-does-not-match");
    let (code, report) = verify_on(&root, &token, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(
        report["joins_not_previewed"]
            .as_str()
            .unwrap()
            .contains("give --join ROOM"),
        "{report}"
    );
}

#[test]
fn room_join_follows_the_hosts_room_options() {
    // enable_domain_verification = false: sub is not checked.
    let root = host_root("    enable_domain_verification = false");
    let token = mint_on(&root, &["--room", "standup", "--sub", "other.example"]);
    let (code, report) = verify_on(&root, &token, &[]);
    assert_eq!(code, 0, "{report}");
    // muc_mapper_domain_prefix/_base name the MUC the rooms are on.
    let root = host_root(
        "    muc_mapper_domain_prefix = \"muc\"\n    muc_mapper_domain_base = \"meet.test\"",
    );
    let token = mint_on(&root, &["--room", "standup"]);
    let out = cmd()
        .args(["token", "verify", "--root"])
        .arg(root.path())
        .args(["--domain", "meet.test", &token])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("VALID: Prosody accepts this token and lets it join standup@muc.meet.test"),
        "{text}"
    );
}

#[test]
fn secret_never_needed_on_the_command_line() {
    // The secret can come from stdin.
    let dir = TempDir::new().unwrap();
    let s = write(dir.path(), "s", b"from-stdin");
    let out = cmd()
        .args(["token", "mint", "--app-id", "a", "--app-secret-file", "-"])
        .write_stdin("from-stdin\n")
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let (code, _) = verify_json(
        token.trim(),
        &["--app-id", "a", "--app-secret-file", s.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    // No key at all: a clear error, exit 1, nothing on stdout.
    cmd()
        .args(["token", "mint", "--app-id", "a"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("no signing key"));
}

/// A host configured in a Prosody tree under --root: mint and verify read app_id,
/// app_secret and the issuer list from it, byte for byte.
#[test]
fn host_settings_from_root() {
    let root = TempDir::new().unwrap();
    let r = root.path();
    write(
        r,
        "etc/prosody/prosody.cfg.lua",
        b"admins = {}\nInclude \"conf.d/*.cfg.lua\"\n",
    );
    // A secret with quotes, a backslash, a newline escape and non-ASCII, as Lua escapes.
    write(
        r,
        "etc/prosody/conf.avail/meet.test.cfg.lua",
        "VirtualHost \"other.test\"\n    app_id = \"wrong\"\n\n\
         VirtualHost \"meet.test\"\n    authentication = \"token\" -- do not delete me\n    app_id = \"meetapp\"\n    \
         app_secret = \"q\\\"uo\\\\te\\nü\"\n    asap_accepted_issuers = { \"meetapp\", \"portal\" }\n"
            .as_bytes(),
    );
    std::fs::create_dir_all(r.join("etc/prosody/conf.d")).unwrap();
    std::os::unix::fs::symlink(
        "../conf.avail/meet.test.cfg.lua",
        r.join("etc/prosody/conf.d/meet.test.cfg.lua"),
    )
    .unwrap();
    let root_s = r.to_str().unwrap();
    let token = mint(&["--root", root_s, "--domain", "meet.test", "--iss", "portal"]);
    let claims = pyjwt_decode(&token, "q\"uo\\te\nü".as_bytes(), "HS256").unwrap();
    assert_eq!(claims["sub"], "meet.test", "sub defaults to the domain");
    assert_eq!(claims["iss"], "portal");
    let (code, report) = verify_json(
        &token,
        &[
            "--root",
            root_s,
            "--domain",
            "meet.test",
            "--join",
            "anyroom",
        ],
    );
    assert_eq!(code, 0, "{report}");

    // iss defaults to the host's app_id; an issuer outside the host's list is refused.
    let stranger = mint(&[
        "--root",
        root_s,
        "--domain",
        "meet.test",
        "--iss",
        "stranger",
    ]);
    let (code, report) = verify_json(&stranger, &["--root", root_s, "--domain", "meet.test"]);
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "invalid 'iss' claim");
    assert!(
        report["checks"].to_string().contains("meetapp, portal"),
        "{report}"
    );

    cmd()
        .args(["token", "mint", "--root", root_s, "--domain", "nohost.test"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no VirtualHost \"nohost.test\""));
}

/// A loopback ASAP key server serving one PEM at `/<sha256(kid)>.pem`; counts requests.
fn key_server(pem: Vec<u8>, kid_file: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            h.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, body) = if path == format!("/keys/{kid_file}") {
                ("200 OK", pem.clone())
            } else {
                ("404 Not Found", b"no".to_vec())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
            let _ = stream.read(&mut [0u8; 1024]);
        }
    });
    (format!("http://127.0.0.1:{}/keys/", addr.port()), hits)
}

#[test]
fn key_server_fetch_by_kid() {
    let dir = TempDir::new().unwrap();
    let (private, public) = keypair(
        dir.path(),
        "rs",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let kid = "portal/key-1";
    let (url, hits) = key_server(
        std::fs::read(&public).unwrap(),
        jitsi_tokens_verifier::key_file(kid),
    );
    let token = mint(&[
        "--alg",
        "RS256",
        "--private-key",
        private.to_str().unwrap(),
        "--kid",
        kid,
        "--app-id",
        "a",
    ]);
    let (code, report) = verify_json(&token, &["--app-id", "a", "--asap-key-server", &url]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let key = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "key")
        .unwrap();
    assert!(
        key["detail"]
            .as_str()
            .unwrap()
            .contains(&jitsi_tokens_verifier::key_file(kid)),
        "{key}"
    );

    // An unknown kid: the server answers 404, the login fails as Prosody's would.
    let other = mint(&[
        "--alg",
        "RS256",
        "--private-key",
        private.to_str().unwrap(),
        "--kid",
        "nope",
        "--app-id",
        "a",
    ]);
    let (code, report) = verify_json(&other, &["--app-id", "a", "--asap-key-server", &url]);
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "could not obtain public key");
    assert!(report.to_string().contains("HTTP 404"), "{report}");

    // Nothing listening: fails fast with the same reason.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://127.0.0.1:{}/", dead.local_addr().unwrap().port());
    drop(dead);
    let started = std::time::Instant::now();
    let (code, report) = verify_json(
        &token,
        &[
            "--app-id",
            "a",
            "--asap-key-server",
            &dead_url,
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(report["reason"], "could not obtain public key");
    assert!(started.elapsed().as_secs() < 10);
}
