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

/// What every step after planning needs: the run's options, the host and the
/// machine's parts.
struct Steps<'a> {
    ctx: &'a Ctx,
    domain: &'a str,
    sys: &'a System,
    runner: &'a dyn Runner,
    rep: &'a dyn Reporter,
}

/// Apply a plan: print it (dry run), validate, record, write, restart and confirm,
/// rolling back when Prosody does not come back.
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
    let steps = Steps {
        ctx,
        domain,
        sys,
        runner,
        rep,
    };
    let mut out = outcome(plan);
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
        Some(steps.validate(tree, plan, &mut out)?)
    } else {
        None
    };
    let (applied, saved) = steps.record_and_apply(plan, &record)?;
    rep.info(&format!("changed: {}", out.files.join(", ")));
    let Some(loaded) = loaded else { return Ok(out) };
    let svc = service(&ctx.root, sys, &loaded, domain);
    if let Some((restart, w)) = steps.restart_skipped(&svc)? {
        out.restart = restart.into();
        rep.warn(&w);
        out.warnings.push(w);
        return Ok(out);
    }
    steps.restart_and_confirm(&svc, expect, applied, &saved, out)
}

/// The plan as reported before anything is done.
fn outcome(plan: &Plan) -> Outcome {
    Outcome {
        changed: !plan.is_empty(),
        files: plan.files(),
        restart: "none".into(),
        warnings: plan.warnings.clone(),
        // The masked diff is in every outcome, real runs included, so the Ansible
        // module in diff mode needs no second (dry) run.
        diff: Some(plan.diff()),
        error: None,
        jicofo_restart: None,
    }
}

/// The state record as it was before this run, put back with the files.
struct SavedRecord<'a> {
    state_dir: &'a Path,
    domain: &'a str,
    old: Option<Record>,
}

impl SavedRecord<'_> {
    fn restore(&self) -> Result<()> {
        match &self.old {
            Some(r) => state::save(self.state_dir, r),
            None => state::remove(self.state_dir, self.domain),
        }
    }
}

impl Steps<'_> {
    /// Load the new configuration through Prosody's loader; under a scratch root,
    /// refuse before anything is written a restart that would reach outside it.
    fn validate(&self, tree: &Tree, plan: &Plan, out: &mut Outcome) -> Result<LoadedConfig> {
        self.rep
            .step("validating the new configuration with Prosody's loader");
        let checked = validate::check_plan(
            tree,
            plan,
            self.sys,
            self.runner,
            &crate::fsops::RunLock::scratch(&self.ctx.state_dir),
        );
        self.rep.done();
        let (loaded, warnings) = checked?;
        for w in warnings {
            self.rep.warn(&w);
            out.warnings.push(w);
        }
        if self.ctx.restart {
            if let Some(why) =
                service(&self.ctx.root, self.sys, &loaded, self.domain).outside_root()
            {
                return Err(crate::error::Error::RestartRefused(why).into());
            }
        }
        Ok(loaded)
    }

    /// Save the new state record, then write the files; a failed write puts the
    /// old record back.
    fn record_and_apply(
        &self,
        plan: &Plan,
        record: &RecordOp<'_>,
    ) -> Result<(apply::Applied, SavedRecord<'_>)> {
        let state_dir = &self.ctx.state_dir;
        let saved = SavedRecord {
            state_dir,
            domain: self.domain,
            old: state::load(state_dir, self.domain)?,
        };
        if let RecordOp::Update(f) = record {
            let mut rec = saved.old.clone().unwrap_or_else(|| Record {
                domain: self.domain.to_lowercase(),
                files: vec![],
            });
            f(&mut rec);
            state::save(state_dir, &rec)?;
        }
        let applied = apply::apply(plan, &self.ctx.root, state_dir).inspect_err(|_| {
            let _ = saved.restore();
        })?;
        if let RecordOp::Delete = record {
            state::remove(state_dir, self.domain)?;
        }
        Ok((applied, saved))
    }

    /// Why Prosody is not restarted this run, if it is not: the `restart` word
    /// for the report and the warning.
    fn restart_skipped(&self, svc: &Service) -> Result<Option<(&'static str, String)>> {
        if !self.ctx.restart {
            return Ok(Some((
                "skipped",
                "Prosody was not restarted (--no-restart): restart it to apply the change".into(),
            )));
        }
        if let Some(why) = svc.restart_denied(self.runner)? {
            return Ok(Some((
                "denied",
                format!(
                    "Prosody was not restarted: {why}; the change takes effect when Prosody restarts"
                ),
            )));
        }
        if self.ctx.if_running && svc.pid().is_none() {
            return Ok(Some((
                "skipped",
                "Prosody is not running: left stopped; the change applies when it starts".into(),
            )));
        }
        Ok(None)
    }

    /// Restart Prosody and confirm it answers; when it does not, warn (package
    /// removal) or roll back.
    fn restart_and_confirm(
        &self,
        svc: &Service,
        expect: Expect,
        applied: apply::Applied,
        saved: &SavedRecord<'_>,
        mut out: Outcome,
    ) -> Result<Outcome> {
        let rep = self.rep;
        rep.step("restarting Prosody");
        let res = svc.restart(self.runner, self.domain, expect);
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
            }
            Err(e) if self.ctx.if_running => {
                // Package removal: the files are reverted and stay so; Prosody is the
                // administrator's to fix.
                out.restart = "failed".into();
                let w = format!(
                    "the files are reverted, but Prosody did not come back: {e:#}; \
                     fix it and start it (invoke-rc.d prosody start)"
                );
                rep.warn(&w);
                out.warnings.push(w);
            }
            Err(e) => {
                rep.warn("Prosody did not come back; restoring the previous files");
                let (restored, again) = self.roll_back(svc, applied, saved, &e);
                out.changed = !restored;
                out.restart = "failed".into();
                out.error = Some(format!(
                    "Prosody did not come back with the new configuration: {e:#}; {again}"
                ));
            }
        }
        Ok(out)
    }

    /// Put the previous files and record back and start Prosody with them: whether
    /// the files are back, and what happened, for the error.
    fn roll_back(
        &self,
        svc: &Service,
        mut applied: apply::Applied,
        saved: &SavedRecord<'_>,
        cause: &anyhow::Error,
    ) -> (bool, String) {
        let rb = apply::rollback(&mut applied);
        let _ = saved.restore();
        // The cause is given once: a second failure is only spelled out when it
        // differs from the first.
        let first = format!("{cause:#}");
        // The previous config may serve no BOSH (ours enabled it on the host):
        // its Prosody is proven alive by the c2s port.
        let previous = Service {
            bosh: None,
            ..svc.clone()
        };
        let again = match (&rb, previous.restart(self.runner, self.domain, Expect::Alive)) {
            (Err(rbe), _) => format!("restoring the previous files failed too: {rbe:#}"),
            (Ok(()), Ok(r)) => format!("the previous files are back and Prosody {} (PID {})", r.what, r.new_pid),
            (Ok(()), Err(e2)) if format!("{e2:#}") == first => "the previous files are back, but Prosody did not start with them either (same cause)".into(),
            (Ok(()), Err(e2)) => format!("the previous files are back, but Prosody did not start with them either: {e2:#}"),
        };
        (rb.is_ok(), again)
    }
}
