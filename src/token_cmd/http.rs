//! Blocking HTTP with a hard timeout (key fetches, key-server reachability, BOSH).

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Bodies larger than this are refused (a key or JWKS document is a few KiB).
const MAX_BODY: u64 = 1 << 20;

pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET `url`; only HTTP 200 counts (as in Prosody's key fetch).
pub fn get(url: &str, timeout: Duration) -> Result<Vec<u8>> {
    let mut resp = agent(timeout)
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if status != 200 {
        bail!("GET {url}: HTTP {status}");
    }
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .with_context(|| format!("GET {url}: reading the body"))
}
