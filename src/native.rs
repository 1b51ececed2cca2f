//! The native verifier (`jitsi_tokens.so`) must sit where the Lua that Prosody runs
//! on finds it: Debian's C-module directory `/usr/lib/<multiarch>/lua/5.X/`. A module
//! built for another Lua version does not load, so the detected version decides.

use crate::detect::System;
use crate::error::Error;
use crate::fsops::{under, Perms};
use crate::plan::{Action, Change};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub const MODULE_FILE: &str = "jitsi_tokens.so";

/// Default source when `--native-module` is not given: `lua5.X/jitsi_tokens.so`
/// in the directory of the running binary (how a tarball install lays them out).
pub fn default_source(lua: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join(format!("lua{lua}")).join(MODULE_FILE);
    p.is_file().then_some(p)
}

/// The installed module's path, as a real path under `root`.
pub fn target(root: &Path, sys: &System) -> PathBuf {
    sys.lua_cmodule_dir(root).join(MODULE_FILE)
}

/// A change installing the module when it is missing (or differs from an explicitly
/// given source); `None` when it is already in place.
pub fn plan(root: &Path, sys: &System, source: Option<&Path>) -> Result<Option<Change>> {
    let dest = target(root, sys);
    let current = std::fs::read(&dest).ok();
    let source = match source {
        Some(s) => Some(s.to_path_buf()),
        None if current.is_some() => return Ok(None),
        None => default_source(&sys.lua),
    };
    let Some(source) = source else {
        return Err(Error::NativeModuleMissing {
            lua: sys.lua.clone(),
            path: PathBuf::from(format!(
                "/usr/lib/{}/lua/{}/{MODULE_FILE}",
                sys.multiarch, sys.lua
            )),
            features: if sys.lua == "5.2" {
                " --no-default-features --features lua52"
            } else {
                ""
            },
        }
        .into());
    };
    let bytes = std::fs::read(&source)
        .with_context(|| format!("reading the native module {}", source.display()))?;
    if !bytes.starts_with(b"\x7fELF") {
        anyhow::bail!(Error::Usage(format!(
            "{} is not a shared library",
            source.display()
        )));
    }
    if current.as_deref() == Some(&bytes[..]) {
        return Ok(None);
    }
    Ok(Some(Change {
        shown: format!("/usr/lib/{}/lua/{}/{MODULE_FILE}", sys.multiarch, sys.lua),
        path: dest,
        old: None,
        action: Action::Install { bytes },
        perms: Perms {
            mode: 0o644,
            uid: 0,
            gid: 0,
        },
        restart: true,
    }))
}

/// For a Prosody started by us under a root that is not `/`: the variable that puts
/// the root's C-module directory on Lua's cpath (the host's own Prosody would not
/// look there).
pub fn cpath_env(root: &Path, sys: &System) -> Option<(String, String)> {
    if root == Path::new("/") {
        return None;
    }
    let dir = under(root, format!("/usr/lib/{}/lua/{}", sys.multiarch, sys.lua));
    Some((
        format!("LUA_CPATH_{}", sys.lua.replace('.', "_")),
        format!("{}/?.so;;", dir.display()),
    ))
}
