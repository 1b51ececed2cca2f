//! Domain errors. Each message says what went wrong and, where there is one, the fix.
//! `anyhow` with `.context(...)` sits above this for plumbing errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad usage: {0}")]
    Usage(String),
    #[error(
        "Prosody {found} is too old: jitsi-meet-tokens needs Prosody {minimum} or newer \
         (upgrade the prosody package, e.g. from backports)"
    )]
    ProsodyTooOld {
        found: String,
        minimum: &'static str,
    },
    #[error(
        "Prosody was not found under {root}: no prosody package in the dpkg database and no \
         prosodyctl to ask (install Prosody 0.11.6 or newer first)"
    )]
    ProsodyMissing { root: PathBuf },
    #[error(
        "no native module for Lua {lua}: {path} is missing and no source was given; build it \
         (cargo build --release -p jitsi-tokens-lua{features}) and pass --native-module FILE"
    )]
    NativeModuleMissing {
        lua: String,
        path: PathBuf,
        features: &'static str,
    },
    #[error("the existing configuration is broken, nothing was changed: {0}")]
    BrokenConfig(String),
    #[error("the new configuration failed validation, nothing was changed: {0}")]
    InvalidNewConfig(String),
    #[error("another jitsi-meet-tokens run holds the lock {0}; try again when it has finished")]
    Locked(PathBuf),
    #[error("no state record for {domain} in {dir}: nothing to unconfigure")]
    NoState { domain: String, dir: PathBuf },
    #[error("{0}")]
    RestartFailed(String),
    /// A restart that would reach outside `--root` (see service.rs).
    #[error("nothing was changed: Prosody cannot be restarted from this root: {0}")]
    RestartRefused(String),
    #[error("a value is missing: {0}")]
    Missing(String),
}

impl Error {
    /// Exit code for the CLI: 2 for bad usage, 1 for every other failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Missing(_) => 2,
            _ => 1,
        }
    }
}

/// Exit code for any error chain: a domain error decides, anything else is 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .map_or(1, Error::exit_code)
}
