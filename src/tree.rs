//! Prosody's config tree under the root: `prosody.cfg.lua`, the host files enabled
//! in `conf.d/` (symlinks into `conf.avail/`, resolved inside the root), which hosts
//! each file defines, and whether the main file includes `conf.d/*.cfg.lua`.

use crate::config_edit::{decode_lua_string, Document, SectionId};
use crate::error::Error;
use crate::fsops::{shown, under};
use anyhow::{Context, Result};
use full_moon::ast::{self, Prefix, Stmt, Suffix};
use std::path::{Path, PathBuf};

pub const CONF_DIR: &str = "/etc/prosody";

#[derive(Debug, Clone)]
pub struct HostFile {
    /// Real path (root prefix included) of the file holding the text.
    pub real: PathBuf,
    /// Path as the target system sees it.
    pub shown: String,
    pub text: String,
    pub sections: Vec<SectionId>,
    /// Loaded by Prosody (the main file, or reached through conf.d).
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct Tree {
    pub root: PathBuf,
    pub main: HostFile,
    pub includes_confd: bool,
    /// Host files from conf.d, in name order (`enabled` only when included).
    pub confd: Vec<HostFile>,
}

/// The literal arguments of top-level `Include "..."` statements.
pub fn includes(text: &str) -> Vec<String> {
    let Ok(ast) = full_moon::parse(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for stmt in ast.nodes().stmts() {
        let Stmt::FunctionCall(call) = stmt else {
            continue;
        };
        let Prefix::Name(name) = call.prefix() else {
            continue;
        };
        if name.token().to_string() != "Include" {
            continue;
        }
        let mut suffixes = call.suffixes();
        let (Some(Suffix::Call(ast::Call::AnonymousCall(args))), None) =
            (suffixes.next(), suffixes.next())
        else {
            continue;
        };
        let lit = match args.as_ref() {
            ast::FunctionArgs::String(t) => t.to_string(),
            ast::FunctionArgs::Parentheses { arguments, .. } if arguments.len() == 1 => {
                match arguments.iter().next() {
                    Some(ast::Expression::String(t)) => t.to_string(),
                    _ => continue,
                }
            }
            _ => continue,
        };
        if let Some(b) = decode_lua_string(lit.trim()) {
            out.push(String::from_utf8_lossy(&b).into_owned());
        }
    }
    out
}

/// Does one of these Include patterns load `conf.d/*.cfg.lua` (relative or absolute)?
pub fn covers_confd(patterns: &[String]) -> bool {
    patterns.iter().any(|p| {
        let p = p.trim_start_matches("./");
        p == "conf.d/*.cfg.lua" || p == format!("{CONF_DIR}/conf.d/*.cfg.lua")
    })
}

fn parse(real: &Path, shown: String, enabled: bool) -> Result<HostFile> {
    let text =
        std::fs::read_to_string(real).with_context(|| format!("reading {}", real.display()))?;
    let doc = Document::parse(&text).map_err(|e| Error::BrokenConfig(format!("{shown}: {e}")))?;
    Ok(HostFile {
        real: real.to_path_buf(),
        shown,
        sections: doc.sections().into_iter().map(|s| s.id).collect(),
        text,
        enabled,
    })
}

/// Where a `conf.d` entry leads, resolved inside the root (an error when it leaves).
pub fn resolve_link(root: &Path, link: &Path) -> Result<PathBuf> {
    crate::fsops::resolve(root, link, true)
}

/// `a/conf.d/../conf.avail/x` → `a/conf.avail/x`, without touching the file system
/// (`canonicalize` would follow symlinks out of the root).
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

pub fn scan(root: &Path) -> Result<Tree> {
    let dir = crate::fsops::resolve(root, Path::new(CONF_DIR), true)?;
    let main_real = crate::fsops::resolve(root, &dir.join("prosody.cfg.lua"), true)?;
    if !main_real.exists() {
        anyhow::bail!(Error::BrokenConfig(format!(
            "{} does not exist: is Prosody installed under this root?",
            main_real.display()
        )));
    }
    let main = parse(&main_real, format!("{CONF_DIR}/prosody.cfg.lua"), true)?;
    let includes_confd = covers_confd(&includes(&main.text));
    // conf.d is read even when not included: its host files are still where the
    // domain lives (the missing Include is reported separately).
    let mut confd = Vec::new();
    {
        let mut names: Vec<_> = std::fs::read_dir(dir.join("conf.d"))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for link in names {
            let name = link.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".cfg.lua") {
                continue;
            }
            let real = resolve_link(root, &link)?;
            if !real.exists() {
                continue; // Prosody skips a dangling link too
            }
            confd.push(parse(&real, shown(root, &real), includes_confd)?);
        }
    }
    Ok(Tree {
        root: root.to_path_buf(),
        main,
        includes_confd,
        confd,
    })
}

impl Tree {
    /// Enabled files defining `VirtualHost "<domain>"`, main file first.
    pub fn files_with_host(&self, domain: &str) -> Vec<&HostFile> {
        let id = SectionId::virtual_host(domain);
        std::iter::once(&self.main)
            .chain(self.confd.iter())
            .filter(|f| f.sections.iter().any(|s| s.same_host(&id)))
            .collect()
    }

    /// Every enabled file.
    pub fn files(&self) -> impl Iterator<Item = &HostFile> {
        std::iter::once(&self.main).chain(self.confd.iter())
    }

    /// `conf.avail/<domain>.cfg.lua` (real path) and whether it exists.
    pub fn avail_path(&self, domain: &str) -> PathBuf {
        under(
            &self.root,
            format!("{CONF_DIR}/conf.avail/{domain}.cfg.lua"),
        )
    }

    pub fn confd_link(&self, domain: &str) -> PathBuf {
        under(&self.root, format!("{CONF_DIR}/conf.d/{domain}.cfg.lua"))
    }

    /// VirtualHosts an administrator most likely means: Jitsi Meet's (they have a
    /// `conference.<host>` component) and those with token authentication.
    pub fn jitsi_or_token_hosts(&self) -> Vec<String> {
        let mut vhosts = Vec::new();
        let mut components = Vec::new();
        for f in self.files() {
            let doc = Document::parse(&f.text).ok();
            for s in &f.sections {
                match s {
                    SectionId::VirtualHost { name } => {
                        let token = doc.as_ref().and_then(|d| d.get(s, "authentication"))
                            == Some(crate::config_edit::Value::str("token"));
                        vhosts.push((name.clone(), token));
                    }
                    SectionId::Component { name, .. } => components.push(name.clone()),
                    SectionId::Global => {}
                }
            }
        }
        let mut out: Vec<String> = vhosts
            .into_iter()
            .filter(|(n, token)| *token || components.contains(&format!("conference.{n}")))
            .map(|(n, _)| n)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Any file (enabled or in conf.avail) defines `VirtualHost "<domain>"`.
    pub fn has_host(&self, domain: &str) -> bool {
        !self.files_with_host(domain).is_empty() || self.avail_path(domain).exists()
    }

    /// Parse a file that is not enabled (e.g. `conf.avail/<domain>.cfg.lua`).
    pub fn load_disabled(&self, real: &Path) -> Result<HostFile> {
        parse(real, shown(&self.root, real), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_include_statements_not_comments() {
        let t = "-- Include \"conf.d/*.cfg.lua\"\n--[[ Include \"x\" ]]\nInclude \"conf.d/*.cfg.lua\"\nInclude(\"/etc/prosody/other/*.lua\")\n";
        assert_eq!(
            includes(t),
            vec!["conf.d/*.cfg.lua", "/etc/prosody/other/*.lua"]
        );
        assert!(covers_confd(&includes(t)));
        assert!(!covers_confd(&includes(
            "-- Include \"conf.d/*.cfg.lua\"\n"
        )));
        assert!(covers_confd(&["/etc/prosody/conf.d/*.cfg.lua".to_string()]));
    }
}
