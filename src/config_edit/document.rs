//! The parsed config file and its lossless edits.
//!
//! full_moon gives the structure and byte offsets; edits splice the original text at
//! those offsets and re-parse, so bytes outside the edited statements can never
//! change (printing a mutated AST back would be lossless too, but building trivia
//! by hand is more code than splicing strings).

use super::{decode_lua_string, EditError, SectionId, Value};
use full_moon::ast::{self, Expression, Field, Prefix, Stmt, Suffix, Var};
use full_moon::node::Node;
use full_moon::tokenizer::{TokenReference, TokenType};
use full_moon::visitors::{Visit, Visitor};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One `VirtualHost`/`Component` block (or the global part) in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub id: SectionId,
    /// 1-based line of the header (1 for the global part).
    pub line: usize,
    /// Byte offset where the header starts (0 for the global part).
    pub start: usize,
    /// `VirtualHost "x" { ... }` / `Component "x" "muc" { ... }`: reported, not edited.
    pub table_form: bool,
}

/// Where [`Document::list_add`] puts a new item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPos {
    End,
    Start,
    /// Before this item (at the end when it is absent). If the new item is already
    /// present but after it, it is moved.
    Before(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The statement's value was replaced.
    Modified,
    /// A new statement was inserted (`prefix` + `after` + `suffix`).
    Inserted,
    /// A commented marker line (`before`) became the statement `after`.
    MarkerActivated,
    /// The statement `before` was removed (with `prefix`, after `anchor`).
    Removed,
    /// `item` was added to the list (possibly by activating a commented marker entry).
    ListAdded,
    /// `item` was removed from the list.
    ListRemoved,
}

/// One edit, with what is needed to undo it. `before`/`after` are the statement's
/// exact source text (they hold secrets for `app_secret`: store them like the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub section: SectionId,
    pub key: String,
    pub kind: ChangeKind,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Inserted/Removed: the bytes before the statement (line break and indentation).
    #[serde(default)]
    pub prefix: String,
    /// Inserted/Removed: the bytes after the statement (usually empty).
    #[serde(default)]
    pub suffix: String,
    /// Removed: the exact text from the preceding statement's start (or the
    /// section's, when none precedes it) to the removed bytes.
    #[serde(default)]
    pub anchor: Option<String>,
    /// Removed: which of the section's statement starts the anchor begins at (to
    /// tell identical statements apart).
    #[serde(default)]
    pub anchor_nth: Option<usize>,
    /// ListAdded/ListRemoved: the item.
    #[serde(default)]
    pub item: Option<Vec<u8>>,
}

impl Change {
    fn new(section: &SectionId, key: &str, kind: ChangeKind) -> Self {
        Change {
            section: section.clone(),
            key: key.to_string(),
            kind,
            before: None,
            after: None,
            prefix: String::new(),
            suffix: String::new(),
            anchor: None,
            anchor_nth: None,
            item: None,
        }
    }

    /// A one-line description with the value masked for secret keys.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            ChangeKind::Modified => "changed",
            ChangeKind::Inserted => "added",
            ChangeKind::MarkerActivated => "set in place of the commented marker",
            ChangeKind::Removed => "removed",
            ChangeKind::ListAdded => "item added",
            ChangeKind::ListRemoved => "item removed",
        };
        match &self.item {
            Some(item) => format!(
                "{}: {} {} {}",
                self.section,
                self.key,
                what,
                String::from_utf8_lossy(item)
            ),
            None => format!("{}: {} {}", self.section, self.key, what),
        }
    }
}

/// Result of [`revert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverted {
    pub text: String,
    /// Changes that could not be undone because the statement was edited since.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone)]
struct FieldInfo {
    range: Range<usize>,
    /// Separator byte offset and character.
    sep: Option<(usize, u8)>,
    /// The string literal's bytes, if the field is a positional string.
    item: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct TableInfo {
    open: usize,
    close: usize,
    fields: Vec<FieldInfo>,
}

#[derive(Debug, Clone)]
struct ExprInfo {
    range: Range<usize>,
    value: Value,
    table: Option<TableInfo>,
}

#[derive(Debug, Clone)]
enum Kind {
    Header {
        id: SectionId,
        table_form: bool,
    },
    Assign {
        key: String,
        expr: ExprInfo,
    },
    /// A multiple assignment or a block (`do`, `if`, loops) assigning these names:
    /// Prosody sees them, we do not edit them.
    Opaque {
        assigned: Vec<String>,
    },
    Other,
}

#[derive(Debug, Clone)]
struct StmtInfo {
    range: Range<usize>,
    /// End including a directly following `;`.
    end_semi: usize,
    kind: Kind,
}

#[derive(Debug, Clone)]
struct Block {
    id: SectionId,
    line: usize,
    start: usize,
    /// End of the block: where the next header starts (or the text's end).
    end: usize,
    table_form: bool,
    /// Index of the header statement (None for the global part).
    header: Option<usize>,
    /// Statement indices inside the block (header excluded).
    stmts: Vec<usize>,
}

/// A parsed Prosody config file that can be edited losslessly.
#[derive(Debug, Clone)]
pub struct Document {
    text: String,
    stmts: Vec<StmtInfo>,
    blocks: Vec<Block>,
    comments: Vec<Range<usize>>,
    changes: Vec<Change>,
}

impl std::fmt::Display for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parse the config as Lua; on failure, the first error with its position.
fn parse_lua(text: &str) -> Result<ast::Ast, EditError> {
    full_moon::parse_fallible(text, full_moon::LuaVersion::lua54())
        .into_result()
        .map_err(|errs| {
            let e = &errs[0];
            let (start, _) = e.range();
            EditError::Parse {
                line: start.line(),
                column: start.character(),
                message: e.error_message().to_string(),
            }
        })
}

/// Every statement with its span and what it is, a trailing `return` last.
fn statements(ast: &ast::Ast, text: &str) -> Vec<StmtInfo> {
    let mut stmts = Vec::new();
    for (stmt, semi) in ast.nodes().stmts_with_semicolon() {
        let Some(range) = span(stmt) else { continue };
        let end_semi = semi.as_ref().map_or(range.end, |s| tok_span(s).end);
        let kind = classify(stmt, text);
        stmts.push(StmtInfo {
            range,
            end_semi,
            kind,
        });
    }
    if let Some((last, semi)) = ast.nodes().last_stmt_with_semicolon() {
        if let Some(range) = span(last) {
            let end_semi = semi.as_ref().map_or(range.end, |s| tok_span(s).end);
            stmts.push(StmtInfo {
                range,
                end_semi,
                kind: Kind::Other,
            });
        }
    }
    stmts
}

/// The byte ranges of every comment, in file order.
fn comments(ast: &ast::Ast, text: &str) -> Vec<Range<usize>> {
    let mut comments = Vec::new();
    let mut collect = |t: &TokenReference| {
        for tr in t.leading_trivia().chain(t.trailing_trivia()) {
            if matches!(
                tr.token_type(),
                TokenType::SingleLineComment { .. } | TokenType::MultiLineComment { .. }
            ) {
                let (start, mut end) = (tr.start_position().bytes(), tr.end_position().bytes());
                // A `--` comment in a CRLF file ends with the `\r`; that belongs to
                // the line break.
                if text.as_bytes().get(end.wrapping_sub(1)) == Some(&b'\r') {
                    end -= 1;
                }
                comments.push(start..end);
            }
        }
    };
    for t in ast.nodes().tokens() {
        collect(t);
    }
    collect(ast.eof());
    comments.sort_by_key(|r| r.start);
    comments
}

/// The sections in file order: the global part, then a block per header (and the
/// global part again after a table-form header).
fn blocks(stmts: &[StmtInfo], text: &str) -> Vec<Block> {
    let block = |id: SectionId, start: usize, table_form: bool, header: Option<usize>| Block {
        id,
        line: line_of(text, start),
        start,
        end: text.len(),
        table_form,
        header,
        stmts: Vec::new(),
    };
    let mut blocks = vec![block(SectionId::Global, 0, false, None)];
    for (i, s) in stmts.iter().enumerate() {
        if let Kind::Header { id, table_form } = &s.kind {
            blocks.last_mut().unwrap().end = s.range.start;
            blocks.push(block(id.clone(), s.range.start, *table_form, Some(i)));
            if *table_form {
                // Applying the options table returns Prosody to the global part.
                blocks.last_mut().unwrap().end = s.end_semi;
                blocks.push(block(SectionId::Global, s.end_semi, false, None));
            }
        } else {
            blocks.last_mut().unwrap().stmts.push(i);
        }
    }
    blocks
}
fn span(node: &impl Node) -> Option<Range<usize>> {
    Some(node.start_position()?.bytes()..node.end_position()?.bytes())
}

fn tok_span(t: &TokenReference) -> Range<usize> {
    t.token().start_position().bytes()..t.token().end_position().bytes()
}

impl Document {
    /// Parse a config file. Refuses a UTF-8 BOM and text that is not valid Lua 5.4.
    pub fn parse(text: &str) -> Result<Document, EditError> {
        let mut doc = Document {
            text: String::new(),
            stmts: Vec::new(),
            blocks: Vec::new(),
            comments: Vec::new(),
            changes: Vec::new(),
        };
        doc.reparse(text.to_string())?;
        Ok(doc)
    }

    /// The current text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every edit made through this document so far, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Take the recorded changes out of the document.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Take `text` as the document: parse it, then index its statements, comments
    /// and sections.
    fn reparse(&mut self, text: String) -> Result<(), EditError> {
        if text.starts_with('\u{feff}') {
            return Err(EditError::Bom);
        }
        let ast = parse_lua(&text)?;
        self.stmts = statements(&ast, &text);
        self.comments = comments(&ast, &text);
        self.blocks = blocks(&self.stmts, &text);
        self.text = text;
        Ok(())
    }

    /// Sections in file order (the global part first, always present).
    pub fn sections(&self) -> Vec<SectionInfo> {
        self.blocks
            .iter()
            .map(|b| SectionInfo {
                id: b.id.clone(),
                line: b.line,
                start: b.start,
                table_form: b.table_form,
            })
            .collect()
    }

    /// Whether a section for this host exists (components match by name).
    pub fn has_section(&self, section: &SectionId) -> bool {
        self.blocks.iter().any(|b| b.id.same_host(section))
    }

    fn blocks_of<'a>(&'a self, section: &'a SectionId) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks.iter().filter(move |b| b.id.same_host(section))
    }

    /// The index of the last assignment of `key` in the section.
    fn find(&self, section: &SectionId, key: &str) -> Option<usize> {
        self.blocks_of(section)
            .flat_map(|b| b.stmts.iter().copied())
            .filter(|&i| matches!(&self.stmts[i].kind, Kind::Assign { key: k, .. } if k == key))
            .max()
    }

    fn assign(&self, i: usize) -> &ExprInfo {
        match &self.stmts[i].kind {
            Kind::Assign { expr, .. } => expr,
            _ => unreachable!("find() returns assignments only"),
        }
    }

    fn editable(&self, section: &SectionId) -> Result<(), EditError> {
        let mut any = false;
        for b in self.blocks_of(section) {
            any = true;
            if b.table_form {
                return Err(EditError::Unsupported {
                    line: b.line,
                    message: format!("{} uses the table form `{{ ... }}`", b.id),
                });
            }
        }
        if any {
            Ok(())
        } else {
            Err(EditError::NoSection(section.clone()))
        }
    }

    /// [`Self::editable`], and `key` is not also assigned where we cannot edit it.
    fn editable_key(&self, section: &SectionId, key: &str) -> Result<(), EditError> {
        self.editable(section)?;
        let opaque = self.blocks_of(section).flat_map(|b| b.stmts.iter().copied()).find(|&i| {
            matches!(&self.stmts[i].kind, Kind::Opaque { assigned } if assigned.iter().any(|a| a == key))
        });
        match opaque {
            Some(i) => Err(self.unsupported(
                i,
                format!("`{key}` is assigned in a multiple assignment or inside a block"),
            )),
            None => Ok(()),
        }
    }

    fn unsupported(&self, i: usize, message: String) -> EditError {
        EditError::Unsupported {
            line: line_of(&self.text, self.stmts[i].range.start),
            message,
        }
    }

    fn stmt_text(&self, i: usize) -> &str {
        &self.text[self.stmts[i].range.clone()]
    }

    /// The value of the last assignment of `key` in the section (None when absent).
    pub fn get(&self, section: &SectionId, key: &str) -> Option<Value> {
        self.find(section, key)
            .map(|i| self.assign(i).value.clone())
    }

    /// The 1-based line of the last assignment of `key` in the section.
    pub fn line_of(&self, section: &SectionId, key: &str) -> Option<usize> {
        self.find(section, key)
            .map(|i| line_of(&self.text, self.stmts[i].range.start))
    }

    /// Replace `range` with `with` and re-parse; on a parse failure nothing changes.
    fn splice(&mut self, range: Range<usize>, with: &str) -> Result<(), EditError> {
        let mut text = String::with_capacity(self.text.len() + with.len());
        text.push_str(&self.text[..range.start]);
        text.push_str(with);
        text.push_str(&self.text[range.end..]);
        let old = std::mem::take(&mut self.text);
        match self.reparse(text) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.reparse(old).expect("the previous text parsed");
                Err(e)
            }
        }
    }

    fn modifiable(&self, i: usize, key: &str) -> Result<(), EditError> {
        let expr = self.assign(i);
        if let Value::Other(src) = &expr.value {
            return Err(self.unsupported(
                i,
                format!("`{key}` is set by an expression ({src}), not a literal"),
            ));
        }
        Ok(())
    }

    /// Set `key` in the section. Returns whether the text changed.
    pub fn set(
        &mut self,
        section: &SectionId,
        key: &str,
        value: &Value,
    ) -> Result<bool, EditError> {
        self.editable_key(section, key)?;
        if let Some(i) = self.find(section, key) {
            if self.assign(i).value == *value {
                return Ok(false);
            }
            self.modifiable(i, key)?;
            let before = self.stmt_text(i).to_string();
            let stmt_start = self.stmts[i].range.start;
            let expr = self.assign(i).range.clone();
            self.splice(expr, &value.to_lua())?;
            let i = self.find(section, key).expect("still assigned");
            debug_assert_eq!(self.stmts[i].range.start, stmt_start);
            self.changes.push(Change {
                before: Some(before),
                after: Some(self.stmt_text(i).to_string()),
                ..Change::new(section, key, ChangeKind::Modified)
            });
            return Ok(true);
        }
        let stmt = format!("{key} = {}", value.to_lua());
        self.insert_stmt(section, key, stmt)?;
        Ok(true)
    }

    /// Where a new statement goes in the section: (offset, prefix, suffix).
    fn insertion_point(&self, section: &SectionId) -> (usize, String, String) {
        let block = self
            .blocks_of(section)
            .next()
            .expect("checked by editable()");
        let last_assign = block
            .stmts
            .iter()
            .copied()
            .filter(|&i| matches!(self.stmts[i].kind, Kind::Assign { .. }))
            .max();
        let nl = self.nl();
        let anchor = last_assign.or(block.header);
        let Some(anchor) = anchor else {
            // A global part without assignments: before the first header and the
            // comment lines directly above it, followed by a blank line.
            let Some(next) = self.blocks.get(1) else {
                let lead = if self.text.is_empty() || self.text.ends_with('\n') {
                    ""
                } else {
                    nl
                };
                return (self.text.len(), lead.to_string(), nl.to_string());
            };
            let mut pos = line_start(&self.text, next.start);
            while pos > 0 {
                let prev = line_start(&self.text, pos - 1);
                let line = self.text[prev..pos].trim();
                if line.starts_with("--") && !line.starts_with("--[") {
                    pos = prev;
                } else {
                    break;
                }
            }
            return (pos, String::new(), format!("{nl}{nl}"));
        };
        let s = &self.stmts[anchor];
        let mut indent = line_indent(&self.text, s.range.start).to_string();
        if last_assign.is_none() {
            indent.push_str("    ");
        }
        let eol = self.eol(s.end_semi);
        let code_follows = self
            .stmts
            .iter()
            .any(|o| o.range.start >= s.end_semi && o.range.start < eol);
        if code_follows {
            (s.end_semi, format!("{nl}{indent}"), nl.to_string())
        } else {
            (eol, format!("{nl}{indent}"), String::new())
        }
    }

    fn insert_stmt(
        &mut self,
        section: &SectionId,
        key: &str,
        stmt: String,
    ) -> Result<(), EditError> {
        let (pos, prefix, suffix) = self.insertion_point(section);
        self.splice(pos..pos, &format!("{prefix}{stmt}{suffix}"))?;
        self.changes.push(Change {
            after: Some(stmt),
            prefix,
            suffix,
            ..Change::new(section, key, ChangeKind::Inserted)
        });
        Ok(())
    }

    /// Remove every assignment of `key` in the section (with its line when it is
    /// alone on it). Returns whether the text changed.
    pub fn remove(&mut self, section: &SectionId, key: &str) -> Result<bool, EditError> {
        self.editable_key(section, key)?;
        let mut changed = false;
        while let Some(i) = self.find(section, key) {
            let (range, prefix, suffix) = self.removal_span(&self.stmts[i]);
            let (anchor, anchor_nth) = self.removal_anchor(section, i, range.start);
            let before = self.stmt_text(i).to_string();
            self.splice(range, "")?;
            self.changes.push(Change {
                before: Some(before),
                prefix,
                suffix,
                anchor,
                anchor_nth,
                ..Change::new(section, key, ChangeKind::Removed)
            });
            changed = true;
        }
        Ok(changed)
    }

    /// The bytes removing statement `s` takes: its whole line when it is alone on
    /// it, else the statement and its `;`; with the prefix and suffix to put back.
    fn removal_span(&self, s: &StmtInfo) -> (Range<usize>, String, String) {
        let ls = line_start(&self.text, s.range.start);
        let eol = self.eol(s.end_semi);
        let alone_before = self.text[ls..s.range.start].trim().is_empty();
        let rest = self.text[s.end_semi..eol].trim();
        let alone_after = rest.is_empty()
            || (rest.starts_with("--")
                && !self
                    .stmts
                    .iter()
                    .any(|o| o.range.start > s.end_semi && o.range.start < eol));
        if alone_before && alone_after && ls > 0 {
            (
                self.line_break_before(ls)..eol,
                self.text[self.line_break_before(ls)..s.range.start].to_string(),
                self.text[s.range.end..eol].to_string(),
            )
        } else if alone_before && alone_after {
            // On the first line: take the line break after it instead.
            let end = match &self.text.as_bytes()[eol..] {
                [b'\r', b'\n', ..] => eol + 2,
                [b'\n', ..] => eol + 1,
                _ => eol,
            };
            (
                0..end,
                self.text[..s.range.start].to_string(),
                self.text[s.range.end..end].to_string(),
            )
        } else {
            (
                s.range.start..s.end_semi,
                String::new(),
                self.text[s.range.end..s.end_semi].to_string(),
            )
        }
    }

    /// Where undo puts statement `i` back: the text from the preceding statement's
    /// start (or the block's) to `start`, and which anchor candidate that is.
    fn removal_anchor(
        &self,
        section: &SectionId,
        i: usize,
        start: usize,
    ) -> (Option<String>, Option<usize>) {
        let block = self
            .blocks_of(section)
            .find(|b| b.stmts.contains(&i))
            .unwrap();
        let prev = block
            .stmts
            .iter()
            .copied()
            .filter(|&j| j < i)
            .max()
            .or(block.header);
        let anchor_start = prev.map_or(block.start, |j| self.stmts[j].range.start);
        let anchor = Some(self.text[anchor_start..start].to_string());
        let anchor_nth = self
            .anchor_candidates(section)
            .iter()
            .position(|&p| p == anchor_start);
        (anchor, anchor_nth)
    }

    /// The comment ranges inside `range`.
    fn comments_in(&self, range: Range<usize>) -> Vec<Range<usize>> {
        self.comments
            .iter()
            .filter(|c| c.start >= range.start && c.end <= range.end)
            .cloned()
            .collect()
    }

    /// Replace a commented marker line in the section (a `--` comment whose text,
    /// whitespace removed, equals `marker` with whitespace removed, e.g.
    /// `app_id="example_app_id"`) by `key=<value>`, as the old jitsi-meet-tokens
    /// package did. Only when `key` is not assigned in the section. Returns whether it
    /// did; on false the caller falls back to [`Document::set`].
    pub fn activate_marker(
        &mut self,
        section: &SectionId,
        key: &str,
        marker: &str,
        value: &Value,
    ) -> Result<bool, EditError> {
        self.editable_key(section, key)?;
        if self.find(section, key).is_some() {
            return Ok(false);
        }
        let want: String = marker.chars().filter(|c| !c.is_whitespace()).collect();
        let ranges: Vec<Range<usize>> = self.blocks_of(section).map(|b| b.start..b.end).collect();
        let found = ranges.into_iter().find_map(|r| {
            self.comments_in(r).into_iter().find(|c| {
                let t = &self.text[c.clone()];
                let body: String = t
                    .strip_prefix("--")
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                !t.starts_with("--[") && body == want
            })
        });
        let Some(c) = found else { return Ok(false) };
        // Only a marker on a line of its own (nothing but indentation before it).
        let ls = line_start(&self.text, c.start);
        if !self.text[ls..c.start].trim().is_empty() {
            return Ok(false);
        }
        let marker_text = self.text[c.clone()].to_string();
        let stmt = format!("{key}={}", value.to_lua());
        let saved = self.clone();
        self.splice(c, &stmt)?;
        if self.get(section, key).as_ref() != Some(value) {
            *self = saved;
            return Ok(false);
        }
        self.changes.push(Change {
            before: Some(marker_text),
            after: Some(stmt),
            ..Change::new(section, key, ChangeKind::MarkerActivated)
        });
        Ok(true)
    }

    /// The list value of `key`, or an error when it is set to something else.
    fn list_of(&self, section: &SectionId, key: &str) -> Result<Option<usize>, EditError> {
        let Some(i) = self.find(section, key) else {
            return Ok(None);
        };
        self.modifiable(i, key)?;
        let expr = self.assign(i);
        match (&expr.value, &expr.table) {
            (Value::List(_), Some(_)) => Ok(Some(i)),
            _ => Err(self.unsupported(i, format!("`{key}` is not a list of strings"))),
        }
    }

    /// Fail (with the line) if `key` in the section could not be edited: the section
    /// uses the table form, or the value is not a literal (with `list`: not a list of
    /// strings). Lets a caller refuse before making any change.
    pub fn check_editable(
        &self,
        section: &SectionId,
        key: &str,
        list: bool,
    ) -> Result<(), EditError> {
        self.editable_key(section, key)?;
        if list {
            self.list_of(section, key)?;
        } else if let Some(i) = self.find(section, key) {
            self.modifiable(i, key)?;
        }
        Ok(())
    }

    /// Whether the list `key` holds `item` (false when absent or not a list).
    pub fn list_contains(&self, section: &SectionId, key: &str, item: &[u8]) -> bool {
        matches!(self.get(section, key), Some(Value::List(l)) if l.iter().any(|x| x == item))
    }

    /// Add `item` to the list `key` (creating `key = { item }` when absent). A
    /// commented entry for it inside the table (Jitsi's `--"token_verification";`)
    /// is activated instead of adding a new line. Returns whether the text changed.
    pub fn list_add(
        &mut self,
        section: &SectionId,
        key: &str,
        item: &[u8],
        pos: ListPos,
    ) -> Result<bool, EditError> {
        self.editable_key(section, key)?;
        let Some(i) = self.list_of(section, key)? else {
            let stmt = format!("{key} = {}", Value::List(vec![item.to_vec()]).to_lua());
            self.insert_stmt(section, key, stmt)?;
            return Ok(true);
        };
        let items = match &self.assign(i).value {
            Value::List(l) => l.clone(),
            _ => unreachable!(),
        };
        let before_idx = match &pos {
            ListPos::Before(other) => items.iter().position(|x| x == other),
            _ => None,
        };
        if let Some(at) = items.iter().position(|x| x == item) {
            match before_idx {
                Some(b) if at > b => {
                    // Present but behind: move it (recorded as one change).
                    let before = self.stmt_text(i).to_string();
                    let n = self.changes.len();
                    self.list_remove(section, key, item)?;
                    self.list_add(section, key, item, pos)?;
                    self.changes.truncate(n);
                    self.record_list_change(section, key, item, before, ChangeKind::ListAdded);
                    return Ok(true);
                }
                _ => return Ok(false),
            }
        }
        let before = self.stmt_text(i).to_string();
        if !self.activate_list_marker(i, section, key, item)? {
            let (at, text) = self.list_insertion(i, item, &pos, before_idx);
            self.splice(at..at, &text)?;
        }
        self.record_list_change(section, key, item, before, ChangeKind::ListAdded);
        Ok(true)
    }

    fn record_list_change(
        &mut self,
        section: &SectionId,
        key: &str,
        item: &[u8],
        before: String,
        kind: ChangeKind,
    ) {
        let i = self.find(section, key).expect("the list is still assigned");
        self.changes.push(Change {
            before: Some(before),
            after: Some(self.stmt_text(i).to_string()),
            item: Some(item.to_vec()),
            ..Change::new(section, key, kind)
        });
    }

    /// Turn `--"item";` inside the table into `"item";`.
    fn activate_list_marker(
        &mut self,
        i: usize,
        section: &SectionId,
        key: &str,
        item: &[u8],
    ) -> Result<bool, EditError> {
        let table = self.assign(i).table.clone().unwrap();
        for c in self.comments_in(table.open..table.close) {
            let t = &self.text[c.clone()];
            if t.starts_with("--[") {
                continue;
            }
            let body = t[2..].trim();
            let lit = body.trim_end_matches([',', ';']).trim_end();
            if body.len() - lit.len() > 1 || decode_lua_string(lit).as_deref() != Some(item) {
                continue;
            }
            let body = body.to_string();
            let saved = self.clone();
            if self.splice(c, &body).is_ok() && self.list_contains(section, key, item) {
                return Ok(true);
            }
            *self = saved;
        }
        Ok(false)
    }

    /// Offset and text that add `item` to the table of statement `i`.
    fn list_insertion(
        &self,
        i: usize,
        item: &[u8],
        pos: &ListPos,
        before_idx: Option<usize>,
    ) -> (usize, String) {
        let table = self.assign(i).table.as_ref().unwrap();
        let lit = super::lua_string(item);
        let nl = self.nl();
        let multiline = self.text[table.open..table.close].contains('\n');
        let sep = table
            .fields
            .iter()
            .rev()
            .find_map(|f| f.sep.map(|s| s.1 as char))
            .unwrap_or(',');
        let target = match pos {
            ListPos::End => None,
            ListPos::Start => table.fields.first(),
            ListPos::Before(_) => before_idx.map(|b| &table.fields[b]),
        };
        if let Some(f) = target {
            let ls = line_start(&self.text, f.range.start);
            if multiline && self.text[ls..f.range.start].trim().is_empty() {
                let indent = &self.text[ls..f.range.start];
                return (f.range.start, format!("{lit}{sep}{nl}{indent}"));
            }
            return (f.range.start, format!("{lit}{sep} "));
        }
        let Some(last) = table.fields.last() else {
            if multiline {
                let indent = line_indent(&self.text, self.stmts[i].range.start);
                return (table.open + 1, format!("{nl}{indent}    {lit}{sep}"));
            }
            // `{}` or `{ }`: the new text goes right after `{`.
            let inner = &self.text[table.open + 1..table.close];
            return if inner.is_empty() {
                (table.open + 1, format!(" {lit} "))
            } else {
                (table.open + 1, format!(" {lit}"))
            };
        };
        let after_last = last.sep.map_or(last.range.end, |(o, _)| o + 1);
        if multiline {
            let eol = self.eol(after_last);
            let indent = line_indent(&self.text, last.range.start);
            if last.sep.is_some() {
                // Past a trailing comment, unless `}` is on the same line.
                let at = if eol < table.close { eol } else { after_last };
                return (at, format!("{nl}{indent}{lit}{sep}"));
            }
            return (last.range.end, format!("{sep}{nl}{indent}{lit}"));
        }
        match last.sep {
            Some(_) => (after_last, format!(" {lit}{sep}")),
            None => (last.range.end, format!("{sep} {lit}")),
        }
    }

    /// Remove every occurrence of `item` from the list `key`. Returns whether the
    /// text changed.
    pub fn list_remove(
        &mut self,
        section: &SectionId,
        key: &str,
        item: &[u8],
    ) -> Result<bool, EditError> {
        self.editable_key(section, key)?;
        let Some(i) = self.list_of(section, key)? else {
            return Ok(false);
        };
        let before = self.stmt_text(i).to_string();
        let mut changed = false;
        loop {
            let i = self.find(section, key).unwrap();
            let table = self.assign(i).table.clone().unwrap();
            let Some(k) = table
                .fields
                .iter()
                .position(|f| f.item.as_deref() == Some(item))
            else {
                break;
            };
            let f = &table.fields[k];
            let f_end = f.sep.map_or(f.range.end, |(o, _)| o + 1);
            let ls = line_start(&self.text, f.range.start);
            let eol = self.eol(f_end);
            let alone = self.text[ls..f.range.start].trim().is_empty()
                && ls > table.open
                && eol < table.close
                && {
                    let rest = self.text[f_end..eol].trim();
                    rest.is_empty() || (rest.starts_with("--") && !rest.starts_with("--["))
                }
                && f.sep.is_some();
            let range = if alone {
                self.line_break_before(ls)..eol
            } else if let Some(next) = table.fields.get(k + 1) {
                f.range.start..next.range.start
            } else if k > 0 {
                let prev = &table.fields[k - 1];
                if f.sep.is_some() {
                    prev.sep.map_or(prev.range.end, |(o, _)| o + 1)..f_end
                } else {
                    prev.range.end..f_end
                }
            } else {
                f.range.start..f_end
            };
            self.splice(range, "")?;
            changed = true;
        }
        if changed {
            self.record_list_change(section, key, item, before, ChangeKind::ListRemoved);
        }
        Ok(changed)
    }
}

impl Document {
    /// The file's line break style (CRLF when it uses any).
    fn nl(&self) -> &'static str {
        if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// Where the line holding `from` ends (before its `\n` or `\r\n`).
    fn eol(&self, from: usize) -> usize {
        match self.text[from..].find('\n') {
            Some(n) if n > 0 && self.text.as_bytes()[from + n - 1] == b'\r' => from + n - 1,
            Some(n) => from + n,
            None => self.text.len(),
        }
    }

    /// Start of the line break that ends the line before the one starting at `ls`.
    fn line_break_before(&self, ls: usize) -> usize {
        if ls >= 2 && &self.text[ls - 2..ls] == "\r\n" {
            ls - 2
        } else {
            ls - 1
        }
    }
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

fn line_indent(text: &str, offset: usize) -> &str {
    let ls = line_start(text, offset);
    let line = &text[ls..];
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    &text[ls..ls + n]
}

/// A string argument of a header call: `"x"` or `("x")`.
fn call_string(args: &ast::FunctionArgs, text: &str) -> Option<Option<String>> {
    let tok = match args {
        ast::FunctionArgs::String(t) => t,
        ast::FunctionArgs::Parentheses { arguments, .. } if arguments.len() == 1 => {
            match arguments.iter().next()? {
                Expression::String(t) => t,
                _ => return Some(None),
            }
        }
        _ => return None,
    };
    let bytes = decode_lua_string(&text[tok_span(tok)])?;
    Some(Some(String::from_utf8_lossy(&bytes).to_lowercase()))
}

fn classify(stmt: &Stmt, text: &str) -> Kind {
    match stmt {
        Stmt::FunctionCall(call) => classify_call(call, text),
        Stmt::Assignment(a) => classify_assignment(stmt, a, text),
        Stmt::Do(_)
        | Stmt::If(_)
        | Stmt::While(_)
        | Stmt::Repeat(_)
        | Stmt::NumericFor(_)
        | Stmt::GenericFor(_) => opaque(stmt, text),
        _ => Kind::Other,
    }
}

/// `VirtualHost "x"` / `Component "x" "muc"` (in any of Prosody's spellings) is a
/// section header; any other call is just a statement.
fn classify_call(call: &ast::FunctionCall, text: &str) -> Kind {
    let Prefix::Name(name) = call.prefix() else {
        return Kind::Other;
    };
    let name = &text[tok_span(name)];
    let is_host = matches!(name, "VirtualHost" | "Host" | "host");
    let is_comp = matches!(name, "Component" | "component");
    if !is_host && !is_comp {
        return Kind::Other;
    }
    let mut args = Vec::new();
    for s in call.suffixes() {
        match s {
            Suffix::Call(ast::Call::AnonymousCall(a)) => args.push(a.as_ref()),
            _ => return Kind::Other,
        }
    }
    let Some(first) = args.first() else {
        return Kind::Other;
    };
    let host = match call_string(first, text) {
        Some(Some(h)) => h,
        // A computed name: keep the header so sections stay right, but it
        // cannot match any host we look for.
        _ => format!("\0{}", &text[span(*first).unwrap_or(0..0)]),
    };
    let mut table_form = false;
    let mut kind = None;
    for a in &args[1..] {
        match call_string(a, text) {
            Some(Some(k)) if is_comp && kind.is_none() => kind = Some(k),
            _ => table_form = true,
        }
    }
    let id = if is_host {
        SectionId::VirtualHost { name: host }
    } else {
        SectionId::Component { name: host, kind }
    };
    Kind::Header { id, table_form }
}

/// `key = value`: an option; a multiple assignment is opaque (seen, not edited).
fn classify_assignment(stmt: &Stmt, a: &ast::Assignment, text: &str) -> Kind {
    let vars = a.variables();
    let exprs = a.expressions();
    let Some(Var::Name(name)) = vars.iter().next() else {
        return Kind::Other;
    };
    let Some(expr) = exprs.iter().next() else {
        return Kind::Other;
    };
    if vars.len() != 1 || exprs.len() != 1 {
        return opaque(stmt, text);
    }
    Kind::Assign {
        key: text[tok_span(name)].to_string(),
        expr: expr_info(expr, text),
    }
}

/// The global names a statement assigns anywhere inside it (function bodies
/// included, to be safe).
fn opaque(stmt: &Stmt, text: &str) -> Kind {
    struct Names<'a>(Vec<String>, &'a str);
    impl Visitor for Names<'_> {
        fn visit_assignment(&mut self, a: &ast::Assignment) {
            for v in a.variables() {
                if let Var::Name(n) = v {
                    self.0.push(self.1[tok_span(n)].to_string());
                }
            }
        }
    }
    let mut names = Names(Vec::new(), text);
    stmt.visit(&mut names);
    Kind::Opaque { assigned: names.0 }
}

fn expr_info(expr: &Expression, text: &str) -> ExprInfo {
    let range = span(expr).unwrap_or(0..0);
    let src = &text[range.clone()];
    let other = Value::Other(src.to_string());
    let mut table = None;
    let value = match expr {
        Expression::String(_) => decode_lua_string(src).map_or(other, Value::Str),
        Expression::Number(_) => parse_number(src).unwrap_or(other),
        Expression::UnaryOperator {
            unop: ast::UnOp::Minus(_),
            expression,
        } if matches!(**expression, Expression::Number(_)) => {
            match span(expression).and_then(|r| parse_number(&text[r])) {
                Some(Value::Int(i)) => i.checked_neg().map_or(other, Value::Int),
                Some(Value::Num(n)) => Value::Num(-n),
                _ => other,
            }
        }
        Expression::Symbol(_) => match src {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => other,
        },
        Expression::TableConstructor(t) => {
            let (open, close) = t.braces().tokens();
            let mut fields = Vec::new();
            let mut all_strings = true;
            for pair in t.fields().pairs() {
                let f = pair.value();
                let item = match f {
                    Field::NoKey(Expression::String(s)) => decode_lua_string(&text[tok_span(s)]),
                    _ => None,
                };
                all_strings &= item.is_some();
                fields.push(FieldInfo {
                    range: span(f).unwrap_or(0..0),
                    sep: pair.punctuation().map(|p| {
                        let r = tok_span(p);
                        (r.start, text.as_bytes()[r.start])
                    }),
                    item,
                });
            }
            let value = if all_strings {
                Value::List(fields.iter().map(|f| f.item.clone().unwrap()).collect())
            } else {
                other
            };
            table = Some(TableInfo {
                open: tok_span(open).start,
                close: tok_span(close).start,
                fields,
            });
            value
        }
        _ => other,
    };
    ExprInfo {
        range,
        value,
        table,
    }
}

/// A number literal: an integer, else a decimal float (Rust's float syntax is Lua's
/// decimal one; `inf`/`nan` are names in Lua, never number tokens).
fn parse_number(src: &str) -> Option<Value> {
    parse_int(src).map(Value::Int).or_else(|| {
        let decimal = src
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        decimal.then(|| src.parse().ok().map(Value::Num)).flatten()
    })
}

fn parse_int(src: &str) -> Option<i64> {
    if let Some(hex) = src.strip_prefix("0x").or_else(|| src.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    if src.bytes().all(|b| b.is_ascii_digit()) {
        return src.parse().ok();
    }
    None
}

/// Undo `changes` (recorded on some earlier text) on `text`, newest first. A change
/// whose statement no longer reads as we left it is skipped and reported; list
/// changes then fall back to removing/adding just their item.
pub fn revert(text: &str, changes: &[Change]) -> Result<Reverted, EditError> {
    let mut doc = Document::parse(text)?;
    let mut skipped = Vec::new();
    for c in changes.iter().rev() {
        if !doc.undo(c)? {
            skipped.push(c.describe());
        }
    }
    Ok(Reverted {
        text: doc.text,
        skipped,
    })
}

impl Document {
    fn current(&self, c: &Change) -> Option<usize> {
        self.find(&c.section, &c.key)
            .filter(|&i| Some(self.stmt_text(i)) == c.after.as_deref())
    }

    /// Where an anchor may start, in order: each block's start, its header, its
    /// statements.
    fn anchor_candidates(&self, section: &SectionId) -> Vec<usize> {
        self.blocks_of(section)
            .flat_map(|b| {
                std::iter::once(b.start).chain(
                    b.header
                        .iter()
                        .chain(&b.stmts)
                        .map(|&j| self.stmts[j].range.start),
                )
            })
            .collect()
    }

    /// Undo one recorded change: whether it could be undone.
    fn undo(&mut self, c: &Change) -> Result<bool, EditError> {
        match c.kind {
            ChangeKind::Modified
            | ChangeKind::MarkerActivated
            | ChangeKind::ListAdded
            | ChangeKind::ListRemoved => self.undo_modified(c),
            ChangeKind::Inserted => self.undo_inserted(c),
            ChangeKind::Removed => self.undo_removed(c),
        }
    }

    /// The statement back to its old text; when it has changed since, only the
    /// list item added or removed is taken back.
    fn undo_modified(&mut self, c: &Change) -> Result<bool, EditError> {
        if let Some(i) = self.current(c) {
            let r = self.stmts[i].range.clone();
            self.splice(r, c.before.as_deref().unwrap_or_default())?;
            return Ok(true);
        }
        let Some(item) = &c.item else {
            return Ok(false);
        };
        if self.editable(&c.section).is_err() {
            return Ok(false);
        }
        match c.kind {
            ChangeKind::ListAdded => self.list_remove(&c.section, &c.key, item).or(Ok(false)),
            _ => self
                .list_add(&c.section, &c.key, item, ListPos::End)
                .or(Ok(false)),
        }
    }

    /// The inserted statement goes, with the line break and indent it brought.
    fn undo_inserted(&mut self, c: &Change) -> Result<bool, EditError> {
        let Some(i) = self.current(c) else {
            return Ok(false);
        };
        let r = self.stmts[i].range.clone();
        let start = r.start.saturating_sub(c.prefix.len());
        let end = r.end + c.suffix.len();
        if end <= self.text.len()
            && self.text.get(start..r.start) == Some(c.prefix.as_str())
            && self.text.get(r.end..end) == Some(c.suffix.as_str())
        {
            self.splice(start..end, "")?;
        } else {
            let r = self.stmts[i].range.start..self.stmts[i].end_semi;
            self.splice(r, "")?;
        }
        Ok(true)
    }

    /// The removed statement comes back where it was, or at the section's end.
    fn undo_removed(&mut self, c: &Change) -> Result<bool, EditError> {
        let Some(before) = &c.before else {
            return Ok(false);
        };
        if self.editable(&c.section).is_err() {
            return Ok(false);
        }
        match self.removed_at(c) {
            Some(at) => {
                self.splice(at..at, &format!("{}{}{}", c.prefix, before, c.suffix))?;
            }
            None => {
                let (pos, prefix, suffix) = self.insertion_point(&c.section);
                self.splice(pos..pos, &format!("{prefix}{before}{suffix}"))?;
            }
        }
        Ok(true)
    }

    /// Where a removed statement's bytes were, found by its anchor.
    fn removed_at(&self, c: &Change) -> Option<usize> {
        // The anchor is the exact text from the preceding statement's start
        // to where the removed bytes were.
        let anchor = c.anchor.as_deref().unwrap_or_default();
        let cands = self.anchor_candidates(&c.section);
        let exact = c
            .anchor_nth
            .and_then(|n| cands.get(n).copied())
            .filter(|&st| self.text.get(st..st + anchor.len()) == Some(anchor))
            .map(|st| st + anchor.len());
        exact.or_else(|| {
            self.blocks_of(&c.section).find_map(|b| {
                let starts = b
                    .stmts
                    .iter()
                    .rev()
                    .chain(&b.header)
                    .map(|&j| self.stmts[j].range.start);
                starts
                    .chain([b.start])
                    .filter(|_| !anchor.is_empty())
                    .chain(anchor.is_empty().then_some(b.start))
                    .find(|&st| self.text.get(st..st + anchor.len()) == Some(anchor))
                    .map(|st| st + anchor.len())
            })
        })
    }
}
