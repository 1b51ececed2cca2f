//! `configure --from-docker-env`: a docker-jitsi-meet `.env` with hostile values
//! becomes the host's settings, read back byte-exact by Prosody's own loader (real
//! lua5.4); each variable used or ignored is reported, the secret never.

use super::*;
use jitsi_meet_tokens::config_edit::{LoadedValue, Loader};

const DOMAIN: &str = "meet.example.com";
const GUEST: &str = "guest.meet.example.com";

/// `configure --from-docker-env FILE` on the fixture, nothing else but `extra`.
fn from_docker_env(
    r: &Root,
    env_file: &Path,
    output: &str,
    extra: &[&str],
) -> std::process::Output {
    cmd()
        .args(["configure", "--root"])
        .arg(r.path())
        .arg("--from-docker-env")
        .arg(env_file)
        .args([
            "--non-interactive",
            "--no-restart",
            "--output",
            output,
            "--native-module",
        ])
        .arg(&r.module)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn hostile_env_file_values_reach_prosody_byte_exact() {
    let r = Root::new("jitsi");
    // Every value is written as compose reads it: quotes, `#`, spaces, `]]`, a
    // newline, backslashes, interpolation.
    let env = "# docker-jitsi-meet .env\n\
        XMPP_DOMAIN=meet.example.com\n\
        ENABLE_AUTH=1\n\
        AUTH_TYPE=jwt\n\
        JWT_APP_ID=my app # the id has a space\n\
        JWT_APP_SECRET='se\"cr#et ]] \\n $HOME'\n\
        JWT_ACCEPTED_ISSUERS=\"iss one, ]]two\\\"\"\n\
        export JWT_ACCEPTED_AUDIENCES=\"aud\nwith newline,${JWT_APP_ID}\" # two\n\
        JWT_ALLOW_EMPTY=0\n\
        JWT_ENABLE_DOMAIN_VERIFICATION=true\n\
        ENABLE_GUESTS=1\n\
        XMPP_GUEST_DOMAIN=guest.meet.example.com\n\
        TOKEN_AUTH_URL=https://auth.example.com/{room}\n";
    let env_file = write(r.dir.path(), "docker.env", env.as_bytes());
    let out = from_docker_env(&r, &env_file, "plain", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");

    let host = r.file(&format!("etc/prosody/conf.avail/{DOMAIN}.cfg.lua"));
    let cfg = Loader::default().load_file(&host).unwrap();
    let get = |k: &str| cfg.get(DOMAIN, k).unwrap_or_else(|| panic!("{k} not set"));
    assert_eq!(get("app_id").as_bytes(), Some(&b"my app"[..]));
    assert_eq!(
        get("app_secret").as_bytes(),
        Some(&b"se\"cr#et ]] \\n $HOME"[..])
    );
    assert_eq!(
        get("asap_accepted_issuers").as_list(),
        Some(vec![b"iss one".to_vec(), b"]]two\"".to_vec()])
    );
    // A quoted value spanning two lines, and an interpolated earlier variable.
    assert_eq!(
        get("asap_accepted_audiences").as_list(),
        Some(vec![b"aud\nwith newline".to_vec(), b"my app".to_vec()])
    );
    assert_eq!(get("allow_empty_token"), &LoadedValue::Bool(false));
    assert_eq!(get("authentication").as_bytes(), Some(&b"token"[..]));

    // ENABLE_GUESTS=1 with XMPP_GUEST_DOMAIN: the guest VirtualHost.
    assert!(
        loaded(&r.file(&guest_file(GUEST)), GUEST, "authentication").is_some(),
        "no guest VirtualHost"
    );

    for used in [
        "JWT_APP_ID",
        "JWT_APP_SECRET",
        "JWT_ACCEPTED_ISSUERS",
        "JWT_ACCEPTED_AUDIENCES",
        "JWT_ALLOW_EMPTY",
        "XMPP_DOMAIN",
        "ENABLE_GUESTS",
        "XMPP_GUEST_DOMAIN",
    ] {
        assert!(
            stderr.contains(&format!("{used}: used as")),
            "{used}: {stderr}"
        );
    }
    for ignored in ["JWT_ENABLE_DOMAIN_VERIFICATION", "TOKEN_AUTH_URL"] {
        assert!(
            stderr.contains(&format!("{ignored}: ignored: ")),
            "{ignored}: {stderr}"
        );
    }
    assert!(!stderr.contains("cr#et") && !String::from_utf8_lossy(&out.stdout).contains("cr#et"));

    // A flag wins over the file; a second run with the same inputs changes nothing.
    let again = |extra: &[&str]| {
        let out = from_docker_env(&r, &env_file, "json", extra);
        json(&out)
    };
    assert_eq!(again(&[])["changed"], false);
    assert_eq!(again(&["--app-id", "flag-id"])["changed"], true);
    let cfg = Loader::default().load_file(&host).unwrap();
    assert_eq!(
        cfg.get(DOMAIN, "app_id").unwrap().as_bytes(),
        Some(&b"flag-id"[..])
    );
}

#[test]
fn unreadable_or_malformed_env_file_is_a_clear_error() {
    let r = Root::new("jitsi");
    let before = r.snapshot();
    let bad = write(
        r.dir.path(),
        "bad.env",
        b"JWT_APP_ID=ok\nJWT_APP_SECRET=\"unterminated\n",
    );
    let out = r
        .bare()
        .arg("--from-docker-env")
        .arg(&bad)
        .args(["--non-interactive", "--output", "json"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("bad.env"), "{err}");
    assert_same(&r.snapshot(), &before, "nothing written");
}

/// The `jitsi` fixture with Jitsi Meet's config.js and Jicofo's jicofo.conf beside it.
fn jitsi_web_root() -> Root {
    let r = Root::new("jitsi");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jitsi-web/etc");
    copy_tree(&web, &r.file("etc"));
    r
}

/// The guest VirtualHost's own file.
fn guest_file(guest: &str) -> String {
    format!("etc/prosody/conf.avail/{guest}.cfg.lua")
}

/// What Prosody, Jitsi Meet and Jicofo read (bytes, links, modes; not mtimes): ours
/// (state, settings) is expected to differ.
fn jitsi_files(r: &Root) -> BTreeMap<String, (Vec<u8>, Option<PathBuf>, u32)> {
    only(&r.snapshot(), &["etc/prosody/", "etc/jitsi/"])
        .into_iter()
        .map(|(k, e)| (k, (e.content, e.link, e.mode)))
        .collect()
}
const WEB_CONFIG: &str = "etc/jitsi/meet/meet.example.com-config.js";
const JICOFO: &str = "etc/jitsi/jicofo/jicofo.conf";

/// A docker-jitsi-meet `.env` for the fixture's domain with `guests` appended.
fn guest_env(r: &Root, name: &str, guests: &str) -> PathBuf {
    let env = format!(
        "XMPP_DOMAIN=\"meet.example.com\" # quoted, with a comment\n\
         JWT_APP_ID=guestapp\n\
         JWT_APP_SECRET='guest # secret ]]'\n{guests}"
    );
    write(r.dir.path(), name, env.as_bytes())
}

#[test]
fn enable_guests_and_xmpp_guest_domain_become_the_guest_domain_in_all_three_files() {
    for (guests, want) in [
        // docker-jitsi-meet's default: guest.<XMPP_DOMAIN>.
        ("ENABLE_GUESTS=1 # on\n", GUEST),
        // Named, interpolated from an earlier line, quoted, padded.
        (
            "ENABLE_GUESTS=true\nXMPP_GUEST_DOMAIN=\"  visitors.${XMPP_DOMAIN}  \" # named\n",
            "visitors.meet.example.com",
        ),
    ] {
        let r = jitsi_web_root();
        let before = jitsi_files(&r);
        let env_file = guest_env(&r, "guests.env", guests);
        let out = from_docker_env(&r, &env_file, "plain", &[]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{guests}: {stderr}");
        assert!(
            stderr.contains(&format!("ENABLE_GUESTS: used as guest_domain ({want})")),
            "{stderr}"
        );
        assert!(!stderr.contains(": ignored: "), "{stderr}");

        // Prosody's own loader (real lua5.4) sees an anonymous guest VirtualHost.
        let auth = loaded(&r.file(&guest_file(want)), want, "authentication")
            .unwrap_or_else(|| panic!("no VirtualHost {want:?} in {}", guest_file(want)));
        assert!(
            auth == b"anonymous" || auth == b"jitsi-anonymous",
            "{}",
            String::from_utf8_lossy(&auth)
        );
        assert_eq!(
            jitsi_meet_tokens::jitsi::meet_config::guest_domain(&r.read(WEB_CONFIG)).unwrap(),
            Some(want.to_string())
        );
        let jicofo = r.read(JICOFO);
        assert!(
            jicofo.contains("type = JWT") && jicofo.contains("login-url = \"meet.example.com\""),
            "{jicofo}"
        );

        // Idempotent; unconfigure puts every file back byte for byte.
        assert_eq!(
            json(&from_docker_env(&r, &env_file, "json", &[]))["changed"],
            false
        );
        success(&mut r.unconfigure(DOMAIN));
        assert_eq!(jitsi_files(&r), before, "{guests}: unconfigure");
    }
}

#[test]
fn enable_guests_off_removes_the_guest_domain_and_named_alone_is_reported_ignored() {
    let r = jitsi_web_root();
    let without = {
        let env_file = guest_env(&r, "plain.env", "");
        success(&mut cmd_from(&r, &env_file));
        jitsi_files(&r)
    };
    let on = guest_env(&r, "on.env", "ENABLE_GUESTS=1\n");
    success(&mut cmd_from(&r, &on));
    assert!(loaded(&r.file(&guest_file(GUEST)), GUEST, "authentication").is_some());

    // docker-jitsi-meet's .env template names a guest domain whether or not guests
    // are on: without ENABLE_GUESTS it changes nothing, and says so.
    let named = guest_env(
        &r,
        "named.env",
        "XMPP_GUEST_DOMAIN=other.meet.example.com\n",
    );
    let out = from_docker_env(&r, &named, "plain", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("XMPP_GUEST_DOMAIN: ignored: ENABLE_GUESTS is not set"),
        "{stderr}"
    );
    assert!(loaded(&r.file(&guest_file(GUEST)), GUEST, "authentication").is_some());

    let off = guest_env(
        &r,
        "off.env",
        "ENABLE_GUESTS=0\nXMPP_GUEST_DOMAIN=guest.meet.example.com\n",
    );
    let out = from_docker_env(&r, &off, "plain", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ENABLE_GUESTS: used as guest_domain (none"),
        "{stderr}"
    );
    assert!(
        stderr.contains("XMPP_GUEST_DOMAIN: ignored: ENABLE_GUESTS turns guests off"),
        "{stderr}"
    );
    assert_eq!(jitsi_files(&r), without, "guests off again");
}

/// `configure --from-docker-env FILE` in plain output, for a step that must succeed.
fn cmd_from(r: &Root, env_file: &Path) -> assert_cmd::Command {
    let mut c = cmd();
    c.args(["configure", "--root"])
        .arg(r.path())
        .arg("--from-docker-env")
        .arg(env_file)
        .args(["--non-interactive", "--no-restart", "--native-module"])
        .arg(&r.module);
    c
}

#[test]
fn guest_variables_that_name_no_usable_guest_domain_are_refused_and_nothing_is_written() {
    for (env, says) in [
        (
            "JWT_APP_ID=a\nJWT_APP_SECRET=s\nENABLE_GUESTS=1\n",
            "ENABLE_GUESTS=1 names no guest domain: set XMPP_GUEST_DOMAIN",
        ),
        (
            "XMPP_DOMAIN=meet.example.com\nJWT_APP_ID=a\nJWT_APP_SECRET=s\nENABLE_GUESTS=maybe\n",
            "ENABLE_GUESTS=\"maybe\" is not a boolean",
        ),
        (
            "XMPP_DOMAIN=meet.example.com\nJWT_APP_ID=a\nJWT_APP_SECRET=s\nENABLE_GUESTS=1\n\
             XMPP_GUEST_DOMAIN='guest\"]] .example.com' # hostile\n",
            "is not a valid host name for XMPP_GUEST_DOMAIN",
        ),
    ] {
        let r = jitsi_web_root();
        let before = r.snapshot();
        let env_file = write(r.dir.path(), "bad.env", env.as_bytes());
        let out = from_docker_env(&r, &env_file, "plain", &["--domain", DOMAIN]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_ne!(out.status.code(), Some(0), "{env}");
        assert!(stderr.contains(says), "{env}: {stderr}");
        assert_same(&r.snapshot(), &before, env);
    }
}
