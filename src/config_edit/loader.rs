//! Loading a config through Prosody's own `core.configmanager` with a real Lua.
//!
//! This is what Prosody itself will see: the installer validates new text with it
//! before writing, and the tests use it as the oracle for our parser and quoting.
//! No Prosody process runs; a plain `lua5.4` gets `package.path` pointed at
//! Prosody's library directory. Values travel back as JSON with every string
//! hex-encoded, so any byte survives the trip.

use super::EditError;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const DUMP_LUA: &str = r#"
local lib, cfg = arg[1], arg[2]
package.path = lib .. "/?.lua;" .. package.path
package.cpath = lib .. "/?.so;" .. package.cpath
-- Prosody 13 requires its own modules as "prosody.util.x"; its loader.lua maps
-- those names (what /usr/bin/prosody does first). Older Prosody has no loader.
if not pcall(require, "prosody.loader") then pcall(require, "loader") end
local cm = require "core.configmanager"
-- Every function called while the config runs (the loader's own, metamethods, and
-- anything a value smuggled in): a config that only sets options calls the same
-- functions whatever its values are.
local calls = {}
debug.sethook(function()
  local i = debug.getinfo(2, "nS")
  local src = i.source == "@" .. cfg and "config" or i.short_src
  calls[#calls + 1] = (i.name or "?") .. "@" .. src .. ":" .. i.linedefined
end, "c")
local ok, _, err = cm.load(cfg)
debug.sethook()
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(3)
end
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local function enc(v, depth)
  local t = type(v)
  if t == "string" then
    return '{"s":"' .. hex(v) .. '"}'
  elseif t == "number" then
    if math.type and math.type(v) == "integer" then
      return '{"i":' .. string.format("%d", v) .. '}'
    end
    return '{"n":"' .. hex(tostring(v)) .. '"}'
  elseif t == "boolean" then
    return '{"b":' .. tostring(v) .. '}'
  elseif t == "table" and depth < 20 then
    local parts = {}
    for k, x in pairs(v) do
      parts[#parts + 1] = "[" .. enc(k, depth + 1) .. "," .. enc(x, depth + 1) .. "]"
    end
    return '{"t":[' .. table.concat(parts, ",") .. "]}"
  end
  return '{"x":"' .. hex(t) .. '"}'
end
local hosts = {}
for host, opts in pairs(cm.getconfig()) do
  local parts = {}
  for k, v in pairs(opts) do
    parts[#parts + 1] = "[" .. enc(k, 0) .. "," .. enc(v, 0) .. "]"
  end
  hosts[#hosts + 1] = '["' .. hex(host) .. '",[' .. table.concat(parts, ",") .. "]]"
end
local warnings = {}
if type(err) == "table" then
  for _, w in ipairs(err) do warnings[#warnings + 1] = '"' .. hex(tostring(w)) .. '"' end
end
local traced = {}
for n, c in ipairs(calls) do traced[n] = '"' .. hex(c) .. '"' end
io.write('{"hosts":[', table.concat(hosts, ","), '],"warnings":[', table.concat(warnings, ","),
  '],"calls":[', table.concat(traced, ","), "]}")
"#;

/// A value as Prosody's loader holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadedValue {
    Str(Vec<u8>),
    Int(i64),
    /// A float, as Lua prints it.
    Num(String),
    Bool(bool),
    /// Key/value pairs, sorted by key.
    Table(Vec<(LoadedValue, LoadedValue)>),
    /// A function or other value: its Lua type name.
    Other(String),
}

impl LoadedValue {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            LoadedValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A sequence of strings (`{ "a", "b" }`) in index order.
    pub fn as_list(&self) -> Option<Vec<Vec<u8>>> {
        let LoadedValue::Table(pairs) = self else {
            return None;
        };
        let mut items: Vec<(i64, Vec<u8>)> = pairs
            .iter()
            .map(|(k, v)| match (k, v) {
                (LoadedValue::Int(i), LoadedValue::Str(s)) => Some((*i, s.clone())),
                _ => None,
            })
            .collect::<Option<_>>()?;
        items.sort_by_key(|(i, _)| *i);
        items
            .iter()
            .enumerate()
            .all(|(n, (i, _))| *i == n as i64 + 1)
            .then(|| items.into_iter().map(|(_, s)| s).collect())
    }
}

/// Every host's options as Prosody's loader built them (`"*"` is the global part).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadedConfig {
    pub hosts: BTreeMap<String, BTreeMap<String, LoadedValue>>,
    pub warnings: Vec<String>,
    /// The functions called while the config ran, in order (`name@source:line`).
    pub calls: Vec<String>,
}

impl LoadedConfig {
    /// The option as set on the host itself.
    pub fn get(&self, host: &str, key: &str) -> Option<&LoadedValue> {
        self.hosts.get(host)?.get(key)
    }

    /// The option as the host sees it (its own value, else the global one).
    pub fn effective(&self, host: &str, key: &str) -> Option<&LoadedValue> {
        self.get(host, key).or_else(|| self.get("*", key))
    }
}

/// How to run Prosody's loader.
#[derive(Debug, Clone)]
pub struct Loader {
    /// The Lua interpreter Prosody runs on (`lua5.4`, `lua5.2`).
    pub lua: PathBuf,
    /// Prosody's library directory (holds `core/configmanager.lua`).
    pub prosody_lib: PathBuf,
    /// Run Lua confined (config text may still be hostile); `None`: as we are.
    pub confine: Option<Confine>,
}

/// Where and as whom config code runs when it must not run with our privileges:
/// the child starts in `dir` (private, owned by the user it runs as), with a clean
/// environment, under `setpriv` as `run_as` (uid, gid) without supplementary groups.
/// Paths handed to it go through `/proc/self/fd/N`, a descriptor of `dir` it
/// inherits: reached without searching the (root-only) directories above it, and
/// still valid after Prosody changes its working directory.
#[derive(Debug, Clone)]
pub struct Confine {
    pub dir: PathBuf,
    pub run_as: Option<(u32, u32)>,
    /// `dir` as the child reaches it.
    pub child_dir: PathBuf,
}

impl Confine {
    /// Confine to `dir`; the returned descriptor must stay open while children run
    /// (every child started meanwhile inherits it: it only names `dir`).
    pub fn open(
        dir: &Path,
        run_as: Option<(u32, u32)>,
    ) -> std::io::Result<(Confine, std::os::fd::OwnedFd)> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_PATH | nix::libc::O_DIRECTORY)
            .open(dir)?;
        let fd = std::os::fd::OwnedFd::from(f);
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )?;
        let child_dir = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        Ok((
            Confine {
                dir: dir.to_path_buf(),
                run_as,
                child_dir,
            },
            fd,
        ))
    }

    /// `name` in the directory, as the confined child must open it.
    pub fn child_path(&self, name: &str) -> PathBuf {
        self.child_dir.join(name)
    }

    /// The argument vector running `program args...` confined.
    pub fn argv(&self, program: &Path, args: &[&std::ffi::OsStr]) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = match self.run_as {
            Some((uid, gid)) => vec![
                "setpriv".into(),
                format!("--reuid={uid}").into(),
                format!("--regid={gid}").into(),
                "--clear-groups".into(),
                "--".into(),
            ],
            None => vec![],
        };
        v.push(program.into());
        v.extend(args.iter().map(|a| a.to_os_string()));
        v
    }

    /// A command running `program args...` confined.
    pub fn command(&self, program: &Path, args: &[&std::ffi::OsStr]) -> Command {
        let argv = self.argv(program, args);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]).current_dir(&self.dir);
        crate::runner::child_env(&mut c, true);
        c
    }

    /// Create a subdirectory the confined child can read.
    pub fn mkdir(&self, name: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let p = self.dir.join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&p)?;
        self.give(&p)?;
        Ok(p)
    }

    /// Hand `p` to the user the child runs as.
    pub fn give(&self, p: &Path) -> std::io::Result<()> {
        if let Some((uid, gid)) = self.run_as {
            nix::unistd::chown(
                p,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )?;
        }
        Ok(())
    }

    /// Write a file the confined child can read.
    pub fn write(&self, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)?;
        self.give(&p)?;
        std::io::Write::write_all(&mut f, data)?;
        Ok(p)
    }
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            lua: PathBuf::from("lua5.4"),
            prosody_lib: PathBuf::from("/usr/lib/prosody"),
            confine: None,
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn decode(v: &Json) -> Option<LoadedValue> {
    let o = v.as_object()?;
    let (tag, x) = o.iter().next()?;
    Some(match tag.as_str() {
        "s" => LoadedValue::Str(unhex(x.as_str()?)?),
        "i" => LoadedValue::Int(x.as_i64()?),
        "n" => LoadedValue::Num(String::from_utf8(unhex(x.as_str()?)?).ok()?),
        "b" => LoadedValue::Bool(x.as_bool()?),
        "t" => {
            let mut pairs: Vec<(LoadedValue, LoadedValue)> = x
                .as_array()?
                .iter()
                .map(|p| Some((decode(p.get(0)?)?, decode(p.get(1)?)?)))
                .collect::<Option<_>>()?;
            // Lua's pairs() order is arbitrary: sort so equal tables compare equal.
            pairs.sort_by_cached_key(|(k, _)| format!("{k:?}"));
            LoadedValue::Table(pairs)
        }
        _ => LoadedValue::Other(String::from_utf8_lossy(&unhex(x.as_str()?)?).into_owned()),
    })
}

impl Loader {
    /// Load a config file (with its `Include`s) as Prosody would.
    /// Confined, `path` is as the child sees it ([`Confine::child_path`]).
    pub fn load_file(&self, path: &Path) -> Result<LoadedConfig, EditError> {
        let io = |e: std::io::Error| EditError::Loader(e.to_string());
        let cmd = match &self.confine {
            Some(c) => {
                c.write("dump.lua", DUMP_LUA.as_bytes()).map_err(io)?;
                let script = c.child_path("dump.lua");
                c.command(
                    &self.lua,
                    &[
                        script.as_os_str(),
                        self.prosody_lib.as_os_str(),
                        path.as_os_str(),
                    ],
                )
            }
            None => {
                let dir = tempfile::tempdir().map_err(io)?;
                let script = dir.path().join("dump.lua");
                std::fs::write(&script, DUMP_LUA).map_err(io)?;
                let mut c = Command::new(&self.lua);
                c.arg(&script).arg(&self.prosody_lib).arg(path);
                crate::runner::child_env(&mut c, false);
                // The script is read before `dir` goes: keep it until the child ends.
                return self.finish(c, Some(dir));
            }
        };
        self.finish(cmd, None)
    }

    fn finish(
        &self,
        mut cmd: Command,
        _script_dir: Option<tempfile::TempDir>,
    ) -> Result<LoadedConfig, EditError> {
        let out = cmd
            .output()
            .map_err(|e| EditError::Loader(format!("cannot run {}: {e}", self.lua.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(EditError::Loader(err.trim().to_string()));
        }
        let json: Json = serde_json::from_slice(&out.stdout)
            .map_err(|e| EditError::Loader(format!("unreadable loader output: {e}")))?;
        let bad = || EditError::Loader("unreadable loader output".to_string());
        let mut cfg = LoadedConfig::default();
        for h in json["hosts"].as_array().ok_or_else(bad)? {
            let name = unhex(h[0].as_str().ok_or_else(bad)?).ok_or_else(bad)?;
            let mut opts = BTreeMap::new();
            for kv in h[1].as_array().ok_or_else(bad)? {
                let k = decode(&kv[0]).ok_or_else(bad)?;
                let v = decode(&kv[1]).ok_or_else(bad)?;
                if let LoadedValue::Str(k) = k {
                    opts.insert(String::from_utf8_lossy(&k).into_owned(), v);
                }
            }
            cfg.hosts
                .insert(String::from_utf8_lossy(&name).into_owned(), opts);
        }
        for w in json["warnings"].as_array().ok_or_else(bad)? {
            let w = unhex(w.as_str().ok_or_else(bad)?).ok_or_else(bad)?;
            cfg.warnings.push(String::from_utf8_lossy(&w).into_owned());
        }
        for c in json["calls"].as_array().ok_or_else(bad)? {
            let c = unhex(c.as_str().ok_or_else(bad)?).ok_or_else(bad)?;
            cfg.calls.push(String::from_utf8_lossy(&c).into_owned());
        }
        Ok(cfg)
    }

    /// Load config text (written to a private temp file; relative `Include`s will
    /// not resolve).
    pub fn load_text(&self, text: &str) -> Result<LoadedConfig, EditError> {
        let dir = tempfile::tempdir().map_err(|e| EditError::Loader(e.to_string()))?;
        let path = dir.path().join("config.cfg.lua");
        std::fs::write(&path, text).map_err(|e| EditError::Loader(e.to_string()))?;
        self.load_file(&path)
    }
}

/// Load `text` through Prosody's loader on this machine (`lua5.4`,
/// `/usr/lib/prosody`).
pub fn prosody_loader_check(text: &str) -> Result<LoadedConfig, EditError> {
    Loader::default().load_text(text)
}
