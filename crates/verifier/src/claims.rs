//! Checks 7 to 11 of the spec: time, issuer, audience, room, subject.

use serde_json::{Number, Value};

use crate::options::Config;
use crate::{reason, Claims, Condition, Failure};

/// A JSON number as an exact integer when it is one, else as a float.
enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i.into())
    } else if let Some(u) = n.as_u64() {
        Num::Int(u.into())
    } else {
        // serde_json never yields NaN or infinity from JSON text.
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// `Some(number)` for a present number, `Err` for a present non-number (null
/// included: upstream's cjson null is a truthy non-number), `None` when absent.
fn time_claim(claims: &Claims, name: &str, text: &'static str) -> Result<Option<Num>, Failure> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(num(n))),
        Some(_) => Err(Failure::not_allowed(text)),
    }
}

fn check_time(c: &Config, claims: &Claims, now: i64) -> Result<(), Failure> {
    let exp = time_claim(claims, "exp", reason::EXP_NOT_NUMBER)?;
    let nbf = time_claim(claims, "nbf", reason::NBF_NOT_NUMBER)?;
    let now_i = i128::from(now);
    let leeway = i128::from(c.leeway);
    if let Some(exp) = exp {
        // i128 holds any i64/u64 sum exactly; floats compare as floats (a
        // fractional or 1e300 `exp` must neither overflow nor panic).
        let since = match exp {
            Num::Int(e) if now_i >= e + leeway => Some(now_i - e),
            Num::Float(e) if now as f64 >= e + c.leeway as f64 => {
                Some((now as f64 - e).floor() as i128)
            }
            _ => None,
        };
        if let Some(since) = since {
            // Whole seconds; `as` saturates for absurd values.
            let since = i64::try_from(since).unwrap_or(i64::MAX);
            return Err(Failure::not_allowed(format!(
                "Not acceptable by exp ({since} sec since expired)"
            )));
        }
    }
    if let Some(nbf) = nbf {
        let early = match nbf {
            Num::Int(n) => now_i + leeway < n,
            Num::Float(n) => (now as f64 + c.leeway as f64) < n,
        };
        if early {
            return Err(Failure::not_allowed(reason::NBF_NOT_YET));
        }
    }
    Ok(())
}

/// Whether `value` is accepted by `list` (`"*"` accepts any present value, as
/// upstream does).
fn accepted(list: &[String], value: &Value) -> bool {
    list.iter()
        .any(|a| a == "*" || value.as_str() == Some(a.as_str()))
}

/// Claims absent or JSON null count as missing (a null never reaches Prosody).
fn present<'a>(claims: &'a Claims, name: &str) -> Option<&'a Value> {
    claims.get(name).filter(|v| !v.is_null())
}

pub(crate) fn check(c: &Config, claims: &Claims, now: i64) -> Result<(), Failure> {
    check_time(c, claims, now)?;

    let iss = present(claims, "iss").ok_or_else(|| Failure::not_allowed(reason::ISS_MISSING))?;
    if !accepted(&c.issuers, iss) {
        return Err(Failure::not_allowed(reason::ISS_INVALID));
    }

    let aud = present(claims, "aud").ok_or_else(|| Failure::not_allowed(reason::AUD_MISSING))?;
    let aud_ok = match aud {
        _ if c.audiences.iter().any(|a| a == "*") => true,
        // Ours: an array passes when any element is accepted (RFC 7519 §4.1.3).
        Value::Array(items) => items.iter().any(|v| accepted(&c.audiences, v)),
        v => accepted(&c.audiences, v),
    };
    if !aud_ok {
        return Err(Failure::not_allowed(reason::AUD_INVALID));
    }

    if c.require_room && present(claims, "room").is_none() {
        return Err(Failure::new(reason::ROOM_MISSING, Condition::NotAuthorized));
    }
    if present(claims, "sub").is_none() {
        return Err(Failure::new(reason::SUB_MISSING, Condition::NotAuthorized));
    }
    Ok(())
}
