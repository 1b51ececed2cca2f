//! Every refusal, in the check order of `shared/spec/tokens.md`: its text (deployed
//! Jitsi servers send it in the SASL `<text>`; monitoring greps for it), its SASL
//! condition and a stable code that callers decide on instead of the text.

use crate::Condition;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Check 1 (the Prosody module's job): no token and no `allow_empty_token`.
    TokenRequired,
    InvalidToken,
    InvalidHeader,
    InvalidBody,
    InvalidTyp,
    InvalidAlg,
    KidMissing,
    KidOnlyAsymmetric,
    /// No key to verify with (no PEM given and none loaded for the `kid`): a
    /// caller with a key server fetches one and finishes the verification.
    KeyMissing,
    /// A key was given but is unusable; also what the Prosody module says when a
    /// key fetch fails.
    NoPublicKey,
    InvalidSignature,
    ExpNotNumber,
    NbfNotNumber,
    /// The text is followed by ` (N sec since expired)`.
    Expired,
    NotYetValid,
    IssMissing,
    IssInvalid,
    AudMissing,
    AudInvalid,
    RoomMissing,
    SubMissing,
}

impl Reason {
    /// Every reason, in check order.
    pub const ALL: [Reason; 21] = [
        Reason::TokenRequired,
        Reason::InvalidToken,
        Reason::InvalidHeader,
        Reason::InvalidBody,
        Reason::InvalidTyp,
        Reason::InvalidAlg,
        Reason::KidMissing,
        Reason::KidOnlyAsymmetric,
        Reason::KeyMissing,
        Reason::NoPublicKey,
        Reason::InvalidSignature,
        Reason::ExpNotNumber,
        Reason::NbfNotNumber,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::IssMissing,
        Reason::IssInvalid,
        Reason::AudMissing,
        Reason::AudInvalid,
        Reason::RoomMissing,
        Reason::SubMissing,
    ];

    /// The spec's text (for [`Reason::Expired`] the fixed start of it).
    pub const fn text(self) -> &'static str {
        match self {
            Reason::TokenRequired => "token required",
            Reason::InvalidToken => "Invalid token",
            Reason::InvalidHeader => "Invalid header",
            Reason::InvalidBody => "Invalid body",
            Reason::InvalidTyp => "Invalid typ",
            Reason::InvalidAlg => "Invalid or incorrect alg",
            Reason::KidMissing => "'kid' claim is missing",
            Reason::KidOnlyAsymmetric => "'kid' claim only support with RS family",
            Reason::KeyMissing => "signature verification key is missing",
            Reason::NoPublicKey => "could not obtain public key",
            Reason::InvalidSignature => "Invalid signature",
            Reason::ExpNotNumber => "exp must be number",
            Reason::NbfNotNumber => "nbf must be number",
            Reason::Expired => "Not acceptable by exp",
            Reason::NotYetValid => "Not acceptable by nbf",
            Reason::IssMissing => "'iss' claim is missing",
            Reason::IssInvalid => "invalid 'iss' claim",
            Reason::AudMissing => "'aud' claim is missing",
            Reason::AudInvalid => "invalid 'aud' claim",
            Reason::RoomMissing => "room claim is missing",
            Reason::SubMissing => "sub claim is missing",
        }
    }

    /// The stable code (lowercase, hyphenated; never changes once released).
    pub const fn code(self) -> &'static str {
        match self {
            Reason::TokenRequired => "token-required",
            Reason::InvalidToken => "invalid-token",
            Reason::InvalidHeader => "invalid-header",
            Reason::InvalidBody => "invalid-body",
            Reason::InvalidTyp => "invalid-typ",
            Reason::InvalidAlg => "invalid-alg",
            Reason::KidMissing => "kid-missing",
            Reason::KidOnlyAsymmetric => "kid-only-asymmetric",
            Reason::KeyMissing => "key-missing",
            Reason::NoPublicKey => "no-public-key",
            Reason::InvalidSignature => "invalid-signature",
            Reason::ExpNotNumber => "exp-not-number",
            Reason::NbfNotNumber => "nbf-not-number",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not-yet-valid",
            Reason::IssMissing => "iss-missing",
            Reason::IssInvalid => "iss-invalid",
            Reason::AudMissing => "aud-missing",
            Reason::AudInvalid => "aud-invalid",
            Reason::RoomMissing => "room-missing",
            Reason::SubMissing => "sub-missing",
        }
    }

    /// The SASL condition the refusal carries.
    pub const fn condition(self) -> Condition {
        match self {
            Reason::RoomMissing | Reason::SubMissing => Condition::NotAuthorized,
            _ => Condition::NotAllowed,
        }
    }
}

pub const TOKEN_REQUIRED: &str = Reason::TokenRequired.text();
pub const INVALID_TOKEN: &str = Reason::InvalidToken.text();
pub const INVALID_HEADER: &str = Reason::InvalidHeader.text();
pub const INVALID_BODY: &str = Reason::InvalidBody.text();
pub const INVALID_TYP: &str = Reason::InvalidTyp.text();
pub const INVALID_ALG: &str = Reason::InvalidAlg.text();
pub const KID_MISSING: &str = Reason::KidMissing.text();
pub const KID_ONLY_RS: &str = Reason::KidOnlyAsymmetric.text();
pub const KEY_MISSING: &str = Reason::KeyMissing.text();
pub const NO_PUBLIC_KEY: &str = Reason::NoPublicKey.text();
pub const INVALID_SIGNATURE: &str = Reason::InvalidSignature.text();
pub const EXP_NOT_NUMBER: &str = Reason::ExpNotNumber.text();
pub const NBF_NOT_NUMBER: &str = Reason::NbfNotNumber.text();
/// Followed by the whole text `Not acceptable by exp (N sec since expired)`.
pub const EXP_PREFIX: &str = Reason::Expired.text();
pub const NBF_NOT_YET: &str = Reason::NotYetValid.text();
pub const ISS_MISSING: &str = Reason::IssMissing.text();
pub const ISS_INVALID: &str = Reason::IssInvalid.text();
pub const AUD_MISSING: &str = Reason::AudMissing.text();
pub const AUD_INVALID: &str = Reason::AudInvalid.text();
/// Condition `not-authorized`.
pub const ROOM_MISSING: &str = Reason::RoomMissing.text();
/// Condition `not-authorized`.
pub const SUB_MISSING: &str = Reason::SubMissing.text();

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_texts_are_distinct() {
        let codes: HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        let texts: HashSet<_> = Reason::ALL.iter().map(|r| r.text()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert_eq!(texts.len(), Reason::ALL.len());
    }
}
