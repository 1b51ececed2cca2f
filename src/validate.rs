//! Validation before anything is replaced: the whole config as it will be (main file
//! plus every enabled host file, with the planned texts) is staged in a private
//! directory and loaded through Prosody's own loader (real Lua), then checked with
//! `prosodyctl --config … check config` where Prosody is installed.

use crate::config_edit::{LoadedConfig, Loader};
use crate::detect::System;
use crate::error::Error;
use crate::fsops::{prosody_gid, under};
use crate::plan::{Action, Plan};
use crate::runner::{Cmd, Runner};
use crate::tree::{resolve_link, Tree, CONF_DIR};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub fn loader(root: &Path, sys: &System) -> Loader {
    let lib = under(root, "/usr/lib/prosody");
    Loader {
        lua: PathBuf::from(format!("lua{}", sys.lua)),
        prosody_lib: if lib.join("core/configmanager.lua").exists() {
            lib
        } else {
            PathBuf::from("/usr/lib/prosody")
        },
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
    let confd = under(&tree.root, format!("{CONF_DIR}/conf.d"));
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
            Some(Some(t)) => e.parent().unwrap().join(t),
            None if e.is_symlink() => match resolve_link(&tree.root, &e) {
                Some(t) => t,
                None => continue,
            },
            None => e.clone(),
        };
        if let Some(text) = read(&target)? {
            out.insert(name, text);
        }
    }
    Ok((main, out))
}

/// Stage the config after `plan` and check it. Returns what Prosody's loader read
/// (the restart step takes pidfile and ports from it).
pub fn check(
    tree: &Tree,
    plan: &Plan,
    sys: &System,
    runner: &dyn Runner,
) -> Result<LoadedConfig, String> {
    let (main, confd) = staged_texts(tree, plan).map_err(|e| format!("{e:#}"))?;
    let dir = tempfile::Builder::new()
        .prefix("jitsi-meet-tokens-check.")
        .tempdir()
        .map_err(|e| e.to_string())?;
    // prosodyctl drops to the prosody user when run as root: let that group read.
    let gid = prosody_gid();
    let prep = |p: &Path, mode: u32| -> std::io::Result<()> {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
        if let Some(g) = gid {
            let _ = nix::unistd::chown(p, None, Some(nix::unistd::Gid::from_raw(g)));
        }
        Ok(())
    };
    let write = |p: &Path, text: &str| -> std::io::Result<()> {
        std::fs::write(p, text)?;
        prep(p, 0o640)
    };
    let setup = || -> std::io::Result<PathBuf> {
        prep(dir.path(), 0o750)?;
        let cd = dir.path().join("conf.d");
        std::fs::create_dir(&cd)?;
        prep(&cd, 0o750)?;
        for (name, text) in &confd {
            write(&cd.join(name), text)?;
        }
        let main_path = dir.path().join("prosody.cfg.lua");
        write(&main_path, &main)?;
        Ok(main_path)
    };
    let main_path = setup().map_err(|e| format!("staging the config: {e}"))?;
    let loaded = loader(&tree.root, sys)
        .load_file(&main_path)
        .map_err(|e| e.to_string())?;
    if let Ok(ctl) = which::which("prosodyctl") {
        let out = runner
            .run(
                &Cmd::new(ctl)
                    .arg("--config")
                    .arg(&main_path)
                    .arg("check")
                    .arg("config"),
            )
            .map_err(|e| format!("{e:#}"))?;
        if !out.success() {
            let text = format!("{}{}", out.stdout, out.stderr);
            let staged = dir.path().display().to_string();
            return Err(format!(
                "prosodyctl check config: {}",
                text.replace(&staged, CONF_DIR).trim()
            ));
        }
    }
    Ok(loaded)
}

/// Check the planned config; when it fails, tell apart a config that was already
/// broken from one our change would break.
pub fn check_plan(
    tree: &Tree,
    plan: &Plan,
    sys: &System,
    runner: &dyn Runner,
) -> Result<LoadedConfig> {
    match check(tree, plan, sys, runner) {
        Ok(l) => Ok(l),
        Err(new_err) => match check(tree, &Plan::default(), sys, runner) {
            Err(old_err) => Err(Error::BrokenConfig(old_err).into()),
            Ok(_) => Err(Error::InvalidNewConfig(new_err).into()),
        },
    }
}
