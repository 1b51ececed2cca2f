//! The room check on MUC join (tokens.md, "Room check on MUC join", rules 2 to 6):
//! whether a session with these claims may create or join a room. Prosody runs it
//! through the Lua module (`mod_token_verification`), `token verify` runs it for its
//! join preview: one rule, so the two cannot judge differently.
//!
//! Admins and `token_verification_allowlist` (rule 1) and the error stanza (rule 7)
//! are Prosody's business and stay in the plugin.

use serde_json::{Map, Value};

use crate::lua_pattern;
use crate::option_table::{Neutral, OptionError, Source};

/// Where rooms live: tokens.md's `muc_mapper_domain`, `muc_mapper_domain_prefix`
/// and `muc_mapper_domain_base`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MucMapper {
    pub domain: Option<String>,
    pub prefix: Option<String>,
    pub base: Option<String>,
}

impl MucMapper {
    pub const DEFAULT_PREFIX: &'static str = crate::option_table::DEFAULT_MUC_PREFIX;

    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(Self::DEFAULT_PREFIX)
    }

    /// `<prefix>.<domain>`: the MUC host that belongs to a main domain.
    pub fn component_of(&self, domain: &str) -> String {
        format!("{}.{domain}", self.prefix())
    }

    /// The MUC domain: `muc_mapper_domain`, else `<prefix>.<base>`; None when
    /// neither is set (the caller knows its fallback: Prosody the component itself).
    pub fn muc_domain(&self) -> Option<String> {
        self.domain
            .clone()
            .or_else(|| self.base.as_deref().map(|b| self.component_of(b)))
    }
}

/// The room check's options for one MUC component.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomRule {
    pub allow_empty_token: bool,
    pub domain_verification: bool,
    pub mapper: MucMapper,
    /// The MUC domain when the mapper names none: the component's own host.
    pub component: String,
    /// Jitsi's bounds for pattern rooms.
    pub regex_max_length: f64,
    pub regex_max_quantifiers: f64,
}

/// Lua's matcher backtracks: a claim whose cost bound (see [`lua_pattern::Shape`])
/// exceeds this for the room name is refused unmatched (a few milliseconds).
const REGEX_MAX_STEPS: f64 = 1e7;

/// A claim as the session holds it: only strings take part in comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimValue<'a> {
    Missing,
    Str(&'a str),
    /// Present but not a string (a number, a table): never equal to a room or host.
    Other,
}

impl<'a> ClaimValue<'a> {
    pub fn of(value: Option<&'a Value>) -> ClaimValue<'a> {
        match value {
            None | Some(Value::Null) => ClaimValue::Missing,
            Some(Value::String(s)) => ClaimValue::Str(s),
            Some(_) => ClaimValue::Other,
        }
    }

    fn as_str(self) -> Option<&'a str> {
        match self {
            ClaimValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The joining session's token, as far as the room check looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joiner<'a> {
    /// The session logged in with a token (`session.auth_token`).
    pub has_token: bool,
    /// `room` claim (`session.jitsi_meet_room`).
    pub room: ClaimValue<'a>,
    /// `sub` claim (`session.jitsi_meet_domain`).
    pub sub: ClaimValue<'a>,
    /// `context.room.regex` is `true` or `"true"`.
    pub regex: bool,
}

impl<'a> Joiner<'a> {
    /// A token's verified claims, as Prosody's session fields carry them.
    pub fn from_claims(claims: &'a Map<String, Value>) -> Joiner<'a> {
        let regex = claims
            .get("context")
            .and_then(|c| c.get("room"))
            .and_then(|r| r.get("regex"));
        Joiner {
            has_token: true,
            room: ClaimValue::of(claims.get("room")),
            sub: ClaimValue::of(claims.get("sub")),
            regex: matches!(regex, Some(Value::Bool(true)))
                || regex.and_then(Value::as_str) == Some("true"),
        }
    }
}

/// Why a join is refused: the `<CODE xmlns="http://jitsi.org/jitmeet"/>` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomCondition {
    InvalidRoomAddress,
    RoomMismatch,
    RoomNameDoesNotMatch,
    InvalidRegex,
    ServerMissingConfig,
}

impl RoomCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomCondition::InvalidRoomAddress => "invalid-room-address",
            RoomCondition::RoomMismatch => "room-mismatch",
            RoomCondition::RoomNameDoesNotMatch => "room-name-does-not-match",
            RoomCondition::InvalidRegex => "invalid-regex",
            RoomCondition::ServerMissingConfig => "server-missing-config",
        }
    }

    /// The stanza's `<text>`.
    pub fn text(self) -> &'static str {
        match self {
            RoomCondition::InvalidRoomAddress => "Invalid room address",
            RoomCondition::InvalidRegex => "Invalid room name pattern in token",
            RoomCondition::ServerMissingConfig => {
                "Server is missing configuration for tenant rooms"
            }
            RoomCondition::RoomMismatch | RoomCondition::RoomNameDoesNotMatch => {
                "Room and token mismatched"
            }
        }
    }
}

/// A refused join: the condition and, for logs and `token verify`, what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub condition: RoomCondition,
    pub detail: String,
}

fn deny(condition: RoomCondition, detail: String) -> Result<Allowed, Denial> {
    Err(Denial { condition, detail })
}

/// Why a join is allowed, for `token verify`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed(pub String);

impl RoomRule {
    /// The rule for `component` from the parent host's options (`get` answers one
    /// option by name, None when unset); a wrongly typed option is an error naming it.
    pub fn from_options(
        component: &str,
        get: impl Fn(&str) -> Option<Neutral>,
    ) -> Result<RoomRule, OptionError> {
        let o = Source::new(get);
        // Every room option has a fixed default or none; `unwrap_or_default` never
        // decides a value.
        Ok(RoomRule {
            allow_empty_token: o.boolean("allow_empty_token")?.unwrap_or_default(),
            domain_verification: o.boolean("enable_domain_verification")?.unwrap_or_default(),
            mapper: MucMapper {
                domain: o.string("muc_mapper_domain")?,
                prefix: o.string("muc_mapper_domain_prefix")?,
                base: o.string("muc_mapper_domain_base")?,
            },
            component: component.to_owned(),
            regex_max_length: f64::from(
                o.whole("token_regex_room_max_length")?.unwrap_or_default(),
            ),
            regex_max_quantifiers: f64::from(
                o.whole("token_regex_max_quantifiers")?.unwrap_or_default(),
            ),
        })
    }

    pub fn muc_domain(&self) -> String {
        self.mapper
            .muc_domain()
            .unwrap_or_else(|| self.component.clone())
    }

    /// May `joiner` create or join the room at `room_jid` (a bare room JID)?
    pub fn check(&self, room_jid: &str, joiner: &Joiner<'_>) -> Result<Allowed, Denial> {
        let bare = room_jid.split('/').next().unwrap_or_default();
        let node = match bare.split_once('@') {
            Some((node, _)) if !node.is_empty() => node,
            _ => {
                return deny(
                    RoomCondition::InvalidRoomAddress,
                    format!("{room_jid:?} has no room name"),
                )
            }
        };
        if !joiner.has_token && self.allow_empty_token {
            return Ok(Allowed("no token, and allow_empty_token = true".into()));
        }
        let claim = joiner.room.as_str();
        let room_claim = claim.map(str::to_ascii_lowercase);

        if !self.domain_verification {
            if let Some(c) = room_claim.as_deref() {
                if c != "*" && node != c && !node.ends_with(&format!("]{c}")) {
                    return deny(
                        RoomCondition::RoomMismatch,
                        format!("room claim {c:?} is not the room {node:?}"),
                    );
                }
            }
            return Ok(Allowed(format!(
                "room claim {} allows {node:?} (enable_domain_verification = false: sub not checked)",
                show_claim(joiner.room)
            )));
        }
        let Some(room_claim) = room_claim else {
            return deny(
                RoomCondition::RoomMismatch,
                not_a_string("room", joiner.room),
            );
        };

        let (tenant, room_name) = split_tenant(node);
        if room_claim != "*" {
            if joiner.regex {
                let pattern = claim.unwrap_or_default(); // used as written: %W is not %w
                match self.pattern_matches(room_name, pattern) {
                    Err(why) => {
                        return deny(
                            RoomCondition::InvalidRegex,
                            format!("room pattern {pattern:?} refused: {why}"),
                        )
                    }
                    Ok(false) => {
                        return deny(
                            RoomCondition::RoomNameDoesNotMatch,
                            format!("room pattern {pattern:?} does not match {room_name:?}"),
                        )
                    }
                    Ok(true) => {}
                }
            } else if room_name != room_claim {
                return deny(
                    RoomCondition::RoomNameDoesNotMatch,
                    format!("room claim {room_claim:?} is not the room {room_name:?}"),
                );
            }
        }

        let Some(sub) = joiner.sub.as_str().map(str::to_ascii_lowercase) else {
            return deny(RoomCondition::RoomMismatch, not_a_string("sub", joiner.sub));
        };
        let expected = match tenant {
            Some(tenant) => {
                if self.mapper.base.is_none() {
                    return deny(
                        RoomCondition::ServerMissingConfig,
                        format!("tenant room {room_jid:?}: muc_mapper_domain_base is not set"),
                    );
                }
                let owner = if sub == "*" { tenant } else { &sub };
                format!("[{owner}]{room_name}@{}", self.muc_domain())
            }
            None if sub == "*" => format!("{room_name}@{}", self.muc_domain()),
            None => format!("{room_name}@{}", self.mapper.component_of(&sub)),
        };
        if bare != expected {
            return deny(
                RoomCondition::RoomMismatch,
                format!("sub {sub:?} allows {expected:?}, not {bare:?}"),
            );
        }
        Ok(Allowed(format!(
            "room claim {} and sub {sub:?} allow {bare:?}",
            show_claim(joiner.room)
        )))
    }

    /// Whether the pattern covers the whole room name; Err says why the claim is
    /// refused unmatched (Jitsi's bounds, the cost bound, or Lua's own error).
    fn pattern_matches(&self, name: &str, pattern: &str) -> Result<bool, String> {
        if pattern.len() as f64 > self.regex_max_length {
            return Err("longer than token_regex_room_max_length".into());
        }
        let shape = lua_pattern::shape(pattern.as_bytes());
        if f64::from(shape.quantifiers) > self.regex_max_quantifiers {
            return Err("more than token_regex_max_quantifiers".into());
        }
        let cost = (name.len() as f64 + 1.0).powi(shape.variable as i32)
            * 2f64.powi(shape.optional as i32)
            * pattern.len() as f64;
        if cost > REGEX_MAX_STEPS {
            return Err("too costly to match against this room name".into());
        }
        lua_pattern::matches_whole(name.as_bytes(), pattern.as_bytes()).map_err(|e| e.0.into())
    }
}

/// `[tenant]room` → (Some(tenant), room); anything else is a plain room name.
fn split_tenant(node: &str) -> (Option<&str>, &str) {
    if let Some(rest) = node.strip_prefix('[') {
        if let Some((tenant, room)) = rest.split_once(']') {
            if !tenant.is_empty() && !room.is_empty() {
                return (Some(tenant), room);
            }
        }
    }
    (None, node)
}

/// Why a claim takes no part in the comparison.
fn not_a_string(name: &str, c: ClaimValue<'_>) -> String {
    match c {
        ClaimValue::Missing => format!("no {name} claim"),
        _ => format!("the {name} claim is not a string (Prosody compares strings only)"),
    }
}

fn show_claim(c: ClaimValue<'_>) -> String {
    match c {
        ClaimValue::Missing => "(missing)".into(),
        ClaimValue::Str(s) => format!("{s:?}"),
        ClaimValue::Other => "(not a string)".into(),
    }
}
