//! JWT verification with the claim rules of Jitsi Meet's token authentication.
//!
//! This crate is the contract of `shared/spec/tokens.md` in plain Rust: no I/O, no
//! global state, no panics on any input. Callers (the Lua module inside Prosody, the
//! `jitsi-meet-tokens` CLI) hand it a token, the host's [`Options`] and, in key-server
//! mode, the PEM they fetched; it answers with the claims or a [`Failure`] whose
//! `reason` is the text deployed Jitsi servers send in the SASL `<text>`.
//!
//! API CONTRACT (other crates code against these names; the implementation may grow
//! private modules but keeps these signatures):
//!
//! - [`Options`]: a host's options under their Prosody names, with the spec's defaults;
//!   [`Options::read`] builds them through [`option_table`], the one list of every
//!   option this project reads (name, scope, kind, default, meaning, reader).
//! - [`Verifier::new`] validates an [`Options`] (`ConfigError` says what to fix).
//! - [`Verifier::verify`]`(token, public_key_pem, now)` → claims or [`Failure`]
//!   (its `code`, a [`Reason`], is what callers decide on; `read` the token's
//!   unverified `kid`/`iss`/`sub` for log lines).
//! - [`Verifier::verify_or_pend`] / [`Verifier::finish`]: a key-server login
//!   that decodes its token once (the refusal "key missing" holds it until the
//!   fetched PEM arrives). [`Verifier::with_public_key`]: a local PEM as the key
//!   source (`token verify --public-key`).
//! - [`Verifier::set_keys`]`(document)` loads a `cache_keys_url` document (JWKS or a
//!   `{kid: PEM certificate}` map); later `verify(token, None, now)` looks `kid` up there.
//! - [`header`]`(token)` decodes the header only (for `kid`, `alg` before a key fetch).
//! - [`key_file`]`(kid)` is `<lowercase hex sha256(kid)>.pem`.
//! - [`mint`] signs a token (CLI `token mint` and tests).
//!
//! Additions: [`Verifier::verify_bytes`] and [`header_bytes`] (a Lua string need
//! not be UTF-8), [`Verifier::verify_with`] (the claims as a borrowed [`Object`]
//! view, no map built), [`Verifier::key_parses`] / [`Verifier::cached_keys`] /
//! [`Verifier::set_key_cache_size`], [`Verifier::check_public_key`] (a key
//! server's body is usable), [`loggable_url`], [`verify_signature`] (signature only, for test
//! vectors and the CLI), [`reason`] (every refusal: text, condition, code),
//! [`decodes`] (tokens decoded on this thread, for tests and benchmarks),
//! `Algorithm: FromStr + Display`.
//!
//! Choices the spec leaves open (each has a test):
//! - `token_require_typ = false` accepts a *missing* `typ`; a present `typ` must
//!   still be `JWT` (a different `typ`, e.g. `at+jwt`, names another kind of token:
//!   RFC 8725 §3.11).
//! - No key to verify with: `verify(token, None, _)` in key mode when `set_keys`
//!   holds no key for the `kid` → "signature verification key is missing"; a PEM
//!   that is passed but cannot be parsed for the algorithm → "could not obtain
//!   public key". A PEM passed in takes precedence over the `set_keys` set.
//! - `iss`, `aud`, `room`, `sub` that are JSON `null` count as missing; `exp`/`nbf`
//!   that are `null` are "must be number" (never a token without expiry by accident).
//! - `app_secret` together with a key server / keys URL is accepted and the secret
//!   is ignored: the asymmetric algorithm decides, and HS is refused in key mode.
//! - RSA keys under 2048 bits are refused (RFC 7518 §3.3): aws-lc-rs checks the
//!   size when verifying, so such a token reads "Invalid signature".
//! - A header whose `crit` (RFC 7515 §4.1.11) names anything but `b64`, is not a
//!   non-empty list of strings, or names a parameter the header lacks, and a header
//!   with `b64` other than `true` (RFC 7797's unencoded payload is not implemented):
//!   "Invalid header", check 2 (a header this verifier cannot process as written).
//! - `Not acceptable by exp (N sec since expired)`: N = now - exp in whole
//!   seconds (leeway only moves the point of refusal, not N).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;
use serde_json::{Map, Value};

mod algorithm;
mod claims;
mod decode;
mod json;
mod jwks;
mod keys;
mod lua_pattern;
pub mod option_table;
mod options;
pub mod reason;
pub mod room;
mod sign;
mod urls;

pub use algorithm::UnknownAlgorithm;
pub use decode::{decodes, MAX_TOKEN_LEN};
pub use json::{Array, Json, Object};
pub use jwks::MAX_DOCUMENT_LEN;
pub use keys::DEFAULT_KEY_CACHE_SIZE;
pub use reason::Reason;
pub use urls::loggable_url;

/// Which SASL condition a refusal carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    NotAllowed,
    NotAuthorized,
}

impl Condition {
    /// The SASL condition element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::NotAllowed => "not-allowed",
            Condition::NotAuthorized => "not-authorized",
        }
    }
}

/// A refused token: `reason` is the spec's text (never echoes the token or a key),
/// `code` says which refusal it is (decide on it, never on the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub condition: Condition,
    pub code: Reason,
    /// What the token said about itself before it was refused, for log lines.
    pub read: Unverified,
}

impl Failure {
    /// A refusal with `code`'s own text and condition.
    pub fn new(code: Reason) -> Self {
        Failure::with_text(code, code.text().to_owned())
    }

    /// A refusal whose text carries details (`Not acceptable by exp (N sec ...)`).
    pub(crate) fn with_text(code: Reason, reason: String) -> Self {
        Failure {
            reason,
            condition: code.condition(),
            code,
            read: Unverified::default(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.condition.as_str())
    }
}

/// The header's `kid` and the claims `iss` and `sub` as the token states them,
/// read while verifying and never trusted: refusal log lines name the token by
/// them without decoding it again. `None` for what was absent, not a string or
/// not reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unverified {
    pub kid: Option<String>,
    pub iss: Option<String>,
    pub sub: Option<String>,
}

impl Unverified {
    pub(crate) fn of(header: Option<Object<'_>>, claims: Option<Object<'_>>) -> Self {
        let text = |o: Option<Object<'_>>, name| {
            o.and_then(|o| o.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Unverified {
            kid: text(header, "kid"),
            iss: text(claims, "iss"),
            sub: text(claims, "sub"),
        }
    }
}

impl std::error::Error for Failure {}

/// A refusal from [`Verifier::verify_or_pend`]; for [`Reason::KeyMissing`] the
/// token, decoded and checked up to the key, to finish once the key is fetched.
pub struct Refused {
    pub failure: Failure,
    pub pending: Option<Pending>,
}

impl From<Failure> for Refused {
    fn from(failure: Failure) -> Self {
        Refused {
            failure,
            pending: None,
        }
    }
}

/// The token's bytes (the signature covers them) and their decoded parts.
struct Owned {
    token: Box<[u8]>,
    decoded: decode::Decoded,
}

/// One parse of a token: what every check reads.
struct Parsed<'a> {
    signing_input: &'a [u8],
    signature: &'a [u8],
    header: Object<'a>,
    claims: Object<'a>,
}

impl Parsed<'_> {
    fn unverified(&self) -> Unverified {
        Unverified::of(Some(self.header), Some(self.claims))
    }
}

/// [`Parsed`]'s storage: the nodes borrow the decoded text.
struct ParsedNodes<'a> {
    nodes: json::Nodes<'a>,
    header: json::Root,
    claims: json::Root,
}

// self_cell: the parsed nodes borrow the decoded bytes they are kept with.
self_cell::self_cell!(
    struct TokenCell {
        owner: Owned,
        #[covariant]
        dependent: ParsedNodes,
    }
);

/// A verification waiting for its key ([`Verifier::verify_or_pend`]).
pub struct Pending(TokenCell);

impl Pending {
    fn parse(token: &[u8]) -> Result<Pending, Failure> {
        let decoded = decode::decode(token)?;
        let owned = Owned {
            token: token.into(),
            decoded,
        };
        TokenCell::try_new(owned, |o| {
            let mut nodes = json::Nodes::with_capacity_for(o.decoded.claims_json().len());
            let (header, claims) = o.decoded.parse(&mut nodes)?;
            Ok(ParsedNodes {
                nodes,
                header,
                claims,
            })
        })
        .map(Pending)
    }

    fn with_parsed<R>(&self, f: impl FnOnce(&Parsed<'_>) -> R) -> R {
        let o = self.0.borrow_owner();
        let p = self.0.borrow_dependent();
        f(&Parsed {
            signing_input: o.decoded.signing_input(&o.token),
            signature: o.decoded.signature(),
            header: p.nodes.object(p.header),
            claims: p.nodes.object(p.claims),
        })
    }

    /// The header's `kid` (a pending token always has one).
    pub fn kid(&self) -> &str {
        let p = self.0.borrow_dependent();
        p.nodes
            .object(p.header)
            .get("kid")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
    }
}

/// The key a token's signature is checked with.
enum VerifyingKey<'k> {
    Hmac(&'k hmac::Key),
    Public(Arc<ParsedPublicKey>),
}

/// An option set that cannot work (e.g. no `app_secret` and no key source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Signature algorithms accepted by `signature_algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// A host's token options under their Prosody names; `Default` is the spec's default
/// with nothing configured.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub app_id: Option<String>,
    pub app_secret: Option<Vec<u8>>,
    /// `None` means: RS256 with a key server or keys URL, else HS256.
    pub signature_algorithm: Option<String>,
    pub asap_key_server: Option<String>,
    pub cache_keys_url: Option<String>,
    /// `None` means `{ app_id }`.
    pub asap_accepted_issuers: Option<Vec<String>>,
    /// `None` means `{ "*" }`.
    pub asap_accepted_audiences: Option<Vec<String>>,
    /// `None` means true.
    pub asap_require_room_claim: Option<bool>,
    /// Seconds; `None` means 0.
    pub token_clock_leeway: Option<option_table::Whole>,
    /// `None` means true.
    pub token_require_typ: Option<bool>,
}

impl Options {
    /// The verifier's options read through [`option_table`] (`get` answers one option
    /// by its Prosody name, None when unset): each checked against its kind, fixed
    /// defaults filled in.
    pub fn read(
        get: impl Fn(&str) -> Option<option_table::Neutral>,
    ) -> Result<Options, option_table::OptionError> {
        let o = option_table::Source::new(get);
        Ok(Options {
            app_id: o.string("app_id")?,
            app_secret: o.bytes("app_secret")?,
            signature_algorithm: o.string("signature_algorithm")?,
            asap_key_server: o.string("asap_key_server")?,
            cache_keys_url: o.string("cache_keys_url")?,
            asap_accepted_issuers: o.strings("asap_accepted_issuers")?,
            asap_accepted_audiences: o.strings("asap_accepted_audiences")?,
            asap_require_room_claim: o.boolean("asap_require_room_claim")?,
            token_clock_leeway: o.whole("token_clock_leeway")?,
            token_require_typ: o.boolean("token_require_typ")?,
        })
    }
}

impl From<option_table::OptionError> for ConfigError {
    fn from(e: option_table::OptionError) -> Self {
        ConfigError(e.to_string())
    }
}

/// The decoded claims of a verified token.
pub type Claims = Map<String, Value>;

/// A configured verifier for one host. `Send + Sync`: share it across threads;
/// the key caches use interior locks.
pub struct Verifier {
    config: options::Config,
    hmac_key: Option<hmac::Key>,
    pem_keys: keys::KeyCache,
    /// Keys from the last successful `set_keys`, by `kid`.
    key_set: RwLock<Arc<jwks::KeySet>>,
    /// [`Verifier::with_public_key`]'s PEM: the key for every `kid`.
    local_key: Option<String>,
}

impl std::fmt::Debug for Verifier {
    // Hand-written so the secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("app_id", &self.config.app_id)
            .field("algorithm", &self.config.algorithm)
            .field("uses_public_keys", &self.config.key_mode)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(options: Options) -> Result<Verifier, ConfigError> {
        Verifier::build(options, None)
    }

    /// A verifier in public-key mode whose key source is `pem` (a local public
    /// key file: `token verify --public-key`), used for every `kid` unless a
    /// PEM is passed to `verify`; `asap_key_server`/`cache_keys_url` need not be set.
    pub fn with_public_key(options: Options, pem: &str) -> Result<Verifier, ConfigError> {
        Verifier::build(options, Some(pem.to_owned()))
    }

    fn build(options: Options, local_key: Option<String>) -> Result<Verifier, ConfigError> {
        let config = options::resolve(options, local_key.is_some())?;
        let hmac_key = match (config.algorithm.hmac(), &config.secret) {
            (Some(alg), Some(secret)) => Some(hmac::Key::new(alg, secret)),
            _ => None,
        };
        Ok(Verifier {
            config,
            hmac_key,
            pem_keys: keys::KeyCache::new(DEFAULT_KEY_CACHE_SIZE),
            key_set: RwLock::new(Arc::new(HashMap::new())),
            local_key,
        })
    }

    /// Verify `token` at Unix time `now`. `public_key_pem` is the key to verify
    /// with (a key server's PEM for the header's `kid`, or a local public key
    /// file) in public-key mode.
    pub fn verify(
        &self,
        token: &str,
        public_key_pem: Option<&str>,
        now: i64,
    ) -> Result<Claims, Failure> {
        self.verify_bytes(token.as_bytes(), public_key_pem, now)
    }

    /// [`Verifier::verify`] for a token that may not be UTF-8 (such a token is
    /// "Invalid token": base64url is ASCII).
    pub fn verify_bytes(
        &self,
        token: &[u8],
        public_key_pem: Option<&str>,
        now: i64,
    ) -> Result<Claims, Failure> {
        self.verify_with(token, public_key_pem, now, |claims| claims.to_map())
    }

    /// Verify like [`Verifier::verify_bytes`], then hand the claims to `f` as a
    /// view into the decoded token instead of building a `serde_json` map: a caller
    /// that converts them anyway (the Lua module builds a Lua table) saves an
    /// allocation per key and string.
    pub fn verify_with<R>(
        &self,
        token: &[u8],
        public_key_pem: Option<&str>,
        now: i64,
        f: impl FnOnce(Object<'_>) -> R,
    ) -> Result<R, Failure> {
        self.verify_in_place(token, public_key_pem, now, |claims, _| f(claims))
    }

    /// Decode and check `token` without keeping it.
    fn verify_in_place<R>(
        &self,
        token: &[u8],
        public_key_pem: Option<&str>,
        now: i64,
        f: impl FnOnce(Object<'_>, Option<&str>) -> R,
    ) -> Result<R, Failure> {
        let d = decode::decode(token)?;
        let mut nodes = json::Nodes::with_capacity_for(d.claims_json().len());
        let (header, claims) = d.parse(&mut nodes)?;
        let parsed = Parsed {
            signing_input: d.signing_input(token),
            signature: d.signature(),
            header: nodes.object(header),
            claims: nodes.object(claims),
        };
        let key = self.key(&parsed, public_key_pem);
        self.finish_checks(&parsed, key, now, f)
    }

    /// [`Verifier::verify_with`] for a caller that can fetch keys (the Prosody
    /// module with a key server): when no key was given and none is loaded for the
    /// `kid`, the refusal ([`Reason::KeyMissing`]) comes with the decoded token,
    /// which [`Verifier::finish`] completes with the fetched PEM, so a login
    /// decodes its token once. `f` also gets the header's `kid`.
    pub fn verify_or_pend<R>(
        &self,
        token: &[u8],
        public_key_pem: Option<&str>,
        now: i64,
        f: impl FnOnce(Object<'_>, Option<&str>) -> R,
    ) -> Result<R, Refused> {
        if !self.config.key_mode || public_key_pem.is_some() {
            // Nothing can be missing: no need to keep the token.
            return self
                .verify_in_place(token, public_key_pem, now, f)
                .map_err(Refused::from);
        }
        let pending = Pending::parse(token)?;
        let key = pending.with_parsed(|parsed| self.key(parsed, None));
        match key {
            Err(mut f) if f.code == Reason::KeyMissing => {
                f.read = pending.with_parsed(|p| p.unverified());
                Err(Refused {
                    failure: f,
                    pending: Some(pending),
                })
            }
            key => pending
                .with_parsed(|parsed| self.finish_checks(parsed, key, now, f))
                .map_err(Refused::from),
        }
    }

    /// Complete a verification [`Verifier::verify_or_pend`] left pending, with
    /// the PEM fetched for its `kid`; `None` (the fetch failed) refuses it with
    /// "could not obtain public key". `now` is the time of this call: the claims
    /// are checked after the fetch, as if the token had arrived now.
    pub fn finish<R>(
        &self,
        pending: &Pending,
        public_key_pem: Option<&str>,
        now: i64,
        f: impl FnOnce(Object<'_>, Option<&str>) -> R,
    ) -> Result<R, Failure> {
        pending.with_parsed(|parsed| {
            let key = match public_key_pem {
                Some(pem) => self.key(parsed, Some(pem)),
                None => Err(Failure::new(Reason::NoPublicKey)),
            };
            self.finish_checks(parsed, key, now, f)
        })
    }

    /// Checks 3 to 5: the header, then the key to verify with (`given`, else
    /// the loaded set's key for `kid`, else the HMAC secret).
    fn key(&self, parsed: &Parsed<'_>, given: Option<&str>) -> Result<VerifyingKey<'_>, Failure> {
        let c = &self.config;
        let header = claims::Header::of(parsed.header);
        if !header.extensions_understood() {
            return Err(Failure::new(Reason::InvalidHeader));
        }
        match header.typ {
            Some(Json::Str("JWT")) => {}
            None if !c.require_typ => {}
            _ => return Err(Failure::new(Reason::InvalidTyp)),
        }
        // `none` and every unknown name fail here: only the configured alg passes.
        if header.alg.and_then(|a| a.as_str()) != Some(c.algorithm.as_str()) {
            return Err(Failure::new(Reason::InvalidAlg));
        }
        if !c.key_mode {
            return self
                .hmac_key
                .as_ref()
                .map(VerifyingKey::Hmac)
                .ok_or_else(|| Failure::new(Reason::KeyMissing));
        }
        let kid = match header.kid {
            Some(Json::Str(k)) if !k.is_empty() => k,
            _ => return Err(Failure::new(Reason::KidMissing)),
        };
        self.public_key(kid, given).map(VerifyingKey::Public)
    }

    /// Checks 6 to 11 with the key [`Verifier::key`] found; every refusal names
    /// what the token said of itself.
    fn finish_checks<R>(
        &self,
        parsed: &Parsed<'_>,
        key: Result<VerifyingKey<'_>, Failure>,
        now: i64,
        f: impl FnOnce(Object<'_>, Option<&str>) -> R,
    ) -> Result<R, Failure> {
        let checked = key.and_then(|key| {
            let signed = match key {
                // aws-lc-rs compares the tags in constant time.
                VerifyingKey::Hmac(k) => {
                    hmac::verify(k, parsed.signing_input, parsed.signature).is_ok()
                }
                VerifyingKey::Public(k) => {
                    k.verify_sig(parsed.signing_input, parsed.signature).is_ok()
                }
            };
            if !signed {
                return Err(Failure::new(Reason::InvalidSignature));
            }
            claims::check(&self.config, parsed.claims, now)
        });
        match checked {
            Ok(()) => {
                let kid = parsed.header.get("kid").and_then(|k| k.as_str());
                Ok(f(parsed.claims, kid))
            }
            Err(mut failure) => {
                failure.read = parsed.unverified();
                Err(failure)
            }
        }
    }

    fn public_key(&self, kid: &str, given: Option<&str>) -> Result<Arc<ParsedPublicKey>, Failure> {
        let alg = self.config.algorithm;
        // Unreachable while `new` refuses HS in key mode and check 4 pins alg;
        // kept so no future path can verify HMAC with a public key as the secret.
        if alg.is_symmetric() {
            return Err(Failure::new(Reason::KidOnlyAsymmetric));
        }
        if let Some(pem) = given.or(self.local_key.as_deref()) {
            return self
                .pem_keys
                .get_or_parse(alg, pem)
                .map_err(|_| Failure::new(Reason::NoPublicKey));
        }
        let set = Arc::clone(&self.key_set.read().unwrap_or_else(|p| p.into_inner()));
        set.get(kid)
            .cloned()
            .ok_or_else(|| Failure::new(Reason::KeyMissing))
    }

    /// Load a `cache_keys_url` document; returns how many keys it holds.
    /// On error the previous key set stays in use.
    pub fn set_keys(&self, document: &[u8]) -> Result<usize, ConfigError> {
        if !self.config.key_mode {
            return Err(ConfigError(
                "this verifier uses app_secret; a keys document needs cache_keys_url".into(),
            ));
        }
        let set = jwks::parse(self.config.algorithm, document)?;
        let n = set.len();
        *self.key_set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(n)
    }

    /// Whether this verifier needs a public key for `verify` (key server or keys URL).
    pub fn uses_public_keys(&self) -> bool {
        self.config.key_mode
    }

    /// The algorithm tokens must carry.
    pub fn algorithm(&self) -> Algorithm {
        self.config.algorithm
    }

    /// Whether `pem` (a key server's answer) is a public key this verifier can use
    /// for its algorithm; the error says why not. A usable key is kept in the
    /// parsed-key cache, so the login that follows does not parse it again. Callers
    /// cache a key server's body only after this succeeded.
    pub fn check_public_key(&self, pem: &str) -> Result<(), String> {
        let alg = self.config.algorithm;
        if alg.is_symmetric() {
            return Err(format!("{alg} uses a shared secret, not a public key"));
        }
        self.pem_keys.get_or_parse(alg, pem).map(|_| ())
    }

    /// How many PEM keys have been parsed so far (cache misses); a PEM seen
    /// before is served from the cache and does not count.
    pub fn key_parses(&self) -> u64 {
        self.pem_keys.parses()
    }

    /// Bound the parsed-PEM cache (`jwt_pubkey_cache_size`; default 128).
    pub fn set_key_cache_size(&self, size: usize) {
        self.pem_keys.set_capacity(size);
    }

    /// How many parsed PEM keys are cached now.
    pub fn cached_keys(&self) -> usize {
        self.pem_keys.len()
    }
}

/// Decode a token's header without verifying anything.
pub fn header(token: &str) -> Result<Map<String, Value>, Failure> {
    header_with(token.as_bytes(), |h| h.to_map())
}

/// [`header`] for a token that may not be UTF-8.
pub fn header_bytes(token: &[u8]) -> Result<Map<String, Value>, Failure> {
    header_with(token, |h| h.to_map())
}

/// [`header_bytes`], handing the header to `f` as a view (see [`Verifier::verify_with`]).
pub fn header_with<R>(token: &[u8], f: impl FnOnce(Object<'_>) -> R) -> Result<R, Failure> {
    decode::header_with(token, f)
}

/// A token's claims decoded without verifying anything: for display and log lines
/// only (`token verify`, refusal lines), never for a decision.
pub fn claims_unverified_with<R>(
    token: &[u8],
    f: impl FnOnce(Object<'_>) -> R,
) -> Result<R, Failure> {
    decode::claims_unverified_with(token, f)
}

/// File name of `kid`'s key on an ASAP key server.
pub fn key_file(kid: &str) -> String {
    let hash = digest::digest(&digest::SHA256, kid.as_bytes());
    let mut name: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    name.push_str(".pem");
    name
}

/// A key for [`verify_signature`].
pub enum VerifyKey<'a> {
    /// HMAC secret (HS*).
    Secret(&'a [u8]),
    /// SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY` or X.509 `CERTIFICATE` PEM.
    Pem(&'a str),
    /// One JWK as JSON text (RSA `n`/`e`, EC `x`/`y`, OKP Ed25519 `x`).
    Jwk(&'a str),
}

/// Check only the signature of `token` for `alg` (no `typ`, `alg`, `kid` or claim
/// rules): for published test vectors and for explaining a refusal in the CLI.
/// Failures: "Invalid token"/"Invalid header"/"Invalid body" (undecodable),
/// "could not obtain public key" (unusable key), "Invalid signature".
pub fn verify_signature(token: &str, alg: Algorithm, key: VerifyKey<'_>) -> Result<(), Failure> {
    let d = decode::decode(token.as_bytes())?;
    d.parse(&mut json::Nodes::default())?;
    let bad_key = || Failure::new(Reason::NoPublicKey);
    let ok = match (alg.hmac(), key) {
        (Some(h), VerifyKey::Secret(secret)) => hmac::verify(
            &hmac::Key::new(h, secret),
            d.signing_input(token.as_bytes()),
            d.signature(),
        )
        .is_ok(),
        (Some(_), _) | (None, VerifyKey::Secret(_)) => return Err(bad_key()),
        (None, VerifyKey::Pem(pem)) => keys::parse_pem(alg, pem)
            .map_err(|_| bad_key())?
            .verify_sig(d.signing_input(token.as_bytes()), d.signature())
            .is_ok(),
        (None, VerifyKey::Jwk(json)) => jwks::parse_jwk(alg, json)
            .map_err(|_| bad_key())?
            .verify_sig(d.signing_input(token.as_bytes()), d.signature())
            .is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(Failure::new(Reason::InvalidSignature))
    }
}

/// The key a token is signed with by [`mint`].
pub enum SigningKey<'a> {
    Secret(&'a [u8]),
    /// PKCS#8 PEM private key (RSA, EC P-256/P-384, Ed25519); PKCS#1
    /// `RSA PRIVATE KEY` and SEC1 `EC PRIVATE KEY` are accepted too.
    PrivatePem(&'a str),
}

/// Sign `claims` into a compact JWT with header `{"alg", "typ":"JWT", "kid"?}`.
pub fn mint(
    alg: Algorithm,
    key: SigningKey<'_>,
    kid: Option<&str>,
    claims: &Claims,
) -> Result<String, ConfigError> {
    sign::mint(alg, key, kid, claims)
}

#[cfg(test)]
mod option_table_tests;
#[cfg(test)]
mod room_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_seam;
#[cfg(test)]
mod tests_security;
