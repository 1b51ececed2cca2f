//! Blocking HTTP with a hard timeout (key fetches, key-server reachability, BOSH).

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use jitsi_tokens_verifier::{loggable_url, Verifier};

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
        // Prosody's key fetch follows no redirect; a 3xx is an answer like any other.
        .max_redirects(0)
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

/// GET `url`, whatever the status. Errors show the URL as logs do (no credentials).
pub fn fetch(url: &str, timeout: Duration) -> Result<Fetched> {
    let shown = loggable_url(url);
    let mut resp = agent(timeout)
        .get(url)
        .call()
        .with_context(|| format!("GET {shown}"))?;
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
        .with_context(|| format!("GET {shown}: reading the body"))?;
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
        bail!("GET {}: HTTP {}", loggable_url(url), f.status);
    }
    Ok(f.body)
}

/// A key server's key for `v`, with the plugin's rules: HTTP 200 without redirects,
/// and a body that `v` parses as a usable public key.
pub fn get_public_key(v: &Verifier, url: &str, timeout: Duration) -> Result<String> {
    let shown = loggable_url(url);
    let pem = String::from_utf8(get(url, timeout)?)
        .map_err(|_| anyhow!("{shown}: the body is not a PEM text"))?;
    v.check_public_key(&pem)
        .map_err(|e| anyhow!("{shown}: not a usable public key ({e})"))?;
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use jitsi_tokens_verifier::Options;

    use super::*;

    /// A loopback server answering each request with `answer(path)`; counts requests
    /// per path it saw.
    fn serve(answer: fn(&str, u16) -> String) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let followed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&followed);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                if path == "/elsewhere.pem" {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                let _ = conn.write_all(answer(&path, port).as_bytes());
            }
        });
        (port, followed)
    }

    fn key_verifier() -> Verifier {
        Verifier::new(Options {
            app_id: Some("app".into()),
            asap_key_server: Some("https://keys.example.com".into()),
            ..Options::default()
        })
        .unwrap()
    }

    fn reply(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn a_redirect_is_not_followed() {
        let (port, followed) = serve(|path, port| match path {
            "/elsewhere.pem" => reply(
                "200 OK",
                "",
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            ),
            _ => reply(
                "302 Found",
                &format!("Location: http://127.0.0.1:{port}/elsewhere.pem\r\n"),
                "",
            ),
        });
        let url = format!("http://u:secret@127.0.0.1:{port}/k.pem?token=abc");
        let e = get_public_key(&key_verifier(), &url, Duration::from_secs(5)).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("HTTP 302"), "{e}");
        assert!(!e.contains("secret") && !e.contains("abc"), "{e}");
        assert_eq!(followed.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_body_that_is_not_a_public_key_is_refused() {
        let (port, _) = serve(|_, _| {
            reply(
                "200 OK",
                "",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            )
        });
        let url = format!("http://127.0.0.1:{port}/k.pem");
        let e = get_public_key(&key_verifier(), &url, Duration::from_secs(5)).unwrap_err();
        assert!(
            format!("{e:#}").contains("not a usable public key"),
            "{e:#}"
        );
    }
}
