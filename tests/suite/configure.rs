//! `configure` on realistic trees: exact diffs, idempotence (mtimes), refusals,
//! secrets from every source, dry run, JSON shape.

use super::*;
use std::os::unix::fs::MetadataExt;

const HOST: &str = "etc/prosody/conf.avail/meet.example.com.cfg.lua";
/// A secret with every character that broke the old package's shell/sed scripts.
const NASTY: &[u8] = b"q\"u'o`t\\e/&]]=[[\nnon-ascii \xc3\xbc $HOME";

#[test]
fn jitsi_host_diff_is_exactly_the_intended_lines() {
    let r = Root::new("jitsi");
    let before = r.snapshot();
    let out = success(&mut r.configure("meet.example.com", b"s3cret", &["--dry-run"]));
    let j = json(&out);
    assert_eq!(j["changed"], true);
    assert_eq!(j["restart"], "would-restart");
    let diff = j["diff"].as_str().unwrap();
    assert_eq!(
        changed_lines(&file_diff(diff, HOST)),
        [
            r#"-plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }"#,
            r#"+plugin_paths = { "/usr/share/jitsi-meet-tokens/prosody-plugins/", "/usr/share/jitsi-meet/prosody-plugins/" }"#,
            r#"-    authentication = "jitsi-anonymous" -- do not delete me"#,
            r#"+    authentication = "token" -- do not delete me"#,
            r#"-    --app_id="example_app_id""#,
            r#"-    --app_secret="example_app_secret""#,
            r#"+    app_id="myapp""#,
            r#"+    app_secret = "****""#,
            r#"+        "presence_identity";"#,
            r#"+    allow_empty_token = false"#,
            r#"-        --"token_verification";"#,
            r#"+        "token_verification";"#,
        ]
    );
    assert!(!diff.contains("s3cret"), "secret leaked into the diff");
    assert!(
        diff.contains("install /usr/lib/"),
        "native module install listed: {diff}"
    );
    assert_same(&r.snapshot(), &before, "dry run must not touch anything");
}

#[test]
fn second_run_changes_nothing_and_keeps_every_mtime() {
    let r = Root::new("jitsi");
    let out = success(&mut r.configure("meet.example.com", NASTY, &[]));
    let j = json(&out);
    assert_eq!(j["changed"], true);
    assert_eq!(j["restart"], "skipped");
    let files: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"/etc/prosody/conf.avail/meet.example.com.cfg.lua"),
        "{files:?}"
    );
    let first = r.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = r
        .configure("meet.example.com", NASTY, &[])
        .output()
        .unwrap();
    assert!(out.status.success());
    let j = json(&out);
    assert_eq!(j["changed"], false);
    assert_eq!(j["files"], serde_json::json!([]));
    assert_eq!(j["restart"], "none");
    assert_same(&r.snapshot(), &first, "no file rewritten on the second run");
}

#[test]
fn any_secret_reads_back_byte_identical_through_prosodys_loader() {
    let r = Root::new("jitsi");
    r.configure("meet.example.com", NASTY, &[])
        .assert()
        .success();
    // One trailing newline of a secret file is not part of the secret; NASTY has none.
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_secret").unwrap(),
        NASTY
    );
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_id").unwrap(),
        b"myapp"
    );
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "authentication").unwrap(),
        b"token"
    );
    // Secret-bearing file: no access for others; root:prosody when that group exists.
    let m = std::fs::metadata(r.file(HOST)).unwrap();
    assert_eq!(
        m.mode() & 0o007,
        0,
        "host file with the secret must not be world-readable"
    );
}

#[test]
fn secret_from_stdin_and_from_the_environment() {
    let r = Root::new("jitsi");
    let mut c = r.bare();
    c.args([
        "--domain",
        "meet.example.com",
        "--app-id",
        "myapp",
        "--app-secret-file",
        "-",
    ])
    .args(r.unattended())
    .write_stdin("from-stdin\n");
    c.assert().success();
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_secret").unwrap(),
        b"from-stdin"
    );

    let mut c = r.bare();
    c.args(["--domain", "meet.example.com", "--app-id", "myapp"])
        .args(["--non-interactive", "--no-restart", "--output", "json"])
        .env("JITSI_MEET_TOKENS_APP_SECRET", "from-env");
    let out = success(&mut c);
    assert_eq!(json(&out)["changed"], true, "a new secret is a change");
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_secret").unwrap(),
        b"from-env"
    );

    // No secret given at all: the one in the file is kept, nothing changes.
    let mut c = r.bare();
    c.args(["--domain", "meet.example.com", "--app-id", "myapp"])
        .args(["--non-interactive", "--no-restart", "--output", "json"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    assert_eq!(json(&out)["changed"], false);
}

#[test]
fn new_secret_changes_exactly_that_line() {
    let r = Root::new("jitsi");
    r.configure("meet.example.com", b"old-secret", &[])
        .assert()
        .success();
    let out = r
        .configure("meet.example.com", b"new-secret", &["--dry-run"])
        .output()
        .unwrap();
    let j = json(&out);
    assert_eq!(j["changed"], true);
    let diff = j["diff"].as_str().unwrap();
    assert_eq!(
        changed_lines(&file_diff(diff, HOST)),
        [r#"-    app_secret = "****""#, r#"+    app_secret = "****""#]
    );
    assert!(!diff.contains("old-secret") && !diff.contains("new-secret"));
    r.configure("meet.example.com", b"new-secret", &[])
        .assert()
        .success();
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_secret").unwrap(),
        b"new-secret"
    );
}

#[test]
fn broken_config_is_refused_and_nothing_touched() {
    let r = Root::new("jitsi");
    let mut text = r.read(HOST);
    text.push_str("\nVirtualHost \"x\" foo = = 1\n");
    std::fs::write(r.file(HOST), &text).unwrap();
    let before = r.snapshot();
    let out = r.configure("meet.example.com", b"s", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(j["changed"], false);
    assert!(j["error"].as_str().unwrap().contains("broken"), "{j}");
    assert_same(&r.snapshot(), &before, "nothing touched");
}

#[test]
fn config_only_prosodys_loader_rejects_is_refused() {
    // Valid Lua, so our parser accepts it; Prosody's loader fails on the unknown call.
    let r = Root::new("jitsi");
    let main = "etc/prosody/prosody.cfg.lua";
    let mut text = r.read(main);
    text.push_str("\nthis_function_does_not_exist()\n");
    std::fs::write(r.file(main), &text).unwrap();
    let before = r.snapshot();
    let out = r.configure("meet.example.com", b"s", &[]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j = json(&out);
    let err = j["error"].as_str().unwrap();
    assert!(err.contains("existing configuration is broken"), "{err}");
    // Validation runs under the run lock, so only the (empty) lock file may appear.
    let mut after = r.snapshot();
    after.remove("var/lib/jitsi-meet-tokens/lock");
    assert_same(&after, &before, "nothing touched");
}

#[test]
fn plain_prosody_gets_a_rendered_host_and_link() {
    let r = Root::new("plain");
    success(&mut r.configure("meet.test", b"s", &[]));
    let link = r.file("etc/prosody/conf.d/meet.test.cfg.lua");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../conf.avail/meet.test.cfg.lua")
    );
    let host = r.file("etc/prosody/conf.avail/meet.test.cfg.lua");
    assert_eq!(
        loaded(&host, "meet.test", "authentication").unwrap(),
        b"token"
    );
    // Prosody's loader on the whole config sees the host through the Include.
    assert_eq!(
        loaded(
            &r.file("etc/prosody/prosody.cfg.lua"),
            "meet.test",
            "app_id"
        )
        .unwrap(),
        b"myapp"
    );
    r.configure("meet.test", b"s", &[]).assert().success();
    let j = json(&r.configure("meet.test", b"s", &[]).output().unwrap());
    assert_eq!(j["changed"], false);
}

#[test]
fn second_token_host_stays_untouched() {
    let r = Root::new("second-token-host");
    let text = r.read(HOST);
    let other = text
        .find("-- jigasi logs in")
        .expect("fixture has the jigasi host");
    success(&mut r.configure("meet.example.com", b"s", &[]));
    let after = r.read(HOST);
    assert_ne!(after, text);
    assert!(
        after.ends_with(&text[other..]),
        "the jigasi host and its MUC changed:\n{after}"
    );
    assert_eq!(
        loaded(&r.file(HOST), "jigasi.meet.example.com", "app_secret").unwrap(),
        b"jigasi-secret"
    );
    r.unconfigure("meet.example.com").assert().success();
    assert_eq!(r.read(HOST), text);
}

#[test]
fn handwritten_host_is_edited_in_place() {
    let r = Root::new("handwritten");
    let out = r
        .configure("chat.example.org", b"a-longer-secret", &["--dry-run"])
        .output()
        .unwrap();
    let j = json(&out);
    let d = file_diff(
        j["diff"].as_str().unwrap(),
        "etc/prosody/conf.avail/chat.example.org.cfg.lua",
    );
    // Odd formatting kept: tabs, `;` on one line, trailing comments, long brackets.
    assert_eq!(
        changed_lines(&d),
        [
            r#"-plugin_paths={"/srv/prosody/modules"} -- local modules"#,
            r#"+plugin_paths={"/usr/share/jitsi-meet-tokens/prosody-plugins/", "/srv/prosody/modules"} -- local modules"#,
            "-\tauthentication='internal_plain' ; allow_registration = false",
            "-\tapp_id = [[old-app]] -- set by hand long ago",
            "+\tauthentication=\"token\" ; allow_registration = false",
            "+\tapp_id = \"myapp\" -- set by hand long ago",
            "-\t\t\"websocket\"}",
            "+\t\t\"websocket\",",
            "+\t\t\"presence_identity\"}",
            "-\t--[[ block ]] c2s_require_encryption = true -- tls later",
            "+\t--[[ block ]] c2s_require_encryption = false -- tls later",
            "+\tapp_secret = \"****\"",
            "+\tallow_empty_token = false",
            "-\tmodules_enabled = { \"muc_mam\" }",
            "+\tmodules_enabled = { \"muc_mam\", \"token_verification\" }",
        ],
        "{d}"
    );
    r.configure("chat.example.org", b"a-longer-secret", &[])
        .assert()
        .success();
    let f = r.file("etc/prosody/conf.avail/chat.example.org.cfg.lua");
    assert_eq!(
        loaded(&f, "chat.example.org", "authentication").unwrap(),
        b"token"
    );
    assert_eq!(
        loaded(&f, "chat.example.org", "app_secret").unwrap(),
        b"a-longer-secret"
    );
}

#[test]
fn missing_include_is_reported_and_fixed_only_on_request() {
    let r = Root::new("plain");
    let main = "etc/prosody/prosody.cfg.lua";
    let text = r
        .read(main)
        .replace("Include \"conf.d/*.cfg.lua\"", "-- (include removed)");
    std::fs::write(r.file(main), &text).unwrap();
    let j = json(&r.configure("meet.test", b"s", &[]).output().unwrap());
    let w = j["warnings"].to_string();
    assert!(
        w.contains("Include \\\"conf.d/*.cfg.lua\\\"") && w.contains("--fix-include"),
        "{w}"
    );
    assert_eq!(
        r.read(main),
        text,
        "prosody.cfg.lua is a conffile: not edited without --fix-include"
    );
    let j = json(
        &r.configure("meet.test", b"s", &["--fix-include"])
            .output()
            .unwrap(),
    );
    assert!(
        j["files"]
            .to_string()
            .contains("/etc/prosody/prosody.cfg.lua"),
        "{j}"
    );
    assert!(r.read(main).ends_with("Include \"conf.d/*.cfg.lua\"\n"));
}

#[test]
fn prosody_below_the_floor_is_refused() {
    let r = Root::new("jitsi");
    let st = "var/lib/dpkg/status";
    std::fs::write(
        r.file(st),
        r.read(st).replace("0.12.3-1+deb12u1", "0.11.5-1"),
    )
    .unwrap();
    let before = r.snapshot();
    let out = r.configure("meet.example.com", b"s", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = json(&out)["error"].as_str().unwrap().to_string();
    assert!(err.contains("0.11.5-1") && err.contains("0.11.6"), "{err}");
    assert_same(&r.snapshot(), &before, "nothing touched");
}

#[test]
fn missing_native_module_names_the_lua_version() {
    let r = Root::new("jitsi");
    std::fs::write(r.file("usr/bin/prosody"), "#!/usr/bin/lua5.2\n").unwrap();
    let sf = r.secret_file(b"s");
    let out = r
        .bare()
        .args([
            "--domain",
            "meet.example.com",
            "--app-id",
            "a",
            "--app-secret-file",
        ])
        .arg(sf)
        .args(["--non-interactive", "--no-restart", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = json(&out)["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("Lua 5.2") && err.contains("lua/5.2/jitsi_tokens.so"),
        "{err}"
    );
}

#[test]
fn settings_file_supplies_values_and_keeps_comments() {
    let r = Root::new("jitsi");
    let s = r.file("etc/jitsi-meet-tokens/settings.toml");
    std::fs::create_dir_all(s.parent().unwrap()).unwrap();
    std::fs::write(
        &s,
        "# operator notes\ndomain = \"meet.example.com\" # the site\napp_id = \"from-file\"\n",
    )
    .unwrap();
    let sf = r.secret_file(b"s");
    success(
        r.bare()
            .args(["--app-secret-file"])
            .arg(&sf)
            .args(r.unattended()),
    );
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_id").unwrap(),
        b"from-file"
    );
    // A new value from the environment is recorded in place, comments kept.
    success(
        r.bare()
            .args(["--non-interactive", "--no-restart", "--output", "json"])
            .env("JITSI_MEET_TOKENS_APP_ID", "from-env"),
    );
    assert_eq!(
        std::fs::read_to_string(&s).unwrap(),
        "# operator notes\ndomain = \"meet.example.com\" # the site\napp_id = \"from-env\"\n"
    );
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_id").unwrap(),
        b"from-env"
    );
}

#[test]
fn previous_version_is_backed_up_and_state_is_private() {
    let r = Root::new("jitsi");
    let original = r.read(HOST);
    r.configure("meet.example.com", b"s", &[])
        .assert()
        .success();
    let backups = r.file("var/lib/jitsi-meet-tokens/backups");
    let runs: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one backup set per run that changed something"
    );
    assert_eq!(
        std::fs::read_to_string(runs[0].join(HOST)).unwrap(),
        original
    );
    let state = std::fs::metadata(r.file("var/lib/jitsi-meet-tokens")).unwrap();
    assert_eq!(
        state.mode() & 0o777,
        0o700,
        "state holds old secrets: root only"
    );
    let rec =
        std::fs::metadata(r.file("var/lib/jitsi-meet-tokens/hosts/meet.example.com.json")).unwrap();
    assert_eq!(rec.mode() & 0o777, 0o600);
}

#[test]
fn json_output_shape() {
    let r = Root::new("jitsi");
    let j = json(&r.configure("meet.example.com", b"s", &[]).output().unwrap());
    assert!(j["changed"].is_boolean());
    assert!(j["files"].is_array());
    assert!(j["restart"].is_string());
    assert!(j["warnings"].is_array());
    // A real run carries its (masked) diff too: Ansible's --diff needs no dry run.
    assert!(j["diff"].as_str().unwrap().contains("+++ "), "{j}");
}

#[test]
fn a_second_concurrent_run_fails_clearly_and_changes_nothing() {
    let r = Root::new("jitsi");
    r.configure("meet.example.com", b"first", &[])
        .assert()
        .success();
    let before = r.snapshot();
    // Another run holds the lock (flock, as the binary takes it).
    let _held = jitsi_meet_tokens::fsops::lock(
        &r.file("var/lib/jitsi-meet-tokens"),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let out = r
        .configure("meet.example.com", b"second", &[])
        .env("JITSI_MEET_TOKENS_LOCK_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = json(&out)["error"].as_str().unwrap().to_string();
    assert!(err.contains("holds the lock"), "{err}");
    assert_same(
        &r.snapshot(),
        &before,
        "nothing written while another run holds the lock",
    );
}
