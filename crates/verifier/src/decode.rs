//! Splitting and decoding a compact JWS (check 2 of the spec).

use std::cell::Cell;

use crate::json::{Nodes, Object, Root};
use crate::reason::Reason;
use crate::{Failure, Unverified};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// base64url as JWS uses it: no padding on output; on input padding is tolerated
/// (some hand-made issuers add it) but non-canonical trailing bits are not, so
/// every bit of the text matters.
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

thread_local! {
    static DECODES: Cell<u64> = const { Cell::new(0) };
}

/// How many tokens (or parts of one) this thread has base64-decoded: tests and
/// benchmarks prove with it that a login decodes its token once.
pub fn decodes() -> u64 {
    DECODES.with(Cell::get)
}

fn count_decode() {
    DECODES.with(|d| d.set(d.get() + 1));
}

/// A token split into its base64url-decoded parts, all in one buffer; the first
/// `signing_len` bytes of the token are the text the signature covers. Owns no
/// borrow of the token, so a pending verification can keep it. The JSON parts
/// are parsed by the caller, header first (the spec's order of failures).
pub(crate) struct Decoded {
    bytes: Vec<u8>,
    signing_len: usize,
    header_end: usize,
    claims_end: usize,
}

impl Decoded {
    pub fn signing_input<'t>(&self, token: &'t [u8]) -> &'t [u8] {
        &token[..self.signing_len]
    }

    pub fn header_json(&self) -> &[u8] {
        &self.bytes[..self.header_end]
    }

    pub fn claims_json(&self) -> &[u8] {
        &self.bytes[self.header_end..self.claims_end]
    }

    pub fn signature(&self) -> &[u8] {
        &self.bytes[self.claims_end..]
    }

    /// Header and claims parsed into `nodes`; "Invalid header" / "Invalid body"
    /// when one is not a JSON object (the latter with the header's `kid`).
    pub fn parse<'n>(&'n self, nodes: &mut Nodes<'n>) -> Result<(Root, Root), Failure> {
        let header = nodes
            .parse_object(self.header_json())
            .ok_or_else(|| Failure::new(Reason::InvalidHeader))?;
        let Some(claims) = nodes.parse_object(self.claims_json()) else {
            let mut f = Failure::new(Reason::InvalidBody);
            f.read = Unverified::of(Some(nodes.object(header)), None);
            return Err(f);
        };
        Ok((header, claims))
    }
}

fn split(token: &[u8]) -> Result<[&[u8]; 3], Failure> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Failure::new(Reason::InvalidToken));
    }
    // memchr: scanning a 600-byte token byte by byte showed up in profiles.
    let mut dots = memchr::memchr_iter(b'.', token);
    match (dots.next(), dots.next(), dots.next()) {
        (Some(a), Some(b), None) => Ok([&token[..a], &token[a + 1..b], &token[b + 1..]]),
        _ => Err(Failure::new(Reason::InvalidToken)),
    }
}

/// Append the decoded `part` to `out`; same rules as [`B64`].
///
/// base64-simd rather than `B64` on the login path: decoding a realistic token
/// took a tenth of an HS256 verify with the scalar decoder (perf), a third of
/// that with SIMD. It refuses non-canonical trailing bits as `B64` does; the rare
/// part that carries `=` goes to `B64` (whose padding rules are looser).
fn b64(part: &[u8], out: &mut Vec<u8>) -> Result<usize, Failure> {
    let decoded = if part.last() == Some(&b'=') {
        B64.decode_vec(part, out).is_ok()
    } else {
        base64_simd::URL_SAFE_NO_PAD
            .decode_append(part, out)
            .is_ok()
    };
    if decoded {
        Ok(out.len())
    } else {
        Err(Failure::new(Reason::InvalidToken))
    }
}

pub(crate) fn decode(token: &[u8]) -> Result<Decoded, Failure> {
    count_decode();
    let [h, p, s] = split(token)?;
    // One allocation for all three parts: base64 never decodes to more than 3/4.
    let mut bytes = Vec::with_capacity((h.len() + p.len() + s.len()) / 4 * 3 + 6);
    let header_end = b64(h, &mut bytes)?;
    let claims_end = b64(p, &mut bytes)?;
    b64(s, &mut bytes)?;
    Ok(Decoded {
        signing_len: h.len() + 1 + p.len(),
        bytes,
        header_end,
        claims_end,
    })
}

/// The header alone (for `kid` and `alg` before a key fetch).
pub(crate) fn header_with<R>(token: &[u8], f: impl FnOnce(Object<'_>) -> R) -> Result<R, Failure> {
    part_with(token, 0, Reason::InvalidHeader, f)
}

pub(crate) fn claims_unverified_with<R>(
    token: &[u8],
    f: impl FnOnce(Object<'_>) -> R,
) -> Result<R, Failure> {
    part_with(token, 1, Reason::InvalidBody, f)
}

/// One JSON part of the token (0 header, 1 claims), decoded without any check.
fn part_with<R>(
    token: &[u8],
    index: usize,
    invalid: Reason,
    f: impl FnOnce(Object<'_>) -> R,
) -> Result<R, Failure> {
    count_decode();
    let part = split(token)?[index];
    let mut bytes = Vec::new();
    b64(part, &mut bytes)?;
    let mut nodes = Nodes::default();
    let object = nodes
        .parse_object(&bytes)
        .ok_or_else(|| Failure::new(invalid))?;
    Ok(f(nodes.object(object)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE as PADDED;

    /// The SIMD decoder accepts exactly what `B64` accepts, with the same bytes.
    #[test]
    fn simd_decoder_agrees_with_b64() {
        let alphabet = b"AQgw-_=+/. \0\xff";
        for len in 0..48usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            for text in [B64.encode(&data), PADDED.encode(&data)] {
                let text = text.into_bytes();
                let mut variants = vec![text.clone()];
                for at in 0..text.len() {
                    for &c in alphabet {
                        let mut t = text.clone();
                        t[at] = c;
                        variants.push(t);
                    }
                }
                variants.push([&text[..], b"="].concat());
                variants.push([&text[..], b"=="].concat());
                for t in variants {
                    let mut out = Vec::new();
                    let ours = b64(&t, &mut out).ok().map(|_| out);
                    assert_eq!(
                        ours,
                        B64.decode(&t).ok(),
                        "{:?}",
                        String::from_utf8_lossy(&t)
                    );
                }
            }
        }
    }
}
