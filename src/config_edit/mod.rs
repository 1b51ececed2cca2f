//! Lossless edits of Prosody's Lua config files through a real Lua parser (full_moon).
//!
//! # API (used by the installer)
//!
//! * [`Document::parse`] parses a config file (refuses a UTF-8 BOM and unparsable
//!   text with the line/column). The document keeps the original text; every edit
//!   splices only the bytes of the statements it changes and re-parses, so
//!   `doc.text()` is byte-identical to the input when nothing changed.
//! * [`Document::sections`] lists [`SectionId::Global`], [`SectionId::VirtualHost`],
//!   [`SectionId::Component`] blocks in file order. Prosody's rule: assignments after a
//!   `VirtualHost`/`Host`/`host` or `Component`/`component` header belong to it until
//!   the next header. Host names are compared lowercased (Prosody nameprep's them).
//!   The table form `VirtualHost "x" { ... }` is listed (`table_form = true`) but
//!   refused by every editing call ([`EditError::Unsupported`]).
//! * [`Document::get`] returns the literal value ([`Value`]) of the last assignment of a
//!   key in a section (last one wins, as in Prosody); a non-literal expression comes
//!   back as [`Value::Other`] and is never edited.
//! * [`Document::set`], [`Document::remove`], [`Document::list_contains`],
//!   [`Document::list_add`], [`Document::list_remove`] edit one option. Replacing a
//!   value keeps the trailing comment; a new option goes after the section's last
//!   assignment with its indentation; list edits keep the `,`/`;` separator style and
//!   one-line/multi-line layout; a file with CRLF line breaks keeps them. Every
//!   mutation appends a [`Change`] to [`Document::changes`].
//!   [`Document::activate_marker`] turns a commented marker line into the assignment;
//!   [`Document::check_editable`] refuses up front (with the original line).
//! * [`revert`] undoes a list of [`Change`]s (in reverse) on a later text: the original
//!   bytes come back exactly when nothing else changed; a change whose statement was
//!   edited since by someone else is skipped and reported.
//! * [`lua_string`] renders any byte string as a Lua string literal that reads back
//!   byte-identical in Lua 5.1–5.4; [`decode_lua_string`] is its inverse for any
//!   literal full_moon accepts.
//! * Domain layer: [`DesiredHost`] + [`apply_desired`] bring a host file to the desired
//!   state of installer.md (see `host.rs` for the exact marker handling) and return
//!   [`Edited`] `{ text, changes, warnings }`; a second apply on the result is a
//!   no-op. Errors name the line in the original text. [`Change`]s are serde types
//!   for the installer's state record; `before`/`after` hold statement text (so the
//!   secret, too): store them like the config itself, and show
//!   [`Change::describe`] (no values) in logs.
//!   [`render_host`] renders a complete host file from `templates/host.cfg.lua.hbs`
//!   (apply_desired on it is a no-op).
//! * [`Loader`] / [`prosody_loader_check`] load a config through Prosody's own
//!   `core.configmanager` with a real `lua5.4` and return every host's options
//!   ([`LoadedConfig`]); the installer's validation step and our test oracle.

mod document;
mod host;
mod loader;
mod lua_string;
mod render;
#[cfg(test)]
mod tests;

pub use document::{revert, Change, ChangeKind, Document, ListPos, Reverted, SectionInfo};
pub use host::{
    apply_desired, AuthMode, DesiredHost, Edited, ALLOWLIST, DEFAULT_JITSI_PLUGIN_DIR,
    DEFAULT_PLUGIN_DIR, MODERATORS_FROM_TOKEN,
};
pub use loader::{prosody_loader_check, Confine, LoadedConfig, LoadedValue, Loader};
pub use lua_string::{decode_lua_string, lua_string};
pub use render::{
    check_written_values, register_lua_helpers, render_guest_host, render_host,
    GUEST_HOST_TEMPLATE, HOST_TEMPLATE,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A section of a Prosody config file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SectionId {
    /// Statements before the first header (Prosody's `"*"`).
    Global,
    /// `VirtualHost "name"` (name lowercased).
    VirtualHost { name: String },
    /// `Component "name"` or `Component "name" "kind"` (name lowercased).
    Component { name: String, kind: Option<String> },
}

impl SectionId {
    pub fn virtual_host(name: &str) -> Self {
        SectionId::VirtualHost {
            name: name.to_lowercase(),
        }
    }
    /// A component matched by name only (any kind).
    pub fn component(name: &str) -> Self {
        SectionId::Component {
            name: name.to_lowercase(),
            kind: None,
        }
    }
    /// The host name Prosody uses (`"*"` for global).
    pub fn host_name(&self) -> &str {
        match self {
            SectionId::Global => "*",
            SectionId::VirtualHost { name } | SectionId::Component { name, .. } => name,
        }
    }
    /// Same host: globals match, hosts by name (a component's kind is ignored).
    pub fn same_host(&self, other: &SectionId) -> bool {
        match (self, other) {
            (SectionId::Global, SectionId::Global) => true,
            (SectionId::VirtualHost { name: a }, SectionId::VirtualHost { name: b }) => a == b,
            (SectionId::Component { name: a, .. }, SectionId::Component { name: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for SectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectionId::Global => write!(f, "global section"),
            SectionId::VirtualHost { name } => write!(f, "VirtualHost {name:?}"),
            SectionId::Component {
                name,
                kind: Some(k),
            } => write!(f, "Component {name:?} {k:?}"),
            SectionId::Component { name, kind: None } => write!(f, "Component {name:?}"),
        }
    }
}

/// A literal option value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A string literal (raw bytes after unescaping).
    Str(Vec<u8>),
    /// An integer literal (`30`, `0x1e`, `-1`).
    Int(i64),
    /// Any other decimal number literal (`30.0`, `-0.5`, `1e3`).
    Num(f64),
    Bool(bool),
    /// A table constructor holding only positional string literals.
    List(Vec<Vec<u8>>),
    /// Anything else (a hexadecimal float, a call, a concatenation, `ENV_X`, a keyed
    /// table, ...): its source text. Reported, never edited.
    Other(String),
}

impl Value {
    pub fn str(s: impl AsRef<[u8]>) -> Self {
        Value::Str(s.as_ref().to_vec())
    }
    pub fn list<S: AsRef<[u8]>>(items: impl IntoIterator<Item = S>) -> Self {
        Value::List(items.into_iter().map(|s| s.as_ref().to_vec()).collect())
    }
    /// The Lua source for this value (`Other` is returned as is).
    pub fn to_lua(&self) -> String {
        match self {
            Value::Str(s) => lua_string(s),
            Value::Int(i) => i.to_string(),
            // `{:?}` keeps the `.0` of a whole number: Lua reads it as a float again.
            Value::Num(n) => format!("{n:?}"),
            Value::Bool(b) => b.to_string(),
            Value::List(items) if items.is_empty() => "{}".to_string(),
            Value::List(items) => {
                let inner: Vec<String> = items.iter().map(lua_string).collect();
                format!("{{ {} }}", inner.join(", "))
            }
            Value::Other(src) => src.clone(),
        }
    }
}

/// Why a config could not be read or edited. Messages name the line where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The text starts with a UTF-8 byte order mark (Prosody refuses it too).
    Bom,
    /// Not valid Lua.
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    /// A construct we report instead of editing (table-form section, non-literal
    /// value, multiple assignment, ...).
    Unsupported { line: usize, message: String },
    /// The section to edit is not in the file.
    NoSection(SectionId),
    /// Running Prosody's loader failed or it rejected the config.
    Loader(String),
    /// Rendering a template failed.
    Template(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Bom => write!(
                f,
                "the file starts with a UTF-8 byte order mark, which Prosody cannot read; remove it"
            ),
            EditError::Parse {
                line,
                column,
                message,
            } => write!(
                f,
                "not valid Lua at line {line}, column {column}: {message}"
            ),
            EditError::Unsupported { line, message } => {
                write!(f, "line {line}: {message}; edit this by hand")
            }
            EditError::NoSection(s) => write!(f, "no {s} in the file"),
            EditError::Loader(m) => write!(f, "Prosody's config loader: {m}"),
            EditError::Template(m) => write!(f, "template: {m}"),
        }
    }
}

impl std::error::Error for EditError {}
