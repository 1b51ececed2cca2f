//! Golden, idempotence, revert and oracle tests on the fixture trees in
//! `tests/fixtures/`, plus property tests of quoting against real Lua.
//!
//! The oracle is Prosody's own config loader run by a real `lua5.4`
//! ([`Loader`]); these tests need `lua5.4` and Debian's `prosody` package.

use super::*;
use std::path::PathBuf;

const JITSI: &str = "jitsi/etc/prosody/conf.avail/meet.example.com.cfg.lua";
const HANDWRITTEN: &str = "handwritten/etc/prosody/conf.avail/chat.example.org.cfg.lua";
const SECOND: &str = "second-token-host/etc/prosody/conf.avail/meet.example.com.cfg.lua";
const PLAIN_MAIN: &str = "plain/etc/prosody/prosody.cfg.lua";
const PLAIN_LOCALHOST: &str = "plain/etc/prosody/conf.avail/localhost.cfg.lua";

fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn fixture(rel: &str) -> String {
    let p = fixture_path(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn diff(a: &str, b: &str) -> String {
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(1)
        .header("before", "after")
        .to_string()
}

const SECRET: &[u8] = b"s3cr\"et\\/&]]";

fn secret_host(domain: &str) -> DesiredHost {
    DesiredHost::new(
        domain,
        AuthMode::Secret {
            app_id: "my_app".into(),
            app_secret: SECRET.to_vec(),
        },
    )
}

fn loaded_str(cfg: &LoadedConfig, host: &str, key: &str) -> Option<Vec<u8>> {
    cfg.get(host, key)
        .and_then(|v| v.as_bytes())
        .map(|b| b.to_vec())
}

fn loaded_list(cfg: &LoadedConfig, host: &str, key: &str) -> Vec<String> {
    cfg.get(host, key)
        .and_then(|v| v.as_list())
        .unwrap_or_default()
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect()
}

/// Apply, then check what every fixture must satisfy: a second apply is a no-op,
/// revert gives back the original bytes, Prosody's loader sees the desired options,
/// and every host other than ours and its MUC loads exactly as before.
fn check_roundtrip(original: &str, d: &DesiredHost) -> Edited {
    let e = apply_desired(original, d).unwrap();
    let again = apply_desired(&e.text, d).unwrap();
    assert_eq!(again.text, e.text, "second apply changed the text");
    assert!(
        again.changes.is_empty(),
        "second apply: {:?}",
        again.changes
    );

    let r = revert(&e.text, &e.changes).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.text, original, "revert is not byte-identical");

    let before = prosody_loader_check(original).unwrap();
    let after = prosody_loader_check(&e.text).unwrap();
    let host = d.domain.as_str();
    assert_eq!(
        loaded_str(&after, host, "authentication").unwrap(),
        b"token"
    );
    assert_eq!(
        loaded_str(&after, host, "app_id").unwrap(),
        d.auth.app_id().as_bytes()
    );
    if let AuthMode::Secret { app_secret, .. } = &d.auth {
        assert_eq!(&loaded_str(&after, host, "app_secret").unwrap(), app_secret);
    }
    assert_eq!(
        after.get(host, "c2s_require_encryption"),
        Some(&LoadedValue::Bool(false))
    );
    assert_eq!(
        loaded_list(&after, host, "modules_enabled").contains(&"presence_identity".into()),
        d.presence_identity
    );
    if after.hosts.contains_key(&d.muc()) {
        assert!(
            loaded_list(&after, &d.muc(), "modules_enabled").contains(&"token_verification".into())
        );
    } else {
        assert_eq!(e.warnings.len(), 1, "{:?}", e.warnings);
    }
    let paths = loaded_list(&after, "*", "plugin_paths");
    let ours = paths.iter().position(|p| p == &d.plugin_dir).unwrap();
    if let Some(j) = paths
        .iter()
        .position(|p| Some(p) == d.jitsi_plugin_dir.as_ref())
    {
        assert!(ours < j, "{paths:?}");
    }
    for (name, opts) in &before.hosts {
        if name != host && *name != d.muc() && name != "*" {
            assert_eq!(Some(opts), after.hosts.get(name), "host {name} changed");
        }
    }
    e
}

#[test]
fn jitsi_host_file_golden() {
    let original = fixture(JITSI);
    let e = check_roundtrip(&original, &secret_host("meet.example.com"));
    let expected = r#"--- before
+++ after
@@ -2,3 +2,3 @@
 -- jitsi-meet-tokens from the facts in its installer spec).
-plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }
+plugin_paths = { "/usr/share/jitsi-meet-tokens/prosody-plugins/", "/usr/share/jitsi-meet/prosody-plugins/" }
 
@@ -28,7 +28,7 @@
     -- enabled = false -- Remove this line to enable this host
-    authentication = "jitsi-anonymous" -- do not delete me
+    authentication = "token" -- do not delete me
     -- Properties below are modified by jitsi-meet-tokens package config
     -- and authentication above is switched to "token"
-    --app_id="example_app_id"
-    --app_secret="example_app_secret"
+    app_id="my_app"
+    app_secret="s3cr\"et\\/&]]"
     -- Assign this host a certificate for TLS, otherwise it would use the one
@@ -54,2 +54,3 @@
         "av_moderation";
+        "presence_identity";
     }
@@ -58,2 +59,3 @@
     main_muc = "conference.meet.example.com"
+    allow_empty_token = false
     -- muc_lobby_whitelist = { "recorder.meet.example.com" } -- Here we can whitelist jibri to enter lobby enabled rooms
@@ -67,3 +69,3 @@
         "polls";
-        --"token_verification";
+        "token_verification";
         "muc_rate_limit";
"#;
    assert_eq!(diff(&original, &e.text), expected);
    let kinds: Vec<_> = e.changes.iter().map(|c| (c.key.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("authentication", ChangeKind::Modified),
            ("plugin_paths", ChangeKind::ListAdded),
            ("app_id", ChangeKind::MarkerActivated),
            ("app_secret", ChangeKind::MarkerActivated),
            ("allow_empty_token", ChangeKind::Inserted),
            ("modules_enabled", ChangeKind::ListAdded),
            ("modules_enabled", ChangeKind::ListAdded),
        ]
    );
}

#[test]
fn handwritten_host_golden() {
    let original = fixture(HANDWRITTEN);
    let mut d = secret_host("chat.example.org");
    d.jitsi_plugin_dir = None;
    d.accepted_issuers = Some(vec!["my_app".into(), "idp".into()]);
    d.token_clock_leeway = Some(30);
    let e = check_roundtrip(&original, &d);
    let expected = r#"--- before
+++ after
@@ -4,14 +4,18 @@
 ]==]
-plugin_paths={"/srv/prosody/modules"} -- local modules
+plugin_paths={"/usr/share/jitsi-meet-tokens/prosody-plugins/", "/srv/prosody/modules"} -- local modules
 VirtualHost "chat.example.org"
 	-- tabs for indentation here
-	authentication='internal_plain' ; allow_registration = false
-	app_id = [[old-app]] -- set by hand long ago
+	authentication="token" ; allow_registration = false
+	app_id = "my_app" -- set by hand long ago
 	modules_enabled={"ping","bosh", -- comment inside
-		"websocket"}
-	asap_accepted_issuers = { 'old-issuer' }
-	--[[ block ]] c2s_require_encryption = true -- tls later
+		"websocket",
+		"presence_identity"}
+	asap_accepted_issuers = { "my_app", "idp" }
+	--[[ block ]] c2s_require_encryption = false -- tls later
+	app_secret = "s3cr\"et\\/&]]"
+	allow_empty_token = false
+	token_clock_leeway = 30
 
 component "conference.chat.example.org" "muc" -- lower-case spelling
-	modules_enabled = { "muc_mam" }
+	modules_enabled = { "muc_mam", "token_verification" }
 	name = "Rooms"
"#;
    assert_eq!(diff(&original, &e.text), expected);
    let after = prosody_loader_check(&e.text).unwrap();
    assert_eq!(
        after.get("chat.example.org", "token_clock_leeway"),
        Some(&LoadedValue::Int(30))
    );
    assert_eq!(
        loaded_list(&after, "chat.example.org", "asap_accepted_issuers"),
        ["my_app", "idp"]
    );
    assert_eq!(
        after.get("chat.example.org", "allow_registration"),
        Some(&LoadedValue::Bool(false))
    );
}

#[test]
fn crlf_files_stay_crlf() {
    let original = fixture(JITSI).replace('\n', "\r\n");
    let e = check_roundtrip(&original, &secret_host("meet.example.com"));
    assert_eq!(e.text.matches('\n').count(), e.text.matches("\r\n").count());
    let original = fixture(HANDWRITTEN).replace('\n', "\r\n");
    let mut d = secret_host("chat.example.org");
    d.presence_identity = false;
    let e = check_roundtrip(&original, &d);
    assert_eq!(e.text.matches('\n').count(), e.text.matches("\r\n").count());
}

#[test]
fn plugin_paths_created_with_inherited_ones() {
    let original = "VirtualHost \"h.example\"\n    authentication = \"internal_plain\"\n";
    let mut d = secret_host("h.example");
    d.inherited_plugin_paths = vec!["/srv/mods".into(), DEFAULT_PLUGIN_DIR.into()];
    let e = apply_desired(original, &d).unwrap();
    let doc = Document::parse(&e.text).unwrap();
    assert_eq!(
        doc.get(&SectionId::Global, "plugin_paths"),
        Some(Value::list([
            DEFAULT_PLUGIN_DIR,
            "/srv/mods",
            DEFAULT_JITSI_PLUGIN_DIR
        ]))
    );
    assert!(e.text.starts_with("plugin_paths = {"), "{}", e.text);
    assert_eq!(e.warnings.len(), 1, "no MUC component: {:?}", e.warnings);
    assert_eq!(revert(&e.text, &e.changes).unwrap().text, original);
}

#[test]
fn second_token_host_is_untouched() {
    let original = fixture(SECOND);
    let e = check_roundtrip(&original, &secret_host("meet.example.com"));
    // Byte for byte: everything from the jigasi host on is unchanged (its
    // `--app_id` marker and `--"token_verification";` included).
    let jigasi_at = |t: &str| t.find("-- jigasi logs in").unwrap();
    assert_eq!(
        &e.text[jigasi_at(&e.text)..],
        &original[jigasi_at(&original)..]
    );
    let after = prosody_loader_check(&e.text).unwrap();
    assert_eq!(
        loaded_str(&after, "jigasi.meet.example.com", "app_secret").unwrap(),
        b"jigasi-secret"
    );
    // Configuring the jigasi host itself leaves meet.example.com alone.
    let mut d = secret_host("jigasi.meet.example.com");
    d.auth = AuthMode::Secret {
        app_id: "jigasi".into(),
        app_secret: b"jigasi-secret".to_vec(),
    };
    let j = apply_desired(&original, &d).unwrap();
    let vh_at = |t: &str| t.find("VirtualHost \"meet.example.com\"").unwrap();
    let end_at = |t: &str| t.find("-- jigasi logs in").unwrap();
    assert_eq!(
        &j.text[vh_at(&j.text)..end_at(&j.text)],
        &original[vh_at(&original)..end_at(&original)]
    );
    let kinds: Vec<_> = j.changes.iter().map(|c| (c.key.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("plugin_paths", ChangeKind::ListAdded),
            ("allow_empty_token", ChangeKind::Inserted),
            ("modules_enabled", ChangeKind::ListAdded),
            ("modules_enabled", ChangeKind::ListAdded),
        ]
    );
}

#[test]
fn plain_prosody_files_are_untouched_by_parse() {
    for f in [PLAIN_MAIN, PLAIN_LOCALHOST] {
        let t = fixture(f);
        let doc = Document::parse(&t).unwrap();
        assert_eq!(doc.text(), t);
        assert_eq!(doc.to_string(), t);
    }
    let doc = Document::parse(&fixture(PLAIN_MAIN)).unwrap();
    let s = doc.sections();
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[1].id, SectionId::virtual_host("localhost"));
    assert_eq!(
        doc.get(&SectionId::Global, "modules_disabled"),
        Some(Value::List(vec![]))
    );
}

#[test]
fn debian_localhost_file_golden() {
    let original = fixture(PLAIN_LOCALHOST);
    let mut d = secret_host("localhost");
    d.jitsi_plugin_dir = None;
    let e = check_roundtrip(&original, &d);
    let expected = r#"--- before
+++ after
@@ -2,4 +2,12 @@
 
+plugin_paths = { "/usr/share/jitsi-meet-tokens/prosody-plugins/" }
+
 -- This allows clients to connect to localhost. No harm in it.
 VirtualHost "localhost"
+    authentication = "token"
+    app_id = "my_app"
+    app_secret = "s3cr\"et\\/&]]"
+    allow_empty_token = false
+    c2s_require_encryption = false
+    modules_enabled = { "presence_identity" }
 
"#;
    assert_eq!(diff(&original, &e.text), expected);
}

#[test]
fn rendered_host_is_a_fixed_point_for_each_mode() {
    let modes = [
        AuthMode::Secret {
            app_id: "id\"'\\".into(),
            app_secret: b"\xff\x00]]\n&/".to_vec(),
        },
        AuthMode::KeyServer {
            app_id: "id".into(),
            asap_key_server: "https://keys.example.com/asap".into(),
            signature_algorithm: "RS256".into(),
        },
        AuthMode::KeysUrl {
            app_id: "id".into(),
            cache_keys_url: "https://idp.example.com/jwks?x=1&y=2".into(),
            signature_algorithm: "ES256".into(),
        },
    ];
    for auth in modes {
        let mut d = DesiredHost::new("plain.example", auth.clone());
        d.jitsi_plugin_dir = None;
        d.accepted_issuers = Some(vec![]);
        d.accepted_audiences = Some(vec!["*".into()]);
        d.enable_domain_verification = Some(false);
        d.token_clock_leeway = Some(5);
        let text = render_host(&d).unwrap();
        let e = apply_desired(&text, &d).unwrap();
        assert!(e.changes.is_empty(), "{auth:?}: {:?}\n{text}", e.changes);
        assert!(e.warnings.is_empty());
        let cfg = prosody_loader_check(&text).unwrap();
        assert_eq!(
            cfg.get("plain.example", "component_module"),
            None,
            "the VirtualHost is not a component"
        );
        assert_eq!(
            loaded_str(&cfg, "conference.plain.example", "component_module").unwrap(),
            b"muc"
        );
        assert_eq!(
            loaded_list(&cfg, "plain.example", "asap_accepted_issuers"),
            Vec::<String>::new()
        );
        match &auth {
            AuthMode::Secret { app_secret, .. } => {
                assert_eq!(
                    &loaded_str(&cfg, "plain.example", "app_secret").unwrap(),
                    app_secret
                )
            }
            AuthMode::KeyServer {
                asap_key_server, ..
            } => assert_eq!(
                loaded_str(&cfg, "plain.example", "asap_key_server").unwrap(),
                asap_key_server.as_bytes()
            ),
            AuthMode::KeysUrl { cache_keys_url, .. } => assert_eq!(
                loaded_str(&cfg, "plain.example", "cache_keys_url").unwrap(),
                cache_keys_url.as_bytes()
            ),
        }
        check_roundtrip(&text, &d);
    }
}

#[test]
fn new_secret_updates_only_that_value_and_reverts_in_order() {
    let original = fixture(JITSI);
    let first = apply_desired(&original, &secret_host("meet.example.com")).unwrap();
    let mut d = secret_host("meet.example.com");
    d.auth = AuthMode::Secret {
        app_id: "my_app".into(),
        app_secret: b"new secret".to_vec(),
    };
    let second = apply_desired(&first.text, &d).unwrap();
    assert_eq!(
        diff(&first.text, &second.text),
        r#"--- before
+++ after
@@ -32,3 +32,3 @@
     app_id="my_app"
-    app_secret="s3cr\"et\\/&]]"
+    app_secret="new secret"
     -- Assign this host a certificate for TLS, otherwise it would use the one
"#
    );
    let mut all = first.changes.clone();
    all.extend(second.changes);
    assert_eq!(revert(&second.text, &all).unwrap().text, original);
}

#[test]
fn switching_to_a_key_server_and_back() {
    let original = fixture(JITSI);
    let first = apply_desired(&original, &secret_host("meet.example.com")).unwrap();
    let mut d = secret_host("meet.example.com");
    d.auth = AuthMode::KeyServer {
        app_id: "my_app".into(),
        asap_key_server: "https://keys.example.com/".into(),
        signature_algorithm: "RS256".into(),
    };
    let ks = check_roundtrip(&first.text, &d);
    let doc = Document::parse(&ks.text).unwrap();
    let vh = SectionId::virtual_host("meet.example.com");
    assert_eq!(doc.get(&vh, "app_secret"), None);
    assert_eq!(
        doc.get(&vh, "signature_algorithm"),
        Some(Value::str("RS256"))
    );
    // Back to a secret: the key-server options go, the secret comes back.
    let back = check_roundtrip(&ks.text, &secret_host("meet.example.com"));
    let doc = Document::parse(&back.text).unwrap();
    assert_eq!(doc.get(&vh, "asap_key_server"), None);
    assert_eq!(doc.get(&vh, "signature_algorithm"), None);
    let mut all = first.changes.clone();
    all.extend(ks.changes);
    all.extend(back.changes);
    assert_eq!(revert(&back.text, &all).unwrap().text, original);
}

#[test]
fn revert_skips_what_the_admin_changed_since() {
    let original = fixture(JITSI);
    let e = apply_desired(&original, &secret_host("meet.example.com")).unwrap();
    let edited = e
        .text
        .replace("app_id=\"my_app\"", "app_id = \"admins_app\"")
        .replace(
            "        \"bosh\";\n",
            "        \"bosh\";\n        \"admin_module\";\n",
        );
    let r = revert(&edited, &e.changes).unwrap();
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert!(r.skipped[0].contains("app_id"));
    // Everything else of ours is gone; the admin's edits stay.
    let doc = Document::parse(&r.text).unwrap();
    let vh = SectionId::virtual_host("meet.example.com");
    assert_eq!(doc.get(&vh, "app_id"), Some(Value::str("admins_app")));
    assert!(doc.list_contains(&vh, "modules_enabled", b"admin_module"));
    assert!(!doc.list_contains(&vh, "modules_enabled", b"presence_identity"));
    assert!(r.text.contains("--app_secret=\"example_app_secret\""));
    assert!(r.text.contains("--\"token_verification\";"));
}

#[test]
fn refuses_what_it_cannot_edit_safely() {
    let d = secret_host("t.example");
    let bom = "\u{feff}VirtualHost \"t.example\"\n";
    assert_eq!(apply_desired(bom, &d), Err(EditError::Bom));

    match prosody_loader_check("VirtualHost \"t.example\"\nx = \n") {
        Err(EditError::Loader(m)) => assert!(m.contains(":3:"), "{m}"),
        other => panic!("{other:?}"),
    }
    match prosody_loader_check("Component \"t.example\" \"muc\"\nVirtualHost \"t.example\"\n") {
        Err(EditError::Loader(m)) => assert!(m.contains("clashes"), "{m}"),
        other => panic!("{other:?}"),
    }

    let broken = "VirtualHost \"t.example\"\n  authentication = \n";
    match apply_desired(broken, &d) {
        Err(EditError::Parse { line, .. }) => assert!(line >= 2),
        other => panic!("{other:?}"),
    }

    let table = "VirtualHost \"t.example\" {\n  authentication = \"internal_plain\";\n}\n";
    match apply_desired(table, &d) {
        Err(EditError::Unsupported { line: 1, message }) => assert!(message.contains("table form")),
        other => panic!("{other:?}"),
    }

    let expr = "VirtualHost \"t.example\"\n  authentication = \"token\"\n  app_secret = os.getenv(\"S\")\n";
    match apply_desired(expr, &d) {
        Err(EditError::Unsupported { line: 3, message }) => assert!(message.contains("app_secret")),
        other => panic!("{other:?}"),
    }

    for hidden in [
        "  app_id, app_secret = \"a\", \"b\"\n",
        "  if os.getenv(\"X\") then allow_empty_token = true end\n",
        "  do modules_enabled = { \"ping\" } end\n",
    ] {
        let t = format!("VirtualHost \"t.example\"\n{hidden}");
        match apply_desired(&t, &d) {
            Err(EditError::Unsupported { line: 2, message }) => {
                assert!(message.contains("inside a block"), "{message}")
            }
            other => panic!("{t}: {other:?}"),
        }
    }

    assert_eq!(
        apply_desired("VirtualHost \"other.example\"\n", &d),
        Err(EditError::NoSection(SectionId::virtual_host("t.example")))
    );
}

#[test]
fn sections_follow_prosodys_rules() {
    let t = "a = 1\nHost(\"X.example\")\nb = 2\ncomponent \"c.example\"\nComponent \"m.example\" \"muc\" c = 3\nVirtualHost \"t.example\" { d = 4 }\ne = 5\n";
    let doc = Document::parse(t).unwrap();
    let ids: Vec<_> = doc
        .sections()
        .into_iter()
        .map(|s| (s.id, s.line, s.table_form))
        .collect();
    assert_eq!(
        ids,
        [
            (SectionId::Global, 1, false),
            (SectionId::virtual_host("x.example"), 2, false),
            (
                SectionId::Component {
                    name: "c.example".into(),
                    kind: None
                },
                4,
                false
            ),
            (
                SectionId::Component {
                    name: "m.example".into(),
                    kind: Some("muc".into())
                },
                5,
                false
            ),
            (SectionId::virtual_host("t.example"), 6, true),
            (SectionId::Global, 6, false),
        ]
    );
    assert_eq!(
        doc.get(&SectionId::virtual_host("X.example"), "b"),
        Some(Value::Int(2))
    );
    assert_eq!(
        doc.get(&SectionId::component("m.example"), "c"),
        Some(Value::Int(3))
    );
    // Applying a table-form header's options returns Prosody to the global part.
    assert_eq!(doc.get(&SectionId::Global, "e"), Some(Value::Int(5)));
    let cfg = prosody_loader_check(t).unwrap();
    assert_eq!(cfg.get("*", "e"), Some(&LoadedValue::Int(5)));
}

#[test]
fn list_edits_keep_style() {
    let g = SectionId::Global;
    let cases: &[(&str, ListPos, &str)] = &[
        ("x = {}\n", ListPos::End, "x = { \"n\" }\n"),
        ("x = { }\n", ListPos::End, "x = { \"n\" }\n"),
        (
            "x = { \"a\"; \"b\"; }\n",
            ListPos::End,
            "x = { \"a\"; \"b\"; \"n\"; }\n",
        ),
        (
            "x = { \"a\", \"b\" }\n",
            ListPos::Start,
            "x = { \"n\", \"a\", \"b\" }\n",
        ),
        (
            "x = {\n\t\"a\";\n\t\"b\"; -- c\n}\n",
            ListPos::End,
            "x = {\n\t\"a\";\n\t\"b\"; -- c\n\t\"n\";\n}\n",
        ),
        (
            "x = {\n  \"a\",\n  \"b\"\n}\n",
            ListPos::Before(b"b".to_vec()),
            "x = {\n  \"a\",\n  \"n\",\n  \"b\"\n}\n",
        ),
        (
            "x = {\n  \"a\"\n}\n",
            ListPos::End,
            "x = {\n  \"a\",\n  \"n\"\n}\n",
        ),
        (
            "x = { \"b\", \"n\" }\n",
            ListPos::Before(b"b".to_vec()),
            "x = { \"n\", \"b\" }\n",
        ),
    ];
    for (src, pos, want) in cases {
        let mut doc = Document::parse(src).unwrap();
        assert!(doc.list_add(&g, "x", b"n", pos.clone()).unwrap(), "{src}");
        assert_eq!(doc.text(), *want, "{src}");
        let changes = doc.take_changes();
        assert_eq!(revert(doc.text(), &changes).unwrap().text, *src);
        assert!(!doc.list_add(&g, "x", b"n", pos.clone()).unwrap());
        assert!(doc.list_remove(&g, "x", b"n").unwrap());
        assert!(!doc.list_contains(&g, "x", b"n"));
    }
    let mut doc = Document::parse("x = { \"a\", f() }\n").unwrap();
    assert!(matches!(
        doc.list_add(&g, "x", b"n", ListPos::End),
        Err(EditError::Unsupported { line: 1, .. })
    ));
}

#[test]
fn remove_and_revert_restore_bytes() {
    let src = "VirtualHost \"h\"\n    a = 1 -- one\n    -- about b\n    b = 2\n    c = 3; d = 4\n";
    let vh = SectionId::virtual_host("h");
    for key in ["a", "b", "c", "d"] {
        let mut doc = Document::parse(src).unwrap();
        assert!(doc.remove(&vh, key).unwrap());
        assert_eq!(doc.get(&vh, key), None);
        let changes = doc.take_changes();
        assert_eq!(revert(doc.text(), &changes).unwrap().text, src, "{key}");
    }
}

#[test]
fn insertion_goes_after_the_last_assignment() {
    let vh = SectionId::virtual_host("h");
    let mut doc =
        Document::parse("VirtualHost \"h\"\n\tx = 1 -- c\n\n-- next\nComponent \"m\" \"muc\"\n")
            .unwrap();
    doc.set(&vh, "y", &Value::Bool(true)).unwrap();
    assert_eq!(
        doc.text(),
        "VirtualHost \"h\"\n\tx = 1 -- c\n\ty = true\n\n-- next\nComponent \"m\" \"muc\"\n"
    );
    let mut doc = Document::parse("VirtualHost \"h\"\nComponent \"m\" \"muc\"\n").unwrap();
    doc.set(&vh, "y", &Value::str("v")).unwrap();
    assert_eq!(
        doc.text(),
        "VirtualHost \"h\"\n    y = \"v\"\nComponent \"m\" \"muc\"\n"
    );
    let mut doc = Document::parse("-- top\n\n-- the host\nVirtualHost \"h\"\n").unwrap();
    doc.set(&SectionId::Global, "g", &Value::Int(1)).unwrap();
    assert_eq!(
        doc.text(),
        "-- top\n\ng = 1\n\n-- the host\nVirtualHost \"h\"\n"
    );
    let changes = doc.take_changes();
    assert_eq!(
        revert(doc.text(), &changes).unwrap().text,
        "-- top\n\n-- the host\nVirtualHost \"h\"\n"
    );
}

/// Run a Lua interpreter on a chunk that prints one hex line per literal.
fn lua_hex_lines(lua: &str, literals: &[String]) -> Vec<String> {
    let mut src = String::from("local t = {\n");
    for l in literals {
        src.push_str(l);
        src.push_str(",\n");
    }
    src.push_str(
        "}\nfor i = 1, #t do io.write((t[i]:gsub('.', function(c) return string.format('%02x', c:byte()) end)), '\\n') end\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lits.lua");
    std::fs::write(&p, src).unwrap();
    let out = std::process::Command::new(lua).arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    /// Strings that stress quoting: the awkward characters are over-represented.
    fn nasty_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"\"".to_vec()),
            Just(b"'".to_vec()),
            Just(b"\\".to_vec()),
            Just(b"]]".to_vec()),
            Just(b"[[".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\0".to_vec()),
            Just(b"&".to_vec()),
            Just(b"/".to_vec()),
            Just(b"`$(x)".to_vec()),
            Just("é€😀".as_bytes().to_vec()),
            Just(b"--".to_vec()),
            Just(b"\\z".to_vec()),
            Just(b"1".to_vec()),
            any::<u8>().prop_map(|b| vec![b]),
            "[a-zA-Z0-9 ]{0,8}".prop_map(|s| s.into_bytes()),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    fn nasty_string() -> impl Strategy<Value = String> {
        nasty_bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Draw `n` values from a strategy (deterministic seed), so one Lua run checks
    /// them all.
    fn sample<S: Strategy>(s: S, n: usize) -> Vec<S::Value> {
        let mut runner = TestRunner::new(Config::default());
        (0..n)
            .map(|_| s.new_tree(&mut runner).unwrap().current())
            .collect()
    }

    /// Domains: host names and near misses (a newline, code, spaces, empty labels).
    fn domain() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,8}){0,3}",
            Just("evil.example.com\nos.execute(\"id > pwned.txt\")\n--".to_string()),
            Just("meet example..com".to_string()),
            nasty_string(),
        ]
    }

    proptest! {
        #![proptest_config(Config { cases: 64, ..Config::default() })]

        /// The fuzz target `host_values`'s property: refused, or read back exactly.
        #[test]
        fn written_values_load_back_exactly_and_run_no_code(
            d in domain(),
            a in (nasty_string(), nasty_bytes(), proptest::collection::vec(nasty_string(), 0..3)),
            b in (nasty_string(), nasty_bytes(), proptest::collection::vec(nasty_string(), 0..3)),
        ) {
            let loader = Loader::default();
            let r = crate::config_edit::check_written_values(
                &loader, &d, (&a.0, &a.1, &a.2), (&b.0, &b.1, &b.2));
            prop_assert!(r.is_ok(), "{}", r.unwrap_err());
            prop_assert_eq!(r.unwrap(), crate::settings::check_domain(&d).is_ok());
        }
    }

    #[test]
    fn lua_string_reads_back_in_lua54_and_lua52() {
        let values = sample(nasty_bytes(), 300);
        let lits: Vec<String> = values.iter().map(lua_string).collect();
        for lua in ["lua5.4", "lua5.2"] {
            let got = lua_hex_lines(lua, &lits);
            let want: Vec<String> = values.iter().map(|v| hex(v)).collect();
            assert_eq!(got, want, "{lua}");
        }
        for (v, l) in values.iter().zip(&lits) {
            assert_eq!(&decode_lua_string(l).unwrap(), v);
        }
    }

    /// Our decoder agrees with Lua on literals written in other styles.
    #[test]
    fn decoder_agrees_with_lua54() {
        let values = sample(nasty_bytes(), 200);
        let mut lits = Vec::new();
        for v in &values {
            // Single quotes with hex and \u escapes for everything non-alphanumeric.
            let mut s = String::from("'");
            for &b in v {
                if b.is_ascii_alphanumeric() {
                    s.push(b as char);
                } else if b < 0x80 && b % 2 == 0 {
                    s.push_str(&format!("\\u{{{b:X}}}"));
                } else {
                    s.push_str(&format!("\\x{b:02x}"));
                }
            }
            s.push('\'');
            lits.push(s);
            // Long brackets when the text allows it (leading newline, CRLF kept raw).
            if let Ok(t) = std::str::from_utf8(v) {
                if !t.contains("]==]") {
                    lits.push(format!("[==[\n{t}]==]"));
                }
            }
            // `\z` and escaped line breaks.
            lits.push(format!("\"a\\z \n\t {}\\\nb\"", hex(v)));
        }
        let got = lua_hex_lines("lua5.4", &lits);
        let ours: Vec<String> = lits
            .iter()
            .map(|l| hex(&decode_lua_string(l).unwrap()))
            .collect();
        assert_eq!(got, ours);
    }

    /// Arbitrary ids and secrets written into a Jitsi host file parse, read back
    /// through our parser, and load through Prosody's loader byte-identical. All
    /// cases go into one config (one host per case) so one lua5.4 run checks them.
    #[test]
    fn any_id_and_secret_survive_prosodys_loader() {
        let cases = sample((nasty_string(), nasty_bytes()), 64);
        let template = fixture(SECOND);
        let mut all = String::new();
        let mut hosts = Vec::new();
        for (i, (id, secret)) in cases.iter().enumerate() {
            let domain = format!("h{i}.example");
            let text = template.replace("meet.example.com", &domain);
            let d = DesiredHost::new(
                &domain,
                AuthMode::Secret {
                    app_id: id.clone(),
                    app_secret: secret.clone(),
                },
            );
            let e = apply_desired(&text, &d).unwrap();
            full_moon::parse(&e.text).unwrap();
            let doc = Document::parse(&e.text).unwrap();
            let vh = SectionId::virtual_host(&domain);
            assert_eq!(doc.get(&vh, "app_secret"), Some(Value::Str(secret.clone())));
            assert_eq!(doc.get(&vh, "app_id"), Some(Value::str(id)));
            assert!(apply_desired(&e.text, &d).unwrap().changes.is_empty());
            assert_eq!(revert(&e.text, &e.changes).unwrap().text, text);
            all.push_str(&e.text);
            all.push('\n');
            hosts.push((domain, id, secret));
        }
        let cfg = prosody_loader_check(&all).unwrap();
        for (domain, id, secret) in hosts {
            assert_eq!(&loaded_str(&cfg, &domain, "app_secret").unwrap(), secret);
            assert_eq!(loaded_str(&cfg, &domain, "app_id").unwrap(), id.as_bytes());
        }
    }
}

/// Random config files with random formatting and random edits: the edited text
/// parses, Prosody's loader sees in every host exactly what our parser reports, and
/// reverting the edits gives back the original bytes.
mod random_edits {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    /// A stream of random choices driving a hand-rolled generator.
    struct Choices(Vec<u32>, usize);

    impl Choices {
        fn pick(&mut self, n: usize) -> usize {
            let v = self.0[self.1 % self.0.len()];
            self.1 += 1;
            v as usize % n
        }
        fn one<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.pick(xs.len())]
        }
    }

    const KEYS: &[&str] = &["a", "b", "modules_enabled", "plugin_paths"];
    const ITEMS: &[&[u8]] = &[b"x", b"y", b"z\"]]", b"\n\\"];

    fn string_lit(c: &mut Choices, v: &[u8]) -> String {
        match c.pick(3) {
            0 => lua_string(v),
            1 => format!("'{}'", lua_string(v).trim_matches('"').replace('\'', "\\'")),
            _ => match std::str::from_utf8(v) {
                Ok(t) if !t.contains(']') && !t.starts_with('\n') && !t.contains('\r') => {
                    format!("[[{t}]]")
                }
                _ => lua_string(v),
            },
        }
    }

    fn value(c: &mut Choices, indent: &str) -> String {
        match c.pick(5) {
            0 => c.pick(1000).to_string(),
            1 => c.one(&["true", "false"]).to_string(),
            2 => {
                let v = c.one(ITEMS).to_vec();
                string_lit(c, &v)
            }
            3 => "os.getenv(\"HOME\")".to_string(),
            _ => {
                let n = c.pick(4);
                let sep = *c.one(&[",", ";"]);
                let multi = c.pick(2) == 0;
                let mut s = String::from("{");
                for k in 0..n {
                    let v = c.one(ITEMS).to_vec();
                    if multi {
                        s.push_str(&format!("\n{indent}    "));
                    } else {
                        s.push(' ');
                    }
                    s.push_str(&string_lit(c, &v));
                    if k + 1 < n || c.pick(2) == 0 {
                        s.push_str(sep);
                    }
                    if multi && c.pick(3) == 0 {
                        s.push_str(" -- note");
                    }
                }
                s.push_str(if multi { "\n}" } else { " }" });
                s
            }
        }
    }

    /// A random config; hosts are named `h<case>-<n>`. Returns the text and the
    /// sections in it.
    fn config(c: &mut Choices, case: usize) -> (String, Vec<SectionId>) {
        let mut out = String::new();
        let mut sections = vec![SectionId::Global];
        let n_sections = 1 + c.pick(3);
        for s in 0..=n_sections {
            let indent = if s == 0 {
                ""
            } else {
                *c.one(&["", "  ", "\t", "    "])
            };
            if s > 0 {
                let name = format!("h{case}-{s}.example");
                if c.pick(3) == 0 {
                    out.push_str("-- the next host\n");
                }
                match c.pick(6) {
                    5 => out.push_str(&format!("VirtualHost \"{name}\" {{ b = 7, a = \"t\" }}")),
                    0 => out.push_str(&format!("VirtualHost \"{name}\"")),
                    1 => out.push_str(&format!("Host(\"{name}\")")),
                    2 => out.push_str(&format!("Component \"{name}\" \"muc\"")),
                    3 => out.push_str(&format!("component '{name}'")),
                    _ => out.push_str(&format!("host \"{name}\"")),
                }
                out.push_str(if c.pick(3) == 0 { " -- header\n" } else { "\n" });
                sections.push(
                    if out.contains(&format!("omponent \"{name}\""))
                        || out.contains(&format!("omponent '{name}'"))
                    {
                        SectionId::component(&name)
                    } else {
                        SectionId::virtual_host(&name)
                    },
                );
            }
            for _ in 0..c.pick(4) {
                let key = *c.one(KEYS);
                let v = value(c, indent);
                out.push_str(&format!("{indent}{key} = {v}"));
                if c.pick(3) == 0 {
                    out.push(';');
                }
                match c.pick(5) {
                    0 => out.push_str(" -- why\n"),
                    1 => out.push_str(&format!("\n{indent}-- about the next one\n")),
                    2 => out.push_str("\n\n"),
                    _ => out.push('\n'),
                }
            }
        }
        if c.pick(4) == 0 {
            out = out.replace('\n', "\r\n");
        }
        (out, sections)
    }

    fn check_against_loader(cases: &[(String, Vec<SectionId>)]) {
        let mut all = String::new();
        for (text, _) in cases {
            all.push_str(text);
            all.push_str("\nVirtualHost \"separator.invalid\"\n");
        }
        let cfg = prosody_loader_check(&all).unwrap();
        for (text, sections) in cases {
            let doc = Document::parse(text).unwrap();
            let table_form: Vec<SectionId> = doc
                .sections()
                .into_iter()
                .filter(|s| s.table_form)
                .map(|s| s.id)
                .collect();
            for s in sections
                .iter()
                .filter(|s| **s != SectionId::Global && !table_form.contains(s))
            {
                for key in KEYS {
                    let ours = doc.get(s, key);
                    let theirs = cfg.get(s.host_name(), key);
                    match (&ours, theirs) {
                        (None, None) | (Some(Value::Other(_)), _) => {}
                        (Some(Value::Str(a)), Some(LoadedValue::Str(b))) => assert_eq!(a, b),
                        (Some(Value::Int(a)), Some(LoadedValue::Int(b))) => assert_eq!(a, b),
                        (Some(Value::Bool(a)), Some(LoadedValue::Bool(b))) => assert_eq!(a, b),
                        (Some(Value::List(a)), Some(t)) => assert_eq!(Some(a.clone()), t.as_list()),
                        _ => panic!("{s} {key}: ours {ours:?}, Prosody's {theirs:?}\n{text}"),
                    }
                }
            }
        }
    }

    #[test]
    fn random_configs_and_edits() {
        let mut runner = TestRunner::new(Config::default());
        let strategy = proptest::collection::vec(any::<u32>(), 300);
        let mut originals = Vec::new();
        let mut edited = Vec::new();
        // CFGEDIT_CASES=5000 for a longer run.
        let n: usize = std::env::var("CFGEDIT_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(150);
        for case in 0..n {
            let mut c = Choices(strategy.new_tree(&mut runner).unwrap().current(), 0);
            let (text, sections) = config(&mut c, case);
            let mut doc = Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(doc.text(), text);
            for _ in 0..1 + c.pick(5) {
                let s = c.one(&sections).clone();
                let key = *c.one(KEYS);
                let item = c.one(ITEMS).to_vec();
                let r = match c.pick(5) {
                    0 => {
                        let v = match c.pick(3) {
                            0 => Value::Int(c.pick(99) as i64),
                            1 => Value::str(&item),
                            _ => Value::list([&item]),
                        };
                        doc.set(&s, key, &v)
                            .map(|_| assert_eq!(doc.get(&s, key), Some(v.clone())))
                    }
                    1 => doc
                        .remove(&s, key)
                        .map(|_| assert_eq!(doc.get(&s, key), None)),
                    2 => doc
                        .list_remove(&s, key, &item)
                        .map(|_| assert!(!doc.list_contains(&s, key, &item))),
                    3 => doc
                        .list_add(&s, key, &item, ListPos::Start)
                        .map(|_| assert!(doc.list_contains(&s, key, &item))),
                    _ => doc
                        .list_add(&s, key, &item, ListPos::End)
                        .map(|_| assert!(doc.list_contains(&s, key, &item))),
                };
                match r {
                    Ok(()) | Err(EditError::Unsupported { .. }) => {}
                    Err(e) => panic!("{e}\n{}", doc.text()),
                }
            }
            let changes = doc.take_changes();
            let back = revert(doc.text(), &changes).unwrap();
            assert!(back.skipped.is_empty(), "{:?}", back.skipped);
            assert_eq!(
                back.text,
                text,
                "after:\n{}\nchanges: {changes:#?}",
                doc.text()
            );
            originals.push((text, sections.clone()));
            edited.push((doc.text().to_string(), sections));
        }
        check_against_loader(&originals);
        check_against_loader(&edited);
    }
}

/// The loader's call trace is what lets the value-writer property say "runs no code":
/// a value that escaped its literal and called anything shows up in it.
#[test]
fn the_loader_traces_code_a_config_runs() {
    let loader = Loader::default();
    let plain = "VirtualHost \"a.example\"\napp_id = \"x\"\n";
    let sneaky = "VirtualHost \"a.example\"\napp_id = \"x\" .. string.rep(\"y\", 1)\n";
    let other_value = "VirtualHost \"a.example\"\napp_id = \"os.execute('id')\"\n";
    let calls = |t: &str| loader.load_text(t).unwrap().calls;
    assert!(!calls(plain).is_empty(), "the loader itself runs");
    assert_eq!(calls(plain), calls(other_value));
    let extra: Vec<String> = calls(sneaky)
        .into_iter()
        .filter(|c| !calls(plain).contains(c))
        .collect();
    assert!(extra.iter().any(|c| c.starts_with("rep@")), "{extra:?}");
}
