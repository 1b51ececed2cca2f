//! `configure --from-docker-env FILE`: the token settings of a docker-jitsi-meet
//! installation, read from its `.env`, as [`Values`] and a secret, with a line for
//! each variable used or ignored (never the secret's value).
//!
//! The file is parsed the way docker compose reads `.env` files. Hand-written because
//! dotenvy (the maintained dotenv crate) refuses what compose accepts, e.g. an
//! unquoted value with spaces (`JWT_APP_ID=my app # comment`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::settings::{Secret, Values};

/// What a `.env` file gives `configure`.
#[derive(Debug, Default)]
pub struct DockerEnv {
    pub values: Values,
    pub secret: Option<Secret>,
    /// One line per variable used or ignored, for the report.
    pub notes: Vec<String>,
}

/// Variables docker-jitsi-meet documents for tokens that have no equivalent here.
const IGNORED: &[(&str, &str)] = &[
    (
        "JWT_ENABLE_DOMAIN_VERIFICATION",
        "domain verification is not an option of this installer",
    ),
    (
        "TOKEN_AUTH_URL",
        "a Jitsi Meet web setting (tokenAuthUrl in config.js), not Prosody's",
    ),
];

pub fn read(path: &Path) -> Result<DockerEnv> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (--from-docker-env)", path.display()))?;
    let vars = parse(&text).with_context(|| format!("{} (--from-docker-env)", path.display()))?;
    map(&vars)
}

fn map(vars: &BTreeMap<String, String>) -> Result<DockerEnv> {
    let mut d = DockerEnv::default();
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (name, value) in vars {
        let v = value.clone();
        let setting = match name.as_str() {
            "JWT_APP_ID" => {
                d.values.app_id = Some(v);
                "app_id"
            }
            "JWT_APP_SECRET" => {
                d.secret = Some(Secret(v.into_bytes()));
                "app_secret"
            }
            "JWT_ACCEPTED_ISSUERS" => {
                d.values.issuers = Some(list(&v));
                "asap_accepted_issuers"
            }
            "JWT_ACCEPTED_AUDIENCES" => {
                d.values.audiences = Some(list(&v));
                "asap_accepted_audiences"
            }
            "JWT_ASAP_KEYSERVER" => {
                d.values.asap_key_server = Some(v);
                "asap_key_server"
            }
            "JWT_ALLOW_EMPTY" => {
                d.values.allow_empty_token = Some(boolean(name, &v)?);
                "allow_empty_token"
            }
            "JWT_SIGN_TYPE" => {
                d.values.signature_algorithm = Some(v);
                "signature_algorithm"
            }
            "XMPP_DOMAIN" => {
                d.values.domain = Some(v);
                "the domain"
            }
            // Read together below: one decides whether, the other which.
            "ENABLE_GUESTS" | "XMPP_GUEST_DOMAIN" => continue,
            _ => {
                if let Some((_, why)) = IGNORED.iter().find(|(n, _)| n == name) {
                    d.notes.push(format!("{name}: ignored: {why}"));
                } else if name.starts_with("JWT_") {
                    d.notes.push(format!(
                        "{name}: ignored: not a token option this installer sets"
                    ));
                }
                continue;
            }
        };
        d.notes.push(format!("{name}: used as {setting}"));
    }
    guests(vars, &mut d)?;
    // An empty value in docker-jitsi-meet means "unset".
    if d.values.asap_key_server.as_deref() == Some("") {
        d.values.asap_key_server = None;
    }
    if d.secret.as_ref().is_some_and(|s| s.0.is_empty()) {
        d.secret = None;
    }
    Ok(d)
}

/// `ENABLE_GUESTS` turns the guest domain on (`XMPP_GUEST_DOMAIN`, by default
/// `guest.` and `XMPP_DOMAIN`, as docker-jitsi-meet names it) or off; without it
/// docker-jitsi-meet has no guests, and the guest domain is left as it is here.
fn guests(vars: &BTreeMap<String, String>, d: &mut DockerEnv) -> Result<()> {
    let named = vars
        .get("XMPP_GUEST_DOMAIN")
        .map(|g| g.trim())
        .filter(|g| !g.is_empty());
    let Some(enable) = vars.get("ENABLE_GUESTS") else {
        if named.is_some() {
            d.notes.push(
                "XMPP_GUEST_DOMAIN: ignored: ENABLE_GUESTS is not set, so docker-jitsi-meet \
                 has no guests (add ENABLE_GUESTS=1 for the guest domain)"
                    .into(),
            );
        }
        return Ok(());
    };
    if !boolean("ENABLE_GUESTS", enable)? {
        d.values.guest_domain = Some(String::new());
        d.notes
            .push("ENABLE_GUESTS: used as guest_domain (none: guests are off)".into());
        if named.is_some() {
            d.notes
                .push("XMPP_GUEST_DOMAIN: ignored: ENABLE_GUESTS turns guests off".into());
        }
        return Ok(());
    }
    let guest = match (named, d.values.domain.as_deref()) {
        (Some(g), _) => {
            crate::settings::check_host_name(g, "XMPP_GUEST_DOMAIN")?;
            d.notes
                .push("XMPP_GUEST_DOMAIN: used as guest_domain".into());
            g.to_owned()
        }
        (None, Some(domain)) if !domain.is_empty() => format!("guest.{domain}"),
        (None, _) => bail!(
            "ENABLE_GUESTS={enable} names no guest domain: set XMPP_GUEST_DOMAIN (or \
             XMPP_DOMAIN, for docker-jitsi-meet's guest.<XMPP_DOMAIN>) in the file, or drop \
             ENABLE_GUESTS and give --guest-domain"
        ),
    };
    d.notes
        .push(format!("ENABLE_GUESTS: used as guest_domain ({guest})"));
    d.values.guest_domain = Some(guest);
    Ok(())
}

/// docker-jitsi-meet writes booleans as `1`/`0` or `true`/`false`.
fn boolean(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "" => Ok(false),
        _ => bail!("{name}={v:?} is not a boolean (use 1 or 0, true or false)"),
    }
}

/// `KEY=VALUE` lines as compose reads them: `#` comment lines, an optional `export `,
/// single quotes literal, double quotes with `\` escapes (both may span lines),
/// unquoted values ending at ` #`, trimmed; `${VAR}`/`$VAR` (also `${VAR:-x}`,
/// `${VAR-x}`) interpolated outside single quotes from earlier lines, then the
/// process environment.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    let mut rest = text;
    let mut line_no = 1;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let start_line = line_no;
        line_no += 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            rest = after;
            continue;
        }
        let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let Some((key, value)) = body.split_once('=') else {
            bail!("line {start_line}: expected KEY=VALUE, found {line:?}");
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            bail!("line {start_line}: {key:?} is not a variable name");
        }
        let value = value.trim_start_matches([' ', '\t']);
        // The value may continue past this line when quoted: work on the whole rest.
        let offset = text.len() - rest.len() + (line.len() - value.len());
        let from_value = &text[offset..];
        let (parsed, consumed) = match value.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let (raw, used) = quoted(&from_value[1..], q)
                    .with_context(|| format!("line {start_line}: unterminated {q} quote"))?;
                let v = if q == '"' {
                    interpolate(&unescape(&raw), &vars)
                } else {
                    raw
                };
                (v, 1 + used)
            }
            _ => {
                let v = match value.find(" #").or(value.find("\t#")) {
                    Some(i) => &value[..i],
                    None => value,
                };
                (interpolate(v.trim_end(), &vars), value.len())
            }
        };
        // Skip to the end of the line the value ended on (a trailing comment).
        let end = &from_value[consumed..];
        line_no += from_value[..consumed].matches('\n').count();
        rest = end.split_once('\n').map_or("", |(_, a)| a);
        vars.insert(key.to_owned(), parsed);
    }
    Ok(vars)
}

/// The text up to the closing quote `q` (a `\`-escaped one does not close a double
/// quote) and how many bytes it took including that quote.
fn quoted(s: &str, q: char) -> Option<(String, usize)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if c == q && !escaped {
            return Some((s[..i].to_owned(), i + 1));
        }
        escaped = q == '"' && c == '\\' && !escaped;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            // `\$` stays escaped for interpolate(), which makes it a literal `$`.
            Some('$') => out.push_str("\\$"),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn interpolate(s: &str, vars: &BTreeMap<String, String>) -> String {
    let lookup = |name: &str| -> Option<String> {
        vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    };
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("\\$") {
            out.push('$');
            rest = t;
        } else if let Some(t) = tail.strip_prefix('\\') {
            out.push('\\');
            rest = t;
        } else if let Some(braced) = tail.strip_prefix("${") {
            let Some(close) = braced.find('}') else {
                out.push_str(tail);
                return out;
            };
            let expr = &braced[..close];
            let v = if let Some((name, default)) = expr.split_once(":-") {
                lookup(name)
                    .filter(|v| !v.is_empty())
                    .unwrap_or(default.to_owned())
            } else if let Some((name, default)) = expr.split_once('-') {
                lookup(name).unwrap_or(default.to_owned())
            } else {
                lookup(expr).unwrap_or_default()
            };
            out.push_str(&v);
            rest = &braced[close + 1..];
        } else {
            let t = &tail[1..];
            let n = t
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(t.len());
            if n == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&t[..n]).unwrap_or_default());
            }
            rest = &t[n..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_quoting_rules() {
        let text = "# comment\n\
            A=plain value # comment\n\
            B=\"dq \\\"q\\\" \\n nl # kept\" # dropped\n\
            C='sq \\n # lit $A'\n\
            D=x#y\n\
            export E=  spaced  \n\
            F=\"multi\nline\"\n\
            G='two\nlines ]]'\n\
            H=${A}-$D-${NOPE:-dflt}\n\
            I=\"cost \\$5\"\n";
        let v = parse(text).unwrap();
        let want = [
            ("A", "plain value"),
            ("B", "dq \"q\" \n nl # kept"),
            ("C", "sq \\n # lit $A"),
            ("D", "x#y"),
            ("E", "spaced"),
            ("F", "multi\nline"),
            ("G", "two\nlines ]]"),
            ("H", "plain value-x#y-dflt"),
            ("I", "cost $5"),
        ];
        for (k, val) in want {
            assert_eq!(v.get(k).map(String::as_str), Some(val), "{k}");
        }
        assert_eq!(v.len(), want.len());
    }

    #[test]
    fn bad_lines_name_their_number() {
        let e = parse("A=1\nnot a line\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("A=1\nB=\"open\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("unterminated"), "{e}");
    }
}
