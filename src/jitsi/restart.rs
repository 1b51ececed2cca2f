//! Restarting Jicofo after its jicofo.conf changed, and confirming it came back, the
//! way [`crate::service`] does for Prosody: the local policy first (`invoke-rc.d
//! --query`), then systemd or the init script, then a new live process. Under
//! `--root` nothing outside the root is signalled or started.

use crate::plan::Plan;
use crate::provision::Ctx;
use crate::report::{Outcome, Reporter};
use crate::runner::{Cmd, Runner};
use std::path::Path;
use std::time::{Duration, Instant};

/// Where Jicofo's Debian init script keeps its PID.
const PIDFILE: &str = "/var/run/jicofo.pid";

fn jicofo_pid() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(PIDFILE).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    // Jicofo is a Java process: its class path or main class names it.
    cmdline
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"jicofo"))
        .then_some(pid)
}

fn systemd() -> bool {
    Path::new("/run/systemd/system").is_dir() && which::which("systemctl").is_ok()
}

/// Restart Jicofo on `/`; what was done (`restarted`, `started`, `denied`).
fn restart(runner: &dyn Runner) -> anyhow::Result<&'static str> {
    let invoke = which::which("invoke-rc.d").ok();
    if let Some(i) = &invoke {
        let q = runner.run(&Cmd::new(i).arg("--query").arg("jicofo").arg("restart"))?;
        if matches!(q.status, Some(101 | 106)) {
            return Ok("denied");
        }
    }
    let old = jicofo_pid();
    let cmd = match (&invoke, systemd()) {
        (Some(i), _) => Cmd::new(i)
            .arg("--disclose-deny")
            .arg("jicofo")
            .arg("restart"),
        (None, true) => Cmd::new("systemctl").arg("restart").arg("jicofo"),
        (None, false) => Cmd::new("/etc/init.d/jicofo").arg("restart"),
    };
    let out = runner.run(&cmd)?;
    if !out.success() {
        anyhow::bail!(
            "{} failed ({} {}); see /var/log/jitsi/jicofo.log",
            cmd.display(),
            out.stdout.trim(),
            out.stderr.trim()
        );
    }
    if systemd() {
        let active = runner.run(&Cmd::new("systemctl").arg("is-active").arg("jicofo"))?;
        anyhow::ensure!(
            active.success(),
            "Jicofo is not active after {}",
            cmd.display()
        );
        return Ok(if old.is_some() {
            "restarted"
        } else {
            "started"
        });
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        match jicofo_pid() {
            Some(p) if Some(p) != old => {
                return Ok(if old.is_some() {
                    "restarted"
                } else {
                    "started"
                })
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    anyhow::bail!(
        "Jicofo did not come back after {} (no new process in {PIDFILE}); see /var/log/jitsi/jicofo.log",
        cmd.display()
    )
}

/// After a configure or unconfigure run: restart Jicofo when its jicofo.conf was
/// changed, and say so in the outcome (`jicofo_restart`).
pub fn after_apply(
    ctx: &Ctx,
    plan: &Plan,
    runner: &dyn Runner,
    rep: &dyn Reporter,
    out: &mut Outcome,
) {
    let shown = format!("/{}", super::jicofo::PATH);
    if !plan.changes.iter().any(|c| c.shown == shown) || out.error.is_some() {
        return;
    }
    let warn = |out: &mut Outcome, w: String| {
        rep.warn(&w);
        out.warnings.push(w);
    };
    let what = if ctx.dry_run {
        "would-restart".to_string()
    } else if !ctx.restart {
        warn(
            out,
            "Jicofo was not restarted (--no-restart): restart it to apply the change".into(),
        );
        "skipped".into()
    } else if ctx.root != Path::new("/") {
        warn(
            out,
            "Jicofo was not restarted: under --root nothing outside the root is restarted; \
             restart Jicofo where this tree is used (invoke-rc.d jicofo restart)"
                .into(),
        );
        "skipped".into()
    } else {
        rep.step("restarting Jicofo");
        let r = restart(runner);
        rep.done();
        match r {
            Ok("denied") => {
                warn(out, "Jicofo was not restarted: the local policy (policy-rc.d) does not allow it; the change takes effect when Jicofo restarts".into());
                "denied".into()
            }
            Ok(w) => {
                rep.info(&format!("Jicofo {w}"));
                w.into()
            }
            Err(e) => {
                out.error = Some(format!("jicofo.conf was changed, but {e:#}"));
                "failed".into()
            }
        }
    };
    out.jicofo_restart = Some(what);
}
