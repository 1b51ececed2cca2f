//! The failure texts of `shared/spec/tokens.md`, in check order. Deployed Jitsi
//! servers send these in the SASL `<text>`; monitoring greps for them.

/// Check 1 (the Prosody module's job): no token and no `allow_empty_token`.
pub const TOKEN_REQUIRED: &str = "token required";
pub const INVALID_TOKEN: &str = "Invalid token";
pub const INVALID_HEADER: &str = "Invalid header";
pub const INVALID_BODY: &str = "Invalid body";
pub const INVALID_TYP: &str = "Invalid typ";
pub const INVALID_ALG: &str = "Invalid or incorrect alg";
pub const KID_MISSING: &str = "'kid' claim is missing";
pub const KID_ONLY_RS: &str = "'kid' claim only support with RS family";
/// No key to verify with (no PEM given and none loaded for the `kid`).
pub const KEY_MISSING: &str = "signature verification key is missing";
/// A key was given but is unusable; also what the Prosody module says when a
/// key fetch fails.
pub const NO_PUBLIC_KEY: &str = "could not obtain public key";
pub const INVALID_SIGNATURE: &str = "Invalid signature";
pub const EXP_NOT_NUMBER: &str = "exp must be number";
pub const NBF_NOT_NUMBER: &str = "nbf must be number";
/// Followed by the whole text `Not acceptable by exp (N sec since expired)`.
pub const EXP_PREFIX: &str = "Not acceptable by exp";
pub const NBF_NOT_YET: &str = "Not acceptable by nbf";
pub const ISS_MISSING: &str = "'iss' claim is missing";
pub const ISS_INVALID: &str = "invalid 'iss' claim";
pub const AUD_MISSING: &str = "'aud' claim is missing";
pub const AUD_INVALID: &str = "invalid 'aud' claim";
/// Condition `not-authorized`.
pub const ROOM_MISSING: &str = "room claim is missing";
/// Condition `not-authorized`.
pub const SUB_MISSING: &str = "sub claim is missing";
