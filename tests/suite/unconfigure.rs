//! `unconfigure` puts every file back byte for byte (where nobody edited it since),
//! removes what configure created, and is itself idempotent.

use super::*;

/// Everything Prosody reads; state and settings are ours and expected to differ.
const PROSODY: &[&str] = &["etc/prosody"];

fn round_trip(fixture: &str, domain: &str) {
    let r = Root::new(fixture);
    let before = only(&r.snapshot(), PROSODY);
    success(&mut r.configure(domain, b"s\"e\\c]]ret", &[]));
    assert_ne!(only(&r.snapshot(), PROSODY), before);
    let out = success(&mut r.unconfigure(domain));
    let j = json(&out);
    assert_eq!(j["changed"], true);
    let after = only(&r.snapshot(), PROSODY);
    let strip = |s: &Snapshot| -> BTreeMap<String, (Vec<u8>, Option<PathBuf>, u32)> {
        s.iter()
            .map(|(k, e)| (k.clone(), (e.content.clone(), e.link.clone(), e.mode)))
            .collect()
    };
    assert_eq!(
        strip(&after),
        strip(&before),
        "{fixture}: files, links and modes as before configure"
    );
    // Second unconfigure: nothing left to do.
    let j = json(&r.unconfigure(domain).output().unwrap());
    assert_eq!(j["changed"], false);
}

#[test]
fn jitsi_round_trip_is_byte_identical() {
    round_trip("jitsi", "meet.example.com");
}

#[test]
fn handwritten_round_trip_is_byte_identical() {
    round_trip("handwritten", "chat.example.org");
}

#[test]
fn plain_round_trip_removes_what_was_created() {
    round_trip("plain", "meet.test");
}

#[test]
fn second_token_host_round_trip() {
    round_trip("second-token-host", "meet.example.com");
}

#[test]
fn edits_made_after_configure_survive_unconfigure() {
    let r = Root::new("jitsi");
    let host = "etc/prosody/conf.avail/meet.example.com.cfg.lua";
    let original = r.read(host);
    r.configure("meet.example.com", b"s", &[])
        .assert()
        .success();
    // The administrator adds a line of their own afterwards.
    let edited = r
        .read(host)
        .replace("    lobby_muc =", "    my_option = 1\n    lobby_muc =");
    std::fs::write(r.file(host), &edited).unwrap();
    success(&mut r.unconfigure("meet.example.com"));
    let expected = original.replace("    lobby_muc =", "    my_option = 1\n    lobby_muc =");
    assert_eq!(r.read(host), expected, "our changes undone, theirs kept");
}

#[test]
fn unconfigure_without_record_is_a_no_op() {
    let r = Root::new("jitsi");
    let before = r.snapshot();
    let out = r.unconfigure("meet.example.com").output().unwrap();
    assert!(out.status.success());
    assert_eq!(json(&out)["changed"], false);
    assert_same(&r.snapshot(), &before, "nothing touched");
}

/// An error is one line with the file and the next step: no `(os error 2)`, and no
/// `changed=false restart=none files=` trailer from the plain reporter (issue 12, item 14).
#[test]
fn plain_errors_are_one_line_with_the_file_and_the_fix() {
    let r = Root::new("plain");
    let missing = r.file("no-such-secret");
    let out = r
        .bare()
        .args(["--domain", "meet.example.com", "--app-id", "myapp"])
        .arg("--app-secret-file")
        .arg(&missing)
        .args(["--non-interactive", "--no-restart", "--output", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "jitsi-meet-tokens: error: reading the app secret from {}: it does not exist \
             (check the path)\n",
            missing.display()
        )
    );
}
