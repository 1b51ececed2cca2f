//! File-system primitives for safe edits: paths under `--root`, atomic writes that
//! keep (or set) owner, group and mode, backups, and the one-run-at-a-time lock.

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{fchown, Gid, Group, Uid};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `abs` (an absolute path on the target system) as seen under `root`.
pub fn under(root: &Path, abs: impl AsRef<Path>) -> PathBuf {
    let abs = abs.as_ref();
    root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// A real path as the target system sees it (root prefix removed).
pub fn shown(root: &Path, real: &Path) -> String {
    match real.strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => real.display().to_string(),
    }
}

/// Owner, group and mode to give a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Perms {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Perms {
    pub fn of(path: &Path) -> Option<Perms> {
        let m = fs::metadata(path).ok()?;
        Some(Perms {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        })
    }

    /// Perms for a file we write: the existing ones kept, tightened to 0640
    /// root:prosody when it holds a secret (0600 root when there is no prosody group).
    pub fn for_write(existing: Option<Perms>, secret: bool) -> Perms {
        let base = existing.unwrap_or(Perms {
            mode: 0o644,
            uid: 0,
            gid: 0,
        });
        if !secret {
            return base;
        }
        match prosody_gid() {
            Some(gid) => Perms {
                mode: 0o640,
                uid: 0,
                gid,
            },
            None => Perms {
                mode: 0o600,
                uid: 0,
                gid: base.gid,
            },
        }
    }
}

pub fn prosody_gid() -> Option<u32> {
    Group::from_name("prosody")
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Write `data` to `path` atomically: temp file in the same directory, perms set
/// before any byte lands, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8], perms: Perms) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.unwrap_or_default()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(perms.mode))?;
    // Only root can give files away; as another user the file stays ours.
    if Uid::effective().is_root() {
        fchown(
            tmp.as_file(),
            Some(Uid::from_raw(perms.uid)),
            Some(Gid::from_raw(perms.gid)),
        )
        .with_context(|| format!("chown of the temp file for {}", path.display()))?;
    }
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("renaming the temp file onto {}", path.display()))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Set mode/owner of an existing file (used when only permissions must change).
pub fn set_perms(path: &Path, perms: Perms) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(perms.mode))?;
    if Uid::effective().is_root() {
        nix::unistd::chown(
            path,
            Some(Uid::from_raw(perms.uid)),
            Some(Gid::from_raw(perms.gid)),
        )?;
    }
    Ok(())
}

/// Copy each file's current bytes into `backup_dir`, mirroring its path under root.
pub fn backup(root: &Path, backup_dir: &Path, files: &[PathBuf]) -> Result<()> {
    for f in files {
        let Ok(bytes) = fs::read(f) else { continue };
        let rel = f.strip_prefix(root).unwrap_or(f);
        let dest = backup_dir.join(rel.strip_prefix("/").unwrap_or(rel));
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p)?;
        }
        write_atomic(
            &dest,
            &bytes,
            Perms {
                mode: 0o600,
                uid: 0,
                gid: 0,
            },
        )
        .with_context(|| format!("backing up {}", f.display()))?;
    }
    Ok(())
}

/// Create the state directory (0700: it holds previous secrets and backups).
pub fn state_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Held for the whole run; released on drop.
pub struct RunLock {
    _lock: Flock<File>,
}

pub const LOCK_TIMEOUT_ENV: &str = "JITSI_MEET_TOKENS_LOCK_TIMEOUT";

/// How long a run waits for another one to finish: 30 s, or
/// `JITSI_MEET_TOKENS_LOCK_TIMEOUT` seconds.
pub fn lock_wait() -> Duration {
    std::env::var(LOCK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_secs)
}

/// Take the lock file in the state dir, waiting up to `wait` for another run.
pub fn lock(path: &Path, wait: Duration) -> Result<RunLock> {
    if let Some(dir) = path.parent() {
        state_dir(dir)?;
    }
    let start = Instant::now();
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(RunLock { _lock: l }),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                file = f;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(crate::error::Error::Locked(path.to_path_buf()).into())
            }
            Err((_, e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_perms_and_replaces_content() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.cfg.lua");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o604)).unwrap();
        let perms = Perms::for_write(Perms::of(&p), false);
        write_atomic(&p, b"new", perms).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(Perms::of(&p).unwrap().mode, 0o604);
        // No temp file left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn secret_files_lose_world_access() {
        let p = Perms::for_write(
            Some(Perms {
                mode: 0o644,
                uid: 0,
                gid: 0,
            }),
            true,
        );
        assert_eq!(p.mode & 0o007, 0);
        assert_eq!(p.uid, 0);
    }

    #[test]
    fn second_lock_times_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state/lock");
        let _held = lock(&p, Duration::from_millis(10)).unwrap();
        let err = lock(&p, Duration::from_millis(200)).err().unwrap();
        assert!(err.to_string().contains("holds the lock"), "{err}");
    }

    #[test]
    fn under_root() {
        assert_eq!(
            under(Path::new("/tmp/r"), "/etc/prosody"),
            PathBuf::from("/tmp/r/etc/prosody")
        );
        assert_eq!(under(Path::new("/"), "/etc"), PathBuf::from("/etc"));
    }
}
