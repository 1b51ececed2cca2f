//! Status of the secure domain for one host: guest domain (host, config.js,
//! allowlist, Jicofo), moderators from the token (with Jicofo's auto-owner off), and
//! the recorders and gateways `configure` would allowlist. Each finding carries its
//! fix; the caller turns them into its checks.

use super::Status;
use crate::config_edit::{Document, SectionId, Value, ALLOWLIST, MODERATORS_FROM_TOKEN};
use crate::detect::JitsiServer;
use crate::jitsi::{jicofo, meet_config};
use crate::tree::Tree;
use std::path::Path;

pub struct Finding {
    pub id: &'static str,
    pub status: Status,
    /// What was found: the guest domain, whether moderators come from the token,
    /// the allowlist.
    pub value: serde_json::Value,
    pub summary: String,
    pub hint: Option<String>,
}

fn finding(id: &'static str, status: Status, summary: String, hint: Option<String>) -> Finding {
    Finding {
        id,
        status,
        value: serde_json::Value::Null,
        summary,
        hint,
    }
}

impl Finding {
    fn value(mut self, v: impl Into<serde_json::Value>) -> Finding {
        self.value = v.into();
        self
    }
}

/// The conference component's value of `key`, wherever the component is defined
/// among `docs` (the enabled files, parsed once).
fn muc_value(docs: &[Document], domain: &str, key: &str) -> Option<Value> {
    let muc = SectionId::component(&format!("conference.{domain}"));
    docs.iter().find_map(|d| d.get(&muc, key))
}

/// What the three findings read: the host, the enabled files (parsed once), Jitsi's
/// files and the allowlist the conference component has.
struct Seen<'a> {
    tree: &'a Tree,
    domain: &'a str,
    docs: Vec<Document>,
    server: JitsiServer,
    allowlist: Vec<String>,
}

impl Seen<'_> {
    fn listed(&self, entry: &str) -> bool {
        self.allowlist.contains(&entry.to_lowercase())
    }

    /// Whether jicofo.conf already has what `wanted` asks for (None: no jicofo.conf).
    fn jicofo_has(&self, wanted: jicofo::Wanted) -> Option<bool> {
        self.server
            .jicofo
            .as_ref()
            .map(|j| jicofo::ensure(&j.text, self.domain, wanted).is_ok_and(|t| t == j.text))
    }
}

pub fn checks(root: &Path, tree: &Tree, domain: &str) -> Vec<Finding> {
    let Ok(server) = crate::detect::jitsi_server(root, tree, domain) else {
        return Vec::new();
    };
    let docs: Vec<Document> = tree
        .files()
        .filter_map(|f| Document::parse(&f.text).ok())
        .collect();
    let allowlist = match muc_value(&docs, domain, ALLOWLIST) {
        Some(Value::List(items)) => items
            .iter()
            .map(|i| String::from_utf8_lossy(i).to_lowercase())
            .collect(),
        _ => vec![],
    };
    let seen = Seen {
        tree,
        domain,
        docs,
        server,
        allowlist,
    };
    let mut out = vec![guest_domain(&seen)];
    out.extend(moderators_from_token(&seen));
    out.extend(allowlisted(&seen));
    out
}

/// The guest domain config.js names: its VirtualHost, allowlist entry and Jicofo's
/// token authentication (without it guests could start meetings).
fn guest_domain(seen: &Seen) -> Finding {
    let domain = seen.domain;
    let guest = seen
        .server
        .meet_config
        .as_ref()
        .and_then(|f| meet_config::guest_domain(&f.text).ok().flatten());
    let Some(g) = guest else {
        return finding(
            "guest-domain",
            Status::Skipped,
            "no guest domain (hosts.anonymousdomain is not set in config.js)".into(),
            None,
        );
    };
    let fix = Some(format!(
        "run `jitsi-meet-tokens configure --domain {domain} --guest-domain {g}`"
    ));
    let problem = if !seen.tree.has_host(&g) {
        Some(format!(
            "config.js names guest domain {g}, but no VirtualHost {g:?} is enabled"
        ))
    } else if !seen.listed(&g) {
        Some(format!(
            "guest domain {g} is not in {ALLOWLIST}: guests are refused at room join"
        ))
    } else if seen.jicofo_has(jicofo::Wanted {
        token_auth: true,
        no_auto_owner: false,
    }) == Some(false)
    {
        Some(format!(
            "guest domain {g} is set, but jicofo.conf has no token authentication: guests can start meetings"
        ))
    } else {
        None
    };
    match problem {
        Some(p) => finding("guest-domain", Status::Warn, p, fix),
        None => finding(
            "guest-domain",
            Status::Ok,
            format!("guests log in on {g} and join once a token user started the meeting"),
            None,
        ),
    }
    .value(g)
}

/// Moderators from the token, when the component asks for it: Jicofo must not make
/// the first occupant owner as well.
fn moderators_from_token(seen: &Seen) -> Option<Finding> {
    if muc_value(&seen.docs, seen.domain, MODERATORS_FROM_TOKEN) != Some(Value::Bool(true)) {
        return None;
    }
    let auto_owner_off = seen.jicofo_has(jicofo::Wanted {
        token_auth: false,
        no_auto_owner: true,
    });
    Some(
        match auto_owner_off {
            Some(false) => finding(
                "moderators-from-token",
                Status::Warn,
                "moderators come from the token, but Jicofo still makes the first occupant owner"
                    .into(),
                Some(format!(
                    "run `jitsi-meet-tokens configure --domain {} --moderators-from-token`",
                    seen.domain
                )),
            ),
            _ => finding(
                "moderators-from-token",
                Status::Ok,
                "moderators come from the token (context.user.moderator / affiliation)".into(),
                None,
            ),
        }
        .value(true),
    )
}

/// The recorders and gateways Jitsi's files name (Jibri, Jigasi), each of which
/// joins without a token and so must be allowlisted.
fn allowlisted(seen: &Seen) -> Option<Finding> {
    let trusted = &seen.server.trusted;
    let missing: Vec<&str> = trusted
        .iter()
        .map(|(e, _)| e.as_str())
        .filter(|e| !seen.listed(e))
        .collect();
    let found = if !missing.is_empty() {
        finding(
            "allowlist",
            Status::Warn,
            format!(
                "{} join rooms without a token but are not in {ALLOWLIST}: they are refused at room join",
                missing.join(", ")
            ),
            Some(format!(
                "run `jitsi-meet-tokens configure --domain {}` again (it adds them)",
                seen.domain
            )),
        )
    } else if !trusted.is_empty() {
        finding(
            "allowlist",
            Status::Ok,
            format!(
                "recorders and gateways allowlisted: {}",
                seen.allowlist.join(", ")
            ),
            None,
        )
    } else {
        return None;
    };
    Some(found.value(seen.allowlist.clone()))
}
