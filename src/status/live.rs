//! `status --live`: log in over BOSH to the running Prosody with a token, the bytes a
//! Jitsi Meet client sends (shared/spec/prosody.md, "A BOSH login, byte for byte").

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

use crate::token_cmd::http;

const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// SASL success and resource bind: the full JID.
    Bound(String),
    /// SASL failure: condition element and `<text>`.
    Refused { condition: String, text: String },
}

/// The parts of a BOSH response body the login needs.
#[derive(Debug, Default)]
struct Parsed {
    sid: Option<String>,
    body_type: Option<String>,
    mechanisms: Vec<String>,
    success: bool,
    failure: Option<(String, String)>,
    jid: Option<String>,
}

fn parse(xml: &str) -> Result<Parsed> {
    let mut reader = Reader::from_str(xml);
    let mut out = Parsed::default();
    let mut stack: Vec<String> = Vec::new();
    let mut failure: Option<(String, String)> = None;
    loop {
        let ev = reader
            .read_event()
            .with_context(|| format!("BOSH response is not XML: {xml}"))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = e.local_name().as_ref().to_owned();
            match name.as_str() {
                "body" => {
                    for a in e.attributes().flatten() {
                        let v = a
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map(|v| v.into_owned())
                            .unwrap_or_default();
                        match a.key.local_name().as_ref() {
                            "sid" => out.sid = Some(v),
                            "type" => out.body_type = Some(v),
                            _ => {}
                        }
                    }
                }
                "success" => out.success = true,
                "failure" => failure = Some((String::new(), String::new())),
                other if stack.last().map(String::as_str) == Some("failure") && other != "text" => {
                    if let Some(f) = failure.as_mut() {
                        f.0 = other.to_owned();
                    }
                }
                _ => {}
            }
            if !empty {
                stack.push(name);
            }
            continue;
        }
        match ev {
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                match stack.last().map(String::as_str) {
                    Some("mechanism") => out.mechanisms.push(text),
                    Some("jid") => out.jid = Some(text),
                    Some("text") if stack.iter().any(|s| s == "failure") => {
                        if let Some(f) = failure.as_mut() {
                            f.1.push_str(&text);
                        }
                    }
                    _ => {}
                }
            }
            // Entities such as &apos; inside a failure text.
            Event::GeneralRef(r) if stack.last().map(String::as_str) == Some("text") => {
                if let Some(f) = failure.as_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => f.1.push(c),
                        _ => f.1.push_str(
                            quick_xml::escape::resolve_xml_entity(&r.xml10_content()).unwrap_or(""),
                        ),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out.failure = failure;
    Ok(out)
}

/// The request that opens a BOSH session for `domain`, the server holding each
/// request at most `wait` seconds.
fn session_request(domain: &str, wait: u32) -> String {
    format!(
        "<body content='text/xml; charset=utf-8' hold='1' rid='1000' to='{}' ver='1.6' wait='{wait}' \
         xml:lang='en' xmlns='{HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>",
        escape(domain)
    )
}

/// One POST of `body` to a BOSH endpoint, routed to `domain`: Prosody routes HTTP by
/// Host, and BOSH enabled in the VirtualHost's modules_enabled (as Jitsi does)
/// answers only for the domain's name.
fn post(
    agent: &ureq::Agent,
    url: &str,
    domain: &str,
    token: Option<&str>,
    body: &str,
) -> std::result::Result<http::Fetched, http::Failure> {
    let mut req = agent
        .post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("Host", domain);
    if let Some(t) = token {
        req = req.query("token", t);
    }
    http::answer(req.send(body))
}

/// What a BOSH endpoint answered to a session request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A BOSH session response; the SASL mechanisms its stream features offer.
    Offers(Vec<String>),
    /// An HTTP status other than 200.
    Status(u16),
    /// HTTP 200 with a body that is not a BOSH session response (an excerpt of it).
    NotBosh(String),
    /// No HTTP answer.
    Failed(http::Failure),
}

/// Open a BOSH session for `domain` at `url` and read the mechanisms offered.
pub fn probe(url: &str, domain: &str, timeout: Duration) -> Probe {
    let agent = http::agent(timeout);
    let f = match post(&agent, url, domain, None, &session_request(domain, 1)) {
        Ok(f) => f,
        Err(e) => return Probe::Failed(e),
    };
    if f.status != 200 {
        return Probe::Status(f.status);
    }
    let text = String::from_utf8_lossy(&f.body);
    match parse(&text) {
        Ok(p) if p.sid.is_some() => Probe::Offers(p.mechanisms),
        _ => Probe::NotBosh(text.chars().take(300).collect()),
    }
}

struct Session {
    agent: ureq::Agent,
    url: String,
    domain: String,
    token: String,
    rid: u64,
    sid: String,
}

impl Session {
    fn send(&self, body: &str) -> std::result::Result<http::Fetched, http::Failure> {
        post(
            &self.agent,
            &self.url,
            &self.domain,
            Some(&self.token),
            body,
        )
    }

    fn post(&self, body: &str) -> Result<Parsed> {
        let f = self
            .send(body)
            .map_err(|e| anyhow!("POST {}: {e}", self.url))?;
        let status = f.status;
        let text = String::from_utf8_lossy(&f.body);
        if status == 404 {
            bail!(
                "POST {} (Host: {}): HTTP 404: no BOSH endpoint for {} there; check the path \
                 of --bosh-url and that \"bosh\" is in the host's modules_enabled (or the global one)",
                self.url,
                self.domain,
                self.domain
            );
        }
        if status != 200 {
            // Prosody's error pages are HTML: only the status says anything here.
            bail!("POST {} (Host: {}): HTTP {status}", self.url, self.domain);
        }
        let parsed = parse(&text)?;
        if parsed.body_type.as_deref() == Some("terminate") {
            bail!("the server ended the BOSH session: {}", text.trim());
        }
        Ok(parsed)
    }

    /// Send `payload` inside a body, then poll with empty bodies until `done` holds
    /// (the server may answer a request with an empty body and deliver later).
    fn exchange(
        &mut self,
        attrs: &str,
        payload: &str,
        done: impl Fn(&Parsed) -> bool,
    ) -> Result<Parsed> {
        for attempt in 0..3 {
            self.rid += 1;
            let body = if attempt == 0 {
                format!(
                    "<body rid='{}' sid='{}' {attrs}xmlns='{HTTPBIND}'>{payload}</body>",
                    self.rid,
                    escape(&self.sid)
                )
            } else {
                format!(
                    "<body rid='{}' sid='{}' xmlns='{HTTPBIND}'/>",
                    self.rid,
                    escape(&self.sid)
                )
            };
            let p = self.post(&body)?;
            if done(&p) {
                return Ok(p);
            }
        }
        bail!("no answer from the server after three BOSH requests")
    }
}

/// Log in to `domain` at `url` (`http://127.0.0.1:5280/http-bind`) with `token`.
pub fn login(url: &str, domain: &str, token: &str, timeout: Duration) -> Result<Login> {
    // Every request carries `wait='10'`; the HTTP timeout must exceed it.
    let agent = http::agent(timeout.max(Duration::from_secs(15)));
    let mut s = Session {
        agent,
        url: url.to_owned(),
        domain: domain.to_owned(),
        token: token.to_owned(),
        rid: 1000,
        sid: String::new(),
    };
    let to = escape(domain);
    let first = s.post(&session_request(domain, 10))?;
    s.sid = first
        .sid
        .clone()
        .context("the BOSH session response has no sid")?;
    let features = if first.mechanisms.is_empty() {
        s.exchange("", "", |p| !p.mechanisms.is_empty())?
    } else {
        first
    };
    if !features.mechanisms.iter().any(|m| m == "ANONYMOUS") {
        bail!(
            "the server offers SASL {:?} but not ANONYMOUS: the token auth module is not active on {domain} \
             (check authentication = \"token\" and Prosody's log for \"Error initializing module\")",
            features.mechanisms
        );
    }
    let auth = s.exchange(
        "",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>",
        |p| p.success || p.failure.is_some(),
    )?;
    if let Some((condition, text)) = auth.failure {
        let _ = terminate(&mut s);
        return Ok(Login::Refused { condition, text });
    }
    s.exchange(
        &format!("to='{to}' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh' "),
        "",
        |_| true,
    )?;
    let bound = s.exchange(
        "",
        "<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        |p| p.jid.is_some(),
    )?;
    let _ = terminate(&mut s);
    Ok(Login::Bound(bound.jid.unwrap_or_default()))
}

fn terminate(s: &mut Session) -> Result<()> {
    s.rid += 1;
    let body = format!(
        "<body rid='{}' sid='{}' type='terminate' xmlns='{HTTPBIND}'><presence type='unavailable' \
         xmlns='jabber:client'/></body>",
        s.rid,
        escape(&s.sid)
    );
    s.send(&body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_cmd::http::testing::{closed_port, reply, serve, tarpit};
    use crate::token_cmd::http::Failure;

    const FEATURES: &str = "<body sid='s1' xmlns='http://jabber.org/protocol/httpbind'>\
        <stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
        <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism>\
        </mechanisms></stream:features></body>";

    /// Each kind of answer to a session request gets its own outcome.
    #[test]
    fn probe_outcomes() {
        let probe = |port: u16| {
            super::probe(
                &format!("http://127.0.0.1:{port}/http-bind"),
                "meet.test",
                Duration::from_millis(1500),
            )
        };
        let (port, _) = serve(|_, _| reply("200 OK", "", FEATURES));
        assert_eq!(probe(port), Probe::Offers(vec!["ANONYMOUS".into()]));
        // The text ANONYMOUS outside a <mechanism> element offers nothing.
        let (port, _) = serve(|_, _| {
            reply(
                "200 OK",
                "",
                "<body sid='s1' xmlns='http://jabber.org/protocol/httpbind'><!-- >ANONYMOUS< --></body>",
            )
        });
        assert_eq!(probe(port), Probe::Offers(vec![]));
        let (port, _) = serve(|_, _| reply("404 Not Found", "", "<html>Not Found</html>"));
        assert_eq!(probe(port), Probe::Status(404));
        let (port, _) = serve(|_, _| reply("500 Internal Server Error", "", ""));
        assert_eq!(probe(port), Probe::Status(500));
        let (port, _) = serve(|_, _| reply("200 OK", "", "<html><p>>ANONYMOUS<</p></html>"));
        assert!(matches!(probe(port), Probe::NotBosh(b) if b.starts_with("<html>")));
        let (port, _) = serve(|_, _| "\x15\x03\x01garbage, not HTTP\r\n".into());
        assert!(
            matches!(probe(port), Probe::Failed(Failure::NotHttp(_))),
            "{:?}",
            probe(port)
        );
        assert_eq!(probe(tarpit()), Probe::Failed(Failure::TimedOut));
        assert_eq!(probe(closed_port()), Probe::Failed(Failure::Refused));
    }

    #[test]
    fn parses_features_failure_and_bind() {
        let p = parse(
            "<body sid='abc' xmlns='http://jabber.org/protocol/httpbind'><stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism></mechanisms></stream:features></body>",
        )
        .unwrap();
        assert_eq!(p.sid.as_deref(), Some("abc"));
        assert_eq!(p.mechanisms, ["ANONYMOUS"]);
        let p = parse(
            "<body xmlns='http://jabber.org/protocol/httpbind'><failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <not-authorized/><text>sub claim is missing</text></failure></body>",
        )
        .unwrap();
        assert_eq!(
            p.failure,
            Some(("not-authorized".into(), "sub claim is missing".into()))
        );
        let p = parse(
            "<body xmlns='x'><failure xmlns='y'><not-allowed/><text>&apos;kid&apos; claim is missing</text></failure></body>",
        )
        .unwrap();
        assert_eq!(p.failure.unwrap().1, "'kid' claim is missing");
        let p = parse("<body xmlns='x'><iq type='result' id='b1'><bind xmlns='b'><jid>u@meet.test/r</jid></bind></iq></body>")
            .unwrap();
        assert_eq!(p.jid.as_deref(), Some("u@meet.test/r"));
    }
}
