//! External commands (`prosodyctl`, `lua5.4`, `systemctl`, init scripts) go through
//! [`Runner`] so tests can see or replace them. Arguments are passed as a vector,
//! never through a shell, and secrets only ever travel on stdin or in files.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, Clone)]
pub struct Cmd {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: Option<Vec<u8>>,
    /// Working directory of the child.
    pub cwd: Option<PathBuf>,
    /// Start from an empty environment (PATH only): for code that may be hostile.
    pub clean_env: bool,
}

/// PATH for a child started with a clean environment.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment every child gets: ours minus the secret (a child has no use for
/// it, and `/proc/<pid>/environ` of a long-lived one would keep it readable), or
/// only PATH when `clean`.
pub fn child_env(c: &mut Command, clean: bool) {
    if clean {
        c.env_clear().env("PATH", SAFE_PATH);
    } else {
        c.env_remove(crate::settings::SECRET_ENV);
    }
}

impl Cmd {
    /// The process as `run` and `spawn` both start it: program, arguments, working
    /// directory and environment; each then sets up its own stdio.
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        child_env(&mut c, self.clean_env);
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn new(program: impl Into<OsString>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            cwd: None,
            clean_env: false,
        }
    }
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn cwd(mut self, d: impl Into<PathBuf>) -> Self {
        self.cwd = Some(d.into());
        self
    }
    pub fn clean_env(mut self) -> Self {
        self.clean_env = true;
        self
    }
    pub fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

pub trait Runner: Send + Sync {
    /// Run to completion and capture output.
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput>;
    /// Start detached (stdio to /dev/null); returns the child's PID.
    fn spawn(&self, cmd: &Cmd) -> Result<u32>;
}

pub struct System;

impl Runner for System {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput> {
        let mut c = cmd.command();
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = c
            .spawn()
            .with_context(|| format!("cannot run {}", cmd.display()))?;
        if let (Some(data), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
            // A child that exits early closes its stdin; its exit status tells the story.
            let _ = stdin.write_all(data);
        }
        let out = child
            .wait_with_output()
            .with_context(|| format!("waiting for {}", cmd.display()))?;
        Ok(CmdOutput {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn spawn(&self, cmd: &Cmd) -> Result<u32> {
        use std::os::unix::process::CommandExt;
        let mut c = cmd.command();
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own session: the daemon must not die with our terminal or process group.
            .process_group(0);
        let child = c
            .spawn()
            .with_context(|| format!("cannot start {}", cmd.display()))?;
        Ok(child.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_never_see_the_secret_variable() {
        let mut c = Command::new("env");
        c.env(crate::settings::SECRET_ENV, "s3cret-child")
            .env("KEPT", "1");
        child_env(&mut c, false);
        let out = String::from_utf8(c.output().unwrap().stdout).unwrap();
        assert!(!out.contains("s3cret-child"), "{out}");
        assert!(out.contains("KEPT=1"), "{out}");
        let mut c = Command::new("env");
        c.env("KEPT", "1");
        child_env(&mut c, true);
        let out = String::from_utf8(c.output().unwrap().stdout).unwrap();
        assert_eq!(out, format!("PATH={SAFE_PATH}\n"));
    }
}
