//! `signature_algorithm` names and what each means to aws-lc-rs.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{hmac, signature};

use crate::Algorithm;

/// Every supported algorithm, symmetric first.
pub(crate) const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What kind of key an algorithm verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm, HMAC first.
    pub const ALL: [Algorithm; 12] = ALL;

    /// The JOSE name (`"RS256"`, `"EdDSA"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// True for the HMAC family (a shared secret, no public key).
    pub fn is_symmetric(self) -> bool {
        self.family() == Family::Hmac
    }

    pub(crate) fn family(self) -> Family {
        use Algorithm::*;
        match self {
            HS256 | HS384 | HS512 => Family::Hmac,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Family::Rsa,
            ES256 | ES384 => Family::Ec,
            EdDSA => Family::Ed25519,
        }
    }

    pub(crate) fn hmac(self) -> Option<hmac::Algorithm> {
        match self {
            Algorithm::HS256 => Some(hmac::HMAC_SHA256),
            Algorithm::HS384 => Some(hmac::HMAC_SHA384),
            Algorithm::HS512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }

    /// The verification algorithm for public-key families. RSA keys under 2048
    /// bits are refused (aws-lc-rs's `*_2048_8192_*` parameters): RFC 7518 §3.3
    /// requires at least 2048.
    pub(crate) fn verification(self) -> Option<&'static dyn signature::VerificationAlgorithm> {
        use Algorithm::*;
        Some(match self {
            HS256 | HS384 | HS512 => return None,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => return Some(self.rsa_params()?),
            // JWS carries ECDSA signatures as fixed-width r || s (RFC 7518 §3.4).
            ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            EdDSA => &signature::ED25519,
        })
    }
}

impl Algorithm {
    pub(crate) fn rsa_params(self) -> Option<&'static signature::RsaParameters> {
        use Algorithm::*;
        Some(match self {
            RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown algorithm name (including `none`, which is never accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Exact, case-sensitive JOSE names: a header `alg` of `rs256` is not `RS256`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

/// The accepted names, for error messages.
pub(crate) fn names() -> String {
    ALL.map(Algorithm::as_str).join(", ")
}
