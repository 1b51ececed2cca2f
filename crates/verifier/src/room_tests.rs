//! The shared case table (`tests/room_cases.json`) against [`RoomRule::check`]; the
//! same table runs through Prosody and `token verify` in
//! `tests/e2e/test_roomcheck_agreement.py`.

use serde_json::{Map, Value};

use crate::option_table::Neutral;
use crate::room::{Joiner, RoomRule};

const HOST: &str = "meet.example";

fn fill(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{host}", HOST)),
        other => other.clone(),
    }
}

#[test]
fn case_table() {
    let table: Value = serde_json::from_str(include_str!("../tests/room_cases.json")).unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let profile = &table["profiles"][case["profile"].as_str().unwrap()];
        let component = fill(&profile["component"]);
        let options = profile["options"].as_object().unwrap();
        let rule = RoomRule::from_options(component.as_str().unwrap(), |k| {
            options.get(k).map(|v| match fill(v) {
                Value::Bool(b) => Neutral::Bool(b),
                Value::String(s) => Neutral::Str(s.into_bytes()),
                Value::Number(n) => Neutral::Num(n.as_f64().unwrap()),
                other => panic!("{name}: option {k} = {other}"),
            })
        })
        .unwrap();
        let mut claims = Map::new();
        for (k, v) in case["claims"].as_object().unwrap() {
            if !v.is_null() {
                claims.insert(k.clone(), fill(v));
            }
        }
        let room = format!(
            "{}@{}",
            case["room"].as_str().unwrap(),
            component.as_str().unwrap()
        );
        let got = rule.check(&room, &Joiner::from_claims(&claims));
        match case["verdict"].as_str().unwrap() {
            "allow" => assert!(got.is_ok(), "{name}: {got:?}"),
            "deny" => {
                let denial = got.expect_err(name);
                assert_eq!(
                    denial.condition.as_str(),
                    case["condition"].as_str().unwrap(),
                    "{name}: {}",
                    denial.detail
                );
            }
            other => panic!("{name}: verdict {other}"),
        }
    }
}

#[test]
fn room_address_without_node() {
    let rule = RoomRule::from_options("conference.meet.example", |_| None).unwrap();
    let claims = Map::new();
    let denial = rule
        .check("conference.meet.example", &Joiner::from_claims(&claims))
        .unwrap_err();
    assert_eq!(denial.condition.as_str(), "invalid-room-address");
}

#[test]
fn tokenless_sessions() {
    let guest = Joiner {
        has_token: false,
        room: crate::room::ClaimValue::Missing,
        sub: crate::room::ClaimValue::Missing,
        regex: false,
    };
    let open = RoomRule::from_options("conference.meet.example", |k| {
        (k == "allow_empty_token").then_some(Neutral::Bool(true))
    })
    .unwrap();
    assert!(open.check("r@conference.meet.example", &guest).is_ok());
    let closed = RoomRule::from_options("conference.meet.example", |_| None).unwrap();
    let denial = closed
        .check("r@conference.meet.example", &guest)
        .unwrap_err();
    assert_eq!(denial.condition.as_str(), "room-mismatch");
}

#[test]
fn wrongly_typed_option_names_it() {
    let err = RoomRule::from_options("c.x", |k| {
        (k == "token_regex_max_quantifiers").then(|| Neutral::Str(b"three".to_vec()))
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`token_regex_max_quantifiers` must be a whole number from 0 to 4294967295, not a string"
    );
}

#[test]
fn muc_domain_rule() {
    use crate::room::MucMapper;
    let m = MucMapper {
        base: Some("meet.example".into()),
        ..Default::default()
    };
    assert_eq!(m.muc_domain().as_deref(), Some("conference.meet.example"));
    let m = MucMapper {
        domain: Some("rooms.x".into()),
        prefix: Some("muc".into()),
        base: Some("meet.example".into()),
    };
    assert_eq!(m.muc_domain().as_deref(), Some("rooms.x"));
    assert_eq!(MucMapper::default().muc_domain(), None);
}
