//! `configure`'s secure-domain part: the guest domain's VirtualHost, Jitsi Meet's
//! config.js, Jicofo's jicofo.conf and the conference allowlist, as desired state
//! and as plan.

use super::{confd_link_change, Request};
use crate::config_edit::DEFAULT_JITSI_PLUGIN_DIR;
use crate::detect;
use crate::error::Error;
use crate::fsops::{self, Perms};
use crate::plan::{Action, Change, Plan};
use crate::state;
use crate::tree::{Tree, CONF_DIR};
use anyhow::Result;
use std::path::Path;

/// The secure-domain part of the desired state: the guest domain (on, turned off,
/// or left as it is), Jicofo's settings, and the allowlist with where each entry
/// comes from.
pub(super) struct SecureDomain {
    pub(super) guest: Option<String>,
    /// The guest domain a previous run set up, now turned off.
    pub(super) previous_guest: Option<String>,
    pub(super) jicofo: Option<crate::jitsi::jicofo::Wanted>,
    pub(super) allowlist: Vec<(String, String)>,
}

/// The guest domain a previous run created a host file for.
fn recorded_guest(record: Option<&state::Record>, domain: &str) -> Option<String> {
    record?.files.iter().find_map(|f| {
        let name = f
            .path
            .strip_prefix(&format!("{CONF_DIR}/conf.avail/"))?
            .strip_suffix(".cfg.lua")?;
        (f.created && !f.symlink && !name.eq_ignore_ascii_case(domain)).then(|| name.to_string())
    })
}

/// What the secure domain should be after this run.
pub(super) fn desired(
    req: &Request,
    server: &detect::JitsiServer,
    record: Option<&state::Record>,
) -> SecureDomain {
    let v = &req.values;
    let guest = v.guest_domain.clone().filter(|g| !g.is_empty());
    let previous_guest = match v.guest_domain.as_deref() {
        Some("") => recorded_guest(record, &req.domain),
        _ => None,
    };
    let mut allowlist: Vec<(String, String)> = Vec::new();
    if let Some(g) = &guest {
        allowlist.push((g.clone(), "the guest domain".into()));
    }
    allowlist.extend(server.trusted.iter().cloned());
    for e in v.allowlist.iter().flatten() {
        allowlist.push((e.clone(), "--allowlist".into()));
    }
    let mut seen = std::collections::HashSet::new();
    allowlist.retain(|(e, _)| seen.insert(e.to_lowercase()));
    // Jicofo: each setting wanted when asked for, or when it is set already and
    // nobody asked otherwise (a second run keeps it).
    let jicofo = server.jicofo.as_ref().map(|j| {
        let auth_now = jicofo_has(&j.text, &req.domain, true, false);
        let owner_now = jicofo_has(&j.text, &req.domain, false, true);
        crate::jitsi::jicofo::Wanted {
            token_auth: match v.guest_domain.as_deref() {
                Some("") => false,
                Some(_) => true,
                None => auth_now,
            },
            no_auto_owner: v.moderators_from_token.unwrap_or(owner_now),
        }
    });
    SecureDomain {
        guest,
        previous_guest,
        jicofo,
        allowlist,
    }
}

/// What the allowlist edit added, and why, for the report.
pub(super) fn allowlist_notes(
    changes: &[crate::config_edit::Change],
    allowlist: &[(String, String)],
) -> Vec<String> {
    use crate::config_edit::ChangeKind;
    let ours = changes
        .iter()
        .filter(|c| c.key == crate::config_edit::ALLOWLIST);
    // A list created at once carries no item: every entry of ours is in it.
    let added: Vec<String> = if ours.clone().any(|c| c.kind == ChangeKind::Inserted) {
        allowlist.iter().map(|(e, _)| e.clone()).collect()
    } else {
        ours.filter_map(|c| c.item.as_deref())
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect()
    };
    added
        .iter()
        .filter_map(|item| {
            let (e, from) = allowlist.iter().find(|(e, _)| e == item)?;
            Some(format!(
                "token_verification_allowlist: added {e} ({from}), so it joins rooms without a token"
            ))
        })
        .collect()
}

fn jitsi_change(f: &detect::JitsiFile, new: String) -> Option<Change> {
    (new != f.text).then(|| Change {
        path: f.real.clone(),
        shown: f.shown.clone(),
        old: Some(f.text.clone()),
        action: Action::Write { new },
        perms: Perms::for_write(Perms::of(&f.real), false),
        restart: false,
    })
}

/// The text a previous run started from, when the file is still exactly what one
/// of our edits made of it (so turning a part off gives the original bytes back).
fn recorded_original(record: Option<&state::Record>, f: &detect::JitsiFile) -> Option<String> {
    record?
        .files
        .iter()
        .find(|r| r.path == f.shown && r.written.as_deref() == Some(f.text.as_str()))?
        .original
        .clone()
}

/// The guest host file, config.js and jicofo.conf for the secure domain.
pub(super) fn plan_files(
    req: &Request,
    tree: &Tree,
    server: &detect::JitsiServer,
    record: Option<&state::Record>,
    secure: &SecureDomain,
    plan: &mut Plan,
) -> Result<()> {
    use crate::jitsi::{jicofo, meet_config};
    let skipped = |plan: &mut Plan, what: &str, shown: String| {
        plan.warnings
            .push(format!("skipped {shown}: {what} is not installed here"));
    };
    if let Some(g) = &secure.guest {
        plan_guest_host(req, tree, record, g, plan)?;
        match &server.meet_config {
            Some(f) => {
                let new = meet_config::set_guest_domain(&f.text, g)?;
                plan.changes.extend(jitsi_change(f, new));
            }
            None => skipped(
                plan,
                "Jitsi Meet's web config",
                format!("/{}", meet_config::path(&req.domain)),
            ),
        }
    }
    if let Some(p) = &secure.previous_guest {
        plan_guest_removal(req, server, record, p, plan)?;
    }
    match (&server.jicofo, secure.jicofo) {
        (Some(f), Some(w)) => plan_jicofo(req, record, f, w, plan)?,
        (None, _) if secure.guest.is_some() || req.values.moderators_from_token == Some(true) => {
            skipped(plan, "Jicofo", format!("/{}", jicofo::PATH));
        }
        _ => {}
    }
    Ok(())
}

/// The guest VirtualHost's file and link, unless the host exists already.
fn plan_guest_host(
    req: &Request,
    tree: &Tree,
    record: Option<&state::Record>,
    g: &str,
    plan: &mut Plan,
) -> Result<()> {
    let root = &req.ctx.root;
    if tree.has_host(g) {
        if recorded_guest(record, &req.domain).as_deref() != Some(g) {
            plan.notes.push(format!(
                "VirtualHost {g:?} is already defined; left as it is"
            ));
        }
        return Ok(());
    }
    let jitsi_plugins = fsops::inside(root, DEFAULT_JITSI_PLUGIN_DIR)?.is_dir();
    let auth = if jitsi_plugins {
        "jitsi-anonymous"
    } else {
        "anonymous"
    };
    let text = crate::config_edit::render_guest_host(g, auth)
        .map_err(|e| anyhow::anyhow!("rendering the guest host config: {e}"))?;
    let avail = fsops::resolve(root, &tree.avail_path(g), true)?;
    if avail.exists() {
        anyhow::bail!(Error::BrokenConfig(format!(
            "{} exists but is not enabled in conf.d; enable or remove it",
            fsops::shown(root, &avail)
        )));
    }
    plan.changes.push(Change {
        path: avail,
        shown: format!("{CONF_DIR}/conf.avail/{g}.cfg.lua"),
        old: None,
        action: Action::Write { new: text },
        perms: Perms::for_write(None, false),
        restart: true,
    });
    plan.changes.push(confd_link_change(req, tree, g)?);
    Ok(())
}

/// The guest domain turned off: our guest host file and its link go, if untouched
/// since, and config.js loses the guest domain.
fn plan_guest_removal(
    req: &Request,
    server: &detect::JitsiServer,
    record: Option<&state::Record>,
    p: &str,
    plan: &mut Plan,
) -> Result<()> {
    use crate::jitsi::meet_config;
    for f in record.into_iter().flat_map(|r| &r.files) {
        let ours = [
            format!("{CONF_DIR}/conf.avail/{p}.cfg.lua"),
            format!("{CONF_DIR}/conf.d/{p}.cfg.lua"),
        ];
        if !ours.contains(&f.path) {
            continue;
        }
        let path = fsops::resolve(&req.ctx.root, Path::new(&f.path), !f.symlink)?;
        let current = std::fs::read_to_string(&path).ok();
        if f.symlink && path.is_symlink() || !f.symlink && current == f.written {
            plan.changes.push(Change {
                path,
                shown: f.path.clone(),
                old: if f.symlink { None } else { current },
                action: Action::Remove,
                perms: Perms::for_write(None, false),
                restart: true,
            });
        } else if current.is_some() {
            plan.warnings.push(format!(
                "{} was edited since configure wrote it; left in place",
                f.path
            ));
        }
    }
    if let Some(f) = &server.meet_config {
        let new = match recorded_original(record, f) {
            Some(o) if meet_config::set_guest_domain(&o, p).is_ok_and(|t| t == f.text) => o,
            _ => meet_config::unset_guest_domain(&f.text, &f.text, p)?,
        };
        plan.changes.extend(jitsi_change(f, new));
    }
    Ok(())
}

/// jicofo.conf already has the settings asked for (ensuring them changes nothing).
fn jicofo_has(text: &str, domain: &str, token_auth: bool, no_auto_owner: bool) -> bool {
    let only = crate::jitsi::jicofo::Wanted {
        token_auth,
        no_auto_owner,
    };
    crate::jitsi::jicofo::ensure(text, domain, only).is_ok_and(|t| t == text)
}

/// jicofo.conf with the wanted settings, warning when one turned off was not ours.
fn plan_jicofo(
    req: &Request,
    record: Option<&state::Record>,
    f: &detect::JitsiFile,
    w: crate::jitsi::jicofo::Wanted,
    plan: &mut Plan,
) -> Result<()> {
    use crate::jitsi::jicofo::{self, Wanted};
    // Start from the recorded original when the file is ours as we left it,
    // so a part turned off comes out byte for byte.
    let combos = [(false, false), (true, false), (false, true), (true, true)];
    let base = recorded_original(record, f)
        .filter(|o| {
            combos.iter().any(|&(a, b)| {
                let w = Wanted {
                    token_auth: a,
                    no_auto_owner: b,
                };
                jicofo::ensure(o, &req.domain, w).is_ok_and(|t| t == f.text)
            })
        })
        .unwrap_or_else(|| f.text.clone());
    let new = jicofo::ensure(&base, &req.domain, w)?;
    if base == f.text
        && ((!w.token_auth && jicofo_has(&new, &req.domain, true, false))
            || (!w.no_auto_owner && jicofo_has(&new, &req.domain, false, true)))
    {
        plan.warnings.push(format!(
            "{}: a setting turned off was not set by configure; left as it is",
            f.shown
        ));
    }
    plan.changes.extend(jitsi_change(f, new));
    Ok(())
}
