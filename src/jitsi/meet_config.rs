//! `hosts.anonymousdomain` in Jitsi Meet's web config `/etc/jitsi/meet/<domain>-config.js`.
//!
//! Jitsi's file declares `var config = { hosts: { domain: '...', // anonymousdomain: '...', ... } }`.
//! Setting the guest domain activates that commented line in place (its indentation and
//! spacing kept, only the value replaced); reverting restores the recorded text when the
//! file is still exactly what the edit produced, else re-comments the line.

use oxc_allocator::Allocator;
use oxc_ast::ast::CommentKind;
use oxc_ast::ast::{
    BindingPatternKind, Expression, ObjectExpression, ObjectPropertyKind, PropertyKind, Statement,
};
use oxc_parser::Parser;
use oxc_span::{SourceType, Span};

use super::ShapeError;

const KEY: &str = "anonymousdomain";

/// The web config's path under a root, for the main domain.
pub fn path(domain: &str) -> String {
    format!("etc/jitsi/meet/{domain}-config.js")
}

/// Where `hosts.anonymousdomain` is, in byte offsets of the text.
#[derive(Debug, PartialEq, Eq)]
enum GuestDomain {
    /// `anonymousdomain: '<current>'`: the property and its value literal.
    Active {
        property: Span,
        value: Span,
        current: String,
    },
    /// `// anonymousdomain: '...'`: the comment, and the property text it holds
    /// with the value at `value` (offsets into `property`).
    Commented {
        comment: Span,
        property: String,
        value: (usize, usize),
    },
    /// Neither: a new property goes at `at`, as `line` (prefix, suffix).
    Absent {
        at: usize,
        prefix: String,
        suffix: String,
    },
}

fn shape(reason: impl Into<String>) -> ShapeError {
    ShapeError {
        file: "Jitsi Meet's config.js",
        reason: reason.into(),
        fix: "set hosts.anonymousdomain by hand, or restore the file Jitsi Meet installed",
    }
}

fn parse_error(errors: &[impl std::fmt::Display]) -> ShapeError {
    let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
    shape(format!("it is not valid JavaScript ({first})"))
}

/// A property's name when it is a plain `name: value` entry; spreads, methods,
/// getters and computed keys could hide any name, so they are refused.
fn entries<'a, 'b>(
    object: &'b ObjectExpression<'a>,
    what: &str,
) -> Result<Vec<(String, &'b oxc_ast::ast::ObjectProperty<'a>)>, ShapeError> {
    object
        .properties
        .iter()
        .map(|p| match p {
            ObjectPropertyKind::ObjectProperty(p)
                if p.kind == PropertyKind::Init && !p.method && !p.computed =>
            {
                p.key
                    .static_name()
                    .map(|n| (n.to_string(), &**p))
                    .ok_or_else(|| shape(format!("{what} has a property without a plain name")))
            }
            _ => Err(shape(format!(
                "{what} has a spread, method, accessor or computed property"
            ))),
        })
        .collect()
}

fn only<T>(found: Vec<T>, name: &str) -> Result<Option<T>, ShapeError> {
    match found.len() {
        0 | 1 => Ok(found.into_iter().next()),
        n => Err(shape(format!("{name} is set {n} times"))),
    }
}

fn locate(text: &str) -> Result<GuestDomain, ShapeError> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, text, SourceType::cjs()).parse();
    if parsed.panicked || !parsed.errors.is_empty() {
        return Err(parse_error(&parsed.errors));
    }
    let mut configs = Vec::new();
    for statement in &parsed.program.body {
        if let Statement::VariableDeclaration(declaration) = statement {
            for d in &declaration.declarations {
                if matches!(&d.id.kind, BindingPatternKind::BindingIdentifier(id) if id.name == "config")
                {
                    configs.push(d.init.as_ref());
                }
            }
        }
    }
    let config = match only(configs, "var config")? {
        Some(Some(Expression::ObjectExpression(o))) => o,
        Some(_) => return Err(shape("`config` is not declared as an object literal")),
        None => return Err(shape("it declares no `var config = { ... }`")),
    };
    let hosts = entries(config, "config")?
        .into_iter()
        .filter(|(n, _)| n == "hosts")
        .collect();
    let hosts = match only(hosts, "config.hosts")? {
        Some((_, p)) => match &p.value {
            Expression::ObjectExpression(o) => o,
            _ => return Err(shape("config.hosts is not an object literal")),
        },
        None => return Err(shape("config has no `hosts: { ... }`")),
    };
    let props = entries(hosts, "config.hosts")?;
    let active = props.iter().filter(|(n, _)| n == KEY).collect();
    if let Some((_, p)) = only(active, "hosts.anonymousdomain")? {
        return match &p.value {
            Expression::StringLiteral(s) => Ok(GuestDomain::Active {
                property: p.span,
                value: s.span,
                current: s.value.to_string(),
            }),
            _ => Err(shape("hosts.anonymousdomain is not a string literal")),
        };
    }
    let inside = |s: Span| {
        s.start > hosts.span.start
            && s.end < hosts.span.end
            && props
                .iter()
                .all(|(_, p)| s.end <= p.span.start || s.start >= p.span.end)
    };
    for c in parsed
        .program
        .comments
        .iter()
        .filter(|c| c.kind == CommentKind::Line && inside(c.span))
    {
        let body = &text[c.span.start as usize + 2..c.span.end as usize];
        if let Some((property, value)) = commented_property(body) {
            return Ok(GuestDomain::Commented {
                comment: c.span,
                property,
                value,
            });
        }
    }
    let first = props
        .first()
        .ok_or_else(|| shape("config.hosts is empty"))?
        .1
        .span
        .start as usize;
    let line_start = text[..first].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..first];
    Ok(if indent.chars().all(|c| c == ' ' || c == '\t') {
        GuestDomain::Absent {
            at: line_start,
            prefix: indent.to_string(),
            suffix: ",\n".into(),
        }
    } else {
        GuestDomain::Absent {
            at: first,
            prefix: String::new(),
            suffix: ", ".into(),
        }
    })
}

/// The text of a line comment's body when it is exactly one `anonymousdomain: '<string>'`
/// property (checked by parsing it as an object literal), from the key on, with the
/// value literal's offsets in it.
fn commented_property(body: &str) -> Option<(String, (usize, usize))> {
    let wrapped = format!("({{{body}\n}})");
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, &wrapped, SourceType::cjs()).parse();
    if parsed.panicked || !parsed.errors.is_empty() || !parsed.program.comments.is_empty() {
        return None;
    }
    let [Statement::ExpressionStatement(e)] = parsed.program.body.as_slice() else {
        return None;
    };
    let Expression::ParenthesizedExpression(p) = &e.expression else {
        return None;
    };
    let Expression::ObjectExpression(o) = &p.expression else {
        return None;
    };
    let props = entries(o, "").ok()?;
    let [(name, prop)] = props.as_slice() else {
        return None;
    };
    let Expression::StringLiteral(s) = &prop.value else {
        return None;
    };
    if name != KEY {
        return None;
    }
    let start = prop.span.start as usize;
    let rest = wrapped[prop.span.end as usize..]
        .trim_end_matches(['}', ')'])
        .trim_end();
    let property = format!("{}{rest}", &wrapped[start..prop.span.end as usize]);
    let value = (s.span.start as usize - start, s.span.end as usize - start);
    Some((property, value))
}

/// `s` as a single-quoted JavaScript string literal (the quoting Jitsi's file uses).
pub fn js_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn splice(text: &str, span: (usize, usize), with: &str) -> String {
    format!("{}{with}{}", &text[..span.0], &text[span.1..])
}

/// The guest domain `hosts.anonymousdomain` is set to, if it is set.
pub fn guest_domain(text: &str) -> Result<Option<String>, ShapeError> {
    Ok(match locate(text)? {
        GuestDomain::Active { current, .. } => Some(current),
        _ => None,
    })
}

/// `text` with `hosts.anonymousdomain` set to `guest` (unchanged when it already is).
pub fn set_guest_domain(text: &str, guest: &str) -> Result<String, ShapeError> {
    let literal = js_string(guest);
    let new = match locate(text)? {
        GuestDomain::Active { current, .. } if current == guest => return Ok(text.to_string()),
        GuestDomain::Active { value, .. } => {
            splice(text, (value.start as usize, value.end as usize), &literal)
        }
        GuestDomain::Commented {
            comment,
            property,
            value,
        } => {
            let mut line = splice(&property, value, &literal);
            if !line.ends_with(',') {
                line.push(',');
            }
            splice(text, (comment.start as usize, comment.end as usize), &line)
        }
        GuestDomain::Absent { at, prefix, suffix } => {
            splice(text, (at, at), &format!("{prefix}{KEY}: {literal}{suffix}"))
        }
    };
    // Our own output must read back as intended before anyone writes it.
    match guest_domain(&new) {
        Ok(Some(g)) if g == guest => Ok(new),
        other => Err(shape(format!(
            "the edited text did not read back as {guest:?} ({other:?})"
        ))),
    }
}

/// Undo [`set_guest_domain`]: `previous` (the text recorded before it) when `text` is
/// still exactly what setting `guest` on it produced; otherwise (edited since) the
/// active `anonymousdomain` property commented out again in place, the rest kept.
pub fn unset_guest_domain(text: &str, previous: &str, guest: &str) -> Result<String, ShapeError> {
    if set_guest_domain(previous, guest).is_ok_and(|t| t == text) {
        return Ok(previous.to_string());
    }
    let GuestDomain::Active { property, .. } = locate(text)? else {
        return Ok(text.to_string());
    };
    let (start, mut end) = (property.start as usize, property.end as usize);
    let after = &text[end..];
    let comma = after.len() - after.trim_start_matches([' ', '\t']).len();
    if after[comma..].starts_with(',') {
        end += comma + 1;
    }
    let rest_of_line = text[end..].split('\n').next().unwrap_or("");
    let commented = if rest_of_line.trim().is_empty() {
        format!("// {}", &text[start..end])
    } else {
        format!("/* {} */", &text[start..end])
    };
    let new = splice(text, (start, end), &commented);
    match guest_domain(&new) {
        Ok(None) => Ok(new),
        other => Err(shape(format!(
            "re-commenting anonymousdomain did not read back as unset ({other:?})"
        ))),
    }
}
