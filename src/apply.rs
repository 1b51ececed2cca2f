//! Carrying out a [`Plan`]: back up every file it replaces, write atomically, and
//! remember how to undo each step so a failed restart can put the old files back.

use crate::fsops::{self, Perms};
use crate::plan::{Action, Plan};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug)]
enum Undo {
    /// Put these bytes back with these perms.
    Restore {
        path: PathBuf,
        bytes: Vec<u8>,
        perms: Perms,
    },
    /// Remove what we created.
    Remove(PathBuf),
    /// Re-create a symlink we removed.
    Relink { path: PathBuf, target: PathBuf },
}

#[derive(Debug, Default)]
pub struct Applied {
    undo: Vec<Undo>,
    pub backup_dir: Option<PathBuf>,
}

fn backup_dir(state_dir: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    state_dir
        .join("backups")
        .join(format!("{secs}-{}", std::process::id()))
}

/// Apply every change of `plan`. On an error half-way, what was done is undone.
/// Every path is resolved inside the root again here: a link followed to its target
/// (a symlinked host file is edited where it lives and stays a link), and a path
/// that leaves the root is refused before anything is written.
pub fn apply(plan: &Plan, root: &Path, state_dir: &Path) -> Result<Applied> {
    let mut applied = Applied::default();
    let changes: Vec<crate::plan::Change> = plan
        .changes
        .iter()
        .map(|c| {
            let follow = matches!(c.action, Action::Write { .. } | Action::Install { .. });
            Ok(crate::plan::Change {
                path: fsops::resolve(root, &c.path, follow)?,
                ..c.clone()
            })
        })
        .collect::<Result<_>>()?;
    let existing: Vec<PathBuf> = changes
        .iter()
        .filter(|c| c.path.is_file() && !c.path.is_symlink())
        .map(|c| c.path.clone())
        .collect();
    if !existing.is_empty() {
        let dir = backup_dir(state_dir);
        fsops::state_dir(state_dir)?;
        fsops::backup(root, &dir, &existing)?;
        applied.backup_dir = Some(dir);
    }
    for c in &changes {
        if let Err(e) = step(c, &mut applied) {
            let _ = rollback(&mut applied);
            return Err(e);
        }
    }
    Ok(applied)
}

fn step(c: &crate::plan::Change, applied: &mut Applied) -> Result<()> {
    let prev = if c.path.is_symlink() {
        std::fs::read_link(&c.path).ok().map(|t| Undo::Relink {
            path: c.path.clone(),
            target: t,
        })
    } else {
        std::fs::read(&c.path).ok().map(|bytes| Undo::Restore {
            path: c.path.clone(),
            bytes,
            perms: Perms::of(&c.path).unwrap_or(c.perms),
        })
    };
    let undo = prev.unwrap_or_else(|| Undo::Remove(c.path.clone()));
    match &c.action {
        Action::Write { new } => fsops::write_atomic(&c.path, new.as_bytes(), c.perms)
            .with_context(|| format!("writing {}", c.shown))?,
        Action::Install { bytes } => fsops::write_atomic(&c.path, bytes, c.perms)
            .with_context(|| format!("installing {}", c.shown))?,
        Action::Symlink { target } => {
            if let Some(d) = c.path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::os::unix::fs::symlink(target, &c.path)
                .with_context(|| format!("creating the symlink {}", c.shown))?
        }
        Action::Remove => {
            std::fs::remove_file(&c.path).with_context(|| format!("removing {}", c.shown))?
        }
    }
    applied.undo.push(undo);
    Ok(())
}

/// Undo every applied step, newest first. Keeps going on errors; returns the first.
pub fn rollback(applied: &mut Applied) -> Result<()> {
    let mut first_err = None;
    while let Some(u) = applied.undo.pop() {
        let r: Result<()> = match &u {
            Undo::Restore { path, bytes, perms } => fsops::write_atomic(path, bytes, *perms),
            Undo::Remove(path) => std::fs::remove_file(path)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(Into::into),
            Undo::Relink { path, target } => {
                let _ = std::fs::remove_file(path);
                std::os::unix::fs::symlink(target, path).map_err(Into::into)
            }
        };
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
