//! `jitsi-meet-tokens status` on small Prosody trees under `--root`: a healthy tree
//! passes, and each fault turns exactly its check into a failure with a fix hint.
//! Also the generated man page and completions.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use super::{cmd, copy_tree, exit_and_json, success, write};
use serde_json::Value;
use tempfile::TempDir;

const HOST: &str = r#"-- meet.test, hand-written
plugin_paths = { "/usr/share/jitsi-meet-tokens/prosody-plugins/", "/usr/share/jitsi-meet/prosody-plugins/" }

VirtualHost "meet.test"
    authentication = "token" -- do not delete me
    app_id = "myapp"
    app_secret = "s3cret"
    c2s_require_encryption = false
    modules_enabled = { "bosh"; "presence_identity"; }

Component "conference.meet.test" "muc"
    modules_enabled = { "token_verification" }
"#;

const MAIN: &str = "admins = {}\nmodules_enabled = { \"disco\" }\nInclude \"conf.d/*.cfg.lua\"\n";

const MULTIARCH: &str = match std::env::consts::ARCH.as_bytes() {
    b"aarch64" => "aarch64-linux-gnu",
    _ => "x86_64-linux-gnu",
};

fn module_path() -> String {
    format!("usr/lib/{MULTIARCH}/lua/5.4/jitsi_tokens.so")
}

/// A Debian-like root with Prosody 0.12 on Lua 5.4, our plugins and module, and a
/// token host configured as `configure` leaves it.
fn tree(main: &str, host: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    let r = dir.path();
    write(
        r,
        "var/lib/dpkg/status",
        b"Package: prosody\nStatus: install ok installed\nVersion: 0.12.3-1+deb12u1\n\n",
    );
    write(r, "usr/bin/prosody", b"#!/usr/bin/env lua5.4\n-- prosody\n");
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("prosody-plugins");
    for m in [
        "mod_auth_token.lua",
        "mod_token_verification.lua",
        "mod_presence_identity.lua",
    ] {
        let text = std::fs::read(plugins.join(m)).unwrap();
        write(
            r,
            &format!("usr/share/jitsi-meet-tokens/prosody-plugins/{m}"),
            &text,
        );
    }
    // Loaded only by the tests that drop --no-load.
    write(r, &module_path(), b"\x7fELF placeholder");
    write(r, "etc/prosody/prosody.cfg.lua", main.as_bytes());
    write(
        r,
        "etc/prosody/conf.avail/meet.test.cfg.lua",
        host.as_bytes(),
    );
    std::fs::create_dir_all(r.join("etc/prosody/conf.d")).unwrap();
    // An absolute link, as Debian's tools make it: resolved inside the root.
    std::os::unix::fs::symlink(
        "/etc/prosody/conf.avail/meet.test.cfg.lua",
        r.join("etc/prosody/conf.d/meet.test.cfg.lua"),
    )
    .unwrap();
    dir
}

fn status(root: &Path, extra: &[&str]) -> (i32, Value) {
    let out = cmd()
        .args(["status", "--output", "json", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap();
    exit_and_json(&out)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {report:#}"))
}

fn failed(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| c["check"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn healthy_tree_passes() {
    let t = tree(MAIN, HOST);
    let (code, report) = status(t.path(), &["--no-load"]);
    assert_eq!(failed(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(code, 0);
    assert_eq!(report["ok"], true);
    for id in [
        "prosody-version",
        "native-module",
        "plugins",
        "include",
        "authentication",
        "token-options",
        "plugin_paths",
        "c2s_require_encryption",
        "token_verification",
        "presence_identity",
        "clock",
    ] {
        assert_eq!(check(&report, id)["result"], "ok", "{id}: {report:#}");
    }
    assert_eq!(check(&report, "key-server")["result"], "skipped");
    // The host was found without --domain (authentication = "token"), and the
    // secret is described, never shown.
    let host = &report["hosts"][0];
    assert_eq!(host["domain"], "meet.test");
    let text = report.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("set, 6 bytes"), "{text}");
    assert!(check(&report, "token-options")["detail"]
        .as_str()
        .unwrap()
        .starts_with("HS256"));
}

/// Every check is one typed record: the same fields, always present, each of its
/// type (null when it does not apply).
fn assert_schema(report: &Value) {
    for c in report["checks"].as_array().unwrap() {
        let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["check", "detail", "file", "hint", "host", "line", "result", "value"],
            "{c}"
        );
        assert!(c["check"].is_string(), "{c}");
        assert!(
            ["ok", "warn", "fail", "skipped"].contains(&c["result"].as_str().unwrap()),
            "{c}"
        );
        for text in ["detail", "file", "hint", "host"] {
            assert!(c[text].is_null() || c[text].is_string(), "{text}: {c}");
        }
        assert!(c["line"].is_null() || c["line"].is_u64(), "{c}");
        assert!(
            c["line"].is_null() || c["file"].is_string(),
            "a line has a file: {c}"
        );
        // The value is typed, never an object, and no string carries a location.
        assert!(!c["value"].is_object(), "{c}");
        for s in [&c["value"], &c["detail"]] {
            let at_line = |s: &str| {
                s.match_indices(".cfg.lua:")
                    .any(|(i, m)| s[i + m.len()..].starts_with(|ch: char| ch.is_ascii_digit()))
            };
            assert!(!s.as_str().is_some_and(at_line), "{c}");
        }
        // Something to do accompanies every failure and warning.
        if c["result"] == "fail" || c["result"] == "warn" {
            assert!(c["hint"].is_string(), "{c}");
        }
    }
}

/// The values, files and lines of a healthy host's checks.
#[test]
fn checks_carry_typed_values_and_where_they_were_found() {
    let t = tree(MAIN, HOST);
    let (_, report) = status(t.path(), &["--no-load"]);
    assert_schema(&report);
    let host_file = "/etc/prosody/conf.avail/meet.test.cfg.lua";
    let line_of = |needle: &str| HOST.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let c = check(&report, "authentication");
    assert_eq!(c["value"], "token", "{c}");
    assert_eq!(c["file"], host_file, "{c}");
    assert_eq!(c["line"], line_of("authentication ="), "{c}");
    assert_eq!(c["host"], "meet.test", "{c}");
    assert!(c["detail"].is_null() && c["hint"].is_null(), "{c}");
    let c = check(&report, "c2s_require_encryption");
    assert_eq!(c["value"], false, "{c}");
    assert_eq!(c["line"], line_of("c2s_require_encryption"), "{c}");
    let c = check(&report, "plugin_paths");
    assert_eq!(
        c["value"],
        serde_json::json!([
            "/usr/share/jitsi-meet-tokens/prosody-plugins/",
            "/usr/share/jitsi-meet/prosody-plugins/"
        ]),
        "{c}"
    );
    assert_eq!(c["line"], line_of("plugin_paths"), "{c}");
    let c = check(&report, "token_verification");
    assert_eq!(c["value"], serde_json::json!(["token_verification"]), "{c}");
    assert_eq!(c["line"], line_of("{ \"token_verification\" }"), "{c}");
    let c = check(&report, "presence_identity");
    assert_eq!(
        c["value"],
        serde_json::json!(["bosh", "presence_identity"]),
        "{c}"
    );
    assert_eq!(check(&report, "token-options")["value"], "HS256");
    assert_eq!(
        check(&report, "prosody-version")["value"],
        "0.12.3-1+deb12u1"
    );
    assert!(check(&report, "prosody-version")["host"].is_null());
    let c = check(&report, "native-module");
    assert_eq!(c["file"], format!("/{}", module_path()), "{c}");
    assert!(c["line"].is_null(), "{c}");
    assert_eq!(
        check(&report, "plugins")["value"],
        serde_json::json!([
            "mod_auth_token.lua",
            "mod_token_verification.lua",
            "mod_presence_identity.lua"
        ])
    );
    assert_eq!(check(&report, "include")["value"], true);
    assert_eq!(
        check(&report, "include")["file"],
        "/etc/prosody/prosody.cfg.lua"
    );
    let c = check(&report, "key-server");
    assert!(c["value"].is_null() && c["file"].is_null(), "{c}");
    assert!(check(&report, "clock")["value"].is_null());

    // A failing setting carries the value found, typed, and its line.
    let t = tree(
        MAIN,
        &HOST.replace(
            "authentication = \"token\"",
            "authentication = \"internal_hashed\"",
        ),
    );
    let (_, report) = status(t.path(), &["--no-load", "--domain", "meet.test"]);
    assert_schema(&report);
    let c = check(&report, "authentication");
    assert_eq!(c["result"], "fail", "{c}");
    assert_eq!(c["value"], "internal_hashed", "{c}");
    assert_eq!(c["line"], line_of("authentication ="), "{c}");
    // Not set at all: no value, no place.
    let t = tree(MAIN, &HOST.replace("c2s_require_encryption = false", ""));
    let (_, report) = status(t.path(), &["--no-load"]);
    assert_schema(&report);
    let c = check(&report, "c2s_require_encryption");
    assert!(
        c["value"].is_null() && c["file"].is_null() && c["line"].is_null(),
        "{c}"
    );
}

/// Each fault, the check it must fail, and a word its hint must contain.
#[test]
fn each_fault_fails_its_check_with_a_hint() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("include", MAIN, "", "Include \"conf.d/*.cfg.lua\""),
        (
            "plugin_paths",
            MAIN,
            "\"/usr/share/jitsi-meet-tokens/prosody-plugins/\", \"/usr/share/jitsi-meet/prosody-plugins/\"|\"/usr/share/jitsi-meet/prosody-plugins/\", \"/usr/share/jitsi-meet-tokens/prosody-plugins/\"",
            "ahead of Jitsi",
        ),
        (
            "plugin_paths",
            MAIN,
            "plugin_paths = {|plugin_paths_unused = {",
            "first in plugin_paths",
        ),
        ("c2s_require_encryption", MAIN, "c2s_require_encryption = false|c2s_require_encryption = true", "= false"),
        (
            "token_verification",
            MAIN,
            "{ \"token_verification\" }|{ \"muc_meeting_id\" }",
            "add \"token_verification\"",
        ),
        (
            "token_verification",
            MAIN,
            "Component \"conference.meet.test\" \"muc\"|Component \"rooms.meet.test\" \"muc\"",
            "add the MUC component",
        ),
        ("token-options", MAIN, "app_id = \"myapp\"|-- no app id", "app_id is required"),
        (
            "token-options",
            MAIN,
            "app_id = \"myapp\"|app_id = \"myapp\"\n    signature_algorithm = \"RS256\"",
            "asap_key_server",
        ),
        ("authentication", MAIN, "authentication = \"token\"|authentication = \"internal_hashed\"", "\"token\""),
    ];
    for (id, main, edit, hint) in cases {
        let (main, host) = if edit.is_empty() {
            (
                main.replace("Include \"conf.d/*.cfg.lua\"\n", ""),
                HOST.to_owned(),
            )
        } else {
            let (from, to) = edit.split_once('|').unwrap();
            assert!(HOST.contains(from), "{from}");
            (main.to_string(), HOST.replace(from, to))
        };
        let t = tree(&main, &host);
        // --domain: a host that lost `authentication = "token"` is still checked.
        let (code, report) = status(t.path(), &["--no-load", "--domain", "meet.test"]);
        assert_eq!(code, 1, "{id}: {report:#}");
        assert_schema(&report);
        let c = check(&report, id);
        assert_eq!(c["result"], "fail", "{id}/{edit}: {report:#}");
        let h = c["hint"].as_str().unwrap_or_default();
        assert!(h.contains(hint), "{id}: hint {h:?} lacks {hint:?}");
        assert_eq!(
            failed(&report),
            vec![id.to_string()],
            "{edit}: only {id} fails: {report:#}"
        );
    }
}

#[test]
fn missing_presence_identity_is_a_warning() {
    let t = tree(MAIN, &HOST.replace("\"presence_identity\";", ""));
    let (code, report) = status(t.path(), &["--no-load"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(check(&report, "presence_identity")["result"], "warn");
}

#[test]
fn old_prosody_missing_parts_and_no_token_host() {
    let t = tree(
        MAIN,
        &HOST.replace(
            "authentication = \"token\"",
            "authentication = \"anonymous\"",
        ),
    );
    write(
        t.path(),
        "var/lib/dpkg/status",
        b"Package: prosody\nStatus: install ok installed\nVersion: 0.11.5-1\n\n",
    );
    std::fs::remove_file(t.path().join(module_path())).unwrap();
    std::fs::remove_file(
        t.path()
            .join("usr/share/jitsi-meet-tokens/prosody-plugins/mod_auth_token.lua"),
    )
    .unwrap();
    let (code, report) = status(t.path(), &[]);
    assert_eq!(code, 1);
    assert_schema(&report);
    let c = check(&report, "prosody-version");
    assert!(c["detail"].as_str().unwrap().contains("0.11.5"), "{c}");
    assert!(c["hint"].as_str().unwrap().contains("0.11.6"), "{c}");
    assert!(check(&report, "plugins")["detail"]
        .as_str()
        .unwrap()
        .contains("mod_auth_token.lua"));
    assert_eq!(check(&report, "token-hosts")["result"], "fail");

    // Prosody recent enough: the missing module is reported with how to get it.
    write(
        t.path(),
        "var/lib/dpkg/status",
        b"Package: prosody\nStatus: install ok installed\nVersion: 0.12.3-1\n\n",
    );
    let (_, report) = status(t.path(), &[]);
    let c = check(&report, "native-module");
    assert_eq!(c["result"], "fail");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("lua/5.4/jitsi_tokens.so is missing"),
        "{c}"
    );
}

/// The module is loaded by a real lua5.4: garbage fails, the built module passes.
#[test]
fn native_module_is_loaded_by_prosodys_lua() {
    if which("lua5.4").is_none() {
        panic!("lua5.4 is not installed (apt-get install lua5.4)");
    }
    let t = tree(MAIN, HOST);
    let (code, report) = status(t.path(), &[]);
    assert_eq!(code, 1);
    let c = check(&report, "native-module");
    assert_eq!(c["result"], "fail", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("does not load in lua5.4"),
        "{c}"
    );

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let built = target.join("release/libjitsi_tokens.so");
    let so = std::fs::read(&built).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo build --release` first",
            built.display()
        )
    });
    write(t.path(), &module_path(), &so);
    let (code, report) = status(t.path(), &[]);
    let c = check(&report, "native-module");
    assert_eq!(c["result"], "ok", "{report:#}");
    assert!(
        c["detail"].as_str().unwrap().contains("loads in lua5.4"),
        "{c}"
    );
    assert_eq!(code, 0, "{report:#}");
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// A loopback HTTP server answering every request with `status`, `Date: date`.
fn http_server(status: &'static str, date: String, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nDate: {date}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn key_server_and_clock() {
    let key_host = |url: &str| {
        HOST.replace(
            "app_secret = \"s3cret\"",
            &format!("asap_key_server = \"{url}/keys\""),
        )
    };
    // Each answer of the key server's base URL has its own verdict: 200 serves, 404
    // proves only reachability (no kid, so no key path), 500 is a broken server.
    for (answer, verdict, said) in [
        ("200 OK", "ok", "answers (HTTP 200)"),
        (
            "404 Not Found",
            "warn",
            "reachable (HTTP 404 at its base URL), but no key was fetched",
        ),
        ("500 Internal Server Error", "fail", ": HTTP 500"),
    ] {
        let now = httpdate::fmt_http_date(std::time::SystemTime::now());
        let url = http_server(answer, now, "");
        let t = tree(MAIN, &key_host(&url));
        let (code, report) = status(t.path(), &["--no-load"]);
        assert_schema(&report);
        let c = check(&report, "key-server");
        assert_eq!(c["result"], verdict, "{answer}: {report:#}");
        assert_eq!(c["value"], format!("{url}/keys"), "{c}");
        assert_eq!(c["line"], 7, "the asap_key_server line: {c}");
        assert!(
            c["detail"].as_str().unwrap().contains(said),
            "{answer}: {c}"
        );
        // Its Date header was read all the same: the clock is in step.
        assert_eq!(check(&report, "clock")["result"], "ok", "{report:#}");
        assert_eq!(code, i32::from(verdict == "fail"), "{answer}: {report:#}");
    }

    // The key server's clock is an hour ahead: tokens it mints look not yet valid.
    let ahead = httpdate::fmt_http_date(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    );
    let url = http_server("200 OK", ahead, "");
    let t = tree(MAIN, &key_host(&url));
    let (code, report) = status(t.path(), &["--no-load"]);
    let c = check(&report, "clock");
    assert_eq!(c["result"], "fail", "{report:#}");
    let skew = c["value"].as_i64().unwrap();
    assert!((-3601..=-3599).contains(&skew), "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("-3600 s off")
            || c["detail"].as_str().unwrap().contains("-3599 s off"),
        "{c}"
    );
    assert_eq!(code, 1);

    // Nothing listening.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", dead.local_addr().unwrap().port());
    drop(dead);
    let t = tree(MAIN, &key_host(&url));
    let (code, report) = status(t.path(), &["--no-load", "--timeout", "3s"]);
    let c = check(&report, "key-server");
    assert_eq!(c["result"], "fail", "{report:#}");
    // The typed failure, with the fix for it.
    assert!(
        c["detail"].as_str().unwrap().contains("connection refused"),
        "{c}"
    );
    assert!(c["hint"].as_str().unwrap().contains("host and port"), "{c}");
    assert_eq!(code, 1);

    // A keys URL must serve keys.
    let url = http_server(
        "200 OK",
        httpdate::fmt_http_date(std::time::SystemTime::now()),
        "{\"keys\": 5}",
    );
    let t = tree(
        MAIN,
        &HOST.replace(
            "app_secret = \"s3cret\"",
            &format!("cache_keys_url = \"{url}/jwks.json\""),
        ),
    );
    let (code, report) = status(t.path(), &["--no-load"]);
    assert_eq!(check(&report, "key-server")["result"], "fail", "{report:#}");
    assert_eq!(code, 1);
}

#[test]
fn text_output_and_doctor_alias() {
    let t = tree(
        MAIN,
        &HOST.replace(
            "c2s_require_encryption = false",
            "c2s_require_encryption = true",
        ),
    );
    let out = cmd()
        .args(["doctor", "--no-load", "--root"])
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Host meet.test (/etc/prosody/conf.avail/meet.test.cfg.lua)"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  c2s_require_encryption [meet.test]"),
        "{text}"
    );
    assert!(
        text.contains("fix: set c2s_require_encryption = false"),
        "{text}"
    );
    assert!(text.contains("1 check(s) failed"), "{text}");
    // Rendered from the typed record: the value as written, then its line.
    let line = text
        .lines()
        .find(|l| l.contains("authentication [meet.test]"))
        .unwrap();
    assert!(
        line.starts_with("  ok ")
            && line.ends_with(" \"token\" (/etc/prosody/conf.avail/meet.test.cfg.lua:5)"),
        "{text}"
    );
    assert!(
        text.contains("c2s_require_encryption is true: Prosody refuses logins over plain BOSH/WebSocket behind the web proxy (/etc/prosody/conf.avail/meet.test.cfg.lua:8)"),
        "{text}"
    );
}

#[test]
fn completions_come_from_the_cli() {
    // The man pages are tested in manpage.rs.
    for (shell, needle) in [
        ("bash", "_jitsi__meet__tokens"),
        ("zsh", "#compdef jitsi-meet-tokens"),
        ("fish", "complete -c jitsi-meet-tokens"),
    ] {
        let out = cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(needle), "{shell}");
        assert!(
            script.contains("app-secret-file"),
            "{shell} completes flags"
        );
    }
    // The hidden commands stay out of --help.
    let help = cmd().arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("status") && !help.contains("completions"),
        "{help}"
    );
}

/// The installer and status agree: `configure` on the Jitsi Meet fixture, then
/// status passes every check (the built module really loads in lua5.4); `token
/// mint --domain` reads the secret configure wrote.
#[test]
fn status_passes_after_configure() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("root");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jitsi"),
        &root,
    );
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("prosody-plugins");
    for m in [
        "mod_auth_token.lua",
        "mod_token_verification.lua",
        "mod_presence_identity.lua",
    ] {
        write(
            &root,
            &format!("usr/share/jitsi-meet-tokens/prosody-plugins/{m}"),
            &std::fs::read(plugins.join(m)).unwrap(),
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let module = target.join("release/libjitsi_tokens.so");
    assert!(
        module.is_file(),
        "{}: run `cargo build --release` first",
        module.display()
    );
    let secret = write(dir.path(), "secret", b"configured \"secret\"\n");
    let domain = "meet.example.com";
    // Before: the host is Jitsi's anonymous one.
    let (code, report) = status(&root, &["--domain", domain]);
    assert_eq!(code, 1);
    assert_eq!(check(&report, "authentication")["result"], "fail");

    cmd()
        .args([
            "configure",
            "--non-interactive",
            "--no-restart",
            "--output",
            "json",
            "--domain",
            domain,
        ])
        .args(["--app-id", "myapp", "--root"])
        .arg(&root)
        .arg("--app-secret-file")
        .arg(&secret)
        .arg("--native-module")
        .arg(&module)
        .arg("--settings")
        .arg(dir.path().join("settings.toml"))
        .assert()
        .success();
    let (code, report) = status(&root, &[]);
    assert_eq!(failed(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(code, 0);
    assert_eq!(report["hosts"][0]["domain"], domain);
    assert!(check(&report, "native-module")["detail"]
        .as_str()
        .unwrap()
        .contains("loads in lua5.4"));

    let out = cmd()
        .args(["token", "mint", "--domain", domain, "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    success(
        cmd()
            .args(["token", "verify", "--app-id", "myapp", "--app-secret-file"])
            .arg(&secret)
            .arg(token.trim()),
    );
}
