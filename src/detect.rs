//! What is on the target system, under `--root`: Prosody's version (dpkg database
//! first, `prosodyctl about` as fallback), the Lua version it runs on (the shebang of
//! `usr/bin/prosody`), Jitsi Meet packages, the Lua C-module directory.
//! Versions are compared with Debian's algorithm (the `debversion` crate).

use crate::fsops::under;
use crate::runner::{Cmd, Runner};
use anyhow::{Context, Result};
use debversion::Version;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const MIN_PROSODY: &str = "0.11.6";

/// Package names Prosody is shipped under (Debian's and prosody.im's repositories).
fn is_prosody_package(name: &str) -> bool {
    name == "prosody"
        || name
            .strip_prefix("prosody-")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) || rest == "trunk")
}

const JITSI_PACKAGES: &[&str] = &[
    "jitsi-meet",
    "jitsi-meet-prosody",
    "jitsi-meet-web",
    "jitsi-meet-web-config",
    "jicofo",
    "jitsi-videobridge2",
    "jitsi-meet-tokens",
];

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct System {
    pub prosody: Package,
    /// Where the version came from: `dpkg` or `prosodyctl`.
    pub prosody_source: &'static str,
    /// "5.4", "5.2", ...
    pub lua: String,
    pub jitsi: Vec<Package>,
    /// Debian's multiarch triplet for Lua C modules, e.g. `x86_64-linux-gnu`.
    pub multiarch: &'static str,
}

impl System {
    /// Where Prosody's Lua looks for C modules (as a path under the root).
    pub fn lua_cmodule_dir(&self, root: &Path) -> PathBuf {
        under(
            root,
            format!("/usr/lib/{}/lua/{}", self.multiarch, self.lua),
        )
    }
}

/// Installed packages from a dpkg `status` file: (name, version) of every stanza
/// whose Status says "install ok installed".
pub fn dpkg_installed(status: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            out.push(Package {
                name: n.to_string(),
                version: v.to_string(),
            });
        }
    }
    out
}

/// Lua version from a script's first line: `#!/usr/bin/env lua5.4`, `#!/usr/bin/lua5.2`.
pub fn lua_from_shebang(script: &str) -> Option<String> {
    let first = script.lines().next()?.strip_prefix("#!")?;
    let interp = first.split_whitespace().find(|w| w.contains("lua"))?;
    let base = interp.rsplit('/').next()?;
    let v = base.strip_prefix("lua")?;
    // "5.4", or "54" as some distributions spell it.
    let v = if v.len() == 2 && !v.contains('.') {
        format!("{}.{}", &v[..1], &v[1..])
    } else {
        v.to_string()
    };
    (v.len() == 3 && v.as_bytes()[1] == b'.').then_some(v)
}

/// `prosodyctl about`: "Prosody 0.12.3" and "Lua version: Lua 5.4" lines.
pub fn parse_about(text: &str) -> (Option<String>, Option<String>) {
    let mut version = None;
    let mut lua = None;
    for line in text.lines() {
        let l = line.trim();
        if version.is_none() {
            if let Some(v) = l.strip_prefix("Prosody ") {
                version = v.split_whitespace().next().map(str::to_string);
            }
        }
        if let Some(v) = l.strip_prefix("Lua version:") {
            lua = v
                .split_whitespace()
                .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
                .map(|w| w.chars().take(3).collect());
        }
    }
    (version, lua)
}

/// Debian's multiarch triplet for the architecture this binary was built for (the
/// package ships one binary per architecture, so that is the target's).
pub fn multiarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "mips64" => "mips64el-linux-gnuabi64",
        other => other,
    }
}

/// Refuse a Prosody older than the floor.
pub fn check_floor(version: &str) -> Result<(), crate::error::Error> {
    let found: Version = version
        .parse()
        .or_else(|_| Version::parse_lenient(version))
        .map_err(|e| {
            crate::error::Error::Usage(format!("unparsable Prosody version {version}: {e:?}"))
        })?;
    let floor: Version = MIN_PROSODY.parse().expect("valid constant");
    if found < floor {
        return Err(crate::error::Error::ProsodyTooOld {
            found: version.to_string(),
            minimum: MIN_PROSODY,
        });
    }
    Ok(())
}

fn prosodyctl(root: &Path) -> Option<PathBuf> {
    let in_root = crate::fsops::inside(root, "/usr/bin/prosodyctl").ok()?;
    if in_root.exists() {
        return Some(in_root);
    }
    if root == Path::new("/") {
        return which::which("prosodyctl").ok();
    }
    None
}

/// Detect Prosody and Lua under `root`. Fails when Prosody is missing or too old.
pub fn detect(root: &Path, runner: &dyn Runner) -> Result<System> {
    let status = std::fs::read_to_string(crate::fsops::inside(root, "/var/lib/dpkg/status")?)
        .unwrap_or_default();
    let pkgs = dpkg_installed(&status);
    let jitsi: Vec<Package> = pkgs
        .iter()
        .filter(|p| JITSI_PACKAGES.contains(&p.name.as_str()))
        .cloned()
        .collect();
    let from_dpkg = pkgs.iter().find(|p| is_prosody_package(&p.name)).cloned();

    let shebang_lua = std::fs::read_to_string(crate::fsops::inside(root, "/usr/bin/prosody")?)
        .ok()
        .and_then(|s| lua_from_shebang(&s));

    // prosodyctl is asked only when the cheap sources do not answer (it takes ~100 ms).
    let mut about = (None, None);
    if from_dpkg.is_none() || shebang_lua.is_none() {
        if let Some(ctl) = prosodyctl(root) {
            if let Ok(out) = runner.run(&Cmd::new(ctl).arg("about")) {
                about = parse_about(&out.stdout);
            }
        }
    }
    let (prosody, source) = match (from_dpkg, about.0) {
        (Some(p), _) => (p, "dpkg"),
        (None, Some(v)) => (
            Package {
                name: "prosody".into(),
                version: v,
            },
            "prosodyctl",
        ),
        (None, None) => {
            return Err(crate::error::Error::ProsodyMissing {
                root: root.to_path_buf(),
            }
            .into())
        }
    };
    check_floor(&prosody.version)?;
    let lua = shebang_lua.or(about.1).unwrap_or_else(|| {
        // Without a binary to read, the version decides: 0.11 ran on 5.2, later on 5.4.
        let v: Version = prosody
            .version
            .parse()
            .unwrap_or_else(|_| "0.12".parse().unwrap());
        if v < "0.12~".parse().unwrap() {
            "5.2"
        } else {
            "5.4"
        }
        .to_string()
    });
    Ok(System {
        prosody,
        prosody_source: source,
        lua,
        jitsi,
        multiarch: multiarch(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_parsing() {
        let s = "Package: prosody\nStatus: install ok installed\nVersion: 0.12.3-1+deb12u1\n\n\
                 Package: jitsi-meet-prosody\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                 Package: jicofo\nStatus: install ok installed\nVersion: 1.0-1059-1\n";
        let p = dpkg_installed(s);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].version, "0.12.3-1+deb12u1");
        assert_eq!(p[1].name, "jicofo");
    }

    #[test]
    fn floor_uses_debian_ordering() {
        assert!(check_floor("0.11.6").is_ok());
        assert!(check_floor("0.11.9-2+deb11u2").is_ok());
        assert!(check_floor("0.12.3-1+deb12u1").is_ok());
        assert!(check_floor("13.0.2-1").is_ok());
        assert!(
            check_floor("1:0.11.5-1").is_ok(),
            "an epoch outranks everything"
        );
        assert!(check_floor("0.11.5-1").is_err());
        assert!(
            check_floor("0.11.6~rc1").is_err(),
            "~ sorts before the release"
        );
        assert!(check_floor("0.9.12").is_err());
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            lua_from_shebang("#!/usr/bin/env lua5.4\n").as_deref(),
            Some("5.4")
        );
        assert_eq!(
            lua_from_shebang("#!/usr/bin/lua5.2\n-- x").as_deref(),
            Some("5.2")
        );
        assert_eq!(lua_from_shebang("#!/bin/sh\n"), None);
    }

    #[test]
    fn about_output() {
        let t = "# Prosody directories\n...\n# Prosody 0.12.3\n\nProsody 0.12.3\n\n# Lua environment\nLua version:             \tLua 5.4\n";
        let (v, l) = parse_about(t);
        assert_eq!(v.as_deref(), Some("0.12.3"));
        assert_eq!(l.as_deref(), Some("5.4"));
    }

    #[test]
    fn prosody_package_names() {
        assert!(is_prosody_package("prosody"));
        assert!(is_prosody_package("prosody-0.12"));
        assert!(is_prosody_package("prosody-trunk"));
        assert!(!is_prosody_package("prosody-modules"));
    }
}

/// A Jitsi file configure may edit (absent when that part of Jitsi is not installed).
#[derive(Debug, Clone)]
pub struct JitsiFile {
    pub real: PathBuf,
    /// As the target system sees it (`/etc/jitsi/...`).
    pub shown: String,
    pub text: String,
}

/// The Jitsi server around a domain: its web config and Jicofo's config when they
/// are installed, and the accounts that join rooms without a token (recorders,
/// gateways) with where each was found.
#[derive(Debug, Clone, Default)]
pub struct JitsiServer {
    pub meet_config: Option<JitsiFile>,
    pub jicofo: Option<JitsiFile>,
    pub trusted: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

fn jitsi_file(root: &Path, rel: &str) -> Result<Option<JitsiFile>> {
    let shown = format!("/{rel}");
    let real = crate::fsops::resolve(root, Path::new(&shown), true)?;
    match std::fs::read_to_string(&real) {
        Ok(text) => Ok(Some(JitsiFile { real, shown, text })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {shown}")),
    }
}

/// Detect [`JitsiServer`] for `domain` under `root`.
pub fn jitsi_server(root: &Path, tree: &crate::tree::Tree, domain: &str) -> Result<JitsiServer> {
    let mut s = JitsiServer {
        meet_config: jitsi_file(root, &crate::jitsi::meet_config::path(domain))?,
        jicofo: jitsi_file(root, crate::jitsi::jicofo::PATH)?,
        ..Default::default()
    };
    let recorder = format!("recorder.{domain}");
    if tree.has_host(&recorder) {
        s.trusted
            .push((recorder, "Jibri's recorder VirtualHost".into()));
    }
    if let Some(j) = &s.jicofo {
        match crate::jitsi::jicofo::trusted_domains(&j.text) {
            Ok(domains) => {
                for d in domains {
                    if !s.trusted.iter().any(|(t, _)| t.eq_ignore_ascii_case(&d)) {
                        s.trusted
                            .push((d, "Jicofo's jicofo.xmpp.trusted-domains".into()));
                    }
                }
            }
            Err(e) => s.warnings.push(e.to_string()),
        }
    }
    if let Some(j) = jitsi_file(root, crate::jitsi::jigasi::PATH)? {
        match crate::jitsi::jigasi::account(&j.text) {
            Ok(Some(account)) if crate::settings::check_allowlist_entry(&account).is_ok() => {
                if !s
                    .trusted
                    .iter()
                    .any(|(t, _)| t.eq_ignore_ascii_case(&account))
                {
                    s.trusted
                        .push((account, "Jigasi's org.jitsi.jigasi.xmpp.acc.USER_ID".into()));
                }
            }
            Ok(Some(account)) => s.warnings.push(format!(
                "{}: Jigasi's account {account:?} is no bare JID; add it with --allowlist",
                j.shown
            )),
            Ok(None) => {}
            Err(e) => s.warnings.push(e),
        }
    }
    Ok(s)
}
