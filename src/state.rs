//! The state record `unconfigure` works from, kept in the state directory
//! (`/var/lib/jitsi-meet-tokens/`, 0700): per domain, each file we touched with its
//! text before our first change, the text we last wrote, and the option-level
//! changes (config_edit's [`crate::config_edit::Change`]) to revert when someone has
//! edited the file since.

use crate::fsops::{self, Perms};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_DIR: &str = "/var/lib/jitsi-meet-tokens";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    /// Path on the target system (`/etc/prosody/...`).
    pub path: String,
    /// We created it (unconfigure removes it); otherwise `original` holds its text.
    pub created: bool,
    /// A symlink we created.
    #[serde(default)]
    pub symlink: bool,
    pub original: Option<String>,
    pub original_perms: Option<Perms>,
    /// The text as we last wrote it.
    pub written: Option<String>,
    /// Option-level edits since `original`, oldest first.
    #[serde(default)]
    pub changes: Vec<crate::config_edit::Change>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub domain: String,
    pub files: Vec<FileRecord>,
}

impl Record {
    pub fn file_mut(&mut self, path: &str) -> Option<&mut FileRecord> {
        self.files.iter_mut().find(|f| f.path == path)
    }
}

fn safe_name(domain: &str) -> String {
    domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn record_path(state_dir: &Path, domain: &str) -> PathBuf {
    state_dir
        .join("hosts")
        .join(format!("{}.json", safe_name(&domain.to_lowercase())))
}

pub fn load(state_dir: &Path, domain: &str) -> Result<Option<Record>> {
    let p = record_path(state_dir, domain);
    match std::fs::read(&p) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| {
            format!("state record {} is damaged", p.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

pub fn save(state_dir: &Path, rec: &Record) -> Result<()> {
    let p = record_path(state_dir, &rec.domain);
    fsops::state_dir(state_dir)?;
    std::fs::create_dir_all(p.parent().unwrap())?;
    let json = serde_json::to_vec_pretty(rec)?;
    fsops::write_atomic(
        &p,
        &json,
        Perms {
            mode: 0o600,
            uid: 0,
            gid: 0,
        },
    )
}

pub fn remove(state_dir: &Path, domain: &str) -> Result<()> {
    let p = record_path(state_dir, domain);
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
