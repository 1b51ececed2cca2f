//! Bad usage exits 2 with a message; the fixed flag spellings are accepted.

use super::*;

#[test]
fn unknown_flag_is_exit_2() {
    let out = cmd()
        .args(["configure", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_domain_without_terminal_is_exit_2() {
    let r = Root::new("jitsi");
    let out = r
        .bare()
        .args(["--app-id", "a", "--non-interactive", "--output", "json"])
        .env("JITSI_MEET_TOKENS_APP_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(json(&out)["error"].as_str().unwrap().contains("--domain"));
}

#[test]
fn secret_and_key_server_together_is_exit_2() {
    let r = Root::new("jitsi");
    let out = r
        .configure(
            "meet.example.com",
            b"s",
            &["--asap-key-server", "https://keys.example.com"],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_secret_is_exit_2_and_names_the_ways_to_give_it() {
    let r = Root::new("jitsi");
    let out = r
        .bare()
        .args([
            "--domain",
            "meet.example.com",
            "--app-id",
            "a",
            "--non-interactive",
            "--no-restart",
            "--output",
            "json",
            "--native-module",
        ])
        .arg(&r.module)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = json(&out)["error"].as_str().unwrap().to_string();
    assert!(
        e.contains("--app-secret-file") && e.contains("JITSI_MEET_TOKENS_APP_SECRET"),
        "{e}"
    );
}

#[test]
fn help_lists_the_fixed_flags() {
    let out = cmd().args(["configure", "--help"]).output().unwrap();
    assert!(out.status.success());
    let h = String::from_utf8(out.stdout).unwrap();
    for f in [
        "--root",
        "--domain",
        "--app-id",
        "--app-secret-file",
        "--non-interactive",
        "--no-restart",
        "--output",
        "--dry-run",
    ] {
        assert!(h.contains(f), "{f} missing from help");
    }
}
