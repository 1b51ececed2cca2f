//! The `jitsi_tokens` Lua C module: a thin mlua layer over `jitsi-tokens-verifier`.
//!
//! ```lua
//! local jt = require "jitsi_tokens"
//! local v = jt.verifier { app_id = "app", app_secret = "s3cret" }
//! local claims, reason, condition, code, read = v:verify(token [, public_key_pem [, now]])
//! -- every option a reader reads, checked and defaulted (or nil and why not):
//! local opts, why = jt.read_options(function(name) return module:get_option(name) end,
//!     "verifier", "auth_plugin")
//! ```
//!
//! On success `read` is the header's `kid` (or nil). On refusal `code` is the
//! verifier's stable reason code (decide on it, never on the text) and `read` a
//! handle with the token's unverified `kid`, `iss` and `sub` for the log line;
//! for `key-missing` its `read:finish(pem [, now])` completes the verification
//! with the fetched key (nil: the fetch failed) without decoding the token again.
//!
//! Everything that decides anything lives in the verifier crate; this layer only
//! converts between Lua values and Rust ones, so it stays easy to audit.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jitsi_tokens_verifier::option_table::{self, Neutral, OptionSpec, Reader, Typed, OPTIONS};
use jitsi_tokens_verifier::room::{ClaimValue, Joiner, RoomRule};
use jitsi_tokens_verifier::{
    self as verifier, Failure, Json, Object, Options, Pending, Reason, Refused, Verifier,
};
use mlua::ffi;
use mlua::prelude::*;

/// The userdata behind `jt.verifier(opts)` (shared with the refusals waiting for a key).
struct LuaVerifier(Arc<Verifier>);

/// What `verify` returns: `claims, nil, nil, nil, kid` or `nil, reason, condition, code, read`.
type Verdict = (LuaValue, LuaValue, LuaValue, LuaValue, LuaValue);

impl LuaUserData for LuaVerifier {
    fn add_methods<M: LuaUserDataMethods<Self>>(methods: &mut M) {
        methods.add_method(
            "verify",
            |lua, this, (token, pem, now): (LuaValue, Option<LuaString>, Option<f64>)| {
                let token = match token {
                    LuaValue::String(s) => s,
                    LuaValue::Nil => return refusal(lua, Failure::new(Reason::TokenRequired)),
                    _ => return refusal(lua, Failure::new(Reason::InvalidToken)),
                };
                let pem = match pem_text(pem) {
                    Ok(pem) => pem,
                    Err(f) => return refusal(lua, f),
                };
                let now = lua_now(now)?;
                let verified =
                    this.0
                        .verify_or_pend(&token.as_bytes(), pem.as_deref(), now, |claims, kid| {
                            accepted(lua, claims, kid)
                        });
                match verified {
                    Ok(verdict) => verdict,
                    Err(Refused { failure, pending }) => {
                        refusal_with(lua, failure, pending.map(|p| (Arc::clone(&this.0), p)))
                    }
                }
            },
        );
        methods.add_method("set_keys", |lua, this, doc: LuaString| {
            match this.0.set_keys(&doc.as_bytes()) {
                Ok(n) => Ok((LuaValue::Integer(n as _), LuaValue::Nil)),
                Err(e) => Ok((LuaValue::Nil, LuaValue::String(lua.create_string(e.0)?))),
            }
        });
        methods.add_method("uses_public_keys", |_, this, ()| {
            Ok(this.0.uses_public_keys())
        });
        // `jwt_pubkey_cache_size`, checked as the option table says.
        methods.add_method("set_key_cache_size", |_, this, size: LuaValue| {
            let size = typed("jwt_pubkey_cache_size", size)?;
            if let Some(Typed::Whole(n)) = size {
                this.0.set_key_cache_size(n as usize);
            }
            Ok(())
        });
        methods.add_method("cached_keys", |_, this, ()| Ok(this.0.cached_keys()));
        // A key server's body: `true`, or `nil, why` when it is not a usable public key.
        methods.add_method("check_public_key", |lua, this, pem: LuaString| {
            let checked = match std::str::from_utf8(&pem.as_bytes()) {
                Ok(text) => this.0.check_public_key(text),
                Err(_) => Err("the body is not text".into()),
            };
            match checked {
                Ok(()) => Ok((LuaValue::Boolean(true), LuaValue::Nil)),
                Err(e) => Ok((LuaValue::Nil, LuaValue::String(lua.create_string(e)?))),
            }
        });
    }
}

/// The userdata behind `jt.room_rule(component, options)`.
struct LuaRoomRule(RoomRule);

impl LuaUserData for LuaRoomRule {
    fn add_methods<M: LuaUserDataMethods<Self>>(methods: &mut M) {
        // `rule:check(room_jid, has_token, room, sub, context_room)` with the session's
        // fields: `true, nil, nil, why` or `false, condition, text, why`.
        methods.add_method(
            "check",
            |lua,
             this,
             (room_jid, has_token, room, sub, context_room): (
                LuaString,
                bool,
                LuaValue,
                LuaValue,
                LuaValue,
            )| {
                let room_text = string_of(&room)?;
                let sub_text = string_of(&sub)?;
                let joiner = Joiner {
                    has_token,
                    room: claim_value(&room, room_text.as_deref()),
                    sub: claim_value(&sub, sub_text.as_deref()),
                    regex: match &context_room {
                        LuaValue::Table(t) => match t.raw_get::<LuaValue>("regex")? {
                            LuaValue::Boolean(b) => b,
                            LuaValue::String(s) => s.as_bytes().as_ref() == b"true",
                            _ => false,
                        },
                        _ => false,
                    },
                };
                let jid = String::from_utf8_lossy(&room_jid.as_bytes()).into_owned();
                let text = |s: &str| lua.create_string(s).map(LuaValue::String);
                Ok(match this.0.check(&jid, &joiner) {
                    Ok(allowed) => (true, LuaValue::Nil, LuaValue::Nil, text(&allowed.0)?),
                    Err(d) => (
                        false,
                        text(d.condition.as_str())?,
                        text(d.condition.text())?,
                        text(&d.detail)?,
                    ),
                })
            },
        );
        methods.add_method("muc_domain", |_, this, ()| Ok(this.0.muc_domain()));
    }
}

/// A Lua string claim as Rust text (claims reached Lua from JSON, so they are UTF-8).
fn string_of(v: &LuaValue) -> LuaResult<Option<String>> {
    Ok(match v {
        LuaValue::String(s) => Some(s.to_str()?.to_owned()),
        _ => None,
    })
}

fn claim_value<'a>(v: &LuaValue, text: Option<&'a str>) -> ClaimValue<'a> {
    match (v, text) {
        (LuaValue::Nil, _) => ClaimValue::Missing,
        (_, Some(s)) => ClaimValue::Str(s),
        _ => ClaimValue::Other,
    }
}

/// `jt.room_rule`'s options table into the rule; a wrongly typed option is an error.
fn room_rule_from_table(component: &str, opts: &LuaTable) -> LuaResult<RoomRule> {
    RoomRule::from_options(component, |name| field(opts, name))
        .map_err(|e| LuaError::runtime(format!("invalid room options: {e}")))
}

/// One field of an options table as the option table's neutral value.
fn field(opts: &LuaTable, name: &str) -> Option<Neutral> {
    // A raw get of a string key on a table cannot fail.
    neutral(opts.raw_get::<LuaValue>(name).unwrap_or(LuaValue::Nil))
}

/// A Lua value as the option table's neutral value; None for nil.
fn neutral(v: LuaValue) -> Option<Neutral> {
    Some(match v {
        LuaValue::Nil => return None,
        LuaValue::Boolean(b) => Neutral::Bool(b),
        LuaValue::String(s) => Neutral::Str(s.as_bytes().to_vec()),
        LuaValue::Integer(i) => Neutral::Num(i as f64),
        LuaValue::Number(n) => Neutral::Num(n),
        LuaValue::Table(t) => Neutral::List(
            t.sequence_values::<LuaValue>()
                .map(|item| item.ok().and_then(neutral).unwrap_or(Neutral::Other("nil")))
                .collect(),
        ),
        other => Neutral::Other(other.type_name()),
    })
}

/// `value` checked as option `name` (one of the table's); nil is its default.
fn typed(name: &str, value: LuaValue) -> LuaResult<Option<Typed>> {
    let spec = option_table::spec(name).expect("an option of the table");
    spec.read(neutral(value))
        .map_err(|e| LuaError::runtime(e.to_string()))
}

/// A typed option value as Lua sees it.
fn typed_to_lua(lua: &Lua, t: Typed) -> LuaResult<LuaValue> {
    Ok(match t {
        Typed::Bool(b) => LuaValue::Boolean(b),
        Typed::Str(s) => LuaValue::String(lua.create_string(s)?),
        Typed::Bytes(b) => LuaValue::String(lua.create_string(b)?),
        Typed::Strings(l) => LuaValue::Table(lua.create_sequence_from(l)?),
        Typed::Whole(n) => LuaValue::Integer(n.into()),
    })
}

/// `jt.read_options(get, reader...)`: every option one of `readers` reads, each
/// asked of `get(name)` (`module:get_option`), checked and defaulted, as one table;
/// or nil and the error naming the first option that is wrongly typed (a config
/// mistake, so an answer to log rather than a Lua error with a traceback).
fn read_options(
    lua: &Lua,
    get: LuaFunction,
    readers: Vec<String>,
) -> LuaResult<(LuaValue, LuaValue)> {
    let wanted = |o: &OptionSpec| {
        o.readers
            .iter()
            .any(|r| readers.iter().any(|w| *w == r.key()))
    };
    for name in &readers {
        if !Reader::ALL.iter().any(|r| r.key() == name) {
            return Err(LuaError::runtime(format!(
                "read_options: unknown reader {name:?}"
            )));
        }
    }
    let out = lua.create_table()?;
    for o in OPTIONS.iter().filter(|o| wanted(o)) {
        let value = get.call::<LuaValue>(o.name)?;
        match o.read(neutral(value)) {
            Ok(Some(t)) => out.raw_set(o.name, typed_to_lua(lua, t)?)?,
            Ok(None) => {}
            Err(e) => {
                let why = lua.create_string(e.to_string())?;
                return Ok((LuaValue::Nil, LuaValue::String(why)));
            }
        }
    }
    Ok((LuaValue::Table(out), LuaValue::Nil))
}

/// A refusal's handle: what the token said of itself, and for `key-missing` the
/// decoded token waiting for its key.
struct LuaRefusal {
    read: verifier::Unverified,
    pending: Option<(Arc<Verifier>, Pending)>,
}

impl LuaUserData for LuaRefusal {
    fn add_fields<F: LuaUserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("kid", |_, this| Ok(this.read.kid.clone()));
        fields.add_field_method_get("iss", |_, this| Ok(this.read.iss.clone()));
        fields.add_field_method_get("sub", |_, this| Ok(this.read.sub.clone()));
    }

    fn add_methods<M: LuaUserDataMethods<Self>>(methods: &mut M) {
        // `read:finish(pem [, now])`: the verification the refusal `key-missing`
        // left waiting, with the fetched PEM (nil when the fetch failed).
        methods.add_method(
            "finish",
            |lua, this, (pem, now): (Option<LuaString>, Option<f64>)| {
                let Some((v, pending)) = &this.pending else {
                    return Err(LuaError::runtime(
                        "finish: only a refusal with code key-missing waits for a key",
                    ));
                };
                let pem = match pem_text(pem) {
                    Ok(pem) => pem,
                    Err(f) => return refusal(lua, f),
                };
                let now = lua_now(now)?;
                match v.finish(pending, pem.as_deref(), now, |claims, kid| {
                    accepted(lua, claims, kid)
                }) {
                    Ok(verdict) => verdict,
                    Err(f) => refusal(lua, f),
                }
            },
        );
    }
}

/// A PEM from Lua: a key that is not UTF-8 cannot be PEM, so it is refused
/// rather than converted lossily.
fn pem_text(pem: Option<LuaString>) -> Result<Option<String>, Failure> {
    match pem {
        Some(p) => match std::str::from_utf8(&p.as_bytes()) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(Failure::new(Reason::NoPublicKey)),
        },
        None => Ok(None),
    }
}

fn lua_now(now: Option<f64>) -> LuaResult<i64> {
    match now {
        Some(n) if n.is_finite() => Ok(n.floor() as i64),
        Some(_) => Err(LuaError::runtime("verify: `now` must be a finite number")),
        None => Ok(unix_now()),
    }
}

/// `claims, nil, nil, nil, kid`.
fn accepted(lua: &Lua, claims: Object<'_>, kid: Option<&str>) -> LuaResult<Verdict> {
    let kid = match kid {
        Some(k) => LuaValue::String(lua.create_string(k)?),
        None => LuaValue::Nil,
    };
    Ok((
        LuaValue::Table(object_to_table(lua, claims)?),
        LuaValue::Nil,
        LuaValue::Nil,
        LuaValue::Nil,
        kid,
    ))
}

/// `nil, reason, condition, code, read`: the shape plugins turn into a SASL failure.
fn refusal(lua: &Lua, failure: Failure) -> LuaResult<Verdict> {
    refusal_with(lua, failure, None)
}

fn refusal_with(
    lua: &Lua,
    failure: Failure,
    pending: Option<(Arc<Verifier>, Pending)>,
) -> LuaResult<Verdict> {
    let text = |s: &str| lua.create_string(s).map(LuaValue::String);
    let read = LuaRefusal {
        read: failure.read,
        pending,
    };
    Ok((
        LuaValue::Nil,
        text(&failure.reason)?,
        text(failure.condition.as_str())?,
        text(failure.code.code())?,
        LuaValue::UserData(lua.create_userdata(read)?),
    ))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// JSON object → Lua table. `null` reads as absent in Lua (not a sentinel every
/// caller must know about): a member set to null is assigned nil, so a repeated name
/// ends as its last value, null included, as the verifier read it.
///
/// Built with the raw C API inside one protected call: mlua's safe `create_string` /
/// `raw_set` each enter their own protected call, which made this conversion cost as
/// much as the whole verification (measured with callgrind).
fn object_to_table(lua: &Lua, claims: Object<'_>) -> LuaResult<LuaTable> {
    // SAFETY: the closure runs in protected mode (a Lua error unwinds to mlua's pcall);
    // it holds no values with destructors across Lua API calls (the claim view is
    // borrowed slices and iterators over them), and each nesting level checks stack
    // space first (depth is bounded by serde_json's recursion limit).
    unsafe { lua.exec_raw::<LuaTable>((), |state| push_object(state, claims)) }
}

unsafe fn push_object(state: *mut ffi::lua_State, object: Object<'_>) {
    ffi::luaL_checkstack(state, 4, c"claims nested too deeply".as_ptr());
    ffi::lua_createtable(state, 0, object.len().min(i32::MAX as usize) as _);
    for (k, v) in object.iter() {
        ffi::lua_pushlstring(state, k.as_ptr().cast(), k.len());
        push_value(state, v);
        ffi::lua_rawset(state, -3);
    }
}

unsafe fn push_value(state: *mut ffi::lua_State, v: Json<'_>) {
    match v {
        Json::Null => ffi::lua_pushnil(state),
        Json::Bool(b) => ffi::lua_pushboolean(state, b as _),
        Json::Int(i) => ffi::lua_pushinteger(state, i as _),
        Json::UInt(u) => ffi::lua_pushnumber(state, u as f64),
        Json::Float(f) => ffi::lua_pushnumber(state, f),
        Json::Str(s) => {
            ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
        }
        Json::Array(a) => {
            ffi::luaL_checkstack(state, 4, c"claims nested too deeply".as_ptr());
            ffi::lua_createtable(state, a.len().min(i32::MAX as usize) as _, 0);
            for (i, item) in a.iter().enumerate() {
                if item.is_null() {
                    continue;
                }
                push_value(state, item);
                ffi::lua_rawseti(state, -2, (i + 1) as _);
            }
        }
        Json::Object(o) => push_object(state, o),
    }
}

/// Read `jt.verifier(opts)`'s table into [`Options`]; a wrongly typed option is an
/// error naming the option, never silently ignored.
fn options_from_table(opts: &LuaTable) -> LuaResult<Options> {
    Options::read(|name| field(opts, name))
        .map_err(|e| LuaError::runtime(format!("invalid token options: {e}")))
}

type ToTable<'f> = &'f mut dyn FnMut(Object<'_>) -> LuaResult<LuaTable>;

/// `header` / `unverified_claims`: one part of the token as a table, or nil and the
/// verifier's reason ("Invalid token" for a value that is not a string).
fn unverified_part<P>(lua: &Lua, token: LuaValue, part_with: P) -> LuaResult<(LuaValue, LuaValue)>
where
    P: FnOnce(&[u8], ToTable<'_>) -> Result<LuaResult<LuaTable>, verifier::Failure>,
{
    let LuaValue::String(token) = token else {
        return Ok((
            LuaValue::Nil,
            LuaValue::String(lua.create_string(Reason::InvalidToken.text())?),
        ));
    };
    // Bytes that are not UTF-8 are not base64url either: "Invalid token".
    match part_with(&token.as_bytes(), &mut |o| object_to_table(lua, o)) {
        Ok(t) => Ok((LuaValue::Table(t?), LuaValue::Nil)),
        Err(f) => Ok((
            LuaValue::Nil,
            LuaValue::String(lua.create_string(f.reason)?),
        )),
    }
}

#[mlua::lua_module]
fn jitsi_tokens(lua: &Lua) -> LuaResult<LuaTable> {
    let exports = lua.create_table()?;
    exports.set("version", env!("CARGO_PKG_VERSION"))?;
    exports.set(
        "verifier",
        lua.create_function(|_, opts: Option<LuaTable>| {
            let options = match opts {
                Some(t) => options_from_table(&t)?,
                None => Options::default(),
            };
            let v = Verifier::new(options)
                .map_err(|e| LuaError::runtime(format!("invalid token options: {e}")))?;
            Ok(LuaVerifier(Arc::new(v)))
        })?,
    )?;
    exports.set(
        "header",
        lua.create_function(|lua, token: LuaValue| {
            unverified_part(lua, token, |t, f| verifier::header_with(t, f))
        })?,
    )?;
    // For refusal log lines (iss, sub): decoded, never verified.
    exports.set(
        "unverified_claims",
        lua.create_function(|lua, token: LuaValue| {
            unverified_part(lua, token, |t, f| verifier::claims_unverified_with(t, f))
        })?,
    )?;
    // The option table (name -> { scope, kind, readers }) and its reader.
    let options = lua.create_table()?;
    for o in OPTIONS {
        let entry = lua.create_table()?;
        entry.set("scope", o.scope.as_str())?;
        entry.set("kind", o.kind.as_str())?;
        entry.set(
            "readers",
            lua.create_sequence_from(o.readers.iter().map(|r| r.key()))?,
        )?;
        options.set(o.name, entry)?;
    }
    exports.set("options", options)?;
    exports.set(
        "read_options",
        lua.create_function(|lua, (get, readers): (LuaFunction, LuaVariadic<String>)| {
            read_options(lua, get, readers.into_iter().collect())
        })?,
    )?;
    exports.set(
        "room_rule",
        lua.create_function(|_, (component, opts): (LuaString, Option<LuaTable>)| {
            let component = component.to_str()?.to_owned();
            let rule = match opts {
                Some(t) => room_rule_from_table(&component, &t)?,
                None => RoomRule::from_options(&component, |_| None)
                    .map_err(|e| LuaError::runtime(e.to_string()))?,
            };
            Ok(LuaRoomRule(rule))
        })?,
    )?;
    // Tokens decoded on this thread (tests and benchmarks count a login's decodes).
    exports.set(
        "decodes",
        lua.create_function(|_, ()| Ok(verifier::decodes()))?,
    )?;
    exports.set(
        "key_file",
        lua.create_function(|_, kid: LuaString| Ok(verifier::key_file(&kid.to_str()?)))?,
    )?;
    exports.set(
        "loggable_url",
        lua.create_function(|_, url: LuaString| {
            Ok(verifier::loggable_url(&String::from_utf8_lossy(
                &url.as_bytes(),
            )))
        })?,
    )?;
    Ok(exports)
}
