//! Lua string patterns as `string.find` reads them (Lua 5.2 to 5.4 agree here), for
//! room claims with `context.room.regex`.
//!
//! Written here because nothing fits: the one Rust port (`lua-patterns`) has had no
//! release since 2021 and copies into the subject on back-references, the
//! regex-translating crate changes semantics (`%b`, `%f`, `-`, back-references), and
//! Lua itself cannot be linked into the CLI beside the module build (mlua's `module`
//! and `vendored` features exclude each other). Semantics, including which malformed
//! patterns raise an error only when the matcher reaches them, follow the reference
//! manual (§6.4.1); `tests/e2e/test_roomcheck_patterns.py` compares it with the real
//! `string.find` of lua5.4 on random patterns.

/// Why Lua would raise an error for this pattern and subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub &'static str);

/// Lua's recursion bound for the matcher ("pattern too complex").
const MAX_DEPTH: u32 = 200;
const MAX_CAPTURES: usize = 32;
const ESC: u8 = b'%';

#[derive(Clone, Copy)]
enum Capture {
    Unfinished(usize),
    Position,
    Closed(usize, usize),
}

struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    depth: u32,
    captures: Vec<Capture>,
}

type Step = Result<Option<usize>, PatternError>;

/// `string.find(subject, "^" .. pattern)` covering the whole subject: Ok(true) when
/// it does, Ok(false) when it does not, Err when Lua would raise an error. A leading
/// `^` of `pattern` is the anchor itself, as in Lua.
pub fn matches_whole(subject: &[u8], pattern: &[u8]) -> Result<bool, PatternError> {
    let start = usize::from(pattern.first() == Some(&b'^'));
    let mut m = Matcher {
        src: subject,
        pat: pattern,
        depth: MAX_DEPTH,
        captures: Vec::new(),
    };
    let end = m.do_match(0, start)?;
    if end.is_some()
        && m.captures
            .iter()
            .any(|c| matches!(c, Capture::Unfinished(_)))
    {
        return Err(PatternError("unfinished capture"));
    }
    Ok(end == Some(subject.len()))
}

/// A character class letter (`%a`, `%D`, ...) against one byte, C locale.
fn class_matches(c: u8, class: u8) -> bool {
    let res = match class.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        // C's isspace, which includes \v (Rust's is_ascii_whitespace does not).
        b's' => matches!(c, b' ' | b'\t'..=b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        _ => return class == c,
    };
    if class.is_ascii_uppercase() {
        !res
    } else {
        res
    }
}

impl Matcher<'_> {
    /// The pattern byte at `i`, 0 past the end (Lua strings end in a NUL).
    fn p(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    fn s(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    /// Index after the single-character class that starts at `p`.
    fn class_end(&self, p: usize) -> Result<usize, PatternError> {
        let mut p = p + 1;
        match self.pat[p - 1] {
            ESC => {
                if p >= self.pat.len() {
                    return Err(PatternError("malformed pattern (ends with '%')"));
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.p(p) == b'^' {
                    p += 1;
                }
                // The first member is always taken, so `[]]` is a set of `]`.
                loop {
                    if p >= self.pat.len() {
                        return Err(PatternError("malformed pattern (missing ']')"));
                    }
                    let c = self.pat[p];
                    p += 1;
                    if c == ESC && p < self.pat.len() {
                        p += 1;
                    }
                    if self.p(p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    /// `c` against the set `[...]` from `p` (the `[`) to `end` (the `]`).
    fn in_set(&self, c: u8, p: usize, end: usize) -> bool {
        let mut p = p;
        let mut found = true;
        if self.p(p + 1) == b'^' {
            found = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= end {
                return !found;
            }
            if self.pat[p] == ESC {
                p += 1;
                if class_matches(c, self.p(p)) {
                    return found;
                }
            } else if self.p(p + 1) == b'-' && p + 2 < end {
                p += 2;
                if self.pat[p - 2] <= c && c <= self.pat[p] {
                    return found;
                }
            } else if self.pat[p] == c {
                return found;
            }
        }
    }

    fn single(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else {
            return false;
        };
        match self.pat[p] {
            b'.' => true,
            ESC => class_matches(c, self.p(p + 1)),
            b'[' => self.in_set(c, p, ep - 1),
            other => other == c,
        }
    }

    fn do_match(&mut self, s: usize, p: usize) -> Step {
        if self.depth == 0 {
            return Err(PatternError("pattern too complex"));
        }
        self.depth -= 1;
        let result = self.match_here(s, p);
        self.depth += 1;
        result
    }

    fn match_here(&mut self, mut s: usize, mut p: usize) -> Step {
        loop {
            if p == self.pat.len() {
                return Ok(Some(s));
            }
            match (self.pat[p], self.p(p + 1)) {
                (b'(', b')') => return self.start_capture(s, p + 2, Capture::Position),
                (b'(', _) => return self.start_capture(s, p + 1, Capture::Unfinished(s)),
                (b')', _) => return self.end_capture(s, p + 1),
                (b'$', _) if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                (ESC, b'b') => match self.balance(s, p + 2)? {
                    Some(next) => {
                        s = next;
                        p += 4;
                    }
                    None => return Ok(None),
                },
                (ESC, b'f') => {
                    p += 2;
                    if self.p(p) != b'[' {
                        return Err(PatternError("missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.src[s - 1] };
                    if self.in_set(previous, p, ep - 1) || !self.in_set(self.s(s), p, ep - 1) {
                        return Ok(None);
                    }
                    p = ep;
                }
                (ESC, d) if d.is_ascii_digit() => match self.back_reference(s, d)? {
                    Some(next) => {
                        s = next;
                        p += 2;
                    }
                    None => return Ok(None),
                },
                _ => {
                    let ep = self.class_end(p)?;
                    let suffix = self.p(ep);
                    if !self.single(s, p, ep) {
                        if matches!(suffix, b'*' | b'?' | b'-') {
                            p = ep + 1;
                            continue;
                        }
                        return Ok(None);
                    }
                    match suffix {
                        b'?' => {
                            if let Some(end) = self.do_match(s + 1, ep + 1)? {
                                return Ok(Some(end));
                            }
                            p = ep + 1;
                        }
                        b'+' => return self.max_expand(s + 1, p, ep),
                        b'*' => return self.max_expand(s, p, ep),
                        b'-' => return self.min_expand(s, p, ep),
                        _ => {
                            s += 1;
                            p = ep;
                        }
                    }
                }
            }
        }
    }

    fn balance(&self, s: usize, p: usize) -> Step {
        if p + 1 >= self.pat.len() {
            return Err(PatternError(
                "malformed pattern (missing arguments to '%b')",
            ));
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if s >= self.src.len() || self.src[s] != open {
            return Ok(None);
        }
        let mut depth = 1;
        for (i, &c) in self.src.iter().enumerate().skip(s + 1) {
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        Ok(None)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Step {
        let mut i = 0;
        while self.single(s + i, p, ep) {
            i += 1;
        }
        loop {
            if let Some(end) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(end));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Step {
        loop {
            if let Some(end) = self.do_match(s, ep + 1)? {
                return Ok(Some(end));
            }
            if !self.single(s, p, ep) {
                return Ok(None);
            }
            s += 1;
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: Capture) -> Step {
        if self.captures.len() >= MAX_CAPTURES {
            return Err(PatternError("too many captures"));
        }
        self.captures.push(what);
        let end = self.do_match(s, p)?;
        if end.is_none() {
            self.captures.pop();
        }
        Ok(end)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Step {
        let Some(l) = self
            .captures
            .iter()
            .rposition(|c| matches!(c, Capture::Unfinished(_)))
        else {
            return Err(PatternError("invalid pattern capture"));
        };
        let Capture::Unfinished(start) = self.captures[l] else {
            unreachable!("found as unfinished")
        };
        self.captures[l] = Capture::Closed(start, s - start);
        let end = self.do_match(s, p)?;
        if end.is_none() {
            self.captures[l] = Capture::Unfinished(start);
        }
        Ok(end)
    }

    fn back_reference(&self, s: usize, digit: u8) -> Step {
        let l = usize::from(digit.wrapping_sub(b'1'));
        match self.captures.get(l) {
            Some(Capture::Closed(start, len)) => {
                let (start, len) = (*start, *len);
                let same = self.src.len() - s >= len
                    && self.src[start..start + len] == self.src[s..s + len];
                Ok(same.then_some(s + len))
            }
            // A position capture has no length: it never matches again.
            Some(Capture::Position) => Ok(None),
            _ => Err(PatternError("invalid capture index")),
        }
    }
}

/// How costly a pattern can be to match, from its shape: quantifiers (`*`, `+`, `-`,
/// `?`), variable-length items (`*`, `+`, `-`, `%b`, back-references) and optional
/// (`?`) items. Lua's matcher backtracks: k variable-length items can try about
/// (n+1)^k splits of an n-byte subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub quantifiers: u32,
    pub variable: u32,
    pub optional: u32,
}

/// Index after the set that opens at `i` (Lua's rule: the first member may be `]`);
/// past the end when unclosed, which the matcher then reports as malformed.
fn after_set(p: &[u8], i: usize) -> usize {
    let mut i = i + 1;
    if p.get(i) == Some(&b'^') {
        i += 1;
    }
    loop {
        if i >= p.len() {
            return i;
        }
        i += if p[i] == ESC { 2 } else { 1 };
        if p.get(i) == Some(&b']') {
            return i + 1;
        }
    }
}

pub fn shape(p: &[u8]) -> Shape {
    let mut shape = Shape {
        quantifiers: 0,
        variable: 0,
        optional: 0,
    };
    let mut i = usize::from(p.first() == Some(&b'^'));
    while i < p.len() {
        let mut single = true;
        match p[i] {
            ESC => match p.get(i + 1) {
                Some(b'b') => {
                    i += 4;
                    single = false;
                    shape.variable += 1;
                }
                Some(b'f') => {
                    i = after_set(p, i + 2);
                    single = false;
                }
                Some(d) if d.is_ascii_digit() => {
                    i += 2;
                    single = false;
                    shape.variable += 1;
                }
                _ => i += 2,
            },
            b'[' => i = after_set(p, i),
            b'(' | b')' => {
                i += 1;
                single = false;
            }
            b'$' if i + 1 == p.len() => {
                i += 1;
                single = false;
            }
            _ => i += 1,
        }
        if !single {
            continue;
        }
        match p.get(i) {
            Some(b'*' | b'+' | b'-') => {
                shape.quantifiers += 1;
                shape.variable += 1;
                i += 1;
            }
            Some(b'?') => {
                shape.quantifiers += 1;
                shape.optional += 1;
                i += 1;
            }
            _ => {}
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str, p: &str) -> Result<bool, PatternError> {
        matches_whole(s.as_bytes(), p.as_bytes())
    }

    #[test]
    fn lua_semantics() {
        assert_eq!(m("team-12", "team%-%d+"), Ok(true));
        assert_eq!(m("team-x", "team%-%d+"), Ok(false));
        assert_eq!(m("abc", "^abc"), Ok(true));
        assert_eq!(m("abc", "ab"), Ok(false), "the whole name");
        assert_eq!(m("a]", "[]]"), Ok(false));
        assert_eq!(
            m("]", "[]]"),
            Ok(true),
            "the first member of a set may be ]"
        );
        assert_eq!(m("x(a(b)c)", "x%b()"), Ok(true));
        assert_eq!(m("abab", "(ab)%1"), Ok(true));
        assert_eq!(m("abac", "(ab)%1"), Ok(false));
        assert_eq!(m("aaa", "a-$"), Ok(true));
        assert_eq!(m("THE", "%f[%a]%u+"), Ok(true));
        assert_eq!(m("\u{b}", "%s"), Ok(true), "C's isspace has \\v");
        assert_eq!(m("a.b", "a.b$"), Ok(true));
        assert_eq!(m("a$b", "a$b"), Ok(true), "$ is literal before the end");
        // Errors are raised only where the matcher gets to.
        assert_eq!(m("abc", "x%"), Ok(false));
        assert!(m("x", "x%").is_err());
        assert!(m("team-1", "team[").is_err());
        assert!(m("a", "(a").is_err(), "unfinished capture on success");
        assert_eq!(m("b", "(a"), Ok(false));
        assert!(m("a", "a)").is_err());
        assert!(m("a", "%1").is_err());
        assert!(m("a", "%f").is_err());
        assert!(m("ab", "a%b").is_err());
        assert!(
            m(&"a".repeat(300), &"a?".repeat(300)).is_err(),
            "too complex"
        );
    }

    #[test]
    fn shapes() {
        let s = shape(b"team%-%d+");
        assert_eq!((s.quantifiers, s.variable, s.optional), (1, 1, 0));
        let s = shape(b"^a*b?[x-z]+%b()%1$");
        assert_eq!((s.quantifiers, s.variable, s.optional), (3, 4, 1));
        let s = shape(b"%f[%w]x-");
        assert_eq!((s.quantifiers, s.variable, s.optional), (1, 1, 0));
    }
}
