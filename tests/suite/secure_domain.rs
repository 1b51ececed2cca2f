//! The Jitsi "secure domain" from one `configure`: guests (`--guest-domain`),
//! moderators from the token (`--moderators-from-token`) and recorders / gateways in
//! `token_verification_allowlist`, each alone and together, on a root laid out as
//! Jitsi's maintainer scripts leave it (the `jitsi` Prosody tree plus the
//! `jitsi-web` tree of config.js and jicofo.conf, and Jibri's recorder host).

use super::*;

const DOMAIN: &str = "meet.example.com";
const GUEST: &str = "guest.meet.example.com";
const HOST: &str = "etc/prosody/conf.avail/meet.example.com.cfg.lua";
const CONFIG_JS: &str = "etc/jitsi/meet/meet.example.com-config.js";
const JICOFO: &str = "etc/jitsi/jicofo/jicofo.conf";
const GUEST_FILE: &str = "etc/prosody/conf.avail/guest.meet.example.com.cfg.lua";
const GUEST_LINK: &str = "etc/prosody/conf.d/guest.meet.example.com.cfg.lua";
/// The files a secure-domain run may touch (state, settings and module excluded).
const SERVER_FILES: &[&str] = &["etc/prosody/", "etc/jitsi/"];

/// Jibri's hidden domain, as Jitsi's Prosody postinst adds it to the host file.
const RECORDER_HOST: &str = "\nVirtualHost \"recorder.meet.example.com\"\n    modules_enabled = {\n        \"ping\";\n    }\n    authentication = \"internal_hashed\"\n";

/// The whole server: Prosody's Jitsi tree, Jitsi Meet's web config, Jicofo's config,
/// and (when asked) Jibri's recorder host.
fn server(recorder: bool) -> Root {
    let r = Root::new("jitsi");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jitsi-web"),
        &r.path(),
    );
    std::fs::remove_file(r.file("README.md")).unwrap();
    if recorder {
        let mut host = r.read(HOST);
        host.push_str(RECORDER_HOST);
        std::fs::write(r.file(HOST), host).unwrap();
    }
    r
}

/// Configured once without any secure-domain part: the baseline every part's diff
/// is measured from.
fn token_configured(recorder: bool) -> Root {
    let r = server(recorder);
    success(&mut r.configure(DOMAIN, b"secure-domain-secret", &[]));
    r
}

fn run(r: &Root, extra: &[&str]) -> serde_json::Value {
    json(&success(&mut r.configure(
        DOMAIN,
        b"secure-domain-secret",
        extra,
    )))
}

fn dry(r: &Root, extra: &[&str]) -> String {
    let mut a = vec!["--dry-run"];
    a.extend_from_slice(extra);
    run(r, &a)["diff"].as_str().unwrap().to_string()
}

fn files(j: &serde_json::Value) -> Vec<String> {
    j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// A second run with no flag changes nothing (values come from the settings file),
/// and unconfigure puts every server file back byte for byte (from `before`, the
/// tree as it was before the very first configure).
#[track_caller]
fn idempotent_and_reversible(r: &Root, before: &Snapshot) {
    let first = r.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let j = run(r, &[]);
    assert_eq!(j["changed"], false, "{j}");
    assert_eq!(j["restart"], "none");
    assert_same(&r.snapshot(), &first, "no file rewritten on the second run");
    let j = json(&success(&mut r.unconfigure(DOMAIN)));
    assert_eq!(j["changed"], true, "{j}");
    let now = only(&r.snapshot(), SERVER_FILES);
    let was = only(before, SERVER_FILES);
    let content = |s: &Snapshot| -> Vec<(String, String, Option<PathBuf>)> {
        s.iter()
            .map(|(k, e)| {
                let text = String::from_utf8_lossy(&e.content).into_owned();
                (k.clone(), text, e.link.clone())
            })
            .collect()
    };
    assert_eq!(
        content(&now),
        content(&was),
        "unconfigure restores every file"
    );
}

#[test]
fn guests_alone_exact_diffs_idempotent_and_reversible() {
    let r = server(false);
    let before = r.snapshot();
    let base = token_configured(false);
    let diff = dry(&base, &["--guest-domain", GUEST]);
    assert_eq!(
        changed_lines(&file_diff(&diff, HOST)),
        // The recorder came from Jicofo's trusted-domains on the first run.
        [
            "-    token_verification_allowlist = { \"recorder.meet.example.com\" }",
            "+    token_verification_allowlist = { \"recorder.meet.example.com\", \"guest.meet.example.com\" }",
        ],
        "{diff}"
    );
    assert_eq!(
        file_diff(&diff, GUEST_FILE)
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+--"))
            .collect::<Vec<_>>(),
        [
            "+",
            "+VirtualHost \"guest.meet.example.com\"",
            "+    authentication = \"jitsi-anonymous\"",
            "+    c2s_require_encryption = false",
            "+    modules_enabled = {",
            "+        \"bosh\";",
            "+        \"websocket\";",
            "+        \"ping\";",
            "+    }",
        ],
        "{diff}"
    );
    assert!(
        diff.contains(&format!(
            "symlink /{GUEST_LINK} -> ../conf.avail/{GUEST}.cfg.lua"
        )),
        "{diff}"
    );
    assert_eq!(
        changed_lines(&file_diff(&diff, CONFIG_JS)),
        [
            "-        // anonymousdomain: 'guest.example.com',",
            "+        anonymousdomain: 'guest.meet.example.com',",
        ]
    );
    assert_eq!(
        changed_lines(&file_diff(&diff, JICOFO)),
        [
            "+  authentication {",
            "+    enabled = true",
            "+    type = JWT",
            "+    login-url = \"meet.example.com\"",
            "+  }",
        ]
    );
    // Prosody's own loader reads the guest host as intended.
    let j = run(&r, &["--guest-domain", GUEST]);
    assert_eq!(j["jicofo_restart"], "skipped", "{j}");
    for f in [HOST, CONFIG_JS, JICOFO, GUEST_FILE, GUEST_LINK] {
        assert!(files(&j).contains(&format!("/{f}")), "{f} in {j}");
    }
    assert_eq!(
        loaded(&r.file(GUEST_FILE), GUEST, "authentication").as_deref(),
        Some(&b"jitsi-anonymous"[..])
    );
    idempotent_and_reversible(&r, &before);
}

#[test]
fn moderators_alone_exact_diffs_idempotent_and_reversible() {
    let r = server(false);
    let before = r.snapshot();
    let base = token_configured(false);
    let diff = dry(&base, &["--moderators-from-token"]);
    assert_eq!(
        changed_lines(&file_diff(&diff, HOST)),
        ["+    token_verification_moderators_from_token = true"],
        "{diff}"
    );
    assert_eq!(
        changed_lines(&file_diff(&diff, JICOFO)),
        ["+  conference {", "+    enable-auto-owner = false", "+  }"]
    );
    assert!(
        !diff.contains(CONFIG_JS) && !diff.contains(GUEST_FILE),
        "{diff}"
    );
    run(&r, &["--moderators-from-token"]);
    idempotent_and_reversible(&r, &before);
}

#[test]
fn recorders_alone_are_detected_and_added_with_the_given_entries() {
    let r = server(true);
    let before = r.snapshot();
    let base = server(true);
    // Plain output: the notes of what was added go to stderr.
    let args: Vec<_> = base
        .configure_args(
            DOMAIN,
            b"secure-domain-secret",
            &[
                "--dry-run",
                "--allowlist",
                "jigasi@auth.meet.example.com,sip.example.org",
            ],
        )
        .into_iter()
        .map(|a| if a == "json" { "plain".into() } else { a })
        .collect();
    let out = success(cmd().args(args));
    let diff = String::from_utf8(out.stdout).unwrap();
    let lines = changed_lines(&file_diff(&diff, HOST));
    assert!(
        lines.contains(&"+    token_verification_allowlist = { \"recorder.meet.example.com\", \"jigasi@auth.meet.example.com\", \"sip.example.org\" }".to_string()),
        "{diff}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("moderators_from_token")),
        "{diff}"
    );
    assert!(
        !diff.contains(JICOFO) && !diff.contains(CONFIG_JS),
        "{diff}"
    );
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(
        said.contains("added recorder.meet.example.com (Jibri's recorder VirtualHost)")
            && said.contains("added jigasi@auth.meet.example.com (--allowlist)"),
        "{said}"
    );
    run(&r, &["--allowlist", "jigasi@auth.meet.example.com"]);
    idempotent_and_reversible(&r, &before);
}

#[test]
fn all_parts_together_and_turned_off_again() {
    let r = server(true);
    let before = r.snapshot();
    let all = [
        "--guest-domain",
        GUEST,
        "--moderators-from-token",
        "--allowlist",
        "jigasi@auth.meet.example.com",
    ];
    let j = run(&r, &all);
    let host = r.read(HOST);
    assert!(
        host.contains("    token_verification_allowlist = { \"guest.meet.example.com\", \"recorder.meet.example.com\", \"jigasi@auth.meet.example.com\" }\n    token_verification_moderators_from_token = true\n"),
        "{host}"
    );
    assert_eq!(j["jicofo_restart"], "skipped");
    // Guests and moderators turned off: config.js and jicofo.conf come back to the
    // bytes they had, the guest host goes, the allowlist keeps the recorder.
    let after_token = token_configured(true);
    let j = run(&r, &["--no-guest-domain", "--no-moderators-from-token"]);
    assert_eq!(j["changed"], true);
    assert_eq!(r.read(CONFIG_JS), after_token.read(CONFIG_JS));
    assert_eq!(r.read(JICOFO), after_token.read(JICOFO));
    assert!(!r.file(GUEST_FILE).exists() && !r.file(GUEST_LINK).is_symlink());
    assert!(
        r.read(HOST)
            .contains("token_verification_allowlist = { \"recorder.meet.example.com\", \"jigasi@auth.meet.example.com\" }"),
        "{}",
        r.read(HOST)
    );
    assert!(!r.read(HOST).contains("moderators_from_token"));
    // And on again, then unconfigure: the tree of before the first run.
    run(&r, &all);
    idempotent_and_reversible(&r, &before);
}

#[test]
fn absent_jitsi_files_are_skipped_not_errors() {
    let r = Root::new("jitsi");
    let j = run(&r, &["--guest-domain", GUEST, "--moderators-from-token"]);
    let warnings = j["warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "skipped /{CONFIG_JS}: Jitsi Meet's web config is not installed"
        )) && warnings.contains(&format!("skipped /{JICOFO}: Jicofo is not installed")),
        "{j}"
    );
    assert!(j.get("jicofo_restart").is_none(), "{j}");
    assert!(r.file(GUEST_FILE).exists());
    let j = run(&r, &[]);
    assert_eq!(j["changed"], false, "{j}");
}

#[test]
fn hostile_guest_domains_and_allowlist_entries_are_refused() {
    let r = token_configured(true);
    let before = r.snapshot();
    for bad in [
        &["--guest-domain", "guest\"; os.execute(\"id\") --"][..],
        &[
            "--guest-domain",
            "guest.meet.example.com\nVirtualHost \"x\"",
        ],
        &["--guest-domain", "../../../tmp/x"],
        &["--guest-domain", DOMAIN],
        &["--allowlist", "a\"b"],
        &["--allowlist", "x@"],
    ] {
        let out = r
            .configure(DOMAIN, b"secure-domain-secret", bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let j = json(&out);
        assert!(
            j["error"].as_str().unwrap().contains("--guest-domain")
                || j["error"].as_str().unwrap().contains("--allowlist"),
            "{j}"
        );
    }
    assert_same(&r.snapshot(), &before, "a refused run changes nothing");
    // The empty variable means "no guest domain".
    let j = json(&success(
        r.configure(DOMAIN, b"secure-domain-secret", &["--dry-run"])
            .env("JITSI_MEET_TOKENS_GUEST_DOMAIN", ""),
    ));
    assert_eq!(
        files(&j),
        ["/etc/jitsi-meet-tokens/settings.toml"],
        "only `guest_domain = \"\"` recorded: {j}"
    );
}

#[test]
fn settings_and_environment_carry_the_same_values() {
    let r = server(false);
    let j = json(&success(
        r.configure(DOMAIN, b"secure-domain-secret", &[])
            .env("JITSI_MEET_TOKENS_GUEST_DOMAIN", GUEST)
            .env("JITSI_MEET_TOKENS_MODERATORS_FROM_TOKEN", "true")
            .env("JITSI_MEET_TOKENS_ALLOWLIST", "sip.example.org"),
    ));
    assert_eq!(j["changed"], true);
    let settings = r.read("etc/jitsi-meet-tokens/settings.toml");
    assert!(
        settings.contains("guest_domain = \"guest.meet.example.com\"\nmoderators_from_token = true\nallowlist = [\"sip.example.org\"]\n"),
        "{settings}"
    );
    assert!(r.read(HOST).contains("\"sip.example.org\""));
}

/// `status` reports each piece: the guest domain, moderators from the token, and
/// recorders not (yet) allowlisted, with a fix.
#[test]
fn status_reports_each_piece_with_a_fix() {
    let r = server(true);
    let status = |r: &Root| -> Vec<(String, String, Option<String>)> {
        let out = cmd()
            .args([
                "status",
                "--no-load",
                "--output",
                "json",
                "--domain",
                DOMAIN,
                "--root",
            ])
            .arg(r.path())
            .output()
            .unwrap();
        let (_, j) = exit_and_json(&out);
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                ["guest-domain", "moderators-from-token", "allowlist"]
                    .contains(&c["check"].as_str().unwrap())
            })
            .map(|c| {
                (
                    c["check"].as_str().unwrap().to_string(),
                    c["result"].as_str().unwrap().to_string(),
                    c["hint"].as_str().map(str::to_string),
                )
            })
            .collect()
    };
    let before = status(&r);
    let allowlist = before.iter().find(|c| c.0 == "allowlist").unwrap();
    assert_eq!(allowlist.1, "warn", "{before:?}");
    assert!(
        allowlist.2.as_deref().unwrap().contains("configure"),
        "{before:?}"
    );
    run(&r, &["--guest-domain", GUEST, "--moderators-from-token"]);
    let after = status(&r);
    for id in ["guest-domain", "moderators-from-token", "allowlist"] {
        assert!(
            after.iter().any(|c| c.0 == id && c.1 == "ok"),
            "{id} ok after configure: {after:?}"
        );
    }
    // Jicofo's auto-owner put back by hand: the moderators check says what to run.
    let jicofo = r
        .read(JICOFO)
        .replace("enable-auto-owner = false", "enable-auto-owner = true");
    std::fs::write(r.file(JICOFO), jicofo).unwrap();
    let edited = status(&r);
    let m = edited
        .iter()
        .find(|c| c.0 == "moderators-from-token")
        .unwrap();
    assert_eq!(m.1, "warn", "{edited:?}");
    assert!(m.2.as_deref().unwrap().contains("--moderators-from-token"));
}

/// Jigasi's account from its sip-communicator.properties joins the allowlist; the
/// file as Jigasi's package ships it (account lines commented out) adds nothing.
#[test]
fn jigasis_account_is_detected_from_its_properties() {
    const JIGASI: &str = "etc/jitsi/jigasi/sip-communicator.properties";
    let shipped = "# org.jitsi.jigasi.xmpp.acc.USER_ID=SOME_USER@SOME_DOMAIN\n\
                   # org.jitsi.jigasi.xmpp.acc.PASS=SOME_PASS\n\
                   # org.jitsi.jigasi.xmpp.acc.ANONYMOUS_AUTH=false\n";
    let with = |props: &str| {
        let r = server(false);
        std::fs::create_dir_all(r.file("etc/jitsi/jigasi")).unwrap();
        std::fs::write(r.file(JIGASI), props).unwrap();
        r
    };
    let r = with(shipped);
    let lines = changed_lines(&file_diff(&dry(&r, &[]), HOST));
    assert!(
        lines
            .iter()
            .any(|l| l == "+    token_verification_allowlist = { \"recorder.meet.example.com\" }"),
        "{lines:?}"
    );
    let r = with(&format!(
        "{shipped}org.jitsi.jigasi.xmpp.acc.USER_ID=jigasi@auth.meet.example.com\n\
         org.jitsi.jigasi.xmpp.acc.PASS=p\norg.jitsi.jigasi.xmpp.acc.ANONYMOUS_AUTH=false\n"
    ));
    let before = r.snapshot();
    let lines = changed_lines(&file_diff(&dry(&r, &[]), HOST));
    assert!(
        lines.iter().any(|l| l
            == "+    token_verification_allowlist = { \"recorder.meet.example.com\", \"jigasi@auth.meet.example.com\" }"),
        "{lines:?}"
    );
    run(&r, &[]);
    assert!(
        r.read(JIGASI).contains("USER_ID=jigasi@"),
        "read, never edited"
    );
    idempotent_and_reversible(&r, &before);
}
