//! File-system primitives for safe edits: paths under `--root`, atomic writes that
//! keep (or set) owner, group and mode, backups, and the one-run-at-a-time lock.

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{fchown, Gid, Group, Uid};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `abs` (an absolute path on the target system) as seen under `root`.
pub fn under(root: &Path, abs: impl AsRef<Path>) -> PathBuf {
    let abs = abs.as_ref();
    root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// Symlinks followed before giving up (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// The real path of `p` (an absolute path on the target system, or a real path
/// already under `root`) with every symlink and `..` resolved *inside* `root`, the
/// way a chroot would see it: an absolute link target is taken from `root`. A path
/// that would leave `root` is refused. Missing components are fine (files to
/// create). With `follow_last` false the final component is not followed (a link
/// to create or remove). Hand-written: `canonicalize` follows links out of the root.
pub fn resolve(root: &Path, p: &Path, follow_last: bool) -> Result<PathBuf> {
    use std::path::Component;
    let inner = p.strip_prefix(root).unwrap_or(p);
    let outside = || {
        anyhow::Error::from(crate::error::Error::BrokenConfig(format!(
            "{} leads outside {} (through a symlink or `..`); refusing to read or write there: fix the link or the path",
            inner.display(),
            root.display()
        )))
    };
    // Pending components, last first, and the resolved part as in-root components.
    let mut todo: Vec<std::ffi::OsString> = inner
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    let real = |done: &[std::ffi::OsString]| -> PathBuf {
        let mut r = root.to_path_buf();
        r.extend(done);
        r
    };
    while let Some(c) = todo.pop() {
        if c == ".." {
            if done.pop().is_none() {
                return Err(outside());
            }
            continue;
        }
        done.push(c);
        if todo.is_empty() && !follow_last {
            break;
        }
        let here = real(&done);
        let Ok(target) = fs::read_link(&here) else {
            continue; // not a link, or missing
        };
        links += 1;
        if links > MAX_LINKS {
            anyhow::bail!(crate::error::Error::BrokenConfig(format!(
                "{}: too many levels of symlinks",
                here.display()
            )));
        }
        done.pop();
        if target.is_absolute() {
            done.clear();
        }
        for t in target.components().rev() {
            match t {
                Component::Normal(n) => todo.push(n.to_os_string()),
                Component::ParentDir => todo.push("..".into()),
                _ => {}
            }
        }
    }
    Ok(real(&done))
}

/// `abs` (a path on the target system) resolved inside `root`, links followed:
/// what every read or write under `--root` goes through ([`resolve`]).
pub fn inside(root: &Path, abs: impl AsRef<Path>) -> Result<PathBuf> {
    resolve(root, abs.as_ref(), true)
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

/// In the name of every temp file we write, so the next run can tell ours apart.
const TMP_MARK: &str = ".jitsi-meet-tokens.";

/// Remove temp files a killed run left in `dir` (ours only: `.<name>.jitsi-meet-tokens.*.tmp`).
/// Call only while holding the run lock: a running holder's temp files are its own.
pub fn remove_stale_temp_files(dir: &Path) -> Result<()> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.filter_map(|e| e.ok()) {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') && n.contains(TMP_MARK) && n.ends_with(".tmp") {
            fs::remove_file(e.path())
                .with_context(|| format!("removing a killed run's {}", e.path().display()))?;
        }
    }
    Ok(())
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
        .prefix(&format!(".{}{TMP_MARK}", name.unwrap_or_default()))
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

impl RunLock {
    /// Where a run keeps staging and validation files (under the 0700 state
    /// directory); what a killed run left there is removed when the lock is taken.
    pub fn scratch(state_dir: &Path) -> PathBuf {
        state_dir.join("tmp")
    }
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

/// Take the run lock: a flock on the state directory itself (an open descriptor),
/// so no file can be deleted to let a second run in. Waits up to `wait` for
/// another run. Once held, the scratch directory a killed run left is emptied.
pub fn lock(state_dir: &Path, wait: Duration) -> Result<RunLock> {
    self::state_dir(state_dir)?;
    let start = Instant::now();
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY)
        .open(state_dir)
        .with_context(|| format!("opening {} to lock it", state_dir.display()))?;
    let held = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => break RunLock { _lock: l },
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                file = f;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(crate::error::Error::Locked(state_dir.to_path_buf()).into())
            }
            Err((_, e)) => {
                return Err(e).with_context(|| format!("locking {}", state_dir.display()))
            }
        }
    };
    let scratch = RunLock::scratch(state_dir);
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing a killed run's files in {}", scratch.display()))?;
    }
    Ok(held)
}

/// Clean up after a killed run even when this run changes nothing: take the lock
/// only if it is free and the state directory exists (a no-op creates nothing).
pub fn clean_after_killed_run(state_dir: &Path, dirs: &[PathBuf]) -> Result<()> {
    if !state_dir.is_dir() {
        return Ok(());
    }
    let Ok(_held) = lock(state_dir, Duration::ZERO) else {
        return Ok(()); // another run is busy; it or the next one cleans
    };
    for d in dirs {
        remove_stale_temp_files(d)?;
    }
    Ok(())
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
        let p = d.path().join("state");
        let _held = lock(&p, Duration::from_millis(10)).unwrap();
        let err = lock(&p, Duration::from_millis(200)).err().unwrap();
        assert!(err.to_string().contains("holds the lock"), "{err}");
    }

    #[test]
    fn paths_resolve_inside_the_root_or_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("r");
        fs::create_dir_all(root.join("etc/prosody/conf.avail")).unwrap();
        fs::create_dir_all(root.join("etc/prosody/conf.d")).unwrap();
        let link = |to: &str, at: &str| std::os::unix::fs::symlink(to, root.join(at)).unwrap();
        link("../conf.avail/a.cfg.lua", "etc/prosody/conf.d/a.cfg.lua");
        link(
            "/etc/prosody/conf.avail/b.cfg.lua",
            "etc/prosody/conf.d/b.cfg.lua",
        );
        link("../../../../x.cfg.lua", "etc/prosody/conf.d/out.cfg.lua");
        link("/../x.cfg.lua", "etc/prosody/conf.d/abs-out.cfg.lua");
        link("loop2", "etc/loop1");
        link("loop1", "etc/loop2");
        let r = |p: &str, follow| resolve(&root, Path::new(p), follow);
        assert_eq!(
            r("/etc/prosody/conf.d/a.cfg.lua", true).unwrap(),
            root.join("etc/prosody/conf.avail/a.cfg.lua")
        );
        assert_eq!(
            r("/etc/prosody/conf.d/b.cfg.lua", true).unwrap(),
            root.join("etc/prosody/conf.avail/b.cfg.lua")
        );
        assert_eq!(
            r("/etc/prosody/conf.d/a.cfg.lua", false).unwrap(),
            root.join("etc/prosody/conf.d/a.cfg.lua"),
            "the link itself"
        );
        // A real path (root prefix included) is taken as well.
        assert_eq!(
            resolve(&root, &root.join("etc/prosody/conf.d/a.cfg.lua"), true).unwrap(),
            root.join("etc/prosody/conf.avail/a.cfg.lua")
        );
        for bad in [
            "/etc/prosody/conf.d/out.cfg.lua",
            "/etc/prosody/conf.d/abs-out.cfg.lua",
            "/../etc/prosody",
        ] {
            let e = r(bad, true).unwrap_err().to_string();
            assert!(e.contains("leads outside"), "{bad}: {e}");
        }
        assert!(r("/etc/loop1", true)
            .unwrap_err()
            .to_string()
            .contains("too many"));
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
