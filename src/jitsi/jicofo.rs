//! Jicofo's `/etc/jitsi/jicofo/jicofo.conf` (HOCON): token authentication and no
//! owner from Jicofo (`jicofo.authentication`, `jicofo.conference.enable-auto-owner`),
//! and the `trusted-domains` it already names (recorders to allowlist).
//!
//! HOCON crates parse to trees without byte positions, so the edit is placed from the
//! `hocon` crate's own lexer tokens (lines and columns) and its result checked with the
//! crate's parser: the tree after the edit must be the tree before plus exactly the
//! keys set. Keys already set to other values are reported, never overwritten.

use hocon::{tokenize, Config, Token, TokenKind};

use super::ShapeError;

pub const PATH: &str = "etc/jitsi/jicofo/jicofo.conf";

fn shape(reason: impl Into<String>) -> ShapeError {
    ShapeError {
        file: "Jicofo's jicofo.conf",
        reason: reason.into(),
        fix: "set jicofo.authentication and jicofo.conference.enable-auto-owner by hand",
    }
}

fn parse(text: &str) -> Result<Config, ShapeError> {
    hocon::parse(text).map_err(|e| shape(format!("it is not valid HOCON ({e})")))
}

/// The domains in `jicofo.xmpp.trusted-domains` (Jibri's hidden domain, typically).
pub fn trusted_domains(text: &str) -> Result<Vec<String>, ShapeError> {
    let Some(list) = parse(text)?.get_list_option("jicofo.xmpp.trusted-domains") else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|v| match v {
            hocon::HoconValue::Scalar(s) if s.value_type == hocon::ScalarType::String => {
                Ok(s.raw.clone())
            }
            _ => Err(shape(
                "jicofo.xmpp.trusted-domains holds something other than strings",
            )),
        })
        .collect()
}

/// Which of the two settings a run wants: token authentication (guests wait for a
/// token user), and no owner from Jicofo (moderators come from the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wanted {
    pub token_auth: bool,
    pub no_auto_owner: bool,
}

impl Wanted {
    pub fn any(self) -> bool {
        self.token_auth || self.no_auto_owner
    }
}

/// The keys set, in HOCON, for the main domain.
fn wanted(domain: &str, w: Wanted) -> Vec<(&'static str, &'static str, String)> {
    let quoted = serde_json::Value::String(domain.to_string()).to_string();
    let mut keys = Vec::new();
    if w.token_auth {
        keys.push(("authentication", "enabled", "true".into()));
        keys.push(("authentication", "type", "JWT".into()));
        keys.push(("authentication", "login-url", quoted));
    }
    if w.no_auto_owner {
        keys.push(("conference", "enable-auto-owner", "false".into()));
    }
    keys
}

/// Byte offset of a token from its 1-based line and (character) column.
fn offset(text: &str, line_starts: &[usize], t: &Token) -> usize {
    let start = line_starts[t.line - 1];
    text[start..]
        .char_indices()
        .nth(t.col - 1)
        .map_or(text.len(), |(i, _)| start + i)
}

/// `key { ... }` directly inside the tokens `range` (a block's inside, or the root):
/// the indices of its braces. Errors when the key opens more than one block.
fn block(
    tokens: &[Token],
    range: (usize, usize),
    key: &str,
) -> Result<Option<(usize, usize)>, ShapeError> {
    let mut found = None;
    let mut depth = 0usize;
    let mut i = range.0;
    while i < range.1 {
        let t = &tokens[i];
        match t.kind {
            TokenKind::LBrace | TokenKind::LBracket => depth += 1,
            TokenKind::RBrace | TokenKind::RBracket => depth = depth.saturating_sub(1),
            TokenKind::Unquoted | TokenKind::QuotedString if depth == 0 && t.value == key => {
                let mut j = i + 1;
                if matches!(tokens[j].kind, TokenKind::Equals | TokenKind::Colon) {
                    j += 1;
                }
                if tokens[j].kind == TokenKind::LBrace {
                    if found.is_some() {
                        return Err(shape(format!("{key} is written as more than one block")));
                    }
                    found = Some((j, matching(tokens, j)));
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(found)
}

fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            TokenKind::LBrace => depth += 1,
            TokenKind::RBrace => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

/// Indentation of the line a byte offset is on, when only blanks precede it there.
fn indent_before(text: &str, at: usize) -> Option<&str> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..at];
    indent
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then_some(indent)
}

/// `text` with the authentication and auto-owner keys set (unchanged when they are).
pub fn ensure_token_auth(text: &str, domain: &str) -> Result<String, ShapeError> {
    ensure(
        text,
        domain,
        Wanted {
            token_auth: true,
            no_auto_owner: true,
        },
    )
}

/// `text` with the keys `w` asks for set (unchanged when they are).
pub fn ensure(text: &str, domain: &str, w: Wanted) -> Result<String, ShapeError> {
    let before = parse(text)?;
    let wanted = wanted(domain, w);
    let mut missing: Vec<&(&str, &str, String)> = Vec::new();
    for w in &wanted {
        let path = format!("jicofo.{}.{}", w.0, w.1);
        match before.get(&path) {
            None => missing.push(w),
            Some(hocon::HoconValue::Scalar(s)) if hocon_equal(&s.raw, &w.2) => {}
            Some(other) => {
                return Err(shape(format!(
                    "{path} is already set to something else ({other:?})"
                )));
            }
        }
    }
    if missing.is_empty() {
        return Ok(text.to_string());
    }

    let tokens = tokenize(text).map_err(|e| shape(format!("it is not valid HOCON ({e})")))?;
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let root = (0, tokens.len());
    let jicofo =
        block(&tokens, root, "jicofo")?.ok_or_else(|| shape("it has no `jicofo { ... }` block"))?;
    // Offset -> text; sections that land on the same offset keep their order.
    let mut inserts: std::collections::BTreeMap<usize, String> = Default::default();
    for section in ["authentication", "conference"] {
        let keys: Vec<_> = missing.iter().filter(|w| w.0 == section).collect();
        if keys.is_empty() {
            continue;
        }
        let (parent, lines) = match block(&tokens, (jicofo.0 + 1, jicofo.1), section)? {
            Some(b) => (
                b,
                keys.iter()
                    .map(|w| format!("{} = {}", w.1, w.2))
                    .collect::<Vec<_>>(),
            ),
            None if before.get(&format!("jicofo.{section}")).is_some() => {
                return Err(shape(format!(
                    "jicofo.{section} is not written as a block inside jicofo {{ }}"
                )));
            }
            None => {
                let mut lines = vec![format!("{section} {{")];
                lines.extend(keys.iter().map(|w| format!("  {} = {}", w.1, w.2)));
                lines.push("}".into());
                (jicofo, lines)
            }
        };
        let close = offset(text, &line_starts, &tokens[parent.1]);
        let outer = indent_before(text, close).ok_or_else(|| {
            shape(format!(
                "the closing brace of the block for jicofo.{section} is not on its own line"
            ))
        })?;
        let inner = tokens[parent.0 + 1..parent.1]
            .iter()
            .find(|t| t.kind != TokenKind::Newline)
            .and_then(|t| indent_before(text, offset(text, &line_starts, t)))
            .filter(|i| i.len() > outer.len())
            .map_or_else(|| format!("{outer}  "), str::to_string);
        let at = close - outer.len();
        let block_text: String = lines.iter().map(|l| format!("{inner}{l}\n")).collect();
        inserts.entry(at).or_default().push_str(&block_text);
    }
    let mut new = text.to_string();
    for (at, s) in inserts.iter().rev() {
        new.insert_str(*at, s);
    }

    // The edit must add exactly the wanted keys and change nothing else.
    let after = parse(&new)?;
    let overlay: String = wanted
        .iter()
        .map(|w| format!("jicofo.{}.{} = {}\n", w.0, w.1, w.2))
        .collect();
    let expected = parse(&overlay)?.with_fallback(&before);
    if after != expected {
        return Err(shape(
            "the edited text did not parse to the intended settings",
        ));
    }
    Ok(new)
}

/// HOCON scalars compared as written without quotes (`"JWT"` equals `JWT`).
fn hocon_equal(raw: &str, wanted: &str) -> bool {
    raw == wanted.trim_matches('"')
}

/// Undo [`ensure_token_auth`]: `previous` (the text recorded before it) when `text` is
/// still exactly what the edit produced from it; an edited file is reported instead.
pub fn revert_token_auth(text: &str, previous: &str, domain: &str) -> Result<String, ShapeError> {
    match ensure_token_auth(previous, domain) {
        Ok(t) if t == text => Ok(previous.to_string()),
        _ => Err(ShapeError {
            file: "Jicofo's jicofo.conf",
            reason: "it changed since jitsi-meet-tokens edited it".into(),
            fix: "remove jicofo.authentication and jicofo.conference.enable-auto-owner by hand",
        }),
    }
}
