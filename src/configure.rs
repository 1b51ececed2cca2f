//! `configure`: settings → detected system → desired host → plan → apply → report
//! (the secure-domain part of desired state and plan in `configure/secure_domain.rs`).

use crate::cli::ConfigureArgs;
use crate::config_edit::{
    apply_desired, render_host, AuthMode, DesiredHost, Document, SectionId, Value,
    DEFAULT_JITSI_PLUGIN_DIR, DEFAULT_PLUGIN_DIR,
};
use crate::detect::{self, System};
use crate::error::Error;
use crate::fsops::{self, Perms};
use crate::plan::{Action, Change, Plan};
use crate::provision::{self, Ctx};
use crate::report::{Outcome, Reporter};
use crate::runner::Runner;
use crate::settings::{self, Secret, SettingsFile, Values};
use crate::state::{self, FileRecord};
use crate::tree::{self, Tree, CONF_DIR};
use anyhow::Result;
use clap::Args;

mod secure_domain;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A fully resolved `configure` request: what the library needs, nothing to prompt.
#[derive(Debug, Clone)]
pub struct Request {
    pub ctx: Ctx,
    pub domain: String,
    pub values: Values,
    /// `None`: keep the secret already in the host file.
    pub secret: Option<Secret>,
    pub native_module: Option<PathBuf>,
    pub fix_include: bool,
    /// Settings file (real path) and the values to record there.
    pub settings: Option<(PathBuf, Values)>,
    /// A domain that is none of the server's Jitsi or token hosts is wanted.
    pub new_host: bool,
    /// Found while resolving (e.g. a secret file others can read).
    pub warnings: Vec<String>,
    /// What `--from-docker-env` used and ignored, for the report.
    pub notes: Vec<String>,
}

/// How `--domain` relates to the hosts already on the server.
#[derive(Debug, Clone, Args)]
pub struct NewHostArg {
    /// Create a new VirtualHost although the server already has Jitsi Meet or token
    /// hosts and --domain is none of them (without it, such a domain is refused as
    /// a likely typo, with the list of hosts found).
    #[arg(long)]
    pub new_host: bool,
}

/// `check-domain`: the domain rules `configure` applies, for callers that must know
/// before they start (the Debian postinst).
#[derive(Debug, Clone, Args)]
pub struct CheckDomainArgs {
    #[command(flatten)]
    pub common: crate::cli::CommonArgs,
    #[command(flatten)]
    pub host: NewHostArg,
}

/// Exit 0 when `configure` would accept the domain, else say why (exit 2).
pub fn check_domain_main(a: CheckDomainArgs) -> ExitCode {
    let check = || -> Result<()> {
        let domain = a
            .common
            .target
            .domain
            .as_deref()
            .ok_or_else(|| Error::Missing("--domain".into()))?;
        settings::check_domain(domain)?;
        check_new_host(&tree::scan(&a.common.target.root)?, domain, a.host.new_host)
    };
    match check() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jitsi-meet-tokens: {e:#}");
            ExitCode::from(crate::error::exit_code(&e) as u8)
        }
    }
}

/// A domain that is none of the server's hosts, on a server that has Jitsi Meet or
/// token hosts, is most likely a typo: refused unless a new host is asked for.
pub fn check_new_host(tree: &Tree, domain: &str, new_host: bool) -> Result<()> {
    if new_host || tree.has_host(domain) {
        return Ok(());
    }
    let known = tree.jitsi_or_token_hosts();
    if known.is_empty() {
        return Ok(());
    }
    anyhow::bail!(Error::Usage(format!(
        "{domain:?} is not one of this server's hosts ({}); check the spelling, or pass \
         --new-host to create a new VirtualHost for it",
        known.join(", ")
    )))
}

/// The binary's entry point for `configure`.
pub fn main(args: ConfigureArgs) -> ExitCode {
    let reporter = provision::reporter(args.common.output);
    let req = match resolve(&args) {
        Ok(r) => r,
        Err(e) => return provision::fail(&*reporter, &e, Outcome::default()),
    };
    for note in &req.notes {
        reporter.info(note);
    }
    match run(&req, &crate::runner::System, &*reporter) {
        Ok(o) => {
            reporter.finish(&o);
            if o.error.is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => provision::fail(&*reporter, &e, Outcome::default()),
    }
}

fn flag_values(a: &ConfigureArgs) -> Values {
    Values {
        domain: a.common.target.domain.clone(),
        app_id: a.key.app_id.clone(),
        asap_key_server: a.key_server.asap_key_server.clone(),
        cache_keys_url: a.key_server.cache_keys_url.clone(),
        signature_algorithm: a.key.signature_algorithm.clone(),
        issuers: a.accepted.issuers.clone(),
        audiences: a.accepted.audiences.clone(),
        allow_empty_token: a.allow_empty_token,
        token_clock_leeway: a.accepted.token_clock_leeway,
        presence_identity: a.no_presence_identity.then_some(false),
        plugin_dir: a.plugin_dir.clone(),
        guest_domain: a.secure.guest_domain(),
        moderators_from_token: a.secure.moderators_from_token(),
        allowlist: a.secure.allowlist.clone().map(|l| {
            l.into_iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect()
        }),
    }
}

/// Flags and environment, then the settings file, then prompts (terminal only).
pub fn resolve(a: &ConfigureArgs) -> Result<Request> {
    let ctx = Ctx::from_common(&a.common)?;
    let settings_real = fsops::resolve(&ctx.root, &a.common.settings, true)?;
    let file = SettingsFile::load(&settings_real)?;
    let docker = a
        .from_docker_env
        .as_deref()
        .map(crate::docker_env::read)
        .transpose()?;
    let given = match &docker {
        Some(d) => flag_values(a).or(&d.values),
        None => flag_values(a),
    };
    let mut values = given.clone().or(&file.values()?);
    let mut secret = given_secret(a, docker.as_ref())?;
    let interactive =
        crate::prompt::allowed(a.common.non_interactive, a.key.app_secret_file.as_deref());
    if interactive {
        crate::prompt::configure(&ctx.root, &mut values, &mut secret)?;
    }
    let domain = values.domain.clone().ok_or_else(|| {
        Error::Missing(
            "--domain (or JITSI_MEET_TOKENS_DOMAIN, or `domain` in the settings file)".into(),
        )
    })?;
    settings::check_domain(&domain)?;
    check_secure_domain(&domain, &values)?;
    let warnings = match a.key.app_secret_file.as_deref() {
        Some(p) if p != Path::new("-") => settings::secret_file_warning(p).into_iter().collect(),
        _ => vec![],
    };
    check_key_source(&values, secret.as_ref())?;
    // What to record: values given this run (flags, env, prompts) that differ from the file.
    let record = Values {
        domain: Some(domain.clone()),
        ..values.clone()
    };
    let settings = (record != file.values()?).then_some((settings_real, record));
    Ok(Request {
        ctx,
        domain,
        values,
        secret,
        native_module: a.native_module.clone(),
        fix_include: a.fix_include,
        settings,
        new_host: a.host.new_host,
        warnings,
        notes: docker.map(|d| d.notes).unwrap_or_default(),
    })
}

/// The secret from --app-secret-file (or stdin) or the environment, else from
/// `--from-docker-env`.
fn given_secret(
    a: &ConfigureArgs,
    docker: Option<&crate::docker_env::DockerEnv>,
) -> Result<Option<Secret>> {
    let env_secret = std::env::var_os(settings::SECRET_ENV).map(|v| {
        use std::os::unix::ffi::OsStringExt;
        v.into_vec()
    });
    let mut secret = settings::read_secret(a.key.app_secret_file.as_deref(), env_secret)?;
    if let Some(d) = docker.filter(|_| secret.is_none()) {
        secret = d.secret.clone();
    }
    Ok(secret)
}

/// Tokens are checked with one key source: the secret, a key server or a keys URL.
fn check_key_source(values: &Values, secret: Option<&Secret>) -> Result<()> {
    if values.asap_key_server.is_some() && values.cache_keys_url.is_some() {
        anyhow::bail!(Error::Usage(
            "--asap-key-server and --cache-keys-url exclude each other".into()
        ));
    }
    if secret.is_some() && (values.asap_key_server.is_some() || values.cache_keys_url.is_some()) {
        anyhow::bail!(Error::Usage(
            "give either an app secret or a key server / keys URL, not both".into()
        ));
    }
    Ok(())
}

/// The guest domain and allowlist entries follow the domain rule before anything
/// is rendered; a guest domain equal to the main one would make every user a guest.
fn check_secure_domain(domain: &str, v: &Values) -> Result<()> {
    if let Some(g) = v.guest_domain.as_deref().filter(|g| !g.is_empty()) {
        settings::check_host_name(g, "--guest-domain")?;
        if g.eq_ignore_ascii_case(domain) {
            anyhow::bail!(Error::Usage(format!(
                "--guest-domain {g:?} is the main domain: name a host of its own, e.g. guest.{domain}"
            )));
        }
    }
    for e in v.allowlist.iter().flatten() {
        settings::check_allowlist_entry(e)?;
    }
    Ok(())
}

/// The desired host from the request; the secret defaults to the one in the file.
fn desired(req: &Request, sys: &System, existing: Option<&str>) -> Result<DesiredHost> {
    let v = &req.values;
    let vh = SectionId::virtual_host(&req.domain);
    let doc = existing.map(Document::parse).transpose().ok().flatten();
    let current = |k: &str| -> Option<Vec<u8>> {
        match doc.as_ref()?.get(&vh, k)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    };
    let app_id = match (&v.app_id, current("app_id")) {
        (Some(id), _) => id.clone(),
        (None, Some(id)) => String::from_utf8_lossy(&id).into_owned(),
        (None, None) => anyhow::bail!(Error::Missing(
            "--app-id (or JITSI_MEET_TOKENS_APP_ID, or `app_id` in the settings file)".into()
        )),
    };
    if app_id.is_empty() {
        anyhow::bail!(Error::Usage("the app id is empty".into()));
    }
    let alg = v.signature_algorithm.clone();
    let auth = if let Some(url) = &v.asap_key_server {
        AuthMode::KeyServer {
            app_id,
            asap_key_server: url.clone(),
            signature_algorithm: alg.unwrap_or_else(|| "RS256".into()),
        }
    } else if let Some(url) = &v.cache_keys_url {
        AuthMode::KeysUrl {
            app_id,
            cache_keys_url: url.clone(),
            signature_algorithm: alg.unwrap_or_else(|| "RS256".into()),
        }
    } else {
        let app_secret = match (&req.secret, current("app_secret")) {
            (Some(s), _) => s.0.clone(),
            (None, Some(s)) if !s.is_empty() && s != b"example_app_secret" => s,
            _ => anyhow::bail!(Error::Missing(
                "an app secret: --app-secret-file FILE (or - for stdin) or JITSI_MEET_TOKENS_APP_SECRET"
                    .into()
            )),
        };
        AuthMode::Secret { app_id, app_secret }
    };
    let mut d = DesiredHost::new(&req.domain, auth);
    d.accepted_issuers = v.issuers.clone();
    d.accepted_audiences = v.audiences.clone();
    d.allow_empty_token = v.allow_empty_token.unwrap_or(false);
    d.presence_identity = v.presence_identity.unwrap_or(true);
    d.token_clock_leeway = v.token_clock_leeway;
    d.plugin_dir = v
        .plugin_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_PLUGIN_DIR.to_string());
    let jitsi_dir = fsops::inside(&req.ctx.root, DEFAULT_JITSI_PLUGIN_DIR)?;
    d.jitsi_plugin_dir =
        (!sys.jitsi.is_empty() || jitsi_dir.is_dir()).then(|| DEFAULT_JITSI_PLUGIN_DIR.to_string());
    Ok(d)
}

fn write_change(f: &tree::HostFile, new: String, secret: bool) -> Change {
    Change {
        path: f.real.clone(),
        shown: f.shown.clone(),
        old: Some(f.text.clone()),
        action: Action::Write { new },
        perms: Perms::for_write(Perms::of(&f.real), secret),
        restart: true,
    }
}

/// Where the host's VirtualHost lives, or is to be created.
struct HostTarget {
    /// The file to edit, `None` to render a new one at `avail`.
    file: Option<tree::HostFile>,
    /// The host's file in conf.avail (its real path, a link followed).
    avail: PathBuf,
    /// conf.d lacks the link that enables the host file.
    link_needed: bool,
    /// The enabled host file is the main prosody.cfg.lua.
    in_main: bool,
}

/// Everything `configure` would change, without touching anything.
pub fn plan(
    req: &Request,
    sys: &System,
    tree: &Tree,
) -> Result<(Plan, Vec<crate::config_edit::Change>)> {
    let mut plan = Plan::default();
    let root = &req.ctx.root;
    let host = host_target(req, tree, &mut plan)?;
    plan.warnings.extend(req.warnings.iter().cloned());
    let mut d = desired(req, sys, host.file.as_ref().map(|t| t.text.as_str()))?;
    let server = detect::jitsi_server(root, tree, &req.domain)?;
    let record = state::load(&req.ctx.state_dir, &req.domain)?;
    let secure = secure_domain::desired(req, &server, record.as_ref());
    d.allowlist = secure.allowlist.iter().map(|(e, _)| e.clone()).collect();
    d.allowlist_removed = secure.previous_guest.iter().cloned().collect();
    d.moderators_from_token = req.values.moderators_from_token;
    plan.warnings.extend(server.warnings.iter().cloned());
    if let AuthMode::Secret { app_secret, .. } = &d.auth {
        plan.secrets
            .push(String::from_utf8_lossy(app_secret).into_owned());
        let lit = crate::config_edit::lua_string(app_secret);
        plan.secrets.push(lit[1..lit.len() - 1].to_string());
    }
    let edits = plan_host_file(req, &host, &d, &secure, &mut plan)?;
    if host.link_needed {
        plan_host_link(req, tree, &host.avail, &mut plan)?;
    }
    if !tree.includes_confd && !host.in_main {
        plan_include(req, tree, &mut plan);
    }
    secure_domain::plan_files(req, tree, &server, record.as_ref(), &secure, &mut plan)?;
    if let Some(c) = crate::native::plan(root, sys, req.native_module.as_deref())? {
        plan.changes.push(c);
    }
    check_plugin_dir(root, &d.plugin_dir, &mut plan)?;
    plan_settings_file(req, &mut plan)?;
    Ok((plan, edits))
}

/// Find the file defining the host (warning when several do), or where to create
/// one; a domain new to a server with Jitsi or token hosts is refused here.
fn host_target(req: &Request, tree: &Tree, plan: &mut Plan) -> Result<HostTarget> {
    let files = tree.files_with_host(&req.domain);
    if files.len() > 1 {
        plan.warnings.push(format!(
            "VirtualHost {:?} is defined in several files ({}); editing {}",
            req.domain,
            files
                .iter()
                .map(|f| f.shown.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            files[0].shown
        ));
    }
    if files.is_empty() {
        check_new_host(tree, &req.domain, req.new_host)?;
    }
    // A symlinked host file is edited where its link leads (inside the root).
    let avail = fsops::resolve(&req.ctx.root, &tree.avail_path(&req.domain), true)?;
    let (file, link_needed) = match files.first() {
        Some(f) => (Some((*f).clone()), false),
        None if avail.exists() => (Some(tree.load_disabled(&avail)?), true),
        None => (None, true),
    };
    Ok(HostTarget {
        file,
        avail,
        link_needed,
        in_main: files.iter().any(|f| f.real == tree.main.real),
    })
}

/// Edit the desired host into its file, or render a new one: the edits made, for
/// the state record.
fn plan_host_file(
    req: &Request,
    host: &HostTarget,
    d: &DesiredHost,
    secure: &secure_domain::SecureDomain,
    plan: &mut Plan,
) -> Result<Vec<crate::config_edit::Change>> {
    let secret_mode = matches!(d.auth, AuthMode::Secret { .. });
    let Some(f) = &host.file else {
        // The template carries the token options; the secure-domain options of
        // the conference component are edited in, as on an existing file.
        let text = render_host(d)
            .and_then(|t| apply_desired(&t, d))
            .map_err(|e| anyhow::anyhow!("rendering the host config: {e}"))?
            .text;
        plan.changes.push(Change {
            path: host.avail.clone(),
            shown: format!("{CONF_DIR}/conf.avail/{}.cfg.lua", req.domain),
            old: None,
            action: Action::Write { new: text },
            perms: Perms::for_write(None, secret_mode),
            restart: true,
        });
        return Ok(Vec::new());
    };
    if f.sections
        .iter()
        .all(|s| !s.same_host(&SectionId::virtual_host(&req.domain)))
    {
        anyhow::bail!(Error::BrokenConfig(format!(
            "{} exists but defines no VirtualHost {:?}; fix or remove it",
            f.shown, req.domain
        )));
    }
    let edited =
        apply_desired(&f.text, d).map_err(|e| Error::BrokenConfig(format!("{}: {e}", f.shown)))?;
    plan.warnings
        .extend(edited.warnings.iter().map(|w| format!("{}: {w}", f.shown)));
    let want = Perms::for_write(Perms::of(&f.real), secret_mode);
    if edited.changed() || Perms::of(&f.real) != Some(want) {
        plan.changes
            .push(write_change(f, edited.text.clone(), secret_mode));
    }
    plan.notes.extend(secure_domain::allowlist_notes(
        &edited.changes,
        &secure.allowlist,
    ));
    Ok(edited.changes)
}

/// The conf.d link enabling a host's conf.avail file.
pub(super) fn confd_link_change(req: &Request, tree: &Tree, host: &str) -> Result<Change> {
    Ok(Change {
        path: fsops::resolve(&req.ctx.root, &tree.confd_link(host), false)?,
        shown: format!("{CONF_DIR}/conf.d/{host}.cfg.lua"),
        old: None,
        action: Action::Symlink {
            target: PathBuf::from(format!("../conf.avail/{host}.cfg.lua")),
        },
        perms: Perms {
            mode: 0o777,
            uid: 0,
            gid: 0,
        },
        restart: true,
    })
}

/// Enable the host file; something else already at the link's place is refused.
fn plan_host_link(req: &Request, tree: &Tree, avail: &Path, plan: &mut Plan) -> Result<()> {
    let link = confd_link_change(req, tree, &req.domain)?;
    if link.path.exists() || link.path.is_symlink() {
        anyhow::bail!(Error::BrokenConfig(format!(
            "{} exists but does not lead to {}; fix it by hand",
            link.path.display(),
            avail.display()
        )));
    }
    plan.changes.push(link);
    Ok(())
}

/// prosody.cfg.lua does not include conf.d: add the line when asked, else say how.
fn plan_include(req: &Request, tree: &Tree, plan: &mut Plan) {
    if req.fix_include {
        let mut new = tree.main.text.clone();
        if !new.ends_with('\n') && !new.is_empty() {
            new.push('\n');
        }
        new.push_str("Include \"conf.d/*.cfg.lua\"\n");
        plan.changes.push(write_change(&tree.main, new, false));
    } else {
        plan.warnings.push(format!(
            "{CONF_DIR}/prosody.cfg.lua does not include conf.d/*.cfg.lua, so Prosody does not \
             load the host file; add the line `Include \"conf.d/*.cfg.lua\"` at its end, or run \
             configure again with --fix-include"
        ));
    }
}

/// Warn when the plugin directory lacks our auth module.
fn check_plugin_dir(root: &Path, pd: &str, plan: &mut Plan) -> Result<()> {
    let plugin_found = [fsops::inside(root, pd)?, PathBuf::from(pd)]
        .iter()
        .any(|p| p.join("mod_auth_token.lua").is_file());
    if !plugin_found {
        plan.warnings.push(format!(
            "the plugin directory {pd} has no mod_auth_token.lua: install the package's Prosody \
             plugins there or pass --plugin-dir"
        ));
    }
    Ok(())
}

/// Record this run's values in the settings file, comments kept.
fn plan_settings_file(req: &Request, plan: &mut Plan) -> Result<()> {
    let Some((path, values)) = &req.settings else {
        return Ok(());
    };
    let mut f = SettingsFile::load(path)?;
    let new = f.update(values)?;
    if f.original.as_deref() != Some(new.as_str()) {
        plan.changes.push(Change {
            path: path.clone(),
            shown: fsops::shown(&req.ctx.root, path),
            old: f.original.clone(),
            action: Action::Write { new },
            perms: Perms::for_write(Perms::of(path), false),
            restart: false,
        });
    }
    Ok(())
}

/// Run `configure`: plan, and unless dry-run, apply, record, restart.
pub fn run(req: &Request, runner: &dyn Runner, rep: &dyn Reporter) -> Result<Outcome> {
    let root = &req.ctx.root;
    let sys = detect::detect(root, runner)?;
    req.ctx.clean_after_killed_run()?;
    // Plan first: a no-op or a refused run creates nothing, not even the lock file.
    // A run with changes takes the lock and plans again from what is there now.
    let compute = || -> Result<_> {
        let tree = tree::scan(root)?;
        let (plan, edits) = plan(req, &sys, &tree)?;
        Ok((tree, plan, edits))
    };
    let (mut tree, mut plan, mut edits) = compute()?;
    let _lock = if req.ctx.dry_run || plan.is_empty() {
        None
    } else {
        let l = req.ctx.lock()?;
        (tree, plan, edits) = compute()?;
        Some(l)
    };
    for w in &plan.warnings {
        rep.warn(w);
    }
    for n in &plan.notes {
        rep.info(n);
    }
    let update = |rec: &mut state::Record| record_changes(req, &tree, &plan, &edits, rec);
    let mut out = provision::execute(
        &req.ctx,
        &req.domain,
        &sys,
        &tree,
        &plan,
        crate::service::Expect::TokenLogin,
        runner,
        rep,
        provision::RecordOp::Update(&update),
    )?;
    crate::jitsi::restart::after_apply(&req.ctx, &plan, runner, rep, &mut out);
    Ok(out)
}

/// A link we create is recorded as ours, to remove on `unconfigure`.
fn record_link(rec: &mut state::Record, shown: &str) {
    if rec.file_mut(shown).is_none() {
        rec.files.push(FileRecord {
            path: shown.to_string(),
            created: true,
            symlink: true,
            original: None,
            original_perms: None,
            written: None,
            changes: vec![],
        });
    }
}

/// The state record's part for the files this plan changes: what each was before
/// and what we wrote, so `unconfigure` can put it back.
fn record_changes(
    req: &Request,
    tree: &Tree,
    plan: &Plan,
    edits: &[crate::config_edit::Change],
    rec: &mut state::Record,
) {
    // The host file edited (its real path, a link followed), for the record.
    let target_real = plan
        .changes
        .iter()
        .find(|c| matches!(c.action, Action::Write { .. }) && c.restart)
        .map(|c| c.path.clone());
    for c in &plan.changes {
        if let Action::Remove = c.action {
            rec.files.retain(|f| f.path != c.shown); // ours, taken back
            continue;
        }
        let Action::Write { new } = &c.action else {
            if let Action::Symlink { .. } = c.action {
                record_link(rec, &c.shown);
            }
            continue;
        };
        if req.settings.as_ref().is_some_and(|(p, _)| *p == c.path) {
            continue; // the settings file is ours: nothing to revert
        }
        let is_host_file = c.shown.ends_with(&format!("/{}.cfg.lua", req.domain))
            || target_real.as_deref() == Some(c.path.as_path())
            || tree
                .files_with_host(&req.domain)
                .iter()
                .any(|f| f.real == c.path);
        match rec.file_mut(&c.shown) {
            Some(fr) => {
                fr.written = Some(new.clone());
                if is_host_file {
                    fr.changes.extend(edits.iter().cloned());
                }
            }
            None => rec.files.push(FileRecord {
                path: c.shown.clone(),
                created: c.old.is_none(),
                symlink: false,
                original: c.old.clone(),
                original_perms: Perms::of(&c.path),
                written: Some(new.clone()),
                changes: if is_host_file { edits.to_vec() } else { vec![] },
            }),
        }
    }
}
