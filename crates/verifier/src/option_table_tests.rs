//! The option table's conversion rules, and the README table generated from it.

use crate::option_table::{spec, Neutral, Typed, OPTIONS};
use crate::room::RoomRule;
use crate::Options;

fn convert(name: &str, v: Neutral) -> Result<Typed, String> {
    spec(name).unwrap().convert(v).map_err(|e| e.to_string())
}

#[test]
fn whole_numbers_may_be_written_as_floats() {
    assert_eq!(
        convert("token_clock_leeway", Neutral::Num(30.0)),
        Ok(Typed::Whole(30))
    );
    assert_eq!(
        convert("jwt_pubkey_cache_size", Neutral::Num(4294967295.0)),
        Ok(Typed::Whole(u32::MAX))
    );
}

#[test]
fn fractional_negative_and_huge_numbers_are_refused_with_one_wording() {
    for (n, shown) in [(30.5, "30.5"), (-1.0, "-1"), (4294967296.0, "4294967296")] {
        assert_eq!(
            convert("token_clock_leeway", Neutral::Num(n)),
            Err(format!(
                "`token_clock_leeway` must be a whole number of seconds from 0 to 4294967295, not {shown}"
            ))
        );
    }
    assert!(convert("token_clock_leeway", Neutral::Num(f64::NAN)).is_err());
    assert!(convert("token_clock_leeway", Neutral::Num(f64::INFINITY)).is_err());
}

#[test]
fn lists_take_a_single_string_and_refuse_other_items() {
    assert_eq!(
        convert("asap_accepted_issuers", Neutral::Str(b"a".to_vec())),
        Ok(Typed::Strings(vec!["a".into()]))
    );
    assert_eq!(
        convert(
            "asap_accepted_issuers",
            Neutral::List(vec![Neutral::Num(1.0)])
        ),
        Err("`asap_accepted_issuers` must be a list of strings, not a list holding 1".into())
    );
}

#[test]
fn strings_are_text_secrets_are_bytes_and_never_shown() {
    assert_eq!(
        convert("app_secret", Neutral::Str(vec![0xff, 0])),
        Ok(Typed::Bytes(vec![0xff, 0]))
    );
    assert_eq!(
        convert("app_id", Neutral::Str(vec![0xff])),
        Err("`app_id` must be a string, not a string that is not UTF-8".into())
    );
    assert_eq!(
        convert("app_secret", Neutral::Bool(true)),
        Err("`app_secret` must be a string, not true".into())
    );
}

#[test]
fn options_and_room_rule_read_through_the_table() {
    let get = |k: &str| (k == "token_clock_leeway").then_some(Neutral::Num(30.0));
    let o = Options::read(get).unwrap();
    assert_eq!(o.token_clock_leeway, Some(30));
    assert_eq!(o.asap_accepted_audiences, Some(vec!["*".to_owned()]));
    assert_eq!(o.asap_accepted_issuers, None);
    let bad = |k: &str| (k == "token_regex_room_max_length").then_some(Neutral::Num(-1.0));
    assert_eq!(
        RoomRule::from_options("c.x", bad).unwrap_err().to_string(),
        "`token_regex_room_max_length` must be a whole number from 0 to 4294967295, not -1"
    );
}

#[test]
fn names_are_unique_and_meanings_are_one_line() {
    for (i, o) in OPTIONS.iter().enumerate() {
        assert!(
            OPTIONS[..i].iter().all(|p| p.name != o.name),
            "{} twice",
            o.name
        );
        assert!(
            !o.meaning.contains('\n') && !o.meaning.contains('|'),
            "{}",
            o.name
        );
        assert!(!o.readers.is_empty(), "{}", o.name);
    }
}

const BEGIN: &str = "<!-- options table: generated from crates/verifier/src/option_table.rs -->\n";
const END: &str = "<!-- end of options table -->";

/// Fails when the README's table is not the one [`markdown_table`] renders.
#[test]
fn readme_option_table_is_generated() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../prosody-plugins/README.md"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        panic!("prosody-plugins/README.md lacks the markers {BEGIN:?} ... {END:?}");
    };
    let want = crate::option_table::markdown_table();
    let have = &text[start + BEGIN.len()..end];
    if have != want {
        if std::env::var_os("JITSI_TOKENS_REGENERATE").is_some() {
            let new = format!("{}{BEGIN}{want}{}", &text[..start], &text[end..]);
            std::fs::write(path, new).unwrap();
            return;
        }
        panic!(
            "prosody-plugins/README.md's options table differs from OPTIONS; regenerate it with \
             `JITSI_TOKENS_REGENERATE=1 cargo test -p jitsi-tokens-verifier option_table`\n\
             want:\n{want}\nhave:\n{have}"
        );
    }
}

#[test]
fn what_prosodys_getters_take_is_taken() {
    for (v, b) in [
        (Neutral::Str(b"true".to_vec()), true),
        (Neutral::Str(b"false".to_vec()), false),
        (Neutral::Num(1.0), true),
        (Neutral::Num(0.0), false),
    ] {
        assert_eq!(convert("allow_empty_token", v), Ok(Typed::Bool(b)));
    }
    for (s, n) in [
        ("128", 128),
        (" 30 ", 30),
        ("30.0", 30),
        ("0x80", 128),
        ("1e2", 100),
    ] {
        assert_eq!(
            convert("jwt_pubkey_cache_size", Neutral::Str(s.as_bytes().to_vec())),
            Ok(Typed::Whole(n)),
            "{s:?}"
        );
    }
    // What get_option_boolean does not understand, and what is no number, stay refused.
    for v in [Neutral::Str(b"yes".to_vec()), Neutral::Num(2.0)] {
        assert!(convert("allow_empty_token", v).is_err());
    }
    for s in ["inf", "nan", "", "0x", "30s", "-1", "30.5"] {
        assert!(
            convert("token_clock_leeway", Neutral::Str(s.as_bytes().to_vec())).is_err(),
            "{s:?}"
        );
    }
}
