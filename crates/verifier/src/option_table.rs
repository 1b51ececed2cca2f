//! Every Prosody option this project reads, defined once: name, scope, kind, default,
//! meaning and reader. The verifier's [`Options`](crate::Options), the room rule, the
//! Lua module's `jt.read_options`, the installer's config reader and the README's
//! table are all built from [`OPTIONS`]; values reach them through
//! [`OptionSpec::convert`].

use std::fmt;

/// Where in Prosody's config an option is set (a host value overrides the global one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The VirtualHost (the MUC component reads these from its parent host).
    VirtualHost,
    /// The conference MUC component.
    Component,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::VirtualHost => "VirtualHost",
            Scope::Component => "Component",
        }
    }
}

/// The type an option's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean,
    /// UTF-8 text.
    String,
    /// A string taken as raw bytes (a secret).
    Bytes,
    /// A list of strings; a single string is a list of one (Prosody's `get_option_array`).
    Strings,
    /// A whole number of seconds.
    Seconds,
    /// A whole number of things.
    Count,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Boolean => "boolean",
            Kind::String => "string",
            Kind::Bytes => "bytes",
            Kind::Strings => "strings",
            Kind::Seconds => "seconds",
            Kind::Count => "count",
        }
    }

    /// The README's name for the kind.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Boolean => "boolean",
            Kind::String => "string",
            Kind::Bytes => "string (raw bytes)",
            Kind::Strings => "list of strings (or one string)",
            Kind::Seconds => "whole seconds",
            Kind::Count => "whole number",
        }
    }

    /// What a value of this kind must be, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Boolean => "true or false",
            Kind::String | Kind::Bytes => "a string",
            Kind::Strings => "a list of strings",
            Kind::Seconds => "a whole number of seconds from 0 to 4294967295",
            Kind::Count => "a whole number from 0 to 4294967295",
        }
    }
}

/// The Rust type of [`Kind::Seconds`] and [`Kind::Count`]: a Lua number that is a
/// whole number in this range is accepted, `30.0` included.
pub type Whole = u32;

/// Who reads an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The verifier ([`crate::Options`]).
    Verifier,
    /// `mod_auth_token` itself (key fetching, tokenless logins).
    AuthPlugin,
    /// The room check ([`crate::room::RoomRule`]).
    RoomRule,
    /// `mod_token_verification` itself.
    RoomPlugin,
}

impl Reader {
    pub const ALL: &'static [Reader] = &[
        Reader::Verifier,
        Reader::AuthPlugin,
        Reader::RoomRule,
        Reader::RoomPlugin,
    ];

    /// The name Lua passes to `jt.read_options`, and the README shows.
    pub fn key(self) -> &'static str {
        match self {
            Reader::Verifier => "verifier",
            Reader::AuthPlugin => "auth_plugin",
            Reader::RoomRule => "room_rule",
            Reader::RoomPlugin => "room_plugin",
        }
    }
}

/// An option's value when it is not set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// Unset stays unset (no such value).
    None,
    /// A host without it cannot work.
    Required,
    /// Worked out from other options by whoever reads it; the text says how.
    Derived(&'static str),
    Bool(bool),
    Str(&'static str),
    Strings(&'static [&'static str]),
    Whole(Whole),
}

/// One option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub scope: Scope,
    pub kind: Kind,
    pub default: Default,
    pub meaning: &'static str,
    pub readers: &'static [Reader],
}

const fn host(
    name: &'static str,
    kind: Kind,
    default: Default,
    readers: &'static [Reader],
    meaning: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        scope: Scope::VirtualHost,
        kind,
        default,
        meaning,
        readers,
    }
}

const fn component(
    name: &'static str,
    kind: Kind,
    default: Default,
    meaning: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        scope: Scope::Component,
        kind,
        default,
        meaning,
        readers: &[Reader::RoomPlugin],
    }
}

/// `muc_mapper_domain_prefix` when unset (a constant: [`crate::room::MucMapper`] needs it as `&str`).
pub const DEFAULT_MUC_PREFIX: &str = "conference";

/// Every option, in the order of tokens.md's tables.
#[rustfmt::skip]
pub const OPTIONS: &[OptionSpec] = {
    use Kind::*;
    use Reader::*;
    &[
        host("app_id", String, Default::Required, &[Verifier],
            "application id; `iss` must be it unless `asap_accepted_issuers` says otherwise"),
        host("app_secret", Bytes, Default::None, &[Verifier],
            "HMAC key (HS256...), the raw bytes of the string"),
        host("asap_key_server", String, Default::None, &[Verifier, AuthPlugin],
            "base URL of a key server; the key for `kid` is `<base>/<hex sha256(kid)>.pem`"),
        host("cache_keys_url", String, Default::None, &[Verifier, AuthPlugin],
            "URL of a JWKS or `{kid: certificate}` document, loaded at start and refreshed"),
        host("signature_algorithm", String,
            Default::Derived("RS256 with a key server or keys URL, else HS256"), &[Verifier],
            "the only accepted `alg`"),
        host("allow_empty_token", Boolean, Default::Bool(false), &[AuthPlugin, RoomRule],
            "a session without a token may log in and join rooms"),
        host("asap_accepted_issuers", Strings, Default::Derived("`{ app_id }`"), &[Verifier],
            "accepted `iss` values; `\"*\"` accepts any"),
        host("asap_accepted_audiences", Strings, Default::Strings(&["*"]), &[Verifier],
            "accepted `aud` values; `\"*\"` accepts any (`aud` must still be there)"),
        host("asap_require_room_claim", Boolean, Default::Bool(true), &[Verifier],
            "a token without `room` is refused"),
        host("enable_domain_verification", Boolean, Default::Bool(true), &[RoomRule],
            "check `sub`/tenant against the room address on MUC join"),
        host("muc_mapper_domain_base", String, Default::None, &[RoomRule],
            "the main domain; needed for tenant rooms"),
        host("muc_mapper_domain_prefix", String, Default::Str(DEFAULT_MUC_PREFIX), &[RoomRule],
            "the MUC component's first label"),
        host("muc_mapper_domain", String, Default::Derived("`<prefix>.<base>`, else the component"),
            &[RoomRule], "the MUC host"),
        host("jwt_pubkey_cache_size", Count, Default::Whole(crate::DEFAULT_KEY_CACHE_SIZE as Whole), &[AuthPlugin],
            "how many fetched public keys are kept"),
        host("token_clock_leeway", Seconds, Default::Whole(0), &[Verifier],
            "seconds of clock skew tolerated for `exp` and `nbf`"),
        host("token_require_typ", Boolean, Default::Bool(true), &[Verifier],
            "when false, a token without a `typ` header is accepted"),
        host("asap_key_cache_ttl", Seconds, Default::Whole(3600), &[AuthPlugin],
            "seconds a fetched key (or the keys URL's document) is used before it is fetched again"),
        host("asap_key_fetch_timeout", Seconds, Default::Whole(3), &[AuthPlugin],
            "seconds a login waits for the key server"),
        host("asap_key_failure_ttl", Seconds, Default::Whole(10), &[AuthPlugin],
            "seconds a failed key fetch is remembered (no new fetch for that `kid` meanwhile)"),
        host("token_regex_room_max_length", Count, Default::Whole(128), &[RoomRule],
            "longest room pattern (`context.room.regex`) in bytes"),
        host("token_regex_max_quantifiers", Count, Default::Whole(3), &[RoomRule],
            "most variable-length items in a room pattern"),
        component("token_verification_allowlist", Strings, Default::Strings(&[]),
            "domains or bare JIDs exempt from the room check"),
        component("token_verification_require_token_for_moderation", Boolean, Default::Bool(false),
            "room configuration changes need a session with a token"),
        component("token_verification_moderators_from_token", Boolean, Default::Bool(false),
            "the token's `context.user` decides owner or member on join"),
    ]
};

/// The option called `name`, if this project reads it.
pub fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// A value as a config gives it, before its kind is checked: what Lua values and
/// the installer's literal config values both map to.
#[derive(Debug, Clone, PartialEq)]
pub enum Neutral {
    Bool(bool),
    Str(Vec<u8>),
    Num(f64),
    List(Vec<Neutral>),
    /// Any other value, by its type name (`function`, `table`, ...).
    Other(&'static str),
}

impl Neutral {
    /// How an error shows it: numbers and booleans as written, never a string's
    /// content (it may be a secret).
    fn shown(&self) -> String {
        match self {
            Neutral::Bool(b) => b.to_string(),
            Neutral::Str(_) => "a string".into(),
            Neutral::Num(n) => n.to_string(),
            Neutral::List(_) => "a list".into(),
            Neutral::Other(t) => format!("a {t}"),
        }
    }
}

/// A string as Lua's `tonumber` reads it: decimal (with exponent) or `0x` hex, with
/// surrounding whitespace. Written here: Rust's float parser also takes "inf", "nan"
/// and "infinity", which `tonumber` does not.
fn lua_tonumber(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s)
        .ok()?
        .trim_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let n = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()? as f64
    } else {
        let plain = digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
        if digits.is_empty() || !plain {
            return None;
        }
        digits.parse::<f64>().ok()?
    };
    Some(if negative { -n } else { n })
}

/// A value of its option's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    Strings(Vec<String>),
    Whole(Whole),
}

/// A value that does not fit its option's kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` must be {expected}, not {got}")]
pub struct OptionError {
    pub name: &'static str,
    pub expected: &'static str,
    pub got: String,
}

impl OptionSpec {
    /// `value` checked against this option's kind.
    pub fn convert(&self, value: Neutral) -> Result<Typed, OptionError> {
        let fail = |got: String| OptionError {
            name: self.name,
            expected: self.kind.expected(),
            got,
        };
        let text = |b: Vec<u8>| {
            String::from_utf8(b).map_err(|_| fail("a string that is not UTF-8".into()))
        };
        // Prosody's getters (`get_option_boolean`, `get_option_number`), which Jitsi's
        // own modules read these options with, also take "true"/"false", 1/0 and
        // numbers written as strings: a config that works with them works here.
        let value = match (self.kind, value) {
            (Kind::Boolean, Neutral::Str(s)) if s == b"true" => Neutral::Bool(true),
            (Kind::Boolean, Neutral::Str(s)) if s == b"false" => Neutral::Bool(false),
            (Kind::Boolean, Neutral::Num(1.0)) => Neutral::Bool(true),
            (Kind::Boolean, Neutral::Num(0.0)) => Neutral::Bool(false),
            (Kind::Seconds | Kind::Count, Neutral::Str(s)) => match lua_tonumber(&s) {
                Some(n) => Neutral::Num(n),
                None => Neutral::Str(s),
            },
            (_, v) => v,
        };
        match (self.kind, value) {
            (Kind::Boolean, Neutral::Bool(b)) => Ok(Typed::Bool(b)),
            (Kind::String, Neutral::Str(s)) => text(s).map(Typed::Str),
            (Kind::Bytes, Neutral::Str(s)) => Ok(Typed::Bytes(s)),
            (Kind::Strings, Neutral::Str(s)) => Ok(Typed::Strings(vec![text(s)?])),
            (Kind::Strings, Neutral::List(items)) => items
                .into_iter()
                .map(|item| match item {
                    Neutral::Str(s) => text(s),
                    other => Err(fail(format!("a list holding {}", other.shown()))),
                })
                .collect::<Result<_, _>>()
                .map(Typed::Strings),
            // Lua numbers are floats or integers alike: `30.0` is 30.
            (Kind::Seconds | Kind::Count, Neutral::Num(n))
                if n.fract() == 0.0 && (0.0..=f64::from(Whole::MAX)).contains(&n) =>
            {
                Ok(Typed::Whole(n as Whole))
            }
            (_, other) => Err(fail(other.shown())),
        }
    }

    /// A config's value (None: unset) checked, or the fixed default.
    pub fn read(&self, value: Option<Neutral>) -> Result<Option<Typed>, OptionError> {
        match value {
            Some(v) => self.convert(v).map(Some),
            None => Ok(self.default_value()),
        }
    }

    /// The value when the option is unset, where it is a fixed one.
    pub fn default_value(&self) -> Option<Typed> {
        match self.default {
            Default::None | Default::Required | Default::Derived(_) => None,
            Default::Bool(b) => Some(Typed::Bool(b)),
            Default::Str(s) => Some(Typed::Str(s.into())),
            Default::Strings(l) => Some(Typed::Strings(l.iter().map(|s| (*s).into()).collect())),
            Default::Whole(n) => Some(Typed::Whole(n)),
        }
    }

    /// The default as the README's table shows it.
    pub fn default_text(&self) -> String {
        match self.default {
            Default::None => "none".into(),
            Default::Required => "required".into(),
            Default::Derived(how) => how.into(),
            Default::Bool(b) => format!("`{b}`"),
            Default::Str(s) => format!("`{s:?}`"),
            Default::Strings(l) => {
                let items: Vec<_> = l.iter().map(|s| format!("{s:?}")).collect();
                match items.is_empty() {
                    true => "`{}`".into(),
                    false => format!("`{{ {} }}`", items.join(", ")),
                }
            }
            Default::Whole(n) => format!("`{n}`"),
        }
    }
}

/// Options read through `get` (answers one option by name, None when unset); each
/// accessor checks the value against the table.
pub struct Source<G: Fn(&str) -> Option<Neutral>> {
    get: G,
    fill_defaults: bool,
}

macro_rules! accessor {
    ($fn:ident, $t:ty, $variant:ident, $kinds:pat) => {
        pub fn $fn(&self, name: &str) -> Result<Option<$t>, OptionError> {
            // Names and kinds are constants of this project: a miss is a bug, not input.
            let spec = spec(name)
                .filter(|o| matches!(o.kind, $kinds))
                .unwrap_or_else(|| panic!("{name} is not a {} option", stringify!($fn)));
            Ok(match self.typed(spec)? {
                Some(Typed::$variant(v)) => Some(v),
                _ => None,
            })
        }
    };
}

/// A given value (a flag, a settings file) of whole-number option `name`.
pub fn whole_value(name: &str, value: Neutral) -> Result<Whole, OptionError> {
    // A set value reads as Some: `unwrap_or_default` never decides here.
    Ok(Source::given(|_| Some(value.clone()))
        .whole(name)?
        .unwrap_or_default())
}

/// Nothing set: each accessor answers the option's fixed default.
pub fn defaults() -> Source<fn(&str) -> Option<Neutral>> {
    Source::new(|_| None)
}

impl<G: Fn(&str) -> Option<Neutral>> Source<G> {
    /// Options as Prosody reads them: an unset one is its fixed default.
    pub fn new(get: G) -> Self {
        Source {
            get,
            fill_defaults: true,
        }
    }

    /// Only the options given (a settings file, a flag): an unset one stays None.
    pub fn given(get: G) -> Self {
        Source {
            get,
            fill_defaults: false,
        }
    }

    accessor!(boolean, bool, Bool, Kind::Boolean);
    accessor!(string, String, Str, Kind::String);
    accessor!(bytes, Vec<u8>, Bytes, Kind::Bytes);
    accessor!(strings, Vec<String>, Strings, Kind::Strings);
    accessor!(whole, Whole, Whole, Kind::Seconds | Kind::Count);

    /// Any option, by its kind.
    pub fn typed(&self, spec: &OptionSpec) -> Result<Option<Typed>, OptionError> {
        let value = (self.get)(spec.name);
        match self.fill_defaults {
            true => spec.read(value),
            false => value.map(|v| spec.convert(v)).transpose(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The README's options table (markdown), one row per option.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| option | scope | type | default | read by | meaning |\n|---|---|---|---|---|---|\n",
    );
    for o in OPTIONS {
        let readers: Vec<_> = o.readers.iter().map(|r| r.key()).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            o.name,
            o.scope,
            o.kind.label(),
            o.default_text(),
            readers.join(", "),
            o.meaning
        ));
    }
    out
}
