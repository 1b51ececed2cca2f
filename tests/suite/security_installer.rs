//! Issue 16 (installer side) and issue 12 item 3: hostile values, paths that leave
//! the root, symlinked host files, killed runs, the environment children see, the
//! run lock, and a domain that is none of the server's hosts.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const HOST: &str = "etc/prosody/conf.avail/meet.example.com.cfg.lua";
const STATE: &str = "var/lib/jitsi-meet-tokens";

/// A directory every user can use: the confined validation step (Prosody's user)
/// runs the fake tools and writes the witness files there.
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// A fake `prosodyctl` first on PATH running `body` (sh).
fn fake_prosodyctl(dir: &Path, body: &str) -> String {
    let p = dir.join("prosodyctl");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

fn prosody_uid() -> Option<u32> {
    let out = std::process::Command::new("id")
        .args(["-u", "prosody"])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// `configure` as a plain process in its own process group (to SIGKILL it with
/// whatever it started), with `path` as PATH.
fn configure_killable(r: &Root, secret: &[u8], path: &str) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new(BIN);
    c.args(r.configure_args("meet.example.com", secret, &[]))
        .env("PATH", path)
        .env_remove("JITSI_MEET_TOKENS_APP_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    c.spawn().unwrap()
}

fn kill_group(child: &mut std::process::Child) {
    use nix::sys::signal::{killpg, Signal};
    let _ = killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGKILL,
    );
    child.wait().unwrap();
}

fn assert_refused_outside(out: &std::process::Output) {
    let (code, j) = exit_and_json(out);
    assert_eq!(code, 1, "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("leads outside"),
        "{j}"
    );
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.extend(files_holding(&p, needle));
        } else if m.is_file() {
            let b = std::fs::read(&p).unwrap_or_default();
            if b.windows(needle.len()).any(|w| w == needle) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_domain_that_is_no_host_name_is_refused_before_anything_is_written() {
    for domain in [
        "evil.example.com\nos.execute(\"id > pwned.txt\")\n--",
        "meet example..com",
        "meet.example.com.",
        "meet-.example.com",
        "meet.exa_mple.com",
        &format!("{}.example.com", "a".repeat(64)),
        // Found by fuzz target host_values: IDNA takes it, Prosody's nameprep does
        // not (right-to-left text beside left-to-right labels).
        "\u{782}",
        "conference.\u{782}",
        // Prosody would call it meet.example.com.
        "Meet.Example.com",
    ] {
        let r = Root::new("plain");
        let cwd = tempfile::tempdir().unwrap();
        let before = r.snapshot();
        let out = r
            .configure(domain, b"s3cret-value", &["--new-host"])
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let (code, j) = exit_and_json(&out);
        assert_eq!(code, 2, "{domain:?}: {j}");
        let err = j["error"].as_str().unwrap();
        assert!(err.contains("not a valid host name"), "{err}");
        assert_same(&r.snapshot(), &before, "a refused domain writes nothing");
        assert!(!cwd.path().join("pwned.txt").exists());
        assert!(files_holding(&r.path(), b"pwned").is_empty());
        // The Debian postinst asks the same rule.
        let out = cmd()
            .args(["check-domain", "--root"])
            .arg(r.path())
            .args(["--domain", domain])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{domain:?}");
    }
}

#[test]
fn valid_host_names_pass_the_one_rule() {
    let r = Root::new("plain");
    for domain in [
        "meet.example.com",
        "localhost",
        "xn--bcher-kva.example",
        "bücher.example",
    ] {
        let out = cmd()
            .args(["check-domain", "--root"])
            .arg(r.path())
            .args(["--domain", domain])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{domain}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn rendered_host_file_carries_no_value_outside_a_literal() {
    let r = Root::new("plain");
    r.configure("meet.test", b"s", &[]).assert().success();
    let text = r.read("etc/prosody/conf.avail/meet.test.cfg.lua");
    for line in text.lines().filter(|l| l.trim_start().starts_with("--")) {
        assert!(!line.contains("meet.test"), "a value in a comment: {line}");
    }
}

/// Config files are Lua: validating one runs it. That must never happen as root.
#[test]
fn validation_runs_config_code_as_prosody_never_as_root() {
    let Some(uid) = prosody_uid() else {
        panic!("this test needs Debian's prosody package (user prosody)");
    };
    let r = Root::new("plain");
    let w = open_dir();
    let who = w.path().join("who");
    let main = r.file("etc/prosody/prosody.cfg.lua");
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str(&format!(
        "\nos.execute(\"id -u > {} 2>/dev/null\")\n",
        who.display()
    ));
    std::fs::write(&main, text).unwrap();
    success(&mut r.configure("meet.test", b"s", &[]));
    let ran_as = std::fs::read_to_string(&who).expect("the loader ran the config");
    assert_eq!(
        ran_as.trim(),
        uid.to_string(),
        "config code ran as uid {ran_as}"
    );
}

#[test]
fn a_confd_link_leading_outside_the_root_is_refused() {
    for link in [
        "../../../../OUT/x.cfg.lua",
        "/../OUT/x.cfg.lua",
        "/etc/../../OUT/x.cfg.lua",
    ] {
        let r = Root::new("plain");
        let out_dir = r.dir.path().join("OUT");
        let outside = write(
            &out_dir,
            "x.cfg.lua",
            b"VirtualHost \"out.example.com\"\n    authentication = \"token\"\n",
        );
        std::os::unix::fs::symlink(link, r.file("etc/prosody/conf.d/x.cfg.lua")).unwrap();
        let before = std::fs::read(&outside).unwrap();
        let out = r
            .configure("out.example.com", b"s3cret-outside", &[])
            .output()
            .unwrap();
        assert_refused_outside(&out);
        assert_eq!(std::fs::read(&outside).unwrap(), before, "{link}");
        assert!(files_holding(&r.path(), b"s3cret-outside").is_empty());
        assert!(files_holding(&out_dir, b"s3cret-outside").is_empty());
    }
}

#[test]
fn a_state_directory_leading_outside_the_root_is_refused() {
    let r = Root::new("jitsi");
    let out_dir = r.dir.path().join("OUT");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::create_dir_all(r.file("var/lib")).unwrap();
    std::os::unix::fs::symlink("../../../OUT", r.file(STATE)).unwrap();
    let out = r
        .configure("meet.example.com", b"s3cret-state", &[])
        .output()
        .unwrap();
    assert_refused_outside(&out);
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

#[test]
fn a_symlinked_host_file_is_edited_where_it_lives_and_restored_exactly() {
    let r = Root::new("jitsi");
    let target = r.file("etc/prosody/hosts/meet.cfg.lua");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::rename(r.file(HOST), &target).unwrap();
    std::os::unix::fs::symlink("../hosts/meet.cfg.lua", r.file(HOST)).unwrap();
    let original = std::fs::read(&target).unwrap();
    success(&mut r.configure("meet.example.com", b"s3cret-linked", &[]));
    assert_eq!(
        std::fs::read_link(r.file(HOST)).unwrap(),
        Path::new("../hosts/meet.cfg.lua"),
        "the link is kept"
    );
    assert_eq!(
        loaded(&target, "meet.example.com", "app_secret").unwrap(),
        b"s3cret-linked"
    );
    let backups = files_holding(&r.file(&format!("{STATE}/backups")), b"VirtualHost");
    assert!(
        backups
            .iter()
            .any(|b| std::fs::read(b).unwrap() == original),
        "the target's bytes are backed up: {backups:?}"
    );
    r.unconfigure("meet.example.com").assert().success();
    assert_eq!(
        std::fs::read_link(r.file(HOST)).unwrap(),
        Path::new("../hosts/meet.cfg.lua")
    );
    assert_eq!(std::fs::read(&target).unwrap(), original);
}

/// SIGKILL while the validation step holds the staged config (with the secret),
/// then run again: nothing holding the secret is left outside the host file and
/// the private state record.
#[test]
fn a_killed_run_leaves_no_copy_of_the_secret_after_the_next_run() {
    let r = Root::new("jitsi");
    let secret = b"s3cret-killed-run-4f1d";
    let tools = open_dir();
    let path = fake_prosodyctl(tools.path(), "sleep 60");
    let mut child = configure_killable(&r, secret, &path);
    let scratch = r.file(&format!("{STATE}/tmp"));
    let start = Instant::now();
    while files_holding(&scratch, secret).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the run never staged its config"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A temp file as an interrupted atomic write leaves it.
    let stale =
        r.file("etc/prosody/conf.avail/.meet.example.com.cfg.lua.jitsi-meet-tokens.Ab12Cd.tmp");
    std::fs::write(&stale, secret).unwrap();
    kill_group(&mut child);
    assert!(
        !files_holding(&scratch, secret).is_empty(),
        "the kill left the staged copy"
    );

    success(&mut r.configure("meet.example.com", secret, &[]));
    let allowed = |p: &Path| p == r.file(HOST) || p.starts_with(r.file(&format!("{STATE}/hosts")));
    let left: Vec<_> = files_holding(&r.path(), secret)
        .into_iter()
        .filter(|p| !allowed(p))
        .collect();
    assert!(left.is_empty(), "copies of the secret left: {left:?}");
    let tmp_left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("jitsi-meet-tokens-check.")
        })
        .flat_map(|e| files_holding(&e.path(), secret))
        .collect();
    assert!(
        tmp_left.is_empty(),
        "copies in the temp directory: {tmp_left:?}"
    );
}

#[test]
fn a_secret_from_the_environment_never_reaches_a_child() {
    let r = Root::new("jitsi");
    let tools = open_dir();
    let seen = tools.path().join("env");
    let path = fake_prosodyctl(tools.path(), &format!("env > {}; exit 0", seen.display()));
    let secret = "s3cret-env-9c2e";
    success(
        r.bare()
            .args(["--domain", "meet.example.com", "--app-id", "myapp"])
            .args(r.unattended())
            .env("JITSI_MEET_TOKENS_APP_SECRET", secret)
            .env("PATH", path),
    );
    let env = std::fs::read_to_string(&seen).expect("prosodyctl ran");
    assert!(!env.contains(secret), "the child saw the secret:\n{env}");
    assert_eq!(
        loaded(&r.file(HOST), "meet.example.com", "app_secret").unwrap(),
        secret.as_bytes()
    );
}

#[test]
fn a_world_readable_secret_file_gets_a_warning() {
    let r = Root::new("jitsi");
    let sf = r.secret_file(b"s3cret-file");
    std::fs::set_permissions(&sf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let j = json(
        &r.configure("meet.example.com", b"s3cret-file", &[])
            .output()
            .unwrap(),
    );
    let w = j["warnings"].to_string();
    assert!(
        w.contains("readable by every user") && w.contains("chmod 600"),
        "{j}"
    );
    let sf = r.secret_file(b"s3cret-file");
    std::fs::set_permissions(&sf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let j = json(
        &r.configure("meet.example.com", b"s3cret-file", &[])
            .output()
            .unwrap(),
    );
    assert!(
        !j["warnings"].to_string().contains("readable by every user"),
        "{j}"
    );
}

#[test]
fn deleting_anything_in_the_state_directory_does_not_let_a_second_run_in() {
    let r = Root::new("jitsi");
    r.configure("meet.example.com", b"first", &[])
        .assert()
        .success();
    let tools = open_dir();
    let running = tools.path().join("running");
    let path = fake_prosodyctl(
        tools.path(),
        &format!("touch {}; sleep 60", running.display()),
    );
    let mut child = configure_killable(&r, b"second", &path);
    let start = Instant::now();
    while !running.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first run never validated"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Whatever lock file there might be, gone.
    for e in std::fs::read_dir(r.file(STATE)).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let out = r
        .configure("meet.example.com", b"third", &[])
        .env("JITSI_MEET_TOKENS_LOCK_TIMEOUT", "1")
        .output()
        .unwrap();
    kill_group(&mut child);
    let (code, j) = exit_and_json(&out);
    assert_eq!(code, 1, "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("holds the lock"),
        "{j}"
    );
}

#[test]
fn a_domain_that_is_none_of_the_servers_hosts_needs_new_host() {
    let r = Root::new("jitsi");
    let before = r.snapshot();
    let out = r
        .configure("nosuch.example.com", b"s", &[])
        .output()
        .unwrap();
    let (code, j) = exit_and_json(&out);
    assert_eq!(code, 2, "{j}");
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains("meet.example.com") && err.contains("--new-host"),
        "{err}"
    );
    assert_same(&r.snapshot(), &before, "a likely typo writes nothing");
    let check = |extra: &[&str]| {
        cmd()
            .args(["check-domain", "--root"])
            .arg(r.path())
            .args(["--domain", "nosuch.example.com"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(check(&[]).status.code(), Some(2));
    assert!(String::from_utf8_lossy(&check(&[]).stderr).contains("meet.example.com"));
    assert!(check(&["--new-host"]).status.success());
    // Asked for explicitly, the new host is made.
    r.configure("nosuch.example.com", b"s", &["--new-host"])
        .assert()
        .success();
    assert!(r
        .file("etc/prosody/conf.avail/nosuch.example.com.cfg.lua")
        .is_file());
    // A known host needs no flag; a server without Jitsi or token hosts neither.
    r.configure("meet.example.com", b"s", &[])
        .assert()
        .success();
    let plain = Root::new("plain");
    plain.configure("meet.test", b"s", &[]).assert().success();
}
