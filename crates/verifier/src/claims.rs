//! Checks 7 to 11 of the spec: time, issuer, audience, room, subject.

use crate::json::{Json, Object};
use crate::options::Config;
use crate::reason::Reason;
use crate::Failure;

/// A JSON number as an exact integer when it is one, else as a float.
enum Num {
    Int(i128),
    Float(f64),
}

/// The header fields the checks read, found in one pass (the last of a
/// duplicated name counts, as everywhere).
#[derive(Default)]
pub(crate) struct Header<'v> {
    pub typ: Option<Json<'v>>,
    pub alg: Option<Json<'v>>,
    pub kid: Option<Json<'v>>,
    pub crit: Option<Json<'v>>,
    pub b64: Option<Json<'v>>,
}

impl<'v> Header<'v> {
    pub fn of(header: Object<'v>) -> Self {
        let mut h = Header::default();
        for (name, value) in header.iter() {
            match name {
                "typ" => h.typ = Some(value),
                "alg" => h.alg = Some(value),
                "kid" => h.kid = Some(value),
                "crit" => h.crit = Some(value),
                "b64" => h.b64 = Some(value),
                _ => {}
            }
        }
        h
    }

    /// RFC 7515 §4.1.11: a `crit` naming a parameter we do not understand refuses
    /// the token. The one extension understood is RFC 7797's `b64`, and only as
    /// `true` (the payload is base64url, as always here): `b64: false` signs the
    /// raw payload, which this verifier does not implement, so it is refused with
    /// or without `crit` rather than checked against the wrong signing input.
    pub fn extensions_understood(&self) -> bool {
        if !matches!(self.b64, None | Some(Json::Bool(true))) {
            return false;
        }
        match self.crit {
            None => true,
            Some(Json::Array(names)) => {
                !names.is_empty()
                    && self.b64.is_some()
                    && names.iter().all(|n| n.as_str() == Some("b64"))
            }
            Some(_) => false,
        }
    }
}

/// The registered claims the checks read, found in one pass over the claims
/// (a realistic token has a dozen; looking each up by name showed up in profiles).
#[derive(Default)]
struct Registered<'v> {
    exp: Option<Json<'v>>,
    nbf: Option<Json<'v>>,
    iss: Option<Json<'v>>,
    aud: Option<Json<'v>>,
    room: Option<Json<'v>>,
    sub: Option<Json<'v>>,
}

impl<'v> Registered<'v> {
    fn of(claims: Object<'v>) -> Self {
        let mut r = Registered::default();
        for (name, value) in claims.iter() {
            let slot = match name {
                "exp" => &mut r.exp,
                "nbf" => &mut r.nbf,
                "iss" => &mut r.iss,
                "aud" => &mut r.aud,
                "room" => &mut r.room,
                "sub" => &mut r.sub,
                _ => continue,
            };
            *slot = Some(value);
        }
        r
    }
}

/// `Some(number)` for a present number, `Err` for a present non-number (null
/// included: upstream's cjson null is a truthy non-number), `None` when absent.
fn time_claim(claim: Option<Json<'_>>, invalid: Reason) -> Result<Option<Num>, Failure> {
    match claim {
        None => Ok(None),
        Some(Json::Int(i)) => Ok(Some(Num::Int(i.into()))),
        Some(Json::UInt(u)) => Ok(Some(Num::Int(u.into()))),
        // serde_json never yields NaN or infinity from JSON text.
        Some(Json::Float(f)) => Ok(Some(Num::Float(f))),
        Some(_) => Err(Failure::new(invalid)),
    }
}

fn check_time(c: &Config, claims: &Registered<'_>, now: i64) -> Result<(), Failure> {
    let exp = time_claim(claims.exp, Reason::ExpNotNumber)?;
    let nbf = time_claim(claims.nbf, Reason::NbfNotNumber)?;
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
            // Whole seconds, clamped to i64::MAX for absurd values (the float
            // branch's `as i128` saturates; `try_from` bounds both to i64).
            let since = i64::try_from(since).unwrap_or(i64::MAX);
            return Err(Failure::with_text(
                Reason::Expired,
                format!("{} ({since} sec since expired)", Reason::Expired.text()),
            ));
        }
    }
    if let Some(nbf) = nbf {
        let early = match nbf {
            Num::Int(n) => now_i + leeway < n,
            Num::Float(n) => (now as f64 + c.leeway as f64) < n,
        };
        if early {
            return Err(Failure::new(Reason::NotYetValid));
        }
    }
    Ok(())
}

/// Whether `value` is accepted by `list` (`"*"` accepts any present value, as
/// upstream does).
fn accepted(list: &[String], value: Json<'_>) -> bool {
    list.iter()
        .any(|a| a == "*" || value.as_str() == Some(a.as_str()))
}

/// Claims absent or JSON null count as missing (a null never reaches Prosody).
fn present(claim: Option<Json<'_>>) -> Option<Json<'_>> {
    claim.filter(|v| !v.is_null())
}

pub(crate) fn check(c: &Config, claims: Object<'_>, now: i64) -> Result<(), Failure> {
    let claims = Registered::of(claims);
    check_time(c, &claims, now)?;

    let iss = present(claims.iss).ok_or_else(|| Failure::new(Reason::IssMissing))?;
    if !accepted(&c.issuers, iss) {
        return Err(Failure::new(Reason::IssInvalid));
    }

    let aud = present(claims.aud).ok_or_else(|| Failure::new(Reason::AudMissing))?;
    let aud_ok = match aud {
        _ if c.audiences.iter().any(|a| a == "*") => true,
        // Ours: an array passes when any element is accepted (RFC 7519 §4.1.3).
        Json::Array(items) => items.iter().any(|v| accepted(&c.audiences, v)),
        v => accepted(&c.audiences, v),
    };
    if !aud_ok {
        return Err(Failure::new(Reason::AudInvalid));
    }

    if c.require_room && present(claims.room).is_none() {
        return Err(Failure::new(Reason::RoomMissing));
    }
    if present(claims.sub).is_none() {
        return Err(Failure::new(Reason::SubMissing));
    }
    Ok(())
}
