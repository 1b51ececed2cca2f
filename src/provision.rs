//! The part `configure` and `unconfigure` share once a plan exists: print it
//! (dry run), validate, record, apply, restart, and roll back when Prosody does not
//! come back.

use crate::cli::{CommonArgs, Output};
use crate::config_edit::{LoadedConfig, LoadedValue};
use crate::detect::System;
use crate::fsops::under;
use crate::plan::Plan;
use crate::report::{self, Outcome, Reporter};
use crate::runner::Runner;
use crate::service::{loopback_for, Expect, Service};
use crate::state::{self, Record};
use crate::tree::Tree;
use crate::{apply, validate};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options every provisioning run has.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub root: PathBuf,
    /// Real path of the state directory.
    pub state_dir: PathBuf,
    pub dry_run: bool,
    pub restart: bool,
    /// Package removal (`unconfigure --if-running`): a stopped Prosody stays
    /// stopped, and one that does not come back is a warning, the files staying reverted.
    pub if_running: bool,
}

impl Ctx {
    pub fn from_common(c: &CommonArgs) -> Result<Ctx> {
        Ok(Ctx {
            root: c.target.root.clone(),
            state_dir: crate::fsops::resolve(&c.target.root, Path::new(state::STATE_DIR), true)?,
            dry_run: c.dry_run,
            restart: !c.no_restart,
            if_running: false,
        })
    }

    /// Take the run lock (see [`crate::fsops::lock`]).
    pub fn lock(&self) -> Result<crate::fsops::RunLock> {
        crate::fsops::lock(&self.state_dir, crate::fsops::lock_wait())
    }

    /// Remove what a killed run left (its staging directory, temp files next to
    /// the files it was writing), when no other run is busy.
    pub fn clean_after_killed_run(&self) -> Result<()> {
        let conf = crate::fsops::resolve(&self.root, Path::new(crate::tree::CONF_DIR), true)?;
        let dirs = [conf.clone(), conf.join("conf.avail"), conf.join("conf.d")];
        crate::fsops::clean_after_killed_run(&self.state_dir, &dirs)
    }
}

/// Human on a terminal, plain lines otherwise, unless `--output` says.
fn default_output(o: Option<Output>) -> Output {
    o.unwrap_or_else(|| {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            Output::Human
        } else {
            Output::Plain
        }
    })
}

pub fn reporter(o: Option<Output>) -> Box<dyn Reporter> {
    match default_output(o) {
        Output::Human => Box::new(report::Human::new()),
        Output::Plain => Box::new(report::Plain),
        Output::Json => Box::new(report::Json),
    }
}

/// Report an error (as JSON too, when asked) and give its exit code.
pub fn fail(rep: &dyn Reporter, err: &anyhow::Error, mut o: Outcome) -> ExitCode {
    o.error = Some(crate::error::render(err));
    if o.restart.is_empty() {
        o.restart = "none".into();
    }
    rep.finish(&o);
    ExitCode::from(crate::error::exit_code(err) as u8)
}

/// How the state record changes when the plan is applied.
pub enum RecordOp<'a> {
    Update(&'a dyn Fn(&mut Record)),
    Delete,
}

fn ints(v: Option<&LoadedValue>) -> Vec<u16> {
    match v {
        Some(LoadedValue::Int(i)) => u16::try_from(*i).into_iter().collect(),
        Some(LoadedValue::Table(pairs)) => {
            let mut p: Vec<_> = pairs
                .iter()
                .filter_map(|(k, v)| match (k, v) {
                    (LoadedValue::Int(k), LoadedValue::Int(v)) => {
                        Some((*k, u16::try_from(*v).ok()?))
                    }
                    _ => None,
                })
                .collect();
            p.sort();
            p.into_iter().map(|(_, v)| v).collect()
        }
        _ => vec![],
    }
}

fn strs(v: Option<&LoadedValue>) -> Vec<String> {
    match v {
        Some(LoadedValue::Str(s)) => vec![String::from_utf8_lossy(s).into_owned()],
        Some(v) => v
            .as_list()
            .unwrap_or_default()
            .into_iter()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .collect(),
        None => vec![],
    }
}

/// The running instance as the (new) config describes it.
pub fn service(root: &Path, sys: &System, cfg: &LoadedConfig, domain: &str) -> Service {
    let g = |k: &str| cfg.get("*", k);
    // The pidfile path as the Prosody spawned from the root sees it; the service
    // refuses to restart one whose pidfile lies outside a scratch root.
    let pidfile = strs(g("pidfile")).into_iter().next().map(PathBuf::from);
    // `log = "file"` or `log = { info = "file"; ... }`; `*syslog`-style sinks are not files.
    let log = match g("log") {
        Some(LoadedValue::Table(pairs)) => pairs.iter().find_map(|(_, v)| v.as_bytes()),
        Some(v) => v.as_bytes(),
        None => None,
    }
    .map(|l| String::from_utf8_lossy(l).into_owned())
    .filter(|l| !l.starts_with('*'))
    .map(PathBuf::from);
    let has_bosh = |host: &str| {
        strs(cfg.get(host, "modules_enabled"))
            .iter()
            .any(|m| m == "bosh")
    };
    let disabled = strs(g("modules_disabled")).iter().any(|m| m == "bosh");
    let bosh = ((has_bosh("*") || has_bosh(domain)) && !disabled).then(|| {
        let port = ints(g("http_ports")).first().copied().unwrap_or(5280);
        let iface = strs(g("http_interfaces"))
            .into_iter()
            .next()
            .unwrap_or_else(|| "*".into());
        (loopback_for(&iface), port)
    });
    let c2s_port = ints(g("c2s_ports")).first().copied().unwrap_or(5222);
    let c2s_iface = strs(g("c2s_interfaces"))
        .into_iter()
        .chain(strs(g("interfaces")))
        .next()
        .unwrap_or_else(|| "*".into());
    Service {
        root: root.to_path_buf(),
        config: under(root, "/etc/prosody/prosody.cfg.lua"),
        pidfile,
        bosh,
        c2s: (loopback_for(&c2s_iface), c2s_port),
        lua_cpath: crate::native::cpath_env(root, sys),
        log,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn execute(
    ctx: &Ctx,
    domain: &str,
    sys: &System,
    tree: &Tree,
    plan: &Plan,
    expect: Expect,
    runner: &dyn Runner,
    rep: &dyn Reporter,
    record: RecordOp<'_>,
) -> Result<Outcome> {
    let mut out = Outcome {
        changed: !plan.is_empty(),
        files: plan.files(),
        restart: "none".into(),
        warnings: plan.warnings.clone(),
        // The masked diff is in every outcome, real runs included, so the Ansible
        // module in diff mode needs no second (dry) run.
        diff: Some(plan.diff()),
        error: None,
        jicofo_restart: None,
    };
    if ctx.dry_run {
        rep.diff(out.diff.as_deref().unwrap_or_default());
        if plan.needs_restart() {
            out.restart = "would-restart".into();
        }
        return Ok(out);
    }
    if plan.is_empty() {
        return Ok(out);
    }
    let loaded = if plan.needs_restart() {
        rep.step("validating the new configuration with Prosody's loader");
        let checked = validate::check_plan(
            tree,
            plan,
            sys,
            runner,
            &crate::fsops::RunLock::scratch(&ctx.state_dir),
        );
        rep.done();
        let (loaded, warnings) = checked?;
        for w in warnings {
            rep.warn(&w);
            out.warnings.push(w);
        }
        Some(loaded)
    } else {
        None
    };
    if let (Some(loaded), true) = (&loaded, ctx.restart) {
        // Refused before anything is written: under a scratch root the restart must
        // not reach outside it.
        if let Some(why) = service(&ctx.root, sys, loaded, domain).outside_root() {
            return Err(crate::error::Error::RestartRefused(why).into());
        }
    }
    let old_record = state::load(&ctx.state_dir, domain)?;
    match &record {
        RecordOp::Update(f) => {
            let mut rec = old_record.clone().unwrap_or_else(|| Record {
                domain: domain.to_lowercase(),
                files: vec![],
            });
            f(&mut rec);
            state::save(&ctx.state_dir, &rec)?;
        }
        RecordOp::Delete => {}
    }
    let restore_record = || -> Result<()> {
        match &old_record {
            Some(r) => state::save(&ctx.state_dir, r),
            None => state::remove(&ctx.state_dir, domain),
        }
    };
    let mut applied = match apply::apply(plan, &ctx.root, &ctx.state_dir) {
        Ok(a) => a,
        Err(e) => {
            let _ = restore_record();
            return Err(e);
        }
    };
    if let RecordOp::Delete = record {
        state::remove(&ctx.state_dir, domain)?;
    }
    rep.info(&format!("changed: {}", out.files.join(", ")));
    let Some(loaded) = loaded else { return Ok(out) };
    if !ctx.restart {
        out.restart = "skipped".into();
        let w =
            "Prosody was not restarted (--no-restart): restart it to apply the change".to_string();
        rep.warn(&w);
        out.warnings.push(w);
        return Ok(out);
    }
    let svc = service(&ctx.root, sys, &loaded, domain);
    if let Some(why) = svc.restart_denied(runner)? {
        out.restart = "denied".into();
        let w = format!(
            "Prosody was not restarted: {why}; the change takes effect when Prosody restarts"
        );
        rep.warn(&w);
        out.warnings.push(w);
        return Ok(out);
    }
    if ctx.if_running && svc.pid().is_none() {
        out.restart = "skipped".into();
        let w =
            "Prosody is not running: left stopped; the change applies when it starts".to_string();
        rep.warn(&w);
        out.warnings.push(w);
        return Ok(out);
    }
    rep.step("restarting Prosody");
    let res = svc.restart(runner, domain, expect);
    rep.done();
    match res {
        Ok(r) => {
            out.restart = r.what.into();
            rep.info(&format!(
                "Prosody {} ({}), PID {}{}; confirmed by {}",
                r.what,
                r.method,
                r.new_pid,
                r.old_pid.map(|p| format!(", was {p}")).unwrap_or_default(),
                r.confirmed_by
            ));
            Ok(out)
        }
        Err(e) if ctx.if_running => {
            // Package removal: the files are reverted and stay so; Prosody is the
            // administrator's to fix.
            out.restart = "failed".into();
            let w = format!(
                "the files are reverted, but Prosody did not come back: {e:#}; \
                 fix it and start it (invoke-rc.d prosody start)"
            );
            rep.warn(&w);
            out.warnings.push(w);
            Ok(out)
        }
        Err(e) => {
            rep.warn("Prosody did not come back; restoring the previous files");
            let rb = apply::rollback(&mut applied);
            let _ = restore_record();
            // The cause is given once: a second failure is only spelled out when it
            // differs from the first.
            let first = format!("{e:#}");
            // The previous config may serve no BOSH (ours enabled it on the host):
            // its Prosody is proven alive by the c2s port.
            let previous = Service {
                bosh: None,
                ..svc.clone()
            };
            let again = match (&rb, previous.restart(runner, domain, Expect::Alive)) {
                (Err(rbe), _) => format!("restoring the previous files failed too: {rbe:#}"),
                (Ok(()), Ok(r)) => format!("the previous files are back and Prosody {} (PID {})", r.what, r.new_pid),
                (Ok(()), Err(e2)) if format!("{e2:#}") == first => "the previous files are back, but Prosody did not start with them either (same cause)".into(),
                (Ok(()), Err(e2)) => format!("the previous files are back, but Prosody did not start with them either: {e2:#}"),
            };
            out.changed = rb.is_err();
            out.restart = "failed".into();
            out.error = Some(format!(
                "Prosody did not come back with the new configuration: {e:#}; {again}"
            ));
            Ok(out)
        }
    }
}
