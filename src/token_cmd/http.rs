//! The crate's one HTTP client: key fetches, key-server reachability, the BOSH login
//! of `status --live` and the restart probe of [`crate::service`] all go through
//! [`agent`] and [`answer`], so timeouts, redirects and the body limit are defined
//! once, and a failed exchange is a typed [`Failure`] rather than text to match.

use std::fmt;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Result};
use jitsi_tokens_verifier::{loggable_url, Verifier};

/// Bodies larger than this are refused (a key, a JWKS document or a BOSH answer is
/// a few KiB).
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
        // Prosody's net.http reads no proxy variables: reach servers the way it does
        // (and loopback probes must never go through a proxy).
        .proxy(None)
        .build()
        .into()
}

/// An HTTP answer: status, the server's clock (`Date`), body.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub date: Option<SystemTime>,
    pub body: Vec<u8>,
}

/// Why an exchange brought no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens there (the connection was refused).
    Refused,
    /// No complete answer within the timeout.
    TimedOut,
    /// The name does not resolve.
    UnknownHost,
    /// Something answered, but not HTTP (or a broken HTTP response).
    NotHttp(String),
    /// The body is larger than the limit.
    TooLarge,
    /// Anything else (TLS, I/O, a malformed URL): the client's own words.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused (nothing listens there)"),
            Failure::TimedOut => f.write_str("no answer within the timeout"),
            Failure::UnknownHost => f.write_str("the host name does not resolve"),
            Failure::NotHttp(e) => write!(f, "the answer is not HTTP ({e})"),
            Failure::TooLarge => write!(f, "the answer is larger than {MAX_BODY} bytes"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Failure {}

impl From<ureq::Error> for Failure {
    fn from(e: ureq::Error) -> Self {
        use std::io::ErrorKind;
        match e {
            ureq::Error::Timeout(_) => Failure::TimedOut,
            ureq::Error::HostNotFound => Failure::UnknownHost,
            ureq::Error::Protocol(p) => Failure::NotHttp(p.to_string()),
            ureq::Error::BodyExceedsLimit(_) => Failure::TooLarge,
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => Failure::Refused,
                ErrorKind::TimedOut | ErrorKind::WouldBlock => Failure::TimedOut,
                // A peer that closes without a status line did not speak HTTP.
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => {
                    Failure::NotHttp(io.to_string())
                }
                _ => Failure::Other(io.to_string()),
            },
            other => Failure::Other(other.to_string()),
        }
    }
}

/// The answer to a request sent with an [`agent`]: the status and the body read
/// within the limit, or why there is none.
pub fn answer(
    sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> std::result::Result<Fetched, Failure> {
    let mut resp = sent?;
    let date = resp
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()?;
    Ok(Fetched {
        status: resp.status().as_u16(),
        date,
        body,
    })
}

/// GET `url`, whatever the status.
pub fn get_answer(url: &str, timeout: Duration) -> std::result::Result<Fetched, Failure> {
    answer(agent(timeout).get(url).call())
}

/// GET `url`, whatever the status. Errors show the URL as logs do (no credentials).
pub fn fetch(url: &str, timeout: Duration) -> Result<Fetched> {
    get_answer(url, timeout).map_err(|f| anyhow!("GET {}: {f}", loggable_url(url)))
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

/// Loopback servers for the client's tests (here, in `status::live` and `service`).
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A loopback server answering each request with `answer(path, port)` (raw bytes
    /// of any kind); counts the requests for `/elsewhere.pem`.
    pub fn serve(answer: fn(&str, u16) -> String) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let followed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&followed);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let head = read_request(&mut conn);
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                if path == "/elsewhere.pem" {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                let _ = conn.write_all(answer(&path, port).as_bytes());
            }
        });
        (port, followed)
    }

    /// The whole request (head and body), so that closing the connection after the
    /// answer never resets it with unread bytes.
    fn read_request(conn: &mut std::net::TcpStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&got).to_string(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// A loopback server that accepts connections and never answers.
    pub fn tarpit() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn);
            }
        });
        port
    }

    /// A port nothing listens on.
    pub fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    pub fn reply(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use jitsi_tokens_verifier::Options;

    use super::testing::{closed_port, reply, serve, tarpit};
    use super::*;

    fn key_verifier() -> Verifier {
        Verifier::new(Options {
            app_id: Some("app".into()),
            asap_key_server: Some("https://keys.example.com".into()),
            ..Options::default()
        })
        .unwrap()
    }

    #[test]
    fn each_kind_of_answer_has_its_outcome() {
        let t = Duration::from_millis(1500);
        let url = |port: u16| format!("http://127.0.0.1:{port}/");
        let (p404, _) = serve(|_, _| reply("404 Not Found", "", "no"));
        let f = get_answer(&url(p404), t).unwrap();
        assert_eq!((f.status, f.body.as_slice()), (404, b"no".as_slice()));
        let (p500, _) = serve(|_, _| reply("500 Internal Server Error", "", ""));
        assert_eq!(get_answer(&url(p500), t).unwrap().status, 500);
        let (garbage, _) = serve(|_, _| "SSH-2.0-OpenSSH_9.2\r\n".into());
        let e = get_answer(&url(garbage), t).unwrap_err();
        assert!(matches!(e, Failure::NotHttp(_)), "{e:?}");
        let started = std::time::Instant::now();
        assert_eq!(
            get_answer(&url(tarpit()), t).unwrap_err(),
            Failure::TimedOut
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            get_answer(&url(closed_port()), t).unwrap_err(),
            Failure::Refused
        );
        let (huge, _) = serve(|_, _| reply("200 OK", "", &"k".repeat(MAX_BODY as usize + 1)));
        assert_eq!(get_answer(&url(huge), t).unwrap_err(), Failure::TooLarge);
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
