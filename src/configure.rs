//! `configure`: settings → detected system → desired host → plan → apply → report.

use crate::cli::{ConfigureArgs, Output};
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
    let env_secret = std::env::var_os(settings::SECRET_ENV).map(|v| {
        use std::os::unix::ffi::OsStringExt;
        v.into_vec()
    });
    let mut secret = settings::read_secret(a.key.app_secret_file.as_deref(), env_secret)?;
    if let Some(d) = docker.as_ref().filter(|_| secret.is_none()) {
        secret = d.secret.clone();
    }
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

/// Everything `configure` would change, without touching anything.
pub fn plan(
    req: &Request,
    sys: &System,
    tree: &Tree,
) -> Result<(Plan, Vec<crate::config_edit::Change>)> {
    let mut plan = Plan::default();
    let root = &req.ctx.root;
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
    plan.warnings.extend(req.warnings.iter().cloned());
    // A symlinked host file is edited where its link leads (inside the root).
    let avail = fsops::resolve(root, &tree.avail_path(&req.domain), true)?;
    let (target, link_needed) = match files.first() {
        Some(f) => (Some((*f).clone()), false),
        None if avail.exists() => (Some(tree.load_disabled(&avail)?), true),
        None => (None, true),
    };
    let mut d = desired(req, sys, target.as_ref().map(|t| t.text.as_str()))?;
    let server = detect::jitsi_server(root, tree, &req.domain)?;
    let record = state::load(&req.ctx.state_dir, &req.domain)?;
    let secure = secure_domain(req, &server, record.as_ref());
    d.allowlist = secure.allowlist.iter().map(|(e, _)| e.clone()).collect();
    d.allowlist_removed = secure.previous_guest.iter().cloned().collect();
    d.moderators_from_token = req.values.moderators_from_token;
    plan.warnings.extend(server.warnings.iter().cloned());
    let secret_mode = matches!(d.auth, AuthMode::Secret { .. });
    if let AuthMode::Secret { app_secret, .. } = &d.auth {
        plan.secrets
            .push(String::from_utf8_lossy(app_secret).into_owned());
        let lit = crate::config_edit::lua_string(app_secret);
        plan.secrets.push(lit[1..lit.len() - 1].to_string());
    }
    let mut edits = Vec::new();
    match &target {
        Some(f) => {
            if f.sections
                .iter()
                .all(|s| !s.same_host(&SectionId::virtual_host(&req.domain)))
            {
                anyhow::bail!(Error::BrokenConfig(format!(
                    "{} exists but defines no VirtualHost {:?}; fix or remove it",
                    f.shown, req.domain
                )));
            }
            let edited = apply_desired(&f.text, &d)
                .map_err(|e| Error::BrokenConfig(format!("{}: {e}", f.shown)))?;
            plan.warnings
                .extend(edited.warnings.iter().map(|w| format!("{}: {w}", f.shown)));
            let want = Perms::for_write(Perms::of(&f.real), secret_mode);
            if edited.changed() || Perms::of(&f.real) != Some(want) {
                plan.changes
                    .push(write_change(f, edited.text.clone(), secret_mode));
            }
            plan.notes
                .extend(allowlist_notes(&edited.changes, &secure.allowlist));
            edits = edited.changes;
        }
        None => {
            // The template carries the token options; the secure-domain options of
            // the conference component are edited in, as on an existing file.
            let text = render_host(&d)
                .and_then(|t| apply_desired(&t, &d))
                .map_err(|e| anyhow::anyhow!("rendering the host config: {e}"))?
                .text;
            plan.changes.push(Change {
                path: avail.clone(),
                shown: format!("{CONF_DIR}/conf.avail/{}.cfg.lua", req.domain),
                old: None,
                action: Action::Write { new: text },
                perms: Perms::for_write(None, secret_mode),
                restart: true,
            });
        }
    }
    if link_needed {
        let link = fsops::resolve(root, &tree.confd_link(&req.domain), false)?;
        if link.exists() || link.is_symlink() {
            anyhow::bail!(Error::BrokenConfig(format!(
                "{} exists but does not lead to {}; fix it by hand",
                link.display(),
                avail.display()
            )));
        }
        plan.changes.push(Change {
            path: link,
            shown: format!("{CONF_DIR}/conf.d/{}.cfg.lua", req.domain),
            old: None,
            action: Action::Symlink {
                target: PathBuf::from(format!("../conf.avail/{}.cfg.lua", req.domain)),
            },
            perms: Perms {
                mode: 0o777,
                uid: 0,
                gid: 0,
            },
            restart: true,
        });
    }
    if !tree.includes_confd && !files.iter().any(|f| f.real == tree.main.real) {
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
    plan_secure_files(req, tree, &server, record.as_ref(), &secure, &mut plan)?;
    if let Some(c) = crate::native::plan(root, sys, req.native_module.as_deref())? {
        plan.changes.push(c);
    }
    let pd = &d.plugin_dir;
    let plugin_found = [fsops::inside(root, pd)?, PathBuf::from(pd)]
        .iter()
        .any(|p| p.join("mod_auth_token.lua").is_file());
    if !plugin_found {
        plan.warnings.push(format!(
            "the plugin directory {pd} has no mod_auth_token.lua: install the package's Prosody \
             plugins there or pass --plugin-dir"
        ));
    }
    if let Some((path, values)) = &req.settings {
        let mut f = SettingsFile::load(path)?;
        let new = f.update(values)?;
        if f.original.as_deref() != Some(new.as_str()) {
            plan.changes.push(Change {
                path: path.clone(),
                shown: fsops::shown(root, path),
                old: f.original.clone(),
                action: Action::Write { new },
                perms: Perms::for_write(Perms::of(path), false),
                restart: false,
            });
        }
    }
    Ok((plan, edits))
}

/// The secure-domain part of the desired state: the guest domain (on, turned off,
/// or left as it is), Jicofo's settings, and the allowlist with where each entry
/// comes from.
struct SecureDomain {
    guest: Option<String>,
    /// The guest domain a previous run set up, now turned off.
    previous_guest: Option<String>,
    jicofo: Option<crate::jitsi::jicofo::Wanted>,
    allowlist: Vec<(String, String)>,
}

/// The guest domain a previous run created a host file for.
fn recorded_guest(record: Option<&state::Record>, domain: &str) -> Option<String> {
    record?.files.iter().find_map(|f| {
        let name = f
            .path
            .strip_prefix(&format!("{CONF_DIR}/conf.avail/"))?
            .strip_suffix(".cfg.lua")?;
        (f.created && !f.symlink && !name.eq_ignore_ascii_case(domain)).then(|| name.to_string())
    })
}

fn secure_domain(
    req: &Request,
    server: &detect::JitsiServer,
    record: Option<&state::Record>,
) -> SecureDomain {
    let v = &req.values;
    let guest = v.guest_domain.clone().filter(|g| !g.is_empty());
    let previous_guest = match v.guest_domain.as_deref() {
        Some("") => recorded_guest(record, &req.domain),
        _ => None,
    };
    let mut allowlist: Vec<(String, String)> = Vec::new();
    if let Some(g) = &guest {
        allowlist.push((g.clone(), "the guest domain".into()));
    }
    allowlist.extend(server.trusted.iter().cloned());
    for e in v.allowlist.iter().flatten() {
        allowlist.push((e.clone(), "--allowlist".into()));
    }
    let mut seen = std::collections::HashSet::new();
    allowlist.retain(|(e, _)| seen.insert(e.to_lowercase()));
    // Jicofo: each setting wanted when asked for, or when it is set already and
    // nobody asked otherwise (a second run keeps it).
    let jicofo = server.jicofo.as_ref().map(|j| {
        use crate::jitsi::jicofo::{ensure, Wanted};
        let set_now = |w: Wanted| ensure(&j.text, &req.domain, w).is_ok_and(|t| t == j.text);
        let auth_now = set_now(Wanted {
            token_auth: true,
            no_auto_owner: false,
        });
        let owner_now = set_now(Wanted {
            token_auth: false,
            no_auto_owner: true,
        });
        Wanted {
            token_auth: match v.guest_domain.as_deref() {
                Some("") => false,
                Some(_) => true,
                None => auth_now,
            },
            no_auto_owner: v.moderators_from_token.unwrap_or(owner_now),
        }
    });
    SecureDomain {
        guest,
        previous_guest,
        jicofo,
        allowlist,
    }
}

/// What the allowlist edit added, and why, for the report.
fn allowlist_notes(
    changes: &[crate::config_edit::Change],
    allowlist: &[(String, String)],
) -> Vec<String> {
    use crate::config_edit::ChangeKind;
    let ours = changes
        .iter()
        .filter(|c| c.key == crate::config_edit::ALLOWLIST);
    // A list created at once carries no item: every entry of ours is in it.
    let added: Vec<String> = if ours.clone().any(|c| c.kind == ChangeKind::Inserted) {
        allowlist.iter().map(|(e, _)| e.clone()).collect()
    } else {
        ours.filter_map(|c| c.item.as_deref())
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect()
    };
    added
        .iter()
        .filter_map(|item| {
            let (e, from) = allowlist.iter().find(|(e, _)| e == item)?;
            Some(format!(
                "token_verification_allowlist: added {e} ({from}), so it joins rooms without a token"
            ))
        })
        .collect()
}

fn jitsi_change(f: &detect::JitsiFile, new: String) -> Option<Change> {
    (new != f.text).then(|| Change {
        path: f.real.clone(),
        shown: f.shown.clone(),
        old: Some(f.text.clone()),
        action: Action::Write { new },
        perms: Perms::for_write(Perms::of(&f.real), false),
        restart: false,
    })
}

/// The text a previous run started from, when the file is still exactly what one
/// of our edits made of it (so turning a part off gives the original bytes back).
fn recorded_original(record: Option<&state::Record>, f: &detect::JitsiFile) -> Option<String> {
    record?
        .files
        .iter()
        .find(|r| r.path == f.shown && r.written.as_deref() == Some(f.text.as_str()))?
        .original
        .clone()
}

/// The guest host file, config.js and jicofo.conf for the secure domain.
fn plan_secure_files(
    req: &Request,
    tree: &Tree,
    server: &detect::JitsiServer,
    record: Option<&state::Record>,
    secure: &SecureDomain,
    plan: &mut Plan,
) -> Result<()> {
    use crate::jitsi::{jicofo, meet_config};
    let root = &req.ctx.root;
    let skipped = |plan: &mut Plan, what: &str, shown: String| {
        plan.warnings
            .push(format!("skipped {shown}: {what} is not installed here"));
    };
    let meet_shown = format!("/{}", meet_config::path(&req.domain));
    if let Some(g) = &secure.guest {
        if tree.has_host(g) {
            if recorded_guest(record, &req.domain).as_deref() != Some(g.as_str()) {
                plan.notes.push(format!(
                    "VirtualHost {g:?} is already defined; left as it is"
                ));
            }
        } else {
            let jitsi_plugins = fsops::inside(root, DEFAULT_JITSI_PLUGIN_DIR)?.is_dir();
            let auth = if jitsi_plugins {
                "jitsi-anonymous"
            } else {
                "anonymous"
            };
            let text = crate::config_edit::render_guest_host(g, auth)
                .map_err(|e| anyhow::anyhow!("rendering the guest host config: {e}"))?;
            let avail = fsops::resolve(root, &tree.avail_path(g), true)?;
            if avail.exists() {
                anyhow::bail!(Error::BrokenConfig(format!(
                    "{} exists but is not enabled in conf.d; enable or remove it",
                    fsops::shown(root, &avail)
                )));
            }
            plan.changes.push(Change {
                path: avail,
                shown: format!("{CONF_DIR}/conf.avail/{g}.cfg.lua"),
                old: None,
                action: Action::Write { new: text },
                perms: Perms::for_write(None, false),
                restart: true,
            });
            plan.changes.push(Change {
                path: fsops::resolve(root, &tree.confd_link(g), false)?,
                shown: format!("{CONF_DIR}/conf.d/{g}.cfg.lua"),
                old: None,
                action: Action::Symlink {
                    target: PathBuf::from(format!("../conf.avail/{g}.cfg.lua")),
                },
                perms: Perms {
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                },
                restart: true,
            });
        }
        match &server.meet_config {
            Some(f) => {
                let new = meet_config::set_guest_domain(&f.text, g)?;
                plan.changes.extend(jitsi_change(f, new));
            }
            None => skipped(plan, "Jitsi Meet's web config", meet_shown.clone()),
        }
    }
    if let Some(p) = &secure.previous_guest {
        // Turned off: our guest host file and its link go, if untouched since.
        for f in record.into_iter().flat_map(|r| &r.files) {
            let ours = [
                format!("{CONF_DIR}/conf.avail/{p}.cfg.lua"),
                format!("{CONF_DIR}/conf.d/{p}.cfg.lua"),
            ];
            if !ours.contains(&f.path) {
                continue;
            }
            let path = fsops::resolve(root, Path::new(&f.path), !f.symlink)?;
            let current = std::fs::read_to_string(&path).ok();
            if f.symlink && path.is_symlink() || !f.symlink && current == f.written {
                plan.changes.push(Change {
                    path,
                    shown: f.path.clone(),
                    old: if f.symlink { None } else { current },
                    action: Action::Remove,
                    perms: Perms::for_write(None, false),
                    restart: true,
                });
            } else if current.is_some() {
                plan.warnings.push(format!(
                    "{} was edited since configure wrote it; left in place",
                    f.path
                ));
            }
        }
        if let Some(f) = &server.meet_config {
            let new = match recorded_original(record, f) {
                Some(o) if meet_config::set_guest_domain(&o, p).is_ok_and(|t| t == f.text) => o,
                _ => meet_config::unset_guest_domain(&f.text, &f.text, p)?,
            };
            plan.changes.extend(jitsi_change(f, new));
        }
    }
    match (&server.jicofo, secure.jicofo) {
        (Some(f), Some(w)) => {
            use jicofo::Wanted;
            // Start from the recorded original when the file is ours as we left it,
            // so a part turned off comes out byte for byte.
            let combos = [(false, false), (true, false), (false, true), (true, true)];
            let base = recorded_original(record, f)
                .filter(|o| {
                    combos.iter().any(|&(a, b)| {
                        let w = Wanted {
                            token_auth: a,
                            no_auto_owner: b,
                        };
                        jicofo::ensure(o, &req.domain, w).is_ok_and(|t| t == f.text)
                    })
                })
                .unwrap_or_else(|| f.text.clone());
            let new = jicofo::ensure(&base, &req.domain, w)?;
            if base == f.text {
                let wanted_off = |a: bool, b: bool| {
                    let only = Wanted {
                        token_auth: a,
                        no_auto_owner: b,
                    };
                    jicofo::ensure(&new, &req.domain, only).is_ok_and(|t| t == new)
                };
                if (!w.token_auth && wanted_off(true, false))
                    || (!w.no_auto_owner && wanted_off(false, true))
                {
                    plan.warnings.push(format!(
                        "{}: a setting turned off was not set by configure; left as it is",
                        f.shown
                    ));
                }
            }
            plan.changes.extend(jitsi_change(f, new));
        }
        (None, _) if secure.guest.is_some() || req.values.moderators_from_token == Some(true) => {
            skipped(plan, "Jicofo", format!("/{}", jicofo::PATH));
        }
        _ => {}
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
    // The host file edited (its real path, a link followed), for the record.
    let target_real = plan
        .changes
        .iter()
        .find(|c| matches!(c.action, Action::Write { .. }) && c.restart)
        .map(|c| c.path.clone());
    let update = |rec: &mut state::Record| {
        for c in &plan.changes {
            if let Action::Remove = c.action {
                rec.files.retain(|f| f.path != c.shown); // ours, taken back
                continue;
            }
            let Action::Write { new } = &c.action else {
                if let Action::Symlink { .. } = c.action {
                    if rec.file_mut(&c.shown).is_none() {
                        rec.files.push(FileRecord {
                            path: c.shown.clone(),
                            created: true,
                            symlink: true,
                            original: None,
                            original_perms: None,
                            written: None,
                            changes: vec![],
                        });
                    }
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
                    changes: if is_host_file { edits.clone() } else { vec![] },
                }),
            }
        }
    };
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

pub fn default_output(o: Option<Output>) -> Output {
    o.unwrap_or_else(|| {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            Output::Human
        } else {
            Output::Plain
        }
    })
}
