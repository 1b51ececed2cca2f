//! Every subcommand reads the same `JITSI_MEET_TOKENS_*` variables, and the flags
//! have one spelling each (the old ones still accepted, hidden).

use super::*;

const DOMAIN: &str = "meet.example.com";

/// A Jitsi fixture configured with a known secret; its tree and the secret's file.
fn configured() -> (Root, PathBuf) {
    let r = Root::new("jitsi");
    success(&mut r.configure(DOMAIN, b"vocabulary-secret", &[]));
    let secret = r.secret_file(b"vocabulary-secret");
    (r, secret)
}

fn run(c: &mut assert_cmd::Command) -> std::process::Output {
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_subcommand_honours_jitsi_meet_tokens_root() {
    let (r, _) = configured();
    let root = r.path();
    let env = |c: &mut assert_cmd::Command| {
        c.env("JITSI_MEET_TOKENS_ROOT", &root);
    };

    // status: reports on that root, and finds the host configure wrote there.
    let mut c = cmd();
    c.args(["status", "--no-load", "--output", "json"]);
    env(&mut c);
    let (_, report) = exit_and_json(&run(&mut c));
    assert_eq!(report["root"], root.to_string_lossy().as_ref());
    assert!(
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["domain"] == DOMAIN),
        "{report}"
    );

    // token mint: reads the host's secret under the root (no flag names the root).
    let mut c = cmd();
    c.args(["token", "mint", "--domain", DOMAIN]);
    env(&mut c);
    let out = run(&mut c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();

    // token verify: verifies it with that host's secret.
    let mut c = cmd();
    c.args([
        "token", "verify", "--domain", DOMAIN, "--output", "json", &token,
    ]);
    env(&mut c);
    let (code, report) = exit_and_json(&run(&mut c));
    assert_eq!(
        (code, &report["valid"]),
        (0, &serde_json::json!(true)),
        "{report}"
    );

    // configure: a second run with the same values on that root changes nothing.
    let mut c = cmd();
    let secret = r.secret_file(b"vocabulary-secret");
    c.args([
        "configure",
        "--domain",
        DOMAIN,
        "--app-id",
        "myapp",
        "--app-secret-file",
    ])
    .arg(secret)
    .args(r.unattended());
    env(&mut c);
    let out = run(&mut c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json(&out)["changed"], false, "{}", text(&out.stdout));

    // unconfigure: reverts the file under that root.
    let mut c = cmd();
    c.args([
        "unconfigure",
        "--domain",
        DOMAIN,
        "--non-interactive",
        "--no-restart",
        "--output",
        "json",
    ]);
    env(&mut c);
    let out = run(&mut c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json(&out)["changed"], true, "{}", text(&out.stdout));
    let host = r.read(&format!("etc/prosody/conf.avail/{DOMAIN}.cfg.lua"));
    assert!(!host.contains("vocabulary-secret"), "{host}");
}

#[test]
fn status_and_token_honour_jitsi_meet_tokens_domain() {
    let (r, _) = configured();
    let mut c = cmd();
    c.args(["status", "--no-load", "--output", "json", "--root"])
        .arg(r.path())
        .env("JITSI_MEET_TOKENS_DOMAIN", "other.example.com");
    let (code, report) = exit_and_json(&run(&mut c));
    // Only the named host is checked, and it has no token config.
    assert_eq!(code, 1, "{report}");
    assert!(
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["domain"] != DOMAIN),
        "{report}"
    );

    let mut c = cmd();
    c.args(["token", "mint", "--root"])
        .arg(r.path())
        .env("JITSI_MEET_TOKENS_DOMAIN", DOMAIN);
    let out = run(&mut c);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The same verification with the new and the old spellings gives the same report.
#[test]
fn old_flag_spellings_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", b"s3cret");
    let secret = secret.to_str().unwrap();
    let mint = |alg_flag: &str| {
        let out = cmd()
            .args([
                "token",
                "mint",
                "--app-id",
                "app",
                "--app-secret-file",
                secret,
                alg_flag,
                "HS384",
            ])
            .args(["--aud", "aud1", "--ttl", "1h"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{alg_flag}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let token = mint("--signature-algorithm");
    let old_token = mint("--alg");
    assert_eq!(
        jitsi_tokens_header(&token),
        jitsi_tokens_header(&old_token),
        "--alg and --signature-algorithm sign alike"
    );
    assert!(jitsi_tokens_header(&token).contains("HS384"));

    let verify = |flags: &[&str]| {
        let out = cmd()
            .args([
                "token",
                "verify",
                "--app-id",
                "app",
                "--app-secret-file",
                secret,
            ])
            .args(flags)
            .arg(&token)
            .output()
            .unwrap();
        exit_and_json(&out)
    };
    let new = verify(&[
        "--signature-algorithm",
        "HS384",
        "--issuers",
        "x,app",
        "--audiences",
        "aud1",
        "--token-clock-leeway",
        "5",
        "--output",
        "json",
    ]);
    let old = verify(&[
        "--alg",
        "HS384",
        "--issuer",
        "x",
        "--issuer",
        "app",
        "--audience",
        "aud1",
        "--leeway",
        "5",
        "--output",
        "json",
    ]);
    assert_eq!(new.0, 0, "{}", new.1);
    assert_eq!(new.1["checks"], old.1["checks"]);
    // The accepted issuers really apply: a list without `app` refuses the token.
    let refused = verify(&["--alg", "HS384", "--issuer", "x", "--output", "json"]);
    assert_eq!(refused.0, 1, "{}", refused.1);

    // `--output text` is the old spelling of `human`: the same text.
    let out_text = cmd()
        .args(["status", "--no-load", "--output", "text", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out_human = cmd()
        .args(["status", "--no-load", "--output", "human", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out_text.status.code(), out_human.status.code());
    assert_eq!(text(&out_text.stdout), text(&out_human.stdout));
    assert!(text(&out_text.stdout).contains("Checks:"));

    // Old spellings are hidden from help; the new ones are shown.
    let help = text(
        &cmd()
            .args(["token", "verify", "--help"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        help.contains("--issuers") && help.contains("--signature-algorithm"),
        "{help}"
    );
    assert!(
        !help.contains("--issuer ") && !help.contains("--alg "),
        "{help}"
    );
}

/// The base64url-decoded JOSE header of a token.
fn jitsi_tokens_header(token: &str) -> String {
    use base64::Engine;
    let h = token.split('.').next().unwrap();
    text(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
}

/// `status --output json` carries typed settings and checks (value, file, line),
/// their other fields named as `token verify`'s are (check, result, detail, hint).
#[test]
fn status_json_is_typed_and_shares_the_check_shape_with_verify() {
    let (r, _) = configured();
    let out = cmd()
        .args(["status", "--no-load", "--output", "json", "--root"])
        .arg(r.path())
        .output()
        .unwrap();
    let (_, report) = exit_and_json(&out);
    let host = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["domain"] == DOMAIN)
        .unwrap();
    let setting = |name: &str| {
        host["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {host:#}"))
            .clone()
    };
    let app_id = setting("app_id");
    assert_eq!(app_id["value"], "myapp");
    // file and line point at the assignment itself.
    let file = app_id["file"].as_str().unwrap();
    let line = app_id["line"].as_u64().unwrap() as usize;
    let host_text = std::fs::read_to_string(r.path().join(file.trim_start_matches('/'))).unwrap();
    assert!(
        host_text.lines().nth(line - 1).unwrap().contains("app_id"),
        "{file}:{line}"
    );
    assert_eq!(setting("c2s_require_encryption")["value"], false);
    assert_eq!(setting("allow_empty_token")["value"], false);
    let secret = setting("app_secret");
    assert!(secret["value"].is_null() && secret["note"].as_str().unwrap().contains("bytes"));
    assert!(!report.to_string().contains("vocabulary-secret"));
    let installed = &report["installed"][0];
    assert!(
        installed["name"].is_string() && installed["version"].is_string(),
        "{installed}"
    );

    let token = {
        let out = cmd()
            .args(["token", "mint", "--domain", DOMAIN, "--root"])
            .arg(r.path())
            .output()
            .unwrap();
        text(&out.stdout).trim().to_owned()
    };
    let out = cmd()
        .args([
            "token", "verify", "--domain", DOMAIN, "--output", "json", "--root",
        ])
        .arg(r.path())
        .arg(&token)
        .output()
        .unwrap();
    let (_, verified) = exit_and_json(&out);
    let keys = |c: &serde_json::Value| {
        let mut k: Vec<String> = c.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    // One record for both: the same fields, every one present.
    assert_eq!(
        keys(&report["checks"][0]),
        ["check", "detail", "file", "hint", "host", "line", "result", "value"]
    );
    for c in verified["checks"].as_array().unwrap() {
        assert_eq!(keys(c), keys(&report["checks"][0]), "{c}");
        let result = c["result"].as_str().unwrap();
        assert!(
            ["ok", "warn", "fail", "skipped", "not-reached"].contains(&result),
            "{c}"
        );
    }
}
