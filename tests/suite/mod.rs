//! Shared helpers: fixture trees copied into temp roots, a snapshot of every file
//! (bytes, symlink target, mode, mtime) to prove what changed and what did not, and
//! the real binary run against them.

mod cli_vocabulary;
mod configure;
mod docker_env;
mod manpage;
mod option_table;
mod secure_domain;
mod security_installer;
mod status;
mod token;
mod unconfigure;
mod usage;

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const BIN: &str = env!("CARGO_BIN_EXE_jitsi-meet-tokens");

/// A fixture tree (from `tests/fixtures/<name>`) copied into a fresh temp root.
pub struct Root {
    pub dir: tempfile::TempDir,
    /// A stand-in native module (an ELF header is all configure checks).
    pub module: PathBuf,
}

impl Root {
    pub fn new(fixture: &str) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        copy_tree(&src, &dir.path().join("root"));
        let module = dir.path().join("jitsi_tokens.so");
        std::fs::write(&module, b"\x7fELF stand-in for the native module").unwrap();
        Root { dir, module }
    }
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap()
    }
    pub fn secret_file(&self, secret: &[u8]) -> PathBuf {
        let p = self.dir.path().join("secret");
        std::fs::write(&p, secret).unwrap();
        p
    }
    /// `configure` with the fixed interface; `extra` appended.
    pub fn configure(&self, domain: &str, secret: &[u8], extra: &[&str]) -> Command {
        let mut c = cmd();
        c.args(self.configure_args(domain, secret, extra));
        c
    }
    /// The arguments of [`Root::configure`] (for a test that spawns it itself).
    pub fn configure_args(
        &self,
        domain: &str,
        secret: &[u8],
        extra: &[&str],
    ) -> Vec<std::ffi::OsString> {
        let sf = self.secret_file(secret);
        let mut a: Vec<std::ffi::OsString> = vec!["configure".into(), "--root".into()];
        a.push(self.path().into());
        for s in ["--domain", domain, "--app-id", "myapp", "--app-secret-file"] {
            a.push(s.into());
        }
        a.push(sf.into());
        a.extend(self.unattended());
        a.extend(extra.iter().map(|s| s.into()));
        a
    }
    /// A run nobody answers prompts for, that restarts nothing and reports JSON, with
    /// this root's native module.
    pub fn unattended(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = [
            "--non-interactive",
            "--no-restart",
            "--output",
            "json",
            "--native-module",
        ]
        .map(Into::into)
        .into();
        a.push(self.module.clone().into());
        a
    }
    /// `configure --root ROOT` and nothing else: each test adds what it is about.
    pub fn bare(&self) -> Command {
        let mut c = cmd();
        c.args(["configure", "--root"]).arg(self.path());
        c
    }
    pub fn unconfigure(&self, domain: &str) -> Command {
        let mut c = cmd();
        c.args(["unconfigure", "--root"]).arg(self.path()).args([
            "--domain",
            domain,
            "--non-interactive",
            "--no-restart",
            "--output",
            "json",
        ]);
        c
    }
    pub fn snapshot(&self) -> Snapshot {
        let mut s = BTreeMap::new();
        walk(&self.path(), &self.path(), &mut s);
        s
    }
}

/// The binary with no `JITSI_MEET_TOKENS_*` variables leaking in from outside.
pub fn cmd() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("JITSI_MEET_TOKENS_") {
            c.env_remove(k);
        }
    }
    c
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub content: Vec<u8>,
    pub link: Option<PathBuf>,
    pub mode: u32,
    pub mtime_ns: i128,
}

pub type Snapshot = BTreeMap<String, Entry>;

fn walk(base: &Path, dir: &Path, out: &mut Snapshot) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
        let mtime_ns = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
        if m.file_type().is_symlink() {
            out.insert(
                rel,
                Entry {
                    content: vec![],
                    link: Some(std::fs::read_link(&p).unwrap()),
                    mode: 0,
                    mtime_ns,
                },
            );
        } else if m.is_dir() {
            walk(base, &p, out);
        } else {
            out.insert(
                rel,
                Entry {
                    content: std::fs::read(&p).unwrap(),
                    link: None,
                    mode: m.mode() & 0o7777,
                    mtime_ns,
                },
            );
        }
    }
}

/// Write `data` to `root/rel`, creating the directories on the way.
pub fn write(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}

/// Copy a tree (symlinks as symlinks) to `dst`, which is created.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&p).unwrap(), &to).unwrap();
        } else if m.is_dir() {
            copy_tree(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

/// stdout as the one JSON object `--output json` promises.
pub fn json(out: &std::process::Output) -> serde_json::Value {
    let s = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        s.lines().count(),
        1,
        "exactly one JSON line on stdout, got: {s}"
    );
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The exit code and the JSON report on stdout (both streams in the panic when
/// stdout is not JSON).
pub fn exit_and_json(out: &std::process::Output) -> (i32, serde_json::Value) {
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// Entries whose path starts with one of `prefixes` (the parts of the tree a test
/// compares; state and settings are ours and expected to change).
pub fn only(s: &Snapshot, prefixes: &[&str]) -> Snapshot {
    s.iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The `+`/`-` lines of a unified diff (headers excluded).
pub fn changed_lines(diff: &str) -> Vec<String> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(str::to_string)
        .collect()
}

/// The value Prosody's own loader (real lua5.4) reads for `key` on `host`.
pub fn loaded(file: &Path, host: &str, key: &str) -> Option<Vec<u8>> {
    let cfg = jitsi_meet_tokens::config_edit::Loader::default()
        .load_file(file)
        .unwrap();
    cfg.get(host, key)
        .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))
}

/// The part of a plan's diff for one file (`shown` without the leading `/`).
pub fn file_diff(diff: &str, shown: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for l in diff.lines() {
        if l.starts_with("--- ")
            || l.starts_with("install ")
            || l.starts_with("symlink ")
            || l.starts_with("remove ")
        {
            on = false;
        }
        if l == format!("+++ b/{shown}") {
            on = true;
            continue;
        }
        if on {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Compare snapshots, naming only the entries that differ (and how).
#[track_caller]
pub fn assert_same(after: &Snapshot, before: &Snapshot, what: &str) {
    let mut diffs = Vec::new();
    for k in before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (before.get(k), after.get(k)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => diffs.push(format!(
                "{k}: content {} link {} mode {:o}->{:o} mtime {}",
                if a.content == b.content {
                    "same"
                } else {
                    "DIFFERS"
                },
                if a.link == b.link { "same" } else { "DIFFERS" },
                a.mode,
                b.mode,
                if a.mtime_ns == b.mtime_ns {
                    "same"
                } else {
                    "DIFFERS"
                }
            )),
            (Some(_), None) => diffs.push(format!("{k}: removed")),
            (None, Some(_)) => diffs.push(format!("{k}: created")),
            (None, None) => {}
        }
    }
    assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
}

/// Run `c`; it must exit 0 (a failure shows what it printed on both streams).
pub fn success(c: &mut Command) -> std::process::Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
