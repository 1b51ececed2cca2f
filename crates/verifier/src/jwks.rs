//! `cache_keys_url` documents: a JWKS (`{"keys":[...]}`, RFC 7517) or a map of
//! `kid` to PEM certificate (the format Google and others publish).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use crate::algorithm::Family;
use crate::decode::B64;
use crate::keys::{self, KeyError};
use crate::{Algorithm, ConfigError};

/// A keys document larger than this is refused (a real JWKS is a few KiB).
pub const MAX_DOCUMENT_LEN: usize = 1024 * 1024;

pub(crate) type KeySet = HashMap<String, Arc<ParsedPublicKey>>;

/// Parse `doc` into the keys usable with `alg`. Keys meant for another algorithm
/// or use are skipped; the document is refused when nothing usable remains, so a
/// broken download never replaces a working key set.
pub(crate) fn parse(alg: Algorithm, doc: &[u8]) -> Result<KeySet, ConfigError> {
    let fail = |m: String| ConfigError(format!("keys document: {m}"));
    if doc.len() > MAX_DOCUMENT_LEN {
        return Err(fail(format!("larger than {MAX_DOCUMENT_LEN} bytes")));
    }
    let top = match serde_json::from_slice::<Value>(doc) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(fail("not a JSON object".into())),
        Err(e) => return Err(fail(format!("not valid JSON ({e})"))),
    };
    let mut set = KeySet::new();
    let mut skipped: Vec<String> = Vec::new();
    match top.get("keys") {
        Some(Value::Array(jwks)) => {
            for jwk in jwks {
                let Value::Object(jwk) = jwk else {
                    skipped.push("an entry is not an object".into());
                    continue;
                };
                let Some(kid) = jwk.get("kid").and_then(Value::as_str) else {
                    skipped.push("a key has no kid".into());
                    continue;
                };
                match jwk_key(alg, jwk) {
                    Ok(key) => {
                        set.insert(kid.to_owned(), Arc::new(key));
                    }
                    Err(e) => skipped.push(format!("kid {kid:?}: {e}")),
                }
            }
        }
        Some(_) => return Err(fail("\"keys\" is not an array".into())),
        None => {
            for (kid, pem) in &top {
                let Some(pem) = pem.as_str() else {
                    skipped.push(format!("kid {kid:?}: value is not a PEM string"));
                    continue;
                };
                match keys::parse_pem(alg, pem) {
                    Ok(key) => {
                        set.insert(kid.clone(), Arc::new(key));
                    }
                    Err(e) => skipped.push(format!("kid {kid:?}: {e}")),
                }
            }
        }
    }
    if set.is_empty() {
        let why = if skipped.is_empty() {
            "it holds no keys".to_owned()
        } else {
            skipped.truncate(5);
            skipped.join("; ")
        };
        return Err(fail(format!("no key usable with {alg}: {why}")));
    }
    Ok(set)
}

/// One JWK given as JSON text.
pub(crate) fn parse_jwk(alg: Algorithm, json: &str) -> Result<ParsedPublicKey, KeyError> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(jwk)) => jwk_key(alg, &jwk),
        _ => Err("not a JSON object".into()),
    }
}

fn field(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {name}"))?;
    B64.decode(text)
        .map_err(|_| format!("{name} is not base64url"))
}

fn jwk_key(alg: Algorithm, jwk: &Map<String, Value>) -> Result<ParsedPublicKey, KeyError> {
    if let Some(u) = jwk.get("use").and_then(Value::as_str) {
        if u != "sig" {
            return Err(format!("use is {u:?}, not \"sig\""));
        }
    }
    if let Some(a) = jwk.get("alg").and_then(Value::as_str) {
        if a != alg.as_str() {
            return Err(format!("alg is {a:?}, not {alg}"));
        }
    }
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
    // A certificate chain (x5c) may stand in for the key parameters.
    if !jwk.contains_key("n") && !jwk.contains_key("x") {
        if let Some(Value::Array(chain)) = jwk.get("x5c") {
            let first = chain
                .first()
                .and_then(Value::as_str)
                .ok_or("x5c is empty")?;
            let der = STANDARD.decode(first).map_err(|_| "x5c is not base64")?;
            let cert =
                Certificate::from_der(&der).map_err(|e| format!("bad x5c certificate: {e}"))?;
            let spki = cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|e| format!("bad x5c key: {e}"))?;
            return keys::parse_key_bytes(alg, &spki);
        }
    }
    match (alg.family(), kty) {
        (Family::Rsa, "RSA") => {
            let (n, e) = (field(jwk, "n")?, field(jwk, "e")?);
            // RFC 7518 forbids leading zero octets but some issuers emit one;
            // aws-lc-rs wants the minimal big-endian form.
            let strip = |v: &[u8]| -> Vec<u8> {
                let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
                v[i..].to_vec()
            };
            let components = RsaPublicKeyComponents {
                n: strip(&n),
                e: strip(&e),
            };
            let params = alg.rsa_params().ok_or("not an RSA algorithm")?;
            components
                .to_parsed_public_key(params)
                .map_err(|e| format!("RSA key rejected: {e}"))
        }
        (Family::Ec, "EC") => {
            let (want_crv, len) = match alg {
                Algorithm::ES256 => ("P-256", 32),
                _ => ("P-384", 48),
            };
            if crv != want_crv {
                return Err(format!("curve {crv:?} does not match {alg}"));
            }
            let (x, y) = (field(jwk, "x")?, field(jwk, "y")?);
            if x.len() != len || y.len() != len {
                return Err("x/y have the wrong length for the curve".into());
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            keys::parse_key_bytes(alg, &point)
        }
        (Family::Ed25519, "OKP") => {
            if crv != "Ed25519" {
                return Err(format!("curve {crv:?} is not Ed25519"));
            }
            let x = field(jwk, "x")?;
            if x.len() != 32 {
                return Err("x is not 32 bytes".into());
            }
            keys::parse_key_bytes(alg, &x)
        }
        _ => Err(format!("key type {kty:?} does not fit {alg}")),
    }
}
