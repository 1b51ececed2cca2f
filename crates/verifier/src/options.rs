//! Turning a host's [`Options`] into a checked configuration.

use std::net::IpAddr;

use url::{Host, Url};

use crate::option_table::{self, defaults};
use crate::{algorithm, Algorithm, ConfigError, Options};

/// Options after defaults are applied and combinations checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub app_id: String,
    pub algorithm: Algorithm,
    pub secret: Option<Vec<u8>>,
    pub key_mode: bool,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub require_room: bool,
    pub leeway: option_table::Whole,
    pub require_typ: bool,
}

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// `local_key`: the caller gives the public key itself ([`crate::Verifier::with_public_key`]).
pub(crate) fn resolve(o: Options, local_key: bool) -> Result<Config, ConfigError> {
    let app_id = match o.app_id {
        Some(id) if !id.is_empty() => id,
        _ => return Err(err("app_id is required: set app_id to your application id")),
    };
    if o.app_secret.as_deref().is_some_and(<[u8]>::is_empty) {
        return Err(err(
            "app_secret is empty: set a non-empty secret or remove app_secret",
        ));
    }
    for (name, url) in [
        ("asap_key_server", &o.asap_key_server),
        ("cache_keys_url", &o.cache_keys_url),
    ] {
        if let Some(url) = url {
            check_key_url(name, url)?;
        }
    }
    let key_mode = local_key || o.asap_key_server.is_some() || o.cache_keys_url.is_some();
    if o.app_secret.is_none() && !key_mode {
        return Err(err(
            "no verification key: set app_secret (HS256), or asap_key_server or cache_keys_url (RS256)",
        ));
    }
    let algorithm = match o.signature_algorithm.as_deref() {
        None if key_mode => Algorithm::RS256,
        None => Algorithm::HS256,
        Some(name) => name.parse().map_err(|_| {
            err(format!(
                "signature_algorithm {name:?} is not supported: use one of {}",
                algorithm::names()
            ))
        })?,
    };
    if algorithm.is_symmetric() && key_mode {
        return Err(err(format!(
            "signature_algorithm {algorithm} uses a shared secret, but asap_key_server/cache_keys_url \
             supply public keys: use an asymmetric algorithm (RS256, PS256, ES256, EdDSA, ...) \
             or remove the key server and set app_secret"
        )));
    }
    if !algorithm.is_symmetric() && !key_mode {
        return Err(err(format!(
            "signature_algorithm {algorithm} needs public keys: set asap_key_server or \
             cache_keys_url, or use HS256 with app_secret"
        )));
    }
    let issuers = o
        .asap_accepted_issuers
        .unwrap_or_else(|| vec![app_id.clone()]);
    if issuers.is_empty() {
        return Err(err(
            "asap_accepted_issuers is empty: no token could pass; list issuers or \"*\"",
        ));
    }
    let audiences = match o.asap_accepted_audiences {
        Some(a) => a,
        None => defaults()
            .strings("asap_accepted_audiences")?
            .unwrap_or_default(),
    };
    if audiences.is_empty() {
        return Err(err(
            "asap_accepted_audiences is empty: no token could pass; list audiences or \"*\"",
        ));
    }
    Ok(Config {
        app_id,
        algorithm,
        // In key mode the secret is never used: HS is refused there.
        secret: if key_mode { None } else { o.app_secret },
        key_mode,
        issuers,
        audiences,
        require_room: o
            .asap_require_room_claim
            .or(defaults().boolean("asap_require_room_claim")?)
            .unwrap_or_default(),
        leeway: o
            .token_clock_leeway
            .or(defaults().whole("token_clock_leeway")?)
            .unwrap_or_default(),
        require_typ: o
            .token_require_typ
            .or(defaults().boolean("token_require_typ")?)
            .unwrap_or_default(),
    })
}

/// Keys fetched over plain http could be swapped by anyone on the path, so only
/// https is accepted, except on loopback (tests, a local sidecar).
fn check_key_url(name: &str, raw: &str) -> Result<(), ConfigError> {
    // Messages name scheme and host only: a URL may carry credentials.
    let url = Url::parse(raw).map_err(|e| err(format!("{name} is not a valid URL ({e})")))?;
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => return Err(err(format!("{name} has no host"))),
    };
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(err(format!(
            "{name} must use https (plain http is allowed only for a loopback host): http://{host}"
        ))),
        other => Err(err(format!(
            "{name} must be an https URL, not {other}://{host}"
        ))),
    }
}
