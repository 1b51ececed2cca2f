//! Minting tokens (CLI `token mint`, tests, benches).

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::Engine;
use serde_json::{Map, Value};

use crate::algorithm::Family;
use crate::decode::B64;
use crate::{Algorithm, Claims, ConfigError, SigningKey};

fn err(m: impl Into<String>) -> ConfigError {
    ConfigError(m.into())
}

/// The DER of a private-key PEM and whether it is PKCS#8 (`PRIVATE KEY`) or the
/// algorithm-specific form (`RSA PRIVATE KEY` PKCS#1, `EC PRIVATE KEY` SEC1).
fn private_der(pem: &str) -> Result<(bool, Vec<u8>), ConfigError> {
    let start = pem
        .find("-----BEGIN ")
        .ok_or_else(|| err("no PEM private key found"))?;
    let (label, der) = pem_rfc7468::decode_vec(pem[start..].trim_end().as_bytes())
        .map_err(|e| err(format!("private key PEM is malformed: {e}")))?;
    match label {
        "PRIVATE KEY" => Ok((true, der)),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Ok((false, der)),
        "ENCRYPTED PRIVATE KEY" => Err(err(
            "encrypted private keys are not supported: decrypt it first",
        )),
        other => Err(err(format!("PEM label {other:?} is not a private key"))),
    }
}

fn rejected(alg: Algorithm, e: impl std::fmt::Display) -> ConfigError {
    err(format!("private key does not fit {alg}: {e}"))
}

fn sign(alg: Algorithm, key: SigningKey<'_>, input: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let rng = SystemRandom::new();
    match (alg.family(), key) {
        (Family::Hmac, SigningKey::Secret(secret)) => {
            if secret.is_empty() {
                return Err(err("the secret is empty"));
            }
            let h = alg.hmac().ok_or_else(|| err("not an HMAC algorithm"))?;
            Ok(hmac::sign(&hmac::Key::new(h, secret), input)
                .as_ref()
                .to_vec())
        }
        (Family::Hmac, SigningKey::PrivatePem(_)) => Err(err(format!(
            "{alg} signs with a shared secret, not a private key"
        ))),
        (_, SigningKey::Secret(_)) => {
            Err(err(format!("{alg} signs with a private key, not a secret")))
        }
        (Family::Rsa, SigningKey::PrivatePem(pem)) => {
            let (pkcs8, der) = private_der(pem)?;
            let kp = if pkcs8 {
                RsaKeyPair::from_pkcs8(&der)
            } else {
                RsaKeyPair::from_der(&der)
            }
            .map_err(|e| rejected(alg, e))?;
            let padding: &'static dyn signature::RsaEncoding = match alg {
                Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            let mut sig = vec![0; kp.public_modulus_len()];
            kp.sign(padding, &rng, input, &mut sig)
                .map_err(|e| rejected(alg, e))?;
            Ok(sig)
        }
        (Family::Ec, SigningKey::PrivatePem(pem)) => {
            let (_, der) = private_der(pem)?;
            let sa = match alg {
                Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
                _ => &ECDSA_P384_SHA384_FIXED_SIGNING,
            };
            // from_private_key_der takes PKCS#8 and SEC1 alike.
            let kp = EcdsaKeyPair::from_private_key_der(sa, &der).map_err(|e| rejected(alg, e))?;
            let sig = kp.sign(&rng, input).map_err(|e| rejected(alg, e))?;
            Ok(sig.as_ref().to_vec())
        }
        (Family::Ed25519, SigningKey::PrivatePem(pem)) => {
            let (_, der) = private_der(pem)?;
            let kp =
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| rejected(alg, e))?;
            Ok(kp.sign(input).as_ref().to_vec())
        }
    }
}

pub(crate) fn mint(
    alg: Algorithm,
    key: SigningKey<'_>,
    kid: Option<&str>,
    claims: &Claims,
) -> Result<String, ConfigError> {
    let mut header = Map::new();
    header.insert("alg".into(), Value::from(alg.as_str()));
    header.insert("typ".into(), Value::from("JWT"));
    if let Some(kid) = kid {
        header.insert("kid".into(), Value::from(kid));
    }
    let h = serde_json::to_vec(&header).map_err(|e| err(e.to_string()))?;
    let c = serde_json::to_vec(claims).map_err(|e| err(e.to_string()))?;
    let mut token = format!("{}.{}", B64.encode(h), B64.encode(c));
    let sig = sign(alg, key, token.as_bytes())?;
    token.push('.');
    token.push_str(&B64.encode(sig));
    Ok(token)
}
