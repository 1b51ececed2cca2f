//! Man pages and shell completions generated from the clap definitions (hidden
//! commands `man` and `completions SHELL`, run by the Debian build), so every flag
//! and environment variable is documented once, in its doc comment and `env`.
//!
//! Pages follow git and cargo: `jitsi-meet-tokens(1)` lists the commands, and each
//! command has its own page (`jitsi-meet-tokens-configure(1)`,
//! `jitsi-meet-tokens-token-mint(1)`, ...). clap_mangen renders titles, names and
//! options; the synopsis (clap_mangen's has no value names) and the sections it does
//! not know (ENVIRONMENT, EXIT STATUS, FILES, EXAMPLES, SEE ALSO) are written here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Arg, ArgAction, Args, Command};
use clap_complete::Shell;
use clap_mangen::Man;
use roff::{bold, italic, roman, Inline, Roff};

const SECTION: &str = "1";

/// Print the main man page (roff) on stdout, or write every page into a directory.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page (the main one and one per command) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print a shell completion script on stdout.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// One generated page: its file name (`jitsi-meet-tokens-configure.1`) and roff text.
pub struct Page {
    pub file: String,
    pub roff: Vec<u8>,
}

pub fn run_man(args: &ManArgs, cmd: Command, out: &mut dyn Write) -> Result<()> {
    let pages = pages(cmd)?;
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for p in &pages {
                let path = dir.join(&p.file);
                std::fs::write(&path, &p.roff)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        None => crate::token_cmd::output(out.write_all(&pages[0].roff))?,
    }
    Ok(())
}

/// Every page, the main one first.
pub fn pages(cmd: Command) -> Result<Vec<Page>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let date = date();
    let bin = cmd.get_name().to_owned();
    let mut leaves = Vec::new();
    collect_leaves(&cmd, &bin, &mut leaves);
    let mut pages = vec![main_page(&cmd, &leaves, &date)?];
    for (full, sub) in &leaves {
        pages.push(command_page(&cmd, full, sub, &leaves, &date)?);
    }
    Ok(pages)
}

/// Visible commands without subcommands, with their full names (`jitsi-meet-tokens token mint`).
fn collect_leaves(cmd: &Command, parent: &str, out: &mut Vec<(String, Command)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let full = format!("{parent} {}", sub.get_name());
        if sub.has_subcommands() {
            collect_leaves(sub, &full, out);
        } else {
            out.push((full, sub.clone()));
        }
    }
}

fn page_name(full: &str) -> String {
    full.replace(' ', "-")
}

/// The page's date: `SOURCE_DATE_EPOCH` (set by Debian builds from the changelog,
/// so the package is reproducible), else today.
fn date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(crate::token_cmd::time::now);
    crate::token_cmd::time::format_time(secs)
        .chars()
        .take(10)
        .collect()
}

fn man(cmd: Command, title: &str, date: &str) -> Man {
    Man::new(cmd)
        .title(title.to_uppercase())
        .section(SECTION)
        .date(date)
        .source(format!("jitsi-meet-tokens {}", env!("CARGO_PKG_VERSION")))
        .manual("jitsi-meet-tokens manual")
}

fn main_page(cmd: &Command, leaves: &[(String, Command)], date: &str) -> Result<Page> {
    let name = cmd.get_name().to_owned();
    let m = man(cmd.clone(), &name, date);
    let mut out = Vec::new();
    m.render_title(&mut out)?;
    m.render_name_section(&mut out)?;
    let mut r = Roff::new();
    r.control("SH", ["SYNOPSIS"]);
    for (full, sub) in leaves {
        r.text(synopsis(full, sub));
        r.control("br", []);
    }
    r.text([
        bold(name.as_str()),
        roman(" "),
        bold("--help"),
        roman(" | "),
        bold("--version"),
    ]);
    r.control("SH", ["DESCRIPTION"]);
    paragraphs(&mut r, &about(cmd));
    r.control("SH", ["COMMANDS"]);
    for (full, sub) in leaves {
        r.control("TP", []);
        r.text([bold(full.as_str())]);
        r.text([roman(format!("{} See ", first_line(&about(sub))))]);
        r.text([bold(page_name(full)), roman(format!("({SECTION})."))]);
    }
    environment(&mut r, &env_vars(cmd));
    exit_status(&mut r);
    files(&mut r);
    examples(&mut r, "");
    see_also(&mut r, leaves.iter().map(|(f, _)| page_name(f)).collect());
    r.to_writer(&mut out)?;
    Ok(Page {
        file: format!("{name}.{SECTION}"),
        roff: out,
    })
}

fn command_page(
    root: &Command,
    full: &str,
    cmd: &Command,
    leaves: &[(String, Command)],
    date: &str,
) -> Result<Page> {
    let name = page_name(full);
    let sub = full.split_once(' ').map_or("", |(_, s)| s);
    let m = man(
        cmd.clone()
            .display_name(name.clone())
            .bin_name(full.to_owned()),
        &name,
        date,
    );
    let mut out = Vec::new();
    m.render_title(&mut out)?;
    m.render_name_section(&mut out)?;
    let mut r = Roff::new();
    r.control("SH", ["SYNOPSIS"]);
    r.text(synopsis(full, cmd));
    r.control("SH", ["DESCRIPTION"]);
    paragraphs(&mut r, &about(cmd));
    r.to_writer(&mut out)?;
    m.render_options_section(&mut out)?;
    let mut r = Roff::new();
    environment(&mut r, &env_vars(cmd));
    if let Some(schema) = json_output(sub) {
        r.control("SH", ["JSON OUTPUT"]);
        paragraphs(&mut r, schema);
    }
    exit_status(&mut r);
    if matches!(sub, "configure" | "unconfigure" | "status") {
        files(&mut r);
    }
    examples(&mut r, sub);
    let mut also = vec![page_name(root.get_name())];
    also.extend(
        leaves
            .iter()
            .map(|(f, _)| page_name(f))
            .filter(|p| *p != name),
    );
    see_also(&mut r, also);
    r.to_writer(&mut out)?;
    Ok(Page {
        file: format!("{name}.{SECTION}"),
        roff: out,
    })
}

fn about(cmd: &Command) -> String {
    cmd.get_long_about()
        .or(cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn first_line(s: &str) -> String {
    s.split("\n\n").next().unwrap_or("").replace('\n', " ")
}

/// Blank-line separated paragraphs; the roff crate escapes each line's text.
fn paragraphs(r: &mut Roff, text: &str) {
    for (i, p) in text.split("\n\n").enumerate() {
        if i > 0 {
            r.control("PP", []);
        }
        r.text([roman(p.replace('\n', " "))]);
    }
}

fn shown(a: &Arg) -> bool {
    !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version")
}

/// `jitsi-meet-tokens configure [--root DIR] [--domain DOMAIN] ... [TOKEN]`.
fn synopsis(full: &str, cmd: &Command) -> Vec<Inline> {
    let mut line = vec![bold(full)];
    for a in cmd.get_arguments().filter(|a| shown(a)) {
        let (open, close) = if a.is_required_set() {
            ("", "")
        } else {
            ("[", "]")
        };
        let value = a
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
        line.push(roman(format!(" {open}")));
        if a.is_positional() {
            line.push(italic(value));
        } else {
            line.push(bold(format!("--{}", a.get_long().unwrap_or_default())));
            let takes_value = !matches!(
                a.get_action(),
                ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
            );
            if takes_value {
                let optional = a.get_num_args().is_some_and(|n| n.min_values() == 0);
                line.push(roman(if optional { "[=" } else { " " }));
                line.push(italic(value));
                if optional {
                    line.push(roman("]"));
                }
            }
        }
        line.push(roman(close));
    }
    line
}

/// Every `JITSI_MEET_TOKENS_*` variable `cmd` (and its subcommands) reads: the clap
/// `env` definitions, and the two read outside clap.
pub fn env_vars(cmd: &Command) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    collect_env(cmd, &mut vars);
    let name = cmd.get_name();
    let configures = |n: &str| n.contains("configure") || n == "jitsi-meet-tokens";
    if configures(name) {
        vars.insert(
            crate::settings::SECRET_ENV.to_owned(),
            "The HMAC secret itself, for configure, when no --app-secret-file is given \
             (the environment of a process is visible only to its user and root)."
                .to_owned(),
        );
        vars.insert(
            crate::fsops::LOCK_TIMEOUT_ENV.to_owned(),
            "Seconds configure and unconfigure wait for another run's lock (default 30)."
                .to_owned(),
        );
    }
    vars
}

fn collect_env(cmd: &Command, vars: &mut BTreeMap<String, String>) {
    for a in cmd.get_arguments() {
        if let Some(env) = a.get_env() {
            let long = a.get_long().unwrap_or_default();
            vars.entry(env.to_string_lossy().into_owned())
                .or_insert_with(|| {
                    let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                    format!("As --{long}: {help}")
                });
        }
    }
    for sub in cmd.get_subcommands() {
        collect_env(sub, vars);
    }
}

fn environment(r: &mut Roff, vars: &BTreeMap<String, String>) {
    if vars.is_empty() {
        return;
    }
    r.control("SH", ["ENVIRONMENT"]);
    r.text([roman(
        "A flag given on the command line wins over its variable; the variable wins over the settings file.",
    )]);
    for (name, help) in vars {
        r.control("TP", []);
        r.text([bold(name.as_str())]);
        r.text([roman(help.replace('\n', " "))]);
    }
}

fn exit_status(r: &mut Roff) {
    r.control("SH", ["EXIT STATUS"]);
    for (code, what) in [
        (
            "0",
            "Success: configured (or nothing to change), every status check passed, the token is valid.",
        ),
        (
            "1",
            "Failure: a change could not be applied (the previous files are put back), a status check failed, the token was refused.",
        ),
        ("2", "Bad usage: an unknown flag, a missing or contradictory value."),
    ] {
        r.control("TP", []);
        r.text([bold(code)]);
        r.text([roman(what)]);
    }
}

fn files(r: &mut Roff) {
    r.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/prosody/conf.avail/DOMAIN.cfg.lua",
            "The Prosody host file configure edits in place (the secret lives here, mode 0640 root:prosody).",
        ),
        (
            "/etc/prosody/prosody.cfg.lua",
            "Prosody's main file: must Include conf.d/*.cfg.lua; changed only with --fix-include.",
        ),
        (
            crate::settings::DEFAULT_SETTINGS,
            "Settings file (TOML) with the values configure was last given; never holds the secret.",
        ),
        (
            crate::state::STATE_DIR,
            "State: the record of previous values unconfigure restores, backups, the lock file.",
        ),
    ] {
        r.control("TP", []);
        r.text([italic(path)]);
        r.text([roman(what)]);
    }
}

/// (command, description, command line) for the EXAMPLES sections.
const EXAMPLES: &[(&str, &str, &str)] = &[
    (
        "configure",
        "Enable tokens for a domain with a secret read from a file:",
        "jitsi-meet-tokens configure --domain meet.example.com --app-id myapp --app-secret-file /root/secret",
    ),
    (
        "configure",
        "Show what would change, changing nothing:",
        "jitsi-meet-tokens configure --domain meet.example.com --dry-run",
    ),
    (
        "configure",
        "Take the settings of a docker-jitsi-meet installation:",
        "jitsi-meet-tokens configure --from-docker-env /srv/jitsi/.env",
    ),
    (
        "unconfigure",
        "Put the host file back as it was before configure:",
        "jitsi-meet-tokens unconfigure --domain meet.example.com",
    ),
    (
        "status",
        "Check an image tree, as a script would:",
        "JITSI_MEET_TOKENS_ROOT=/srv/image jitsi-meet-tokens status --output json",
    ),
    (
        "token mint",
        "Mint a test token from the host's own settings:",
        "jitsi-meet-tokens token mint --domain meet.example.com --room lobby",
    ),
    (
        "token verify",
        "Explain why a token is refused:",
        "jitsi-meet-tokens token verify --domain meet.example.com \"$TOKEN\"",
    ),
];

fn examples(r: &mut Roff, sub: &str) {
    let chosen: Vec<_> = EXAMPLES
        .iter()
        .filter(|(c, _, _)| sub.is_empty() || *c == sub)
        .collect();
    if chosen.is_empty() {
        return;
    }
    r.control("SH", ["EXAMPLES"]);
    for (_, what, line) in chosen {
        r.control("PP", []);
        r.text([roman(*what)]);
        r.control("RS", ["4"]);
        r.control("nf", []);
        r.text([bold(*line)]);
        r.control("fi", []);
        r.control("RE", []);
    }
}

fn see_also(r: &mut Roff, pages: Vec<String>) {
    r.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for p in pages
        .iter()
        .map(String::as_str)
        .chain(["prosody", "prosodyctl"])
    {
        if !line.is_empty() {
            line.push(roman(", "));
        }
        line.push(bold(p));
        line.push(roman(format!(
            "({})",
            if p.starts_with("prosody") {
                "1"
            } else {
                SECTION
            }
        )));
    }
    r.text(line);
}

/// The JSON shape of `status` and `token verify` (documented once, here).
fn json_output(sub: &str) -> Option<&'static str> {
    match sub {
        "status" | "token verify" => Some(CHECKS_JSON),
        _ => None,
    }
}

const CHECKS_JSON: &str = "With --output json, one JSON object on stdout. status and token verify \
write a check as one typed record whose fields are always present, null when they do not \
apply: check (the check's name, e.g. plugin_paths or signature), host (null for system-wide \
checks and for token verify), result (ok, warn, fail or skipped; token verify also not-reached \
for checks after the first failure), value (what was found: a string, number, boolean or list, e.g. a \
setting's value as Prosody reads it, a version, a URL), file and line (where it was found), \
detail (one sentence; null when value and place say it all) and hint (the fix).\n\n\
status prints {ok, root, installed: [{name, version}], hosts: [{domain, files, settings}], \
checks}. Each setting is {name, value, file, line, note}: value as Prosody reads it (a JSON \
string, number, boolean or list of strings; the Lua source text of an expression; null for \
app_secret, whose note gives its length), file and line where it is assigned. token verify \
prints {valid, reason, condition, at, checks, header, claims}.";

pub fn run_completions(args: &CompletionsArgs, cmd: Command, out: &mut dyn Write) -> Result<()> {
    let mut cmd = cmd;
    let name = cmd.get_name().to_owned();
    // generate() panics on a write error: render first, then write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    crate::token_cmd::output(out.write_all(&script))?;
    Ok(())
}
