//! Public keys: PEM parsing and a bounded cache of parsed keys.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use aws_lc_rs::signature::ParsedPublicKey;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use crate::Algorithm;

/// Why a key could not be used (kept out of token failure texts, which only say
/// "could not obtain public key"; used in `set_keys` errors).
pub(crate) type KeyError = String;

/// Cut the first PEM block out of `text` (a key server may prepend comments or
/// append a chain); the block itself is decoded by `pem-rfc7468`.
fn first_block(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start..];
    let end_marker = rest.find("-----END ")?;
    let after = &rest[end_marker + "-----END ".len()..];
    let close = after.find("-----")?;
    let end = end_marker + "-----END ".len() + close + "-----".len();
    Some(&rest[..end])
}

/// The DER bytes aws-lc-rs parses for `alg`: SPKI (`PUBLIC KEY`), PKCS#1
/// (`RSA PUBLIC KEY`), or the SPKI inside an X.509 `CERTIFICATE`.
pub(crate) fn pem_to_key_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let block = first_block(pem).ok_or("no PEM block")?;
    let (label, der) =
        pem_rfc7468::decode_vec(block.as_bytes()).map_err(|e| format!("bad PEM: {e}"))?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Ok(der),
        "CERTIFICATE" => {
            let cert = Certificate::from_der(&der).map_err(|e| format!("bad certificate: {e}"))?;
            cert.tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|e| format!("bad certificate key: {e}"))
        }
        other => Err(format!(
            "PEM label {other:?} is not a public key or certificate"
        )),
    }
}

pub(crate) fn parse_key_bytes(alg: Algorithm, der: &[u8]) -> Result<ParsedPublicKey, KeyError> {
    let verification = alg.verification().ok_or("not a public-key algorithm")?;
    ParsedPublicKey::new(verification, der).map_err(|e| format!("key rejected for {alg}: {e}"))
}

pub(crate) fn parse_pem(alg: Algorithm, pem: &str) -> Result<ParsedPublicKey, KeyError> {
    parse_key_bytes(alg, &pem_to_key_der(pem)?)
}

/// Default number of parsed PEM keys kept (the spec's `jwt_pubkey_cache_size`).
pub const DEFAULT_KEY_CACHE_SIZE: usize = 128;

type Fingerprint = [u8; 32];

/// Parsed keys by SHA-256 of their PEM text, so a key server's PEM is parsed once
/// and not on every login. First-in, first-out eviction keeps it bounded; a key
/// that rotates out is simply parsed again.
pub(crate) struct KeyCache {
    inner: Mutex<CacheInner>,
    parses: AtomicU64,
}

struct CacheInner {
    capacity: usize,
    map: HashMap<Fingerprint, Arc<ParsedPublicKey>>,
    order: VecDeque<Fingerprint>,
}

impl CacheInner {
    fn shrink_to(&mut self, len: usize) {
        while self.map.len() > len {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
    }
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        KeyCache {
            inner: Mutex::new(CacheInner {
                capacity,
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            parses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (single inserts/removes), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get_or_parse(
        &self,
        alg: Algorithm,
        pem: &str,
    ) -> Result<Arc<ParsedPublicKey>, KeyError> {
        let fp: Fingerprint = digest::digest(&digest::SHA256, pem.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        if let Some(k) = self.lock().map.get(&fp) {
            return Ok(Arc::clone(k));
        }
        // Parse outside the lock: a slow parse must not block other logins.
        self.parses.fetch_add(1, Ordering::Relaxed);
        let key = Arc::new(parse_pem(alg, pem)?);
        let mut inner = self.lock();
        if inner.capacity == 0 {
            return Ok(key);
        }
        if !inner.map.contains_key(&fp) {
            let room = inner.capacity - 1;
            inner.shrink_to(room);
            inner.order.push_back(fp);
            inner.map.insert(fp, Arc::clone(&key));
        }
        Ok(key)
    }

    pub fn set_capacity(&self, capacity: usize) {
        let mut inner = self.lock();
        inner.capacity = capacity;
        inner.shrink_to(capacity);
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn parses(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }
}
