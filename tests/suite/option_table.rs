//! One option table: `configure` takes `token_clock_leeway` from a flag, a variable
//! and the settings file by the table's rule (`30.0` is 30, as Prosody reads it) and
//! refuses `30.5` and `-1` in the table's words.

use super::*;

const HOST: &str = "etc/prosody/conf.avail/meet.example.com.cfg.lua";
const WORDING: &str =
    "`token_clock_leeway` must be a whole number of seconds from 0 to 4294967295, not ";

fn output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn leeway_written_as_a_float_is_a_whole_number() {
    let r = Root::new("jitsi");
    success(&mut r.configure("meet.example.com", b"s", &["--token-clock-leeway", "30.0"]));
    assert!(
        r.read(HOST).contains("token_clock_leeway = 30\n"),
        "{}",
        r.read(HOST)
    );

    let r = Root::new("jitsi");
    success(
        r.configure("meet.example.com", b"s", &[])
            .env("JITSI_MEET_TOKENS_TOKEN_CLOCK_LEEWAY", "45.0"),
    );
    assert!(
        r.read(HOST).contains("token_clock_leeway = 45\n"),
        "{}",
        r.read(HOST)
    );
}

#[test]
fn fractional_and_negative_leeway_flags_are_refused_in_the_tables_words() {
    for (given, shown) in [("30.5", "30.5"), ("-1", "-1")] {
        let r = Root::new("jitsi");
        let flag = format!("--token-clock-leeway={given}");
        let out = r
            .configure("meet.example.com", b"s", &[&flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", output(&out));
        assert!(
            output(&out).contains(&format!("{WORDING}{shown}")),
            "{}",
            output(&out)
        );
    }
}

#[test]
fn settings_file_leeway_follows_the_table() {
    for (given, refused) in [("30.0", None), ("30.5", Some("30.5")), ("-1", Some("-1"))] {
        let r = Root::new("jitsi");
        let s = r.file("etc/jitsi-meet-tokens/settings.toml");
        std::fs::create_dir_all(s.parent().unwrap()).unwrap();
        std::fs::write(&s, format!("token_clock_leeway = {given}\n")).unwrap();
        let out = r.configure("meet.example.com", b"s", &[]).output().unwrap();
        match refused {
            None => {
                assert!(out.status.success(), "{}", output(&out));
                assert!(
                    r.read(HOST).contains("token_clock_leeway = 30\n"),
                    "{}",
                    r.read(HOST)
                );
            }
            Some(shown) => {
                assert!(!out.status.success(), "{}", output(&out));
                let want = format!("settings: {WORDING}{shown}");
                assert!(output(&out).contains(&want), "{}", output(&out));
            }
        }
    }
}

#[test]
fn config_numbers_read_as_lua_reads_them() {
    use jitsi_meet_tokens::config_edit::{Document, SectionId, Value};
    let doc = Document::parse("a = 30.0\nb = -1\nc = -0.5\nd = 1e3\ne = 0x1p4\nf = inf\ng = - 2\n")
        .unwrap();
    let get = |k: &str| doc.get(&SectionId::Global, k);
    assert_eq!(get("a"), Some(Value::Num(30.0)));
    assert_eq!(get("b"), Some(Value::Int(-1)));
    assert_eq!(get("c"), Some(Value::Num(-0.5)));
    assert_eq!(get("d"), Some(Value::Num(1000.0)));
    // A hexadecimal float and a name are not read as numbers.
    assert_eq!(get("e"), Some(Value::Other("0x1p4".into())));
    assert_eq!(get("f"), Some(Value::Other("inf".into())));
    assert_eq!(get("g"), Some(Value::Int(-2)));
    assert_eq!(Value::Num(30.0).to_lua(), "30.0");
}
