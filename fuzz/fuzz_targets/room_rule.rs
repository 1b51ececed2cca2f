//! The room check with hostile claims: any room name, `room` and `sub` claim (as a
//! pattern when `context.room.regex` is on, with and without Jitsi's bounds) gives a
//! verdict without panicking, and quickly (run with `-timeout=` to catch a slow one).
#![no_main]

use std::sync::LazyLock;

use jitsi_tokens_verifier::option_table::Neutral;
use jitsi_tokens_verifier::room::{ClaimValue, Joiner, RoomRule};
use libfuzzer_sys::fuzz_target;

static RULES: LazyLock<[RoomRule; 2]> = LazyLock::new(|| {
    let rule = |loose: bool| {
        RoomRule::from_options("conference.meet.example.com", |name| match name {
            "token_regex_max_quantifiers" if loose => Some(Neutral::Num(1000.0)),
            "token_regex_room_max_length" if loose => Some(Neutral::Num(1000.0)),
            "enable_domain_verification" => Some(Neutral::Bool(!loose)),
            _ => None,
        })
        .unwrap()
    };
    [rule(false), rule(true)]
});

fuzz_target!(|input: (String, String, String, bool)| {
    let (node, room, sub, regex) = input;
    let joiner = Joiner {
        has_token: true,
        room: ClaimValue::Str(&room),
        sub: ClaimValue::Str(&sub),
        regex,
    };
    for rule in RULES.iter() {
        let jid = format!("{node}@conference.meet.example.com");
        let _ = rule.check(&jid, &joiner);
    }
});
