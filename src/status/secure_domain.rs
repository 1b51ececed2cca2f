//! Status of the secure domain for one host: guest domain (host, config.js,
//! allowlist, Jicofo), moderators from the token (with Jicofo's auto-owner off), and
//! the recorders and gateways `configure` would allowlist. Each finding carries its
//! fix; the caller turns them into its checks.

use super::Status;
use crate::config_edit::{Document, SectionId, Value, ALLOWLIST, MODERATORS_FROM_TOKEN};
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

pub fn checks(root: &Path, tree: &Tree, domain: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let Ok(server) = crate::detect::jitsi_server(root, tree, domain) else {
        return out;
    };
    let docs: Vec<Document> = tree
        .files()
        .filter_map(|f| Document::parse(&f.text).ok())
        .collect();
    let allowlist: Vec<String> = match muc_value(&docs, domain, ALLOWLIST) {
        Some(Value::List(items)) => items
            .iter()
            .map(|i| String::from_utf8_lossy(i).to_lowercase())
            .collect(),
        _ => vec![],
    };
    let listed = |e: &str| allowlist.contains(&e.to_lowercase());
    let jicofo_has = |w: jicofo::Wanted| {
        server
            .jicofo
            .as_ref()
            .map(|j| jicofo::ensure(&j.text, domain, w).is_ok_and(|t| t == j.text))
    };
    let guest = server
        .meet_config
        .as_ref()
        .and_then(|f| meet_config::guest_domain(&f.text).ok().flatten());
    match guest {
        None => out.push(finding(
            "guest-domain",
            Status::Skipped,
            "no guest domain (hosts.anonymousdomain is not set in config.js)".into(),
            None,
        )),
        Some(g) => {
            let fix = Some(format!(
                "run `jitsi-meet-tokens configure --domain {domain} --guest-domain {g}`"
            ));
            let problem = if !tree.has_host(&g) {
                Some(format!(
                    "config.js names guest domain {g}, but no VirtualHost {g:?} is enabled"
                ))
            } else if !listed(&g) {
                Some(format!(
                    "guest domain {g} is not in {ALLOWLIST}: guests are refused at room join"
                ))
            } else if jicofo_has(jicofo::Wanted {
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
            out.push(
                match problem {
                    Some(p) => finding("guest-domain", Status::Warn, p, fix),
                    None => finding(
                        "guest-domain",
                        Status::Ok,
                        format!(
                            "guests log in on {g} and join once a token user started the meeting"
                        ),
                        None,
                    ),
                }
                .value(g),
            );
        }
    }
    if muc_value(&docs, domain, MODERATORS_FROM_TOKEN) == Some(Value::Bool(true)) {
        out.push(
            match jicofo_has(jicofo::Wanted {
                token_auth: false,
                no_auto_owner: true,
            }) {
                Some(false) => finding(
                    "moderators-from-token",
                    Status::Warn,
                    "moderators come from the token, but Jicofo still makes the first occupant owner".into(),
                    Some(format!(
                        "run `jitsi-meet-tokens configure --domain {domain} --moderators-from-token`"
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
        );
    }
    let missing: Vec<&str> = server
        .trusted
        .iter()
        .map(|(e, _)| e.as_str())
        .filter(|e| !listed(e))
        .collect();
    if !missing.is_empty() {
        out.push(finding(
            "allowlist",
            Status::Warn,
            format!(
                "{} join rooms without a token but are not in {ALLOWLIST}: they are refused at room join",
                missing.join(", ")
            ),
            Some(format!("run `jitsi-meet-tokens configure --domain {domain}` again (it adds them)")),
        ).value(allowlist.clone()));
    } else if !server.trusted.is_empty() {
        out.push(
            finding(
                "allowlist",
                Status::Ok,
                format!(
                    "recorders and gateways allowlisted: {}",
                    allowlist.join(", ")
                ),
                None,
            )
            .value(allowlist.clone()),
        );
    }
    out
}
