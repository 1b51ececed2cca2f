//! Exact expected edits of the `tests/fixtures/jitsi-web` files, idempotence,
//! byte-exact revert, and the shapes that are refused.

use proptest::prelude::*;

use super::{jicofo, meet_config};

fn fixture(path: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jitsi-web")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn web() -> String {
    fixture(&meet_config::path("meet.example.com"))
}

/// `text` with `from` (which must occur exactly once) replaced.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?}");
    text.replace(from, to)
}

const COMMENTED: &str = "        // anonymousdomain: 'guest.example.com',\n";
const GUEST: &str = "guest.meet.example.com";

#[test]
fn web_config_activates_the_commented_guest_domain_in_place() {
    let old = web();
    let new = meet_config::set_guest_domain(&old, GUEST).unwrap();
    assert_eq!(
        new,
        replaced(
            &old,
            COMMENTED,
            "        anonymousdomain: 'guest.meet.example.com',\n"
        )
    );
    assert_eq!(
        meet_config::guest_domain(&new).unwrap().as_deref(),
        Some(GUEST)
    );
    assert_eq!(meet_config::guest_domain(&old).unwrap(), None);
    assert_eq!(
        meet_config::set_guest_domain(&new, GUEST).unwrap(),
        new,
        "second run changes nothing"
    );
}

#[test]
fn web_config_replaces_an_active_value_only() {
    let old = meet_config::set_guest_domain(&web(), "a.example.com").unwrap();
    let new = meet_config::set_guest_domain(&old, GUEST).unwrap();
    assert_eq!(
        new,
        replaced(&old, "'a.example.com'", "'guest.meet.example.com'")
    );
}

#[test]
fn web_config_reverts_byte_for_byte_or_recomments_after_other_edits() {
    let old = web();
    let new = meet_config::set_guest_domain(&old, GUEST).unwrap();
    assert_eq!(
        meet_config::unset_guest_domain(&new, &old, GUEST).unwrap(),
        old
    );

    // Edited elsewhere since: the rest is kept, the property commented out again.
    let edited = replaced(&new, "p2pTestMode: false", "p2pTestMode: true");
    let reverted = meet_config::unset_guest_domain(&edited, &old, GUEST).unwrap();
    assert_eq!(
        reverted,
        replaced(
            &edited,
            "        anonymousdomain: 'guest.meet.example.com',\n",
            "        // anonymousdomain: 'guest.meet.example.com',\n"
        )
    );
    assert_eq!(
        meet_config::unset_guest_domain(&old, &old, GUEST).unwrap(),
        old,
        "nothing to undo"
    );
}

#[test]
fn web_config_without_the_comment_gets_a_new_property_line() {
    let old = replaced(&web(), COMMENTED, "");
    let new = meet_config::set_guest_domain(&old, GUEST).unwrap();
    assert_eq!(
        new,
        replaced(
            &old,
            "        domain: 'meet.example.com',\n",
            "        anonymousdomain: 'guest.meet.example.com',\n        domain: 'meet.example.com',\n"
        )
    );
    let one_line = "var config = { hosts: { domain: 'x.example' } };\n";
    assert_eq!(
        meet_config::set_guest_domain(one_line, "g.example").unwrap(),
        "var config = { hosts: { anonymousdomain: 'g.example', domain: 'x.example' } };\n"
    );
}

#[test]
fn web_config_shapes_not_understood_are_refused() {
    let cases = [
        ("var other = { hosts: { domain: 'x' } };", "no `var config"),
        (
            "var config = makeConfig();",
            "not declared as an object literal",
        ),
        (
            "var config = { hosts: makeHosts() };",
            "not an object literal",
        ),
        (
            "var config = { hosts: {a: 1}, hosts: {b: 2} };",
            "config.hosts is set 2 times",
        ),
        (
            "var config = { hosts: { anonymousdomain: 'a', anonymousdomain: 'b' } };",
            "set 2 times",
        ),
        (
            "var config = { hosts: { anonymousdomain: 'guest.' + d } };",
            "not a string literal",
        ),
        (
            "var config = { hosts: { ...defaults, domain: 'x' } };",
            "spread",
        ),
        ("var config = { hosts: { } };", "empty"),
        (
            "var config = { hosts: { domain: 'x' };",
            "not valid JavaScript",
        ),
    ];
    for (text, reason) in cases {
        let err = meet_config::set_guest_domain(text, GUEST).unwrap_err();
        assert!(err.reason.contains(reason), "{text}: {err}");
        assert!(err.to_string().contains("nothing was changed"), "{err}");
    }
}

proptest! {
    #[test]
    fn web_config_quotes_any_guest_domain(guest in "(\\PC|['\"\\\\\n\r\u{2028}\u{2029}\t`$])*") {
        let text = "var config = {\n    hosts: {\n        domain: 'x',\n        // anonymousdomain: 'g',\n    },\n};\n";
        // set_guest_domain reads its output back through the parser.
        let new = meet_config::set_guest_domain(text, &guest).unwrap();
        prop_assert_eq!(meet_config::guest_domain(&new).unwrap(), Some(guest.clone()));
        prop_assert_eq!(new.lines().count(), text.lines().count());
    }
}

fn jicofo_conf() -> String {
    fixture(jicofo::PATH)
}

const AUTH: &str = "  authentication {\n    enabled = true\n    type = JWT\n    login-url = \"meet.example.com\"\n  }\n";
const CONFERENCE: &str = "  conference {\n    enable-auto-owner = false\n  }\n";

#[test]
fn jicofo_gets_token_authentication_and_no_auto_owner() {
    let old = jicofo_conf();
    let new = jicofo::ensure_token_auth(&old, "meet.example.com").unwrap();
    let end = "    brewery-jid = \"JvbBrewery@internal.auth.meet.example.com\"\n  }\n}\n";
    assert_eq!(
        new,
        replaced(
            &old,
            end,
            &format!("{}{AUTH}{CONFERENCE}}}\n", &end[..end.len() - 2])
        )
    );
    assert_eq!(
        jicofo::ensure_token_auth(&new, "meet.example.com").unwrap(),
        new,
        "second run changes nothing"
    );
    assert_eq!(
        jicofo::revert_token_auth(&new, &old, "meet.example.com").unwrap(),
        old
    );
    assert_eq!(
        jicofo::trusted_domains(&old).unwrap(),
        ["recorder.meet.example.com"]
    );
    assert_eq!(
        jicofo::trusted_domains(&new).unwrap(),
        ["recorder.meet.example.com"]
    );
}

#[test]
fn jicofo_adds_only_missing_keys_to_existing_blocks() {
    let old = "jicofo {\n\tconference {\n\t\tmax-ssrcs-per-user = 20\n\t}\n\tauthentication {\n\t\tenabled = true\n\t\ttype = \"JWT\"\n\t\tlogin-url = \"meet.example.com\"\n\t}\n}\n";
    let new = jicofo::ensure_token_auth(old, "meet.example.com").unwrap();
    assert_eq!(
        new,
        replaced(
            old,
            "max-ssrcs-per-user = 20\n",
            "max-ssrcs-per-user = 20\n\t\tenable-auto-owner = false\n"
        )
    );
    // Already set through path keys: nothing to do.
    let dotted = "jicofo.authentication { enabled = true, type = JWT, login-url = \"d.example\" }\njicofo.conference.enable-auto-owner = false\n";
    assert_eq!(
        jicofo::ensure_token_auth(dotted, "d.example").unwrap(),
        dotted
    );
}

#[test]
fn jicofo_refuses_what_it_would_overwrite_or_cannot_place() {
    let cases = [
        (
            "jicofo { authentication { enabled = false } }\n",
            "already set to something else",
        ),
        (
            "jicofo { conference.enable-auto-owner = true }\n",
            "already set to something else",
        ),
        (
            "jicofo { xmpp { } }\njicofo.authentication.enabled = true\n",
            "not written as a block",
        ),
        ("xmpp { }\n", "no `jicofo { ... }` block"),
        (
            "jicofo { a = 1 }\njicofo { b = 2 }\n",
            "more than one block",
        ),
        ("jicofo { xmpp { } }\n", "not on its own line"),
        ("jicofo { a = [ }\n", "not valid HOCON"),
    ];
    for (text, reason) in cases {
        let err = jicofo::ensure_token_auth(text, "meet.example.com").unwrap_err();
        assert!(err.reason.contains(reason), "{text}: {err}");
    }
    let old = jicofo_conf();
    let new = jicofo::ensure_token_auth(&old, "meet.example.com").unwrap();
    let edited = replaced(&new, "username = \"focus\"", "username = \"focus2\"");
    assert!(jicofo::revert_token_auth(&edited, &old, "meet.example.com").is_err());
}
