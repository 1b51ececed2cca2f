//! Blocking HTTP with a hard timeout (key fetches, key-server reachability, BOSH).

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

/// Bodies larger than this are refused (a key or JWKS document is a few KiB).
const MAX_BODY: u64 = 1 << 20;

pub fn agent(timeout: Duration) -> ureq::Agent {
    // The system's CA store (an internal key server's private CA works once it is in
    // /etc/ssl/certs), with aws-lc-rs as rustls' crypto provider.
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A response: status, the server's clock (`Date`), body.
pub struct Fetched {
    pub status: u16,
    pub date: Option<SystemTime>,
    pub body: Vec<u8>,
}

/// GET `url`, whatever the status.
pub fn fetch(url: &str, timeout: Duration) -> Result<Fetched> {
    let mut resp = agent(timeout)
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let date = resp
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .with_context(|| format!("GET {url}: reading the body"))?;
    Ok(Fetched {
        status: resp.status().as_u16(),
        date,
        body,
    })
}

/// GET `url`; only HTTP 200 counts (as in Prosody's key fetch).
pub fn get(url: &str, timeout: Duration) -> Result<Vec<u8>> {
    let f = fetch(url, timeout)?;
    if f.status != 200 {
        bail!("GET {url}: HTTP {}", f.status);
    }
    Ok(f.body)
}
