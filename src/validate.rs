//! Validation before anything is replaced: the whole config as it will be (main file
//! plus every enabled host file, with the planned texts) is staged in a private
//! directory and loaded through Prosody's own loader (real Lua), then checked with
//! `prosodyctl --config … check config` where Prosody is installed.
//!
//! Config files are Lua: loading one runs it. Both steps therefore run confined
//! ([`Confine`]): as Prosody's user (never root), with a clean environment, from a
//! 0700 directory of that user's under the state directory's scratch directory.

use crate::config_edit::{Confine, LoadedConfig, Loader};
use crate::detect::System;
use crate::error::Error;
use crate::plan::{Action, Plan};
use crate::runner::{Cmd, Runner};
use crate::tree::{resolve_link, Tree, CONF_DIR};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub fn loader(root: &Path, sys: &System) -> Loader {
    let host_lib = PathBuf::from("/usr/lib/prosody");
    let lib = crate::fsops::inside(root, &host_lib).unwrap_or_else(|_| host_lib.clone());
    Loader {
        lua: PathBuf::from(format!("lua{}", sys.lua)),
        prosody_lib: if lib.join("core/configmanager.lua").exists() {
            lib
        } else {
            host_lib
        },
        confine: None,
    }
}

/// The config files Prosody would read after `plan` (or now, with an empty plan):
/// main text and each `conf.d` entry's name and text.
fn staged_texts(tree: &Tree, plan: &Plan) -> Result<(String, BTreeMap<String, String>)> {
    let writes: BTreeMap<&Path, Option<&str>> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::Write { new } => Some((c.path.as_path(), Some(new.as_str()))),
            Action::Remove => Some((c.path.as_path(), None)),
            _ => None,
        })
        .collect();
    let links: BTreeMap<&Path, Option<&Path>> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::Symlink { target } => Some((c.path.as_path(), Some(target.as_path()))),
            Action::Remove => Some((c.path.as_path(), None)),
            _ => None,
        })
        .collect();
    let read = |p: &Path| -> Result<Option<String>> {
        if let Some(w) = writes.get(p) {
            return Ok(w.map(str::to_string));
        }
        match std::fs::read_to_string(p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    };
    let main = read(&tree.main.real)?.unwrap_or_default();
    let confd = crate::fsops::inside(&tree.root, format!("{CONF_DIR}/conf.d"))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&confd)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    for l in links.keys() {
        if !entries.iter().any(|e| e == l) {
            entries.push(l.to_path_buf());
        }
    }
    let mut out = BTreeMap::new();
    for e in entries {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        let target = match links.get(e.as_path()) {
            Some(None) => continue,
            Some(Some(t)) => resolve_link(&tree.root, &e.parent().unwrap().join(t))?,
            None => resolve_link(&tree.root, &e)?,
        };
        if let Some(text) = read(&target)? {
            out.insert(name, text);
        }
    }
    Ok((main, out))
}

/// Whom config code runs as while it may still be hostile: Prosody's user (it runs
/// that code at every start anyway), else `nobody`; as a non-root user, ourselves.
fn confined_user() -> Option<(u32, u32)> {
    use nix::unistd::{Group, Uid, User};
    if !Uid::effective().is_root() {
        return None;
    }
    let u = User::from_name("prosody").ok().flatten();
    Some(match u {
        Some(u) => (u.uid.as_raw(), u.gid.as_raw()),
        None => {
            let gid = Group::from_name("nogroup")
                .ok()
                .flatten()
                .map_or(65534, |g| g.gid.as_raw());
            (65534, gid)
        }
    })
}

/// One validation's private directory (0700, owned by the confined user) in the
/// run's scratch directory under the state directory: removed on drop, and by the
/// next run if this one is killed.
struct Stage {
    confine: Confine,
    _fd: std::os::fd::OwnedFd,
    _dir: tempfile::TempDir,
}

const STAGED_MAIN: &str = "prosody.cfg.lua";

/// The config after `plan`, staged for the confined loader and prosodyctl.
fn stage(tree: &Tree, plan: &Plan, scratch: &Path) -> Result<Stage, String> {
    let (main, confd) = staged_texts(tree, plan).map_err(|e| format!("{e:#}"))?;
    let setup = || -> std::io::Result<Stage> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix("check.")
            .tempdir_in(scratch)?;
        let (confine, fd) = Confine::open(dir.path(), confined_user())?;
        confine.give(dir.path())?;
        for sub in ["conf.d", "certs"] {
            confine.mkdir(sub)?;
        }
        for (name, text) in &confd {
            confine.write(&format!("conf.d/{name}"), text.as_bytes())?;
        }
        confine.write(STAGED_MAIN, main.as_bytes())?;
        Ok(Stage {
            confine,
            _fd: fd,
            _dir: dir,
        })
    };
    setup().map_err(|e| format!("staging the config in {}: {e}", scratch.display()))
}

/// Staged paths in messages shown as the real config directory.
fn unstage(st: &Stage, text: &str) -> String {
    text.replace(
        &st.confine.child_path("").display().to_string(),
        &format!("{CONF_DIR}/"),
    )
}

fn load(tree: &Tree, plan: &Plan, sys: &System, scratch: &Path) -> Result<LoadedConfig, String> {
    let st = stage(tree, plan, scratch)?;
    let mut l = loader(&tree.root, sys);
    l.confine = Some(st.confine.clone());
    l.load_file(&st.confine.child_path(STAGED_MAIN))
        .map_err(|e| unstage(&st, &e.to_string()))
}

/// `prosodyctl check config` on the staged config: the problem lines it printed.
/// `Ok(None)` when prosodyctl is not installed.
fn ctl(
    tree: &Tree,
    plan: &Plan,
    runner: &dyn Runner,
    scratch: &Path,
) -> Result<Option<Vec<String>>, String> {
    let Ok(ctl) = which::which("prosodyctl") else {
        return Ok(None);
    };
    let st = stage(tree, plan, scratch)?;
    let main = st.confine.child_path(STAGED_MAIN);
    let argv = st.confine.argv(
        &ctl,
        &[
            "--config".as_ref(),
            main.as_os_str(),
            "check".as_ref(),
            "config".as_ref(),
        ],
    );
    let mut cmd = Cmd::new(&argv[0]).cwd(&st.confine.dir).clean_env();
    for a in &argv[1..] {
        cmd = cmd.arg(a);
    }
    let out = runner.run(&cmd).map_err(|e| format!("{e:#}"))?;
    if out.success() {
        return Ok(Some(vec![]));
    }
    // Keep what describes a problem; drop the banner and the list of files read
    // (a new host file is expected to appear there).
    let lines = unstage(&st, &format!("{}{}", out.stdout, out.stderr))
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("- ")
                && !matches!(
                    *l,
                    "Checking config..."
                        | "Done."
                        | "Problems found, see above."
                        | "The following configuration files have been loaded:"
                )
        })
        .map(str::to_string)
        .collect::<Vec<_>>();
    Ok(Some(if lines.is_empty() {
        vec![format!("prosodyctl exited with {:?}", out.status)]
    } else {
        lines
    }))
}

/// Validate the config after `plan` with Prosody's loader and `prosodyctl check
/// config`. A problem that the current config already has is not ours: it becomes a
/// warning. A config our change breaks is refused ([`Error::InvalidNewConfig`]); one
/// that cannot even be loaded now is reported as broken ([`Error::BrokenConfig`]).
pub fn check_plan(
    tree: &Tree,
    plan: &Plan,
    sys: &System,
    runner: &dyn Runner,
    scratch: &Path,
) -> Result<(LoadedConfig, Vec<String>)> {
    let now = Plan::default();
    let loaded = match load(tree, plan, sys, scratch) {
        Ok(l) => l,
        Err(new_err) => {
            return Err(match load(tree, &now, sys, scratch) {
                Err(old_err) => Error::BrokenConfig(old_err),
                Ok(_) => Error::InvalidNewConfig(new_err),
            }
            .into())
        }
    };
    let mut warnings = Vec::new();
    let new = ctl(tree, plan, runner, scratch).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(new) = new.filter(|l| !l.is_empty()) {
        let old = ctl(tree, &now, runner, scratch)
            .map_err(|e| anyhow::anyhow!(e))?
            .unwrap_or_default();
        let introduced: Vec<&String> = new.iter().filter(|l| !old.contains(l)).collect();
        if !introduced.is_empty() {
            let text = introduced
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            return Err(Error::InvalidNewConfig(format!("prosodyctl check config: {text}")).into());
        }
        warnings.push(format!(
            "prosodyctl check config reports problems the configuration already had: {}",
            new.join(" / ")
        ));
    }
    Ok((loaded, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsops::Perms;
    use crate::plan::Change;

    /// A host file that only exists in the plan (new file + new conf.d link) must be
    /// part of what is validated.
    #[test]
    fn staged_config_includes_planned_host_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let etc = root.join("etc/prosody");
        std::fs::create_dir_all(etc.join("conf.d")).unwrap();
        std::fs::create_dir_all(etc.join("conf.avail")).unwrap();
        std::fs::write(
            etc.join("prosody.cfg.lua"),
            "Include \"conf.d/*.cfg.lua\"\n",
        )
        .unwrap();
        let tree = crate::tree::scan(root).unwrap();
        let perms = Perms {
            mode: 0o644,
            uid: 0,
            gid: 0,
        };
        let plan = Plan {
            changes: vec![
                Change {
                    path: etc.join("conf.avail/x.cfg.lua"),
                    shown: "/etc/prosody/conf.avail/x.cfg.lua".into(),
                    old: None,
                    action: Action::Write {
                        new: "VirtualHost \"x\"\n".into(),
                    },
                    perms,
                    restart: true,
                },
                Change {
                    path: etc.join("conf.d/x.cfg.lua"),
                    shown: "/etc/prosody/conf.d/x.cfg.lua".into(),
                    old: None,
                    action: Action::Symlink {
                        target: "../conf.avail/x.cfg.lua".into(),
                    },
                    perms,
                    restart: true,
                },
            ],
            ..Plan::default()
        };
        let (_, confd) = staged_texts(&tree, &plan).unwrap();
        assert_eq!(
            confd.get("x.cfg.lua").map(String::as_str),
            Some("VirtualHost \"x\"\n")
        );
    }
}
