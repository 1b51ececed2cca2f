//! The checks behind `status`, in the order an administrator would fix them:
//! Prosody, the native module, the plugins, the main config file, then each host.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jitsi_tokens_verifier::option_table::{Scope, OPTIONS};
use jitsi_tokens_verifier::{loggable_url, mint, Options, SigningKey, Verifier};
use serde::Serialize;

use super::live::{self, Login};
use super::{Check, Installed, Report, Setting, Status, StatusArgs};
use crate::config_edit::{SectionId, Value, DEFAULT_JITSI_PLUGIN_DIR, DEFAULT_PLUGIN_DIR};
use crate::detect::{self, System};
use crate::fsops::under;
use crate::native;
use crate::runner::{Cmd, Runner};
use crate::token_cmd::host::{Found, HostConfig};
use crate::token_cmd::http::{self, Failure};
use crate::token_cmd::{mint::basic_claims, time};
use crate::tree::{self, Tree};

/// What a token host is set to (never the secret itself).
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    pub domain: String,
    pub files: Vec<String>,
    pub settings: Vec<Setting>,
}

/// A config value typed for JSON: string, number, boolean, list of strings, or the
/// Lua source text of an expression.
fn typed(v: &Value) -> serde_json::Value {
    let text = |b: &[u8]| serde_json::Value::String(String::from_utf8_lossy(b).into_owned());
    match v {
        Value::Str(s) => text(s),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Num(n) => serde_json::Value::from(*n),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::List(items) => items.iter().map(|i| text(i)).collect(),
        Value::Other(src) => serde_json::Value::String(src.clone()),
    }
}

/// `/etc/...:12` as file and line.
fn location(at: &str) -> (Option<String>, Option<usize>) {
    match at.rsplit_once(':') {
        Some((file, line)) => (Some(file.to_owned()), line.parse().ok()),
        None => (Some(at.to_owned()), None),
    }
}

impl Setting {
    /// `found` at `/etc/...:12`, its value typed for JSON.
    fn found(name: &str, f: &Found) -> Setting {
        let (file, line) = location(&f.at);
        Setting {
            name: name.to_owned(),
            value: typed(&f.value),
            file,
            line,
            note: None,
        }
    }
}

impl Check {
    /// The value found in the config, and where.
    fn found(&mut self, f: &Found) -> &mut Self {
        (self.file, self.line) = location(&f.at);
        self.value = typed(&f.value);
        self
    }

    /// [`Check::found`] when something was found.
    fn found_opt(&mut self, f: Option<&Found>) -> &mut Self {
        match f {
            Some(f) => self.found(f),
            None => self,
        }
    }
}

/// Clocks before this are certainly wrong (every token would look "not yet valid"
/// or expired). 2025-01-01T00:00:00Z.
const CLOCK_FLOOR: i64 = 1_735_689_600;
/// Skew against a server's `Date` beyond which tokens minted there fail `exp`/`nbf`.
const MAX_SKEW: i64 = 30;

struct Collector {
    report: Report,
    /// Clocks of servers that answered (for the clock check).
    remote_dates: Vec<(String, SystemTime)>,
}

impl Collector {
    fn push(
        &mut self,
        id: &'static str,
        host: Option<&str>,
        status: Status,
        detail: Option<String>,
        hint: Option<String>,
    ) -> &mut Check {
        self.report.checks.push(Check {
            id,
            host: host.map(str::to_owned),
            status,
            value: serde_json::Value::Null,
            file: None,
            line: None,
            detail,
            hint,
        });
        self.report.checks.last_mut().expect("just pushed")
    }
    fn ok(
        &mut self,
        id: &'static str,
        host: Option<&str>,
        detail: impl Into<String>,
    ) -> &mut Check {
        self.push(id, host, Status::Ok, Some(detail.into()), None)
    }
    /// Passed, and the value found says it all.
    fn ok_found(&mut self, id: &'static str, host: Option<&str>, f: &Found) {
        self.push(id, host, Status::Ok, None, None).found(f);
    }
    fn fail(
        &mut self,
        id: &'static str,
        host: Option<&str>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> &mut Check {
        self.push(
            id,
            host,
            Status::Fail,
            Some(detail.into()),
            Some(hint.into()),
        )
    }
    fn warn(
        &mut self,
        id: &'static str,
        host: Option<&str>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> &mut Check {
        self.push(
            id,
            host,
            Status::Warn,
            Some(detail.into()),
            Some(hint.into()),
        )
    }
    fn skip(
        &mut self,
        id: &'static str,
        host: Option<&str>,
        detail: impl Into<String>,
    ) -> &mut Check {
        self.push(id, host, Status::Skipped, Some(detail.into()), None)
    }
    fn installed(&mut self, name: &str, what: impl Into<String>) {
        self.report.installed.push(Installed {
            name: name.to_owned(),
            version: what.into(),
        });
    }
}

pub fn collect(args: &StatusArgs, runner: &dyn Runner) -> Report {
    let root = args.target.root.as_path();
    let mut c = Collector {
        report: Report {
            root: root.display().to_string(),
            ..Report::default()
        },
        remote_dates: Vec::new(),
    };
    c.installed(
        "jitsi-meet-tokens",
        format!("{} (this binary)", env!("CARGO_PKG_VERSION")),
    );
    let sys = prosody(&mut c, root, runner);
    if let Some(sys) = &sys {
        native_module(&mut c, root, sys, runner, args.no_load);
    }
    plugins(&mut c, root);
    match tree::scan(root) {
        Ok(tree) => {
            include(&mut c, &tree);
            let domains = match &args.target.domain {
                Some(d) => vec![d.to_lowercase()],
                None => token_hosts(&tree),
            };
            if domains.is_empty() {
                c.fail(
                    "token-hosts",
                    None,
                    "no enabled VirtualHost has authentication = \"token\"",
                    "run `jitsi-meet-tokens configure --domain DOMAIN --app-id ID --app-secret-file FILE`",
                )
                .value(Vec::<String>::new());
            }
            for d in &domains {
                host(&mut c, &tree, d, args);
                for f in super::secure_domain::checks(root, &tree, d) {
                    c.push(f.id, Some(d), f.status, Some(f.summary), f.hint)
                        .value = f.value;
                }
            }
        }
        Err(e) => {
            c.fail(
                "config",
                None,
                format!("cannot read Prosody's config: {e:#}"),
                "fix the file named above (`prosodyctl check config` shows Prosody's view)",
            );
        }
    }
    clock(&mut c);
    c.report.ok = !c.report.checks.iter().any(|ch| ch.status == Status::Fail);
    c.report
}

fn prosody(c: &mut Collector, root: &Path, runner: &dyn Runner) -> Option<System> {
    match detect::detect(root, runner) {
        Ok(sys) => {
            c.installed(
                "prosody",
                format!(
                    "{} (from {}), on Lua {}",
                    sys.prosody.version, sys.prosody_source, sys.lua
                ),
            );
            for p in &sys.jitsi {
                c.installed(&p.name, p.version.clone());
            }
            c.ok(
                "prosody-version",
                None,
                format!(
                    "Prosody {} is at least {}",
                    sys.prosody.version,
                    detect::MIN_PROSODY
                ),
            )
            .value(sys.prosody.version.to_string());
            Some(sys)
        }
        Err(e) => {
            c.installed("prosody", "not usable");
            c.fail(
                "prosody-version",
                None,
                format!("{e:#}"),
                format!(
                    "install or upgrade Prosody to {} or newer",
                    detect::MIN_PROSODY
                ),
            );
            None
        }
    }
}

fn native_module(c: &mut Collector, root: &Path, sys: &System, runner: &dyn Runner, no_load: bool) {
    let path = native::target(root, sys);
    let shown = format!(
        "/usr/lib/{}/lua/{}/{}",
        sys.multiarch,
        sys.lua,
        native::MODULE_FILE
    );
    if !path.is_file() {
        return native_module_missing(c, sys, &shown);
    }
    if no_load {
        c.installed("native module", shown.clone());
        c.ok(
            "native-module",
            None,
            format!("{shown} is present (not loaded: --no-load)"),
        )
        .file(&shown);
        return;
    }
    let lua = format!("lua{}", sys.lua);
    let interp = [under(root, format!("/usr/bin/{lua}"))]
        .into_iter()
        .find(|p| root == Path::new("/") && p.is_file())
        .or_else(|| which::which(&lua).ok());
    let Some(interp) = interp else {
        c.installed("native module", shown.clone());
        c.warn(
            "native-module",
            None,
            format!("{shown} is present; {lua} is not installed here to load it"),
            format!("install {lua} to let status prove the module loads"),
        )
        .file(&shown);
        return;
    };
    // Only this directory on the cpath, so the file under test is the one loaded.
    let mut cmd = Cmd::new(interp).arg("-").arg(path.parent().unwrap_or(root));
    cmd.stdin = Some(
        b"package.cpath = arg[1] .. '/?.so'\nlocal jt = require 'jitsi_tokens'\nio.write(jt.version)\n".to_vec(),
    );
    match runner.run(&cmd) {
        Ok(out) if out.success() => native_module_version(c, &lua, &shown, out.stdout.trim()),
        Ok(out) => native_module_broken(c, sys, &lua, &shown, &out.stderr),
        Err(e) => {
            c.warn(
                "native-module",
                None,
                format!("could not run {lua}: {e:#}"),
                "check the Lua installation",
            )
            .file(&shown);
        }
    }
}

/// No module for Prosody's Lua: say how to get one.
fn native_module_missing(c: &mut Collector, sys: &System, shown: &str) {
    c.installed("native module", format!("missing ({shown})"));
    let features = if sys.lua == "5.2" {
        " --no-default-features --features lua52"
    } else {
        ""
    };
    c.fail(
        "native-module",
        None,
        format!("{shown} is missing: Prosody runs on Lua {} and cannot load the verifier", sys.lua),
        format!(
            "install the jitsi-meet-tokens package, or build the module for Lua {} \
             (cargo build --release -p jitsi-tokens-lua{features}) and run configure with --native-module FILE",
            sys.lua
        ),
    )
    .file(shown);
}

/// The module loaded: its version against this binary's.
fn native_module_version(c: &mut Collector, lua: &str, shown: &str, version: &str) {
    let version = version.to_owned();
    c.installed("native module", format!("{version} ({shown})"));
    if version == env!("CARGO_PKG_VERSION") {
        c.ok(
            "native-module",
            None,
            format!("{shown} loads in {lua} (version {version})"),
        )
        .value(version)
        .file(shown);
    } else {
        c.warn(
            "native-module",
            None,
            format!(
                "{shown} loads in {lua} but is version {version}, this binary is {}",
                env!("CARGO_PKG_VERSION")
            ),
            "reinstall the package so the module and the tools match",
        )
        .value(version)
        .file(shown);
    }
}

/// The module did not load: built for another Lua, or damaged.
fn native_module_broken(c: &mut Collector, sys: &System, lua: &str, shown: &str, stderr: &str) {
    c.installed("native module", format!("broken ({shown})"));
    let err = stderr.lines().next().unwrap_or("").to_owned();
    let hint = if err.contains("undefined symbol") {
        format!(
            "the file was built for another Lua version: install the build for Lua {}",
            sys.lua
        )
    } else {
        "reinstall the jitsi-meet-tokens package".to_owned()
    };
    c.fail(
        "native-module",
        None,
        format!("{shown} does not load in {lua}: {err}"),
        hint,
    )
    .file(shown);
}

fn plugins(c: &mut Collector, root: &Path) {
    let dir = under(root, DEFAULT_PLUGIN_DIR);
    let (present, missing): (Vec<&str>, Vec<&str>) = [
        "mod_auth_token.lua",
        "mod_token_verification.lua",
        "mod_presence_identity.lua",
    ]
    .into_iter()
    .partition(|f| dir.join(f).is_file());
    let check = if missing.is_empty() {
        c.ok(
            "plugins",
            None,
            format!("Prosody plugins present in {DEFAULT_PLUGIN_DIR}"),
        )
    } else {
        c.fail(
            "plugins",
            None,
            format!("missing in {DEFAULT_PLUGIN_DIR}: {}", missing.join(", ")),
            "install the jitsi-meet-tokens package (it ships the plugins there)",
        )
    };
    check.value(present).file(DEFAULT_PLUGIN_DIR);
}

fn include(c: &mut Collector, tree: &Tree) {
    let check = if tree.includes_confd {
        c.ok(
            "include",
            None,
            format!("{} includes conf.d/*.cfg.lua", tree.main.shown),
        )
    } else {
        c.fail(
            "include",
            None,
            format!("{} does not include conf.d/*.cfg.lua: host files there are ignored", tree.main.shown),
            format!(
                "add the line `Include \"conf.d/*.cfg.lua\"` at the end of {} (or run configure with --fix-include)",
                tree.main.shown
            ),
        )
    };
    check.value(tree.includes_confd).file(&tree.main.shown);
}

/// Enabled VirtualHosts whose effective `authentication` is "token".
fn token_hosts(tree: &Tree) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for f in tree.files() {
        for s in &f.sections {
            if let SectionId::VirtualHost { name } = s {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names.retain(|d| {
        HostConfig::from_tree(tree, d)
            .ok()
            .and_then(|h| h.effective("authentication"))
            .is_some_and(|f| f.value == Value::str("token"))
    });
    names
}

/// A config value as written in the file (an expression as its source text).
fn show(v: &Value) -> String {
    match v {
        Value::Other(src) => src.clone(),
        v => super::show(&typed(v)),
    }
}

fn list_has(v: Option<&Value>, item: &str) -> bool {
    matches!(v, Some(Value::List(items)) if items.iter().any(|i| i == item.as_bytes()))
}

/// Every check of one token host, in the order an administrator fixes them.
fn host(c: &mut Collector, tree: &Tree, domain: &str, args: &StatusArgs) {
    let d = Some(domain);
    let hc = match HostConfig::from_tree(tree, domain) {
        Ok(h) => h,
        Err(e) => {
            c.fail(
                "host",
                d,
                format!("{e:#}"),
                format!("run `jitsi-meet-tokens configure --domain {domain} ...`"),
            );
            return;
        }
    };
    let muc = muc_domain(&hc, domain);
    c.report.hosts.push(host_summary(tree, &hc, domain, &muc));
    authentication(c, &hc, domain);
    let (options, verifier) = token_options(c, &hc, d);
    plugin_paths(c, &hc, d);
    c2s_require_encryption(c, &hc, domain);
    token_verification(c, tree, &hc, d, &muc);
    presence_identity(c, &hc, domain);
    if let (Some(o), Some(v)) = (&options, &verifier) {
        key_source(c, &hc, o, v, d, args.timeout);
    }
    if args.live {
        live_login(c, &hc, options.as_ref(), verifier.as_ref(), domain, args);
    }
}

/// What the host is set to, as `status` lists it (the secret only described).
fn host_summary(tree: &Tree, hc: &HostConfig, domain: &str, muc: &str) -> HostSummary {
    let files = tree
        .files_with_host(domain)
        .iter()
        .map(|f| f.shown.clone())
        .collect();
    let mut settings = Vec::new();
    // Prosody's own keys around the token options of the table (the secret below,
    // described rather than shown).
    let token_options = OPTIONS
        .iter()
        .filter(|o| o.scope == Scope::VirtualHost && o.name != "app_secret")
        .map(|o| o.name);
    for key in std::iter::once("authentication")
        .chain(token_options)
        .chain(["c2s_require_encryption"])
    {
        if let Some(f) = hc.effective(key) {
            settings.push(Setting::found(key, &f));
        }
    }
    if let Some(f) = hc.effective("app_secret") {
        let what = match &f.value {
            Value::Str(s) => format!("set, {} bytes", s.len()),
            _ => "set by an expression".to_owned(),
        };
        settings.push(Setting {
            value: serde_json::Value::Null,
            note: Some(what),
            ..Setting::found("app_secret", &f)
        });
    }
    settings.push(Setting {
        name: "MUC component".to_owned(),
        value: serde_json::Value::String(muc.to_owned()),
        file: None,
        line: None,
        note: None,
    });
    HostSummary {
        domain: domain.to_owned(),
        files,
        settings,
    }
}

fn authentication(c: &mut Collector, hc: &HostConfig, domain: &str) {
    let d = Some(domain);
    match hc.effective("authentication") {
        Some(f) if f.value == Value::str("token") => c.ok_found("authentication", d, &f),
        other => {
            c.fail(
                "authentication",
                d,
                format!(
                    "authentication is {}",
                    other.as_ref().map_or("not set".into(), |f| show(&f.value))
                ),
                format!(
                    "set authentication = \"token\" on VirtualHost \"{domain}\" (configure does this)"
                ),
            )
            .found_opt(other.as_ref());
        }
    }
}

/// The host's token options as the verifier judges them; both are `None` when
/// Prosody's module would refuse them.
fn token_options(
    c: &mut Collector,
    hc: &HostConfig,
    d: Option<&str>,
) -> (Option<Options>, Option<Verifier>) {
    let options = match hc.options() {
        Ok(o) => o,
        Err(e) => {
            c.fail(
                "token-options",
                d,
                format!("{e:#}"),
                "set the token options as literal values",
            );
            return (None, None);
        }
    };
    match Verifier::new(options.clone()) {
        Ok(v) => {
            let how = if v.uses_public_keys() {
                "public keys"
            } else {
                "app_secret"
            };
            c.ok(
                "token-options",
                d,
                format!("{} with {how}, accepted by the verifier", v.algorithm()),
            )
            .value(v.algorithm().to_string());
            (Some(options), Some(v))
        }
        Err(e) => {
            c.fail(
                "token-options",
                d,
                "Prosody's token module would refuse these options",
                e.0,
            );
            (Some(options), None)
        }
    }
}

fn c2s_require_encryption(c: &mut Collector, hc: &HostConfig, domain: &str) {
    let d = Some(domain);
    match hc.effective("c2s_require_encryption") {
        Some(f) if f.value == Value::Bool(false) => c.ok_found("c2s_require_encryption", d, &f),
        other => {
            c.fail(
                "c2s_require_encryption",
                d,
                format!(
                    "c2s_require_encryption is {}: Prosody refuses logins over plain BOSH/WebSocket behind the web proxy",
                    other.as_ref().map_or("not set (Prosody's default is true)".into(), |f| show(&f.value))
                ),
                format!("set c2s_require_encryption = false on VirtualHost \"{domain}\""),
            )
            .found_opt(other.as_ref());
        }
    }
}

/// The MUC component exists and checks room joins against tokens.
fn token_verification(c: &mut Collector, tree: &Tree, hc: &HostConfig, d: Option<&str>, muc: &str) {
    let comp = SectionId::component(muc);
    let has_component = tree
        .files()
        .any(|f| f.sections.iter().any(|s| s.same_host(&comp)));
    let comp_modules = hc.in_section(&comp, "modules_enabled");
    if !has_component {
        c.fail(
            "token_verification",
            d,
            format!("no Component \"{muc}\" \"muc\" in the config: room joins are not checked against tokens"),
            format!("add the MUC component {muc} with modules_enabled = {{ \"token_verification\" }}"),
        );
    } else if list_has(
        comp_modules.as_ref().map(|f| &f.value),
        "token_verification",
    ) {
        // The component reads the host's room options as the option table says.
        match hc.room_rule() {
            Ok(_) => c.ok("token_verification", d, format!("enabled on {muc}")),
            Err(e) => c.fail(
                "token_verification",
                d,
                format!("{e:#}: Prosody disables the room check on {muc} and refuses every join"),
                "set the option to a value of the type it names",
            ),
        }
        .found_opt(comp_modules.as_ref());
    } else {
        c.fail(
            "token_verification",
            d,
            format!("\"token_verification\" is not in modules_enabled of Component \"{muc}\": any token joins any room"),
            format!("add \"token_verification\" to modules_enabled of Component \"{muc}\" (configure does this)"),
        )
        .found_opt(comp_modules.as_ref());
    }
}

fn presence_identity(c: &mut Collector, hc: &HostConfig, domain: &str) {
    let d = Some(domain);
    let host_modules = hc.effective("modules_enabled");
    let check = if list_has(host_modules.as_ref().map(|f| &f.value), "presence_identity") {
        c.ok("presence_identity", d, "enabled")
    } else {
        c.warn(
            "presence_identity",
            d,
            "\"presence_identity\" is not in modules_enabled: other participants do not see the token's user",
            format!("add \"presence_identity\" to modules_enabled of VirtualHost \"{domain}\""),
        )
    };
    check.found_opt(host_modules.as_ref());
}

/// The MUC domain of the host's room rule (options read as Prosody reads them);
/// with a wrongly typed room option, Prosody's default `conference.<domain>`.
fn muc_domain(hc: &HostConfig, domain: &str) -> String {
    hc.room_rule().map_or_else(
        |_| jitsi_tokens_verifier::room::MucMapper::default().component_of(domain),
        |rule| rule.muc_domain(),
    )
}

fn plugin_paths(c: &mut Collector, hc: &HostConfig, d: Option<&str>) {
    let norm = |s: &[u8]| String::from_utf8_lossy(s).trim_end_matches('/').to_owned();
    let ours = DEFAULT_PLUGIN_DIR.trim_end_matches('/');
    let jitsi = DEFAULT_JITSI_PLUGIN_DIR.trim_end_matches('/');
    let found = hc.effective("plugin_paths");
    let paths: Vec<String> = match found.as_ref().map(|f| &f.value) {
        Some(Value::List(items)) => items.iter().map(|i| norm(i)).collect(),
        Some(Value::Str(s)) => vec![norm(s)],
        _ => Vec::new(),
    };
    let pos = |p: &str| paths.iter().position(|x| x == p);
    let check = match (pos(ours), pos(jitsi)) {
        (None, _) => c.fail(
            "plugin_paths",
            d,
            format!(
                "plugin_paths {} lacks {ours}: Prosody cannot find mod_auth_token",
                found.as_ref().map_or("is not set".into(), |f| format!("= {}", show(&f.value)))
            ),
            format!("put \"{DEFAULT_PLUGIN_DIR}\" first in plugin_paths (configure does this)"),
        ),
        (Some(o), Some(j)) if j < o => c.fail(
            "plugin_paths",
            d,
            format!("{jitsi} comes before {ours} in plugin_paths: Jitsi's Lua token modules load instead of ours"),
            format!("move \"{DEFAULT_PLUGIN_DIR}\" ahead of Jitsi's directory"),
        ),
        _ => c.ok("plugin_paths", d, format!("contains {ours}")),
    };
    check.found_opt(found.as_ref());
}

/// The key server (or JWKS URL) answers as Prosody's key fetch needs.
fn key_source(
    c: &mut Collector,
    hc: &HostConfig,
    o: &Options,
    v: &Verifier,
    d: Option<&str>,
    timeout: Duration,
) {
    let (option, url) = match (&o.cache_keys_url, &o.asap_key_server) {
        (Some(url), _) => ("cache_keys_url", url),
        (None, Some(url)) => ("asap_key_server", url),
        (None, None) => {
            c.skip("key-server", d, "not used (app_secret)");
            return;
        }
    };
    let shown = loggable_url(url);
    let found = hc.effective(option);
    let check = match http::get_answer(url, timeout) {
        Err(failure) => {
            let hint = match failure {
                Failure::Refused => "nothing listens there: check the URL's host and port, and that the key server runs",
                Failure::TimedOut => "check the firewall between this server and the key server (or give a longer --timeout)",
                Failure::UnknownHost => "check the host name in the URL and this server's DNS",
                Failure::NotHttp(_) => "that port serves something other than HTTP: check the URL's scheme and port",
                _ => "check the URL, DNS and the firewall from this server",
            };
            c.fail(
                "key-server",
                d,
                format!("{option} {shown}: {failure}"),
                hint,
            )
        }
        Ok(f) => {
            if let Some(date) = f.date {
                c.remote_dates.push((shown.clone(), date));
            }
            let said = format!("{option} {shown}");
            if option == "cache_keys_url" {
                keys_url_answer(c, v, d, &said, &f)
            } else {
                key_server_answer(c, d, &said, &f)
            }
        }
    };
    check.found_opt(found.as_ref());
}

/// A JWKS URL must serve keys the verifier takes.
fn keys_url_answer<'c>(
    c: &'c mut Collector,
    v: &Verifier,
    d: Option<&str>,
    said: &str,
    f: &http::Fetched,
) -> &'c mut Check {
    match (f.status, v.set_keys(&f.body)) {
        (200, Ok(n)) => c.ok("key-server", d, format!("{said} serves {n} key(s)")),
        (200, Err(e)) => c.fail(
            "key-server",
            d,
            format!("{said}: {e}"),
            "serve a JWKS or a {kid: certificate} map",
        ),
        (s, _) => c.fail(
            "key-server",
            d,
            format!("{said}: HTTP {s}"),
            "check the URL",
        ),
    }
}

/// Keys live at <url>/<sha256(kid)>.pem, and without a kid no key path is known:
/// a 2xx proves the server serves, a 403/404 at the base only that it is
/// reachable; anything else fails.
fn key_server_answer<'c>(
    c: &'c mut Collector,
    d: Option<&str>,
    said: &str,
    f: &http::Fetched,
) -> &'c mut Check {
    match f.status {
        200..=299 => c.ok(
            "key-server",
            d,
            format!("{said} answers (HTTP {})", f.status),
        ),
        403 | 404 => c.warn(
            "key-server",
            d,
            format!(
                "{said} is reachable (HTTP {} at its base URL), \
                 but no key was fetched: none is known without a kid",
                f.status
            ),
            "check one key with `jitsi-meet-tokens token verify` and a token it signed",
        ),
        s => c.fail(
            "key-server",
            d,
            format!("{said}: HTTP {s}"),
            "check the key server (its log) and the URL",
        ),
    }
}

fn clock(c: &mut Collector) {
    let now = time::now();
    if now < CLOCK_FLOOR {
        c.fail(
            "clock",
            None,
            format!(
                "the system clock reads {}: tokens would all look not yet valid",
                time::format_time(now)
            ),
            "set the clock (NTP: chrony or systemd-timesyncd)",
        );
        return;
    }
    let dates = std::mem::take(&mut c.remote_dates);
    if dates.is_empty() {
        c.ok(
            "clock",
            None,
            format!(
                "{} (no remote clock configured to compare with)",
                time::format_time(now)
            ),
        );
        return;
    }
    for (url, date) in dates {
        let remote = date
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let skew = now - remote;
        let check = if skew.abs() > MAX_SKEW {
            c.fail(
                "clock",
                None,
                format!("this clock is {skew} s off {url}'s: fresh tokens may fail exp/nbf"),
                "synchronise clocks with NTP, or set token_clock_leeway",
            )
        } else {
            c.ok("clock", None, format!("within {} s of {url}", skew.abs()))
        };
        check.value(skew);
    }
}

/// The first accepted value that is not `*`, else `fallback`.
fn first_concrete(list: &Option<Vec<String>>, fallback: &str) -> String {
    list.as_ref()
        .and_then(|l| l.iter().find(|x| x.as_str() != "*").cloned())
        .unwrap_or_else(|| fallback.to_owned())
}

fn live_login(
    c: &mut Collector,
    hc: &HostConfig,
    options: Option<&Options>,
    verifier: Option<&Verifier>,
    domain: &str,
    args: &StatusArgs,
) {
    let d = Some(domain);
    let (Some(o), Some(v)) = (options, verifier) else {
        c.skip(
            "live-login",
            d,
            "skipped: the token options above must work first",
        );
        return;
    };
    let Some(token) = test_token(c, o, v, domain, args) else {
        return;
    };
    let url = args
        .bosh_url
        .clone()
        .unwrap_or_else(|| default_bosh_url(hc));
    match live::login(&url, domain, &token, args.timeout) {
        Ok(Login::Bound(jid)) => {
            c.ok(
                "live-login",
                d,
                format!("token login over {url} succeeded as {jid}"),
            )
            .value(jid);
        }
        Ok(Login::Refused { condition, text }) => {
            c.fail(
                "live-login",
                d,
                format!("the server refused the token: <{condition}/> \"{text}\""),
                refusal_hint(v, domain, &token),
            )
            .value(condition);
        }
        Err(e) => {
            c.fail(
                "live-login",
                d,
                format!("{e:#}"),
                "is Prosody running with mod_bosh? Give the endpoint with --bosh-url",
            );
        }
    }
}

/// A token the host accepts, for the live login: signed with its secret, or with
/// the private key given; `None` (and a check saying why) when none can be made.
fn test_token(
    c: &mut Collector,
    o: &Options,
    v: &Verifier,
    domain: &str,
    args: &StatusArgs,
) -> Option<String> {
    let d = Some(domain);
    let app_id = o.app_id.clone().unwrap_or_default();
    let iss = first_concrete(&o.asap_accepted_issuers, &app_id);
    let aud = first_concrete(&o.asap_accepted_audiences, "jitsi");
    let now = time::now();
    let claims = basic_claims(&iss, &aud, domain, "*", now, Some(now + 300));
    let pem;
    let key = if v.uses_public_keys() {
        let Some(path) = &args.private_key else {
            c.skip(
                "live-login",
                d,
                "skipped: this host verifies with public keys; give --private-key FILE and --kid",
            );
            return None;
        };
        pem = match std::fs::read_to_string(path) {
            Ok(p) => p,
            Err(e) => {
                c.fail(
                    "live-login",
                    d,
                    format!("reading {}: {e}", path.display()),
                    "give a readable --private-key",
                );
                return None;
            }
        };
        SigningKey::PrivatePem(&pem)
    } else {
        SigningKey::Secret(o.app_secret.as_deref().unwrap_or_default())
    };
    match mint(v.algorithm(), key, args.kid.as_deref(), &claims) {
        Ok(t) => Some(t),
        Err(e) => {
            c.fail(
                "live-login",
                d,
                format!("cannot mint a test token: {e}"),
                "check --private-key and --kid",
            );
            None
        }
    }
}

/// What to do about a refused login: the same token through the verifier with
/// the config on disk; if that accepts it, the running server has other settings
/// than the files.
fn refusal_hint(v: &Verifier, domain: &str, token: &str) -> String {
    let locally = if v.uses_public_keys() {
        None
    } else {
        v.verify(token, None, time::now()).ok()
    };
    if locally.is_some() {
        "the config on disk accepts this token, so the running Prosody has other settings: restart it"
            .to_owned()
    } else {
        format!("`jitsi-meet-tokens token verify --domain {domain}` explains the refusal")
    }
}

/// `http://127.0.0.1:<first http_ports entry>/http-bind` (Prosody's default 5280).
fn default_bosh_url(hc: &HostConfig) -> String {
    let port = match hc
        .in_section(&SectionId::Global, "http_ports")
        .map(|f| f.value)
    {
        Some(Value::Int(p)) => p,
        // `{ 5280 }` is a table of numbers, which the editor keeps as source text.
        Some(Value::Other(src)) => src
            .trim_matches(|ch: char| ch == '{' || ch == '}' || ch.is_whitespace())
            .split([',', ';'])
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(5280),
        _ => 5280,
    };
    format!("http://127.0.0.1:{port}/http-bind")
}
