//! `unconfigure`: revert what `configure` did for a domain, from the state record.
//! A file nobody touched since our last write gets its original bytes back; one
//! edited since gets only our option-level changes undone (config_edit's `revert`).

use crate::cli::UnconfigureArgs;
use crate::config_edit::revert;
use crate::detect;
use crate::error::Error;
use crate::fsops::Perms;
use crate::plan::{Action, Change, Plan};
use crate::provision::{self, Ctx};
use crate::report::{Outcome, Reporter};
use crate::runner::Runner;
use crate::settings::SettingsFile;
use crate::state;
use crate::tree;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

pub fn main(args: UnconfigureArgs) -> ExitCode {
    let rep = provision::reporter(args.common.output);
    let ctx = match Ctx::from_common(&args.common) {
        Ok(c) => Ctx {
            if_running: args.if_running,
            ..c
        },
        Err(e) => return provision::fail(&*rep, &e, Outcome::default()),
    };
    let domain = match args
        .common
        .target
        .domain
        .clone()
        .map(Ok)
        .unwrap_or_else(|| {
            SettingsFile::load(&crate::fsops::inside(&ctx.root, &args.common.settings)?)?
                .values()?
                .domain
                .ok_or_else(|| Error::Missing("--domain".into()).into())
        }) {
        Ok(d) => d,
        Err(e) => return provision::fail(&*rep, &e, Outcome::default()),
    };
    match run(&ctx, &domain, &crate::runner::System, &*rep) {
        Ok(o) => {
            rep.finish(&o);
            ExitCode::from(if o.error.is_some() { 1 } else { 0 })
        }
        Err(e) => provision::fail(&*rep, &e, Outcome::default()),
    }
}

/// The plan that reverts the record (empty when there is nothing left to undo).
pub fn plan(ctx: &Ctx, rec: &state::Record) -> Result<Plan> {
    let mut plan = Plan::default();
    for f in rec.files.iter().rev() {
        // A link we made is removed itself; a file is reverted where its links lead.
        let path = crate::fsops::resolve(&ctx.root, Path::new(&f.path), !f.symlink)?;
        if f.symlink {
            if path.is_symlink() {
                plan.changes.push(Change {
                    path,
                    shown: f.path.clone(),
                    old: None,
                    action: Action::Remove,
                    perms: Perms {
                        mode: 0o777,
                        uid: 0,
                        gid: 0,
                    },
                    restart: true,
                });
            }
            continue;
        }
        let current = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                plan.warnings
                    .push(format!("{} is gone; nothing to revert there", f.path));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let untouched = f.written.as_deref() == Some(current.as_str());
        if f.created {
            if untouched {
                plan.changes.push(Change {
                    path,
                    shown: f.path.clone(),
                    old: Some(current),
                    action: Action::Remove,
                    perms: Perms {
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
                    },
                    restart: true,
                });
            } else {
                plan.warnings.push(format!(
                    "{} was created by configure but edited since; left in place",
                    f.path
                ));
            }
            continue;
        }
        let (new, perms) = if untouched {
            let perms = f
                .original_perms
                .unwrap_or_else(|| Perms::for_write(Perms::of(&path), false));
            (f.original.clone().unwrap_or_default(), perms)
        } else if let Some(new) = jitsi_revert(f, &current, &mut plan) {
            (new, Perms::for_write(Perms::of(&path), false))
        } else {
            let r = revert(&current, &f.changes)
                .map_err(|e| Error::BrokenConfig(format!("{}: {e}", f.path)))?;
            for s in r.skipped {
                plan.warnings
                    .push(format!("{}: not reverted (edited since): {s}", f.path));
            }
            (r.text, Perms::for_write(Perms::of(&path), false))
        };
        if new != current || Perms::of(&path) != Some(perms) {
            plan.changes.push(Change {
                path,
                shown: f.path.clone(),
                old: Some(current),
                action: Action::Write { new },
                perms,
                restart: !is_jitsi_file(&f.path),
            });
        }
    }
    Ok(plan)
}

/// Jitsi Meet's web config and Jicofo's config (not Prosody's: no Lua, no restart).
fn is_jitsi_file(path: &str) -> bool {
    path.starts_with("/etc/jitsi/")
}

/// A Jitsi file edited since configure wrote it: config.js gets its guest domain
/// commented out again, jicofo.conf is left as it is (with a warning). `None` for a
/// Prosody file.
fn jitsi_revert(f: &state::FileRecord, current: &str, plan: &mut Plan) -> Option<String> {
    use crate::jitsi::meet_config;
    if !is_jitsi_file(&f.path) {
        return None;
    }
    let guest = f
        .written
        .as_deref()
        .and_then(|w| meet_config::guest_domain(w).ok().flatten());
    let original = f.original.as_deref().unwrap_or(current);
    match guest.map(|g| meet_config::unset_guest_domain(current, original, &g)) {
        Some(Ok(t)) if f.path.ends_with("-config.js") => Some(t),
        _ => {
            plan.warnings.push(format!(
                "{} was edited since configure wrote it; not reverted: remove what \
                 configure added (jicofo.authentication, jicofo.conference.enable-auto-owner, \
                 hosts.anonymousdomain) by hand",
                f.path
            ));
            Some(current.to_string())
        }
    }
}

pub fn run(ctx: &Ctx, domain: &str, runner: &dyn Runner, rep: &dyn Reporter) -> Result<Outcome> {
    let sys = detect::detect(&ctx.root, runner)?;
    ctx.clean_after_killed_run()?;
    // Without a record there is nothing to do, and not even the lock file is made.
    let mut rec = state::load(&ctx.state_dir, domain)?;
    let _lock = if ctx.dry_run || rec.is_none() {
        None
    } else {
        let l = ctx.lock()?;
        rec = state::load(&ctx.state_dir, domain)?; // as it is now that we hold the lock
        Some(l)
    };
    let Some(rec) = rec else {
        let w = format!("no state record for {domain}: nothing to unconfigure");
        rep.warn(&w);
        return Ok(Outcome {
            restart: "none".into(),
            warnings: vec![w],
            ..Default::default()
        });
    };
    let tree = tree::scan(&ctx.root)?;
    let mut plan = plan(ctx, &rec)?;
    // Mask whatever secret the reverted text held.
    plan.secrets.extend(rec.files.iter().flat_map(|f| {
        f.changes
            .iter()
            .filter(|c| c.key == "app_secret")
            .flat_map(|c| c.after.clone())
    }));
    for w in &plan.warnings {
        rep.warn(w);
    }
    let empty = plan.is_empty();
    let mut out = provision::execute(
        ctx,
        domain,
        &sys,
        &tree,
        &plan,
        crate::service::Expect::Alive,
        runner,
        rep,
        provision::RecordOp::Delete,
    )?;
    crate::jitsi::restart::after_apply(ctx, &plan, runner, rep, &mut out);
    if empty && !ctx.dry_run {
        state::remove(&ctx.state_dir, domain)?;
    }
    Ok(out)
}
