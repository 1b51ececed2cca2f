//! Lua string literals: writing any bytes safely and reading literals back.
//!
//! Hand-written because no crate does it: full_moon keeps a literal's source text
//! but does not unescape it, and we must compare an existing value with the desired
//! one byte for byte (idempotence) and write secrets that may hold any byte.

/// A double-quoted Lua string literal that reads back as exactly `bytes` in Lua
/// 5.1 to 5.4. Printable ASCII and valid UTF-8 stay readable; `"` `\` and line
/// breaks get their short escapes; every other control byte and every byte of
/// invalid UTF-8 becomes a three-digit decimal escape (`\ddd`, understood by all Lua
/// versions, and never merged with a following digit because it is always 3 long).
pub fn lua_string(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\{:03}", c as u32))
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{:03}", b));
        }
    }
    out.push('"');
    out
}

/// The bytes a Lua string literal (its full source: quotes or long brackets
/// included) stands for, following Lua 5.4's lexer. `None` when it is not a valid
/// literal.
pub fn decode_lua_string(src: &str) -> Option<Vec<u8>> {
    let b = src.as_bytes();
    match b.first()? {
        b'"' | b'\'' => decode_quoted(b),
        b'[' => decode_long(b),
        _ => None,
    }
}

fn decode_long(b: &[u8]) -> Option<Vec<u8>> {
    let level = b[1..].iter().take_while(|&&c| c == b'=').count();
    if b.get(1 + level) != Some(&b'[') {
        return None;
    }
    let close_len = level + 2;
    if b.len() < 2 + level + close_len {
        return None;
    }
    let body = &b[2 + level..b.len() - close_len];
    let close = &b[b.len() - close_len..];
    if close[0] != b']'
        || close[close_len - 1] != b']'
        || close[1..close_len - 1].iter().any(|&c| c != b'=')
    {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    // A line break right after the opening bracket is skipped.
    if let Some(n) = newline_len(body, 0) {
        i = n;
    }
    while i < body.len() {
        if let Some(n) = newline_len(body, i) {
            // Any newline sequence reads as "\n".
            out.push(b'\n');
            i += n;
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Length of the newline sequence at `i` (`\n`, `\r`, `\r\n` or `\n\r`), as Lua counts it.
fn newline_len(b: &[u8], i: usize) -> Option<usize> {
    let c = *b.get(i)?;
    if c != b'\n' && c != b'\r' {
        return None;
    }
    match b.get(i + 1) {
        Some(&d) if (d == b'\n' || d == b'\r') && d != c => Some(2),
        _ => Some(1),
    }
}

fn decode_quoted(b: &[u8]) -> Option<Vec<u8>> {
    let quote = b[0];
    if b.len() < 2 || b[b.len() - 1] != quote {
        return None;
    }
    let body = &b[1..b.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == quote || c == b'\n' || c == b'\r' {
            return None;
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let e = *body.get(i)?;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' | b'"' | b'\'' => out.push(e),
            b'\n' | b'\r' => {
                out.push(b'\n');
                i += newline_len(body, i)?;
                continue;
            }
            b'x' => {
                let h = body.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?);
                i += 3;
                continue;
            }
            b'z' => {
                i += 1;
                while i < body.len() && body[i].is_ascii_whitespace() {
                    i += 1;
                }
                continue;
            }
            b'u' => {
                if body.get(i + 1) != Some(&b'{') {
                    return None;
                }
                let end = i + 2 + body[i + 2..].iter().position(|&c| c == b'}')?;
                let hex = std::str::from_utf8(&body[i + 2..end]).ok()?;
                let cp = u32::from_str_radix(hex, 16).ok()?;
                if hex.is_empty() || cp > 0x7FFF_FFFF {
                    return None;
                }
                utf8_extended(cp, &mut out);
                i = end + 1;
                continue;
            }
            b'0'..=b'9' => {
                let digits = body[i..]
                    .iter()
                    .take(3)
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let v: u32 = std::str::from_utf8(&body[i..i + digits])
                    .ok()?
                    .parse()
                    .ok()?;
                out.push(u8::try_from(v).ok()?);
                i += digits;
                continue;
            }
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

/// Lua 5.4's `\u{}` encodes up to 2^31 with the original (up to 6 byte) UTF-8 scheme,
/// surrogates included, so `char::encode_utf8` cannot be used.
fn utf8_extended(cp: u32, out: &mut Vec<u8>) {
    if cp < 0x80 {
        out.push(cp as u8);
        return;
    }
    let mut tail = Vec::new();
    let mut x = cp;
    let mut max_first = 0x3f; // payload that still fits in the first byte
    loop {
        tail.push(0x80 | (x & 0x3f) as u8);
        x >>= 6;
        max_first >>= 1;
        if x <= max_first {
            break;
        }
    }
    let prefix = (!((1u32 << (7 - tail.len())) - 1) & 0xff) as u8;
    out.push(prefix | x as u8);
    out.extend(tail.iter().rev());
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn escapes_what_it_must() {
        assert_eq!(lua_string(b"a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(lua_string(b"\x001"), r#""\0001""#);
        assert_eq!(lua_string(b"]]&/"), r#""]]&/""#);
        assert_eq!(lua_string("é".as_bytes()), "\"é\"");
        assert_eq!(lua_string(b"\xff\xfe"), r#""\255\254""#);
    }

    #[test]
    fn decodes_all_forms() {
        assert_eq!(decode_lua_string(r#""a\"b""#).unwrap(), b"a\"b");
        assert_eq!(
            decode_lua_string("'x\\65\\x41\\u{e9}'").unwrap(),
            "xAAé".as_bytes()
        );
        assert_eq!(decode_lua_string("[==[\nq]]x]==]").unwrap(), b"q]]x");
        assert_eq!(decode_lua_string("\"a\\z  \n b\"").unwrap(), b"ab");
        assert_eq!(
            decode_lua_string("\"\\u{7FFFFFFF}\"").unwrap(),
            b"\xfd\xbf\xbf\xbf\xbf\xbf"
        );
        assert_eq!(decode_lua_string("\"\\u{D800}\"").unwrap(), b"\xed\xa0\x80");
        assert!(decode_lua_string("\"\\256\"").is_none());
        assert!(decode_lua_string("\"\\q\"").is_none());
        assert!(decode_lua_string("\"abc").is_none());
    }

    #[test]
    fn round_trip_bytes() {
        for s in [
            &b""[..],
            b"\x00\x7f\x80",
            "ß\u{2028}".as_bytes(),
            b"\\\\\"\"\r\n",
        ] {
            assert_eq!(decode_lua_string(&lua_string(s)).unwrap(), s);
        }
    }
}
