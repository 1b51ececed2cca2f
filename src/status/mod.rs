//! `jitsi-meet-tokens status` (alias `doctor`): what is installed under `--root`, what
//! each token host is set to, and every check that matters, each failure with its fix.
//!
//! Detection and config reading are the installer's ([`crate::detect`], [`crate::tree`],
//! [`crate::token_cmd::host::HostConfig`]); this module only judges what they find.
//! The host's token options are judged by the verifier crate itself
//! ([`jitsi_tokens_verifier::Verifier::new`]), so "status ok" means Prosody's module
//! accepts them too.

mod checks;
pub mod live;
mod secure_domain;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::cli::{Output, Target};
use crate::token_cmd::time::parse_duration;

/// Show what is installed and check every token host, with fix hints.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,

    /// Also mint a token from the host's settings and log in over BOSH to the running
    /// Prosody, reporting success or the SASL failure text.
    #[arg(long)]
    pub live: bool,

    /// BOSH endpoint for `--live` [default: http://127.0.0.1:<http_ports>/http-bind from
    /// the config, port 5280 when unset].
    #[arg(long, value_name = "URL")]
    pub bosh_url: Option<String>,

    /// Private key to sign the `--live` token on key-server hosts (no secret there).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,

    /// Key id for the `--live` token on key-server hosts.
    #[arg(long)]
    pub kid: Option<String>,

    /// Timeout for each network check (key server, BOSH).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Do not load the native module with Prosody's Lua to prove it works.
    #[arg(long)]
    pub no_load: bool,

    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

/// One check's verdict, typed: what was found (`value`), where (`file`, `line`),
/// and what to do (`hint`). Every field is always present, null when it does not
/// apply. `check`, `result`, `detail` and `hint` are the names `token verify` uses
/// for the same ideas; the schema is in README and the man page (JSON OUTPUT).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    #[serde(rename = "check")]
    pub id: &'static str,
    /// The host it concerns (null for system-wide checks).
    pub host: Option<String>,
    #[serde(rename = "result")]
    pub status: Status,
    /// The value found: a setting's value as Prosody reads it, a version, a URL...
    pub value: serde_json::Value,
    /// Where it was found: a config file and line, or the file checked.
    pub file: Option<String>,
    pub line: Option<usize>,
    /// One sentence for people; null when the value and its place say it all.
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Check {
    pub fn value(&mut self, v: impl Into<serde_json::Value>) -> &mut Self {
        self.value = v.into();
        self
    }

    pub fn file(&mut self, f: impl Into<String>) -> &mut Self {
        self.file = Some(f.into());
        self
    }

    /// The check's line of human output: its sentence (or its value), then the
    /// config line it was found at.
    fn summary(&self) -> String {
        let text = match &self.detail {
            Some(d) => d.clone(),
            None => show(&self.value),
        };
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{text} ({f}:{l})"),
            _ => text,
        }
    }
}

/// A JSON value as written in Prosody's config (`"token"`, `false`, `{ "a", "b" }`).
fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("{s:?}"),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// What is installed: a package, the native module, ...
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub name: String,
    /// Its version, or its state (`missing (/usr/lib/...)`).
    pub version: String,
}

/// One option of a host as read from its config file: typed, not pre-rendered.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub name: String,
    /// The value as Prosody reads it: a JSON string, number, boolean or list of
    /// strings; the Lua source text for an expression; null for the secret.
    pub value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is shown instead of the value (the secret's length).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything `status` found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub ok: bool,
    pub root: String,
    pub installed: Vec<Installed>,
    pub hosts: Vec<checks::HostSummary>,
    pub checks: Vec<Check>,
}

pub fn run(args: &StatusArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let report = checks::collect(args, &crate::runner::System);
    match args.output {
        Output::Json => {
            crate::token_cmd::output(writeln!(out, "{}", serde_json::to_string_pretty(&report)?))?
        }
        Output::Human | Output::Plain => crate::token_cmd::output(write_text(out, &report))?,
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_text(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    writeln!(out, "Installed (root {}):", r.root)?;
    for i in &r.installed {
        writeln!(out, "  {:<16} {}", i.name, i.version)?;
    }
    for h in &r.hosts {
        writeln!(out, "Host {} ({}):", h.domain, h.files.join(", "))?;
        for st in &h.settings {
            let shown = match (&st.note, &st.value) {
                (Some(note), _) => format!("({note})"),
                (None, serde_json::Value::Array(_)) => st.value.to_string(),
                (None, v) => show(v),
            };
            match (&st.file, st.line) {
                (Some(f), Some(l)) => writeln!(out, "  {:<26} {shown}  ({f}:{l})", st.name)?,
                _ => writeln!(out, "  {:<26} {shown}", st.name)?,
            }
        }
    }
    writeln!(out, "Checks:")?;
    for c in &r.checks {
        let mark = match c.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        };
        let what = match &c.host {
            Some(h) => format!("{} [{h}]", c.id),
            None => c.id.to_owned(),
        };
        writeln!(out, "  {mark:<5} {what:<40} {}", c.summary())?;
        if let Some(h) = &c.hint {
            writeln!(out, "  {:<5} {:<40} fix: {h}", "", "")?;
        }
    }
    let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = r.checks.iter().filter(|c| c.status == Status::Warn).count();
    if failed == 0 {
        writeln!(out, "All checks passed ({warned} warning(s)).")
    } else {
        writeln!(out, "{failed} check(s) failed, {warned} warning(s).")
    }
}
