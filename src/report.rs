//! Output goes through one [`Reporter`] trait so the library never prints: a human
//! reporter (terminal, progress spinners), a plain one (maintainer scripts: stderr
//! only) and a JSON one (Ansible: one object on stdout at the end).

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// `println!` panics when stdout is a closed pipe; a reporter must never abort a
/// run half-way through applying it, so output errors are ignored.
macro_rules! out {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout(), $($t)*); }};
}
macro_rules! err {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr(), $($t)*); }};
}

/// What a provisioning command did; `--output json` prints exactly this.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub changed: bool,
    pub files: Vec<String>,
    /// `none`, `skipped`, `denied` (by policy-rc.d), `restarted`, `started`,
    /// `would-restart` or `failed`.
    pub restart: String,
    pub warnings: Vec<String>,
    /// Jicofo, when its jicofo.conf was changed: the same words as `restart`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jicofo_restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub trait Reporter: Send + Sync {
    fn info(&self, msg: &str);
    fn warn(&self, msg: &str);
    /// A step that may take time (restart, validation); ends with [`Reporter::done`].
    fn step(&self, msg: &str);
    fn done(&self);
    /// The unified diff of a plan (already masked).
    fn diff(&self, diff: &str);
    /// The final result (success or failure).
    fn finish(&self, outcome: &Outcome);
}

/// Terminal: coloured-free human text on stdout, spinners for slow steps.
pub struct Human {
    bar: Mutex<Option<ProgressBar>>,
}

impl Human {
    pub fn new() -> Self {
        Human {
            bar: Mutex::new(None),
        }
    }
}

impl Default for Human {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Human {
    fn info(&self, msg: &str) {
        self.done();
        out!("{msg}");
    }
    fn warn(&self, msg: &str) {
        self.done();
        err!("warning: {msg}");
    }
    fn step(&self, msg: &str) {
        self.done();
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(msg.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.bar.lock().unwrap() = Some(bar);
    }
    fn done(&self) {
        if let Some(bar) = self.bar.lock().unwrap().take() {
            bar.finish_and_clear();
        }
    }
    fn diff(&self, diff: &str) {
        self.done();
        let _ = std::io::stdout().write_all(diff.as_bytes());
    }
    fn finish(&self, o: &Outcome) {
        self.done();
        if let Some(err) = &o.error {
            err!("error: {err}");
        }
        if o.changed {
            out!("changed: {}", o.files.join(", "));
        } else if o.error.is_none() {
            out!("nothing to change");
        }
        if o.error.is_none() || o.restart != "none" {
            out!("restart: {}", o.restart);
        }
        if let Some(j) = &o.jicofo_restart {
            out!("jicofo restart: {j}");
        }
    }
}

/// Maintainer scripts and pipes: one plain line per event on stderr (stdout may
/// belong to debconf). The diff of a dry run is the one thing on stdout.
pub struct Plain;

impl Reporter for Plain {
    fn info(&self, msg: &str) {
        err!("jitsi-meet-tokens: {msg}");
    }
    fn warn(&self, msg: &str) {
        err!("jitsi-meet-tokens: warning: {msg}");
    }
    fn step(&self, msg: &str) {
        err!("jitsi-meet-tokens: {msg}");
    }
    fn done(&self) {}
    fn diff(&self, diff: &str) {
        let _ = std::io::stdout().write_all(diff.as_bytes());
    }
    fn finish(&self, o: &Outcome) {
        if let Some(err) = &o.error {
            err!("jitsi-meet-tokens: error: {err}");
        }
        // After an error that changed and restarted nothing, the error says it all.
        if o.error.is_none() || o.changed || !matches!(o.restart.as_str(), "" | "none") {
            err!(
                "jitsi-meet-tokens: changed={} restart={} files={}",
                o.changed,
                o.restart,
                o.files.join(",")
            );
        }
        if let Some(j) = &o.jicofo_restart {
            err!("jitsi-meet-tokens: jicofo_restart={j}");
        }
    }
}

/// Ansible and scripts: nothing but one JSON object on stdout at the end.
/// Warnings are already part of the [`Outcome`].
pub struct Json;

impl Reporter for Json {
    fn info(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn step(&self, _: &str) {}
    fn done(&self) {}
    fn diff(&self, _: &str) {}
    fn finish(&self, o: &Outcome) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, o);
        let _ = out.write_all(b"\n");
    }
}
