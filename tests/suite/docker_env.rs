//! `configure --from-docker-env`: a docker-jitsi-meet `.env` with hostile values
//! becomes the host's settings, read back byte-exact by Prosody's own loader (real
//! lua5.4); each variable used or ignored is reported, the secret never.

use super::*;
use jitsi_meet_tokens::config_edit::{LoadedValue, Loader};

const DOMAIN: &str = "meet.example.com";

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

    for used in [
        "JWT_APP_ID",
        "JWT_APP_SECRET",
        "JWT_ACCEPTED_ISSUERS",
        "JWT_ACCEPTED_AUDIENCES",
        "JWT_ALLOW_EMPTY",
        "XMPP_DOMAIN",
    ] {
        assert!(
            stderr.contains(&format!("{used}: used as")),
            "{used}: {stderr}"
        );
    }
    for ignored in [
        "ENABLE_GUESTS",
        "XMPP_GUEST_DOMAIN",
        "JWT_ENABLE_DOMAIN_VERIFICATION",
        "TOKEN_AUTH_URL",
    ] {
        assert!(
            stderr.contains(&format!("{ignored}: ignored: ")),
            "{ignored}: {stderr}"
        );
    }
    assert!(
        stderr.contains("guest access is not supported yet"),
        "{stderr}"
    );
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
