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

/// The error chain as one line, `context: cause`, where a system error says what it
/// means for the file named before it and what to do, not `(os error 2)`.
pub fn render(err: &anyhow::Error) -> String {
    err.chain()
        .map(|e| match e.downcast_ref::<std::io::Error>() {
            Some(io) => io_cause(io),
            None => e.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "it does not exist (check the path)".into(),
        PermissionDenied => "permission denied (run as root, or make it readable)".into(),
        AlreadyExists => "it already exists".into(),
        _ => {
            let text = e.to_string();
            // std appends " (os error N)" to the system's text; the text is the news.
            match (text.rfind(" (os error "), e.raw_os_error()) {
                (Some(i), Some(_)) => text[..i].to_owned(),
                _ => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn system_errors_name_the_file_and_the_next_step() {
        let err = std::fs::read("/nonexistent/secret")
            .context("reading the app secret from /nonexistent/secret")
            .unwrap_err();
        assert_eq!(
            render(&err),
            "reading the app secret from /nonexistent/secret: it does not exist (check the path)"
        );
        let io = std::io::Error::from_raw_os_error(28);
        let err = anyhow::Error::from(io).context("writing /etc/prosody/x.cfg.lua");
        assert_eq!(
            render(&err),
            "writing /etc/prosody/x.cfg.lua: No space left on device"
        );
    }
}
