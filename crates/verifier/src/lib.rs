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
//! - [`Options`]: a host's options under their Prosody names, with the spec's defaults.
//! - [`Verifier::new`] validates an [`Options`] (`ConfigError` says what to fix).
//! - [`Verifier::verify`]`(token, public_key_pem, now)` → claims or [`Failure`].
//! - [`Verifier::set_keys`]`(document)` loads a `cache_keys_url` document (JWKS or a
//!   `{kid: PEM certificate}` map); later `verify(token, None, now)` looks `kid` up there.
//! - [`header`]`(token)` decodes the header only (for `kid`, `alg` before a key fetch).
//! - [`key_file`]`(kid)` is `<lowercase hex sha256(kid)>.pem`.
//! - [`mint`] signs a token (CLI `token mint` and tests).

use serde_json::{Map, Value};

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

/// A refused token: `reason` is the spec's text (never echoes the token or a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub condition: Condition,
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
    pub token_clock_leeway: Option<u64>,
    /// `None` means true.
    pub token_require_typ: Option<bool>,
}

/// The decoded claims of a verified token.
pub type Claims = Map<String, Value>;

/// A configured verifier for one host.
pub struct Verifier {
    _private: (),
}

impl Verifier {
    pub fn new(_options: Options) -> Result<Verifier, ConfigError> {
        Err(ConfigError("not implemented yet".into()))
    }

    /// Verify `token` at Unix time `now`. In key-server mode `public_key_pem` is the
    /// PEM fetched for the header's `kid`.
    pub fn verify(
        &self,
        _token: &str,
        _public_key_pem: Option<&str>,
        _now: i64,
    ) -> Result<Claims, Failure> {
        Err(Failure { reason: "Invalid token".into(), condition: Condition::NotAllowed })
    }

    /// Load a `cache_keys_url` document; returns how many keys it holds.
    pub fn set_keys(&self, _document: &[u8]) -> Result<usize, ConfigError> {
        Err(ConfigError("not implemented yet".into()))
    }

    /// Whether this verifier needs a public key for `verify` (key server or keys URL).
    pub fn uses_public_keys(&self) -> bool {
        false
    }
}

/// Decode a token's header without verifying anything.
pub fn header(_token: &str) -> Result<Map<String, Value>, Failure> {
    Err(Failure { reason: "Invalid token".into(), condition: Condition::NotAllowed })
}

/// File name of `kid`'s key on an ASAP key server.
pub fn key_file(_kid: &str) -> String {
    String::new()
}

/// The key a token is signed with by [`mint`].
pub enum SigningKey<'a> {
    Secret(&'a [u8]),
    /// PKCS#8 PEM private key (RSA, EC P-256/P-384, Ed25519).
    PrivatePem(&'a str),
}

/// Sign `claims` into a compact JWT with header `{"alg", "typ":"JWT", "kid"?}`.
pub fn mint(
    _alg: Algorithm,
    _key: SigningKey<'_>,
    _kid: Option<&str>,
    _claims: &Claims,
) -> Result<String, ConfigError> {
    Err(ConfigError("not implemented yet".into()))
}
