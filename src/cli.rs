//! Command-line definitions (clap). Every flag is documented once, here or in the
//! `Args` struct of the module that owns the subcommand; help, man page and
//! completions are generated from these definitions.
//!
//! Parsing has two stages: these raw arguments, then [`crate::configure::Request`]
//! (settings file, environment and prompts resolved) that the library takes.

use clap::{Args, Parser, Subcommand, ValueEnum};
use jitsi_tokens_verifier::option_table::{self, Neutral, Whole};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "jitsi-meet-tokens",
    version,
    about = "JWT (token) authentication for Jitsi Meet on Prosody: installer and token tools"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enable token authentication for a domain (idempotent; restarts Prosody only
    /// when something changed).
    Configure(ConfigureArgs),
    /// Revert what `configure` changed for a domain, from the state record.
    Unconfigure(UnconfigureArgs),
    /// What is installed and every check that matters, with fix hints (non-zero
    /// exit when one fails).
    #[command(visible_alias = "doctor")]
    Status(crate::status::StatusArgs),
    /// Mint and verify test tokens.
    Token(crate::token_cmd::TokenArgs),
    /// Exit 0 when `configure` would accept --domain (a host name; one of the
    /// server's hosts, or --new-host), else say why: the Debian postinst's check.
    #[command(hide = true)]
    CheckDomain(crate::configure::CheckDomainArgs),
    /// Print the man page (roff) generated from these definitions.
    #[command(hide = true)]
    Man(crate::manpage::ManArgs),
    /// Print a shell completion script.
    #[command(hide = true)]
    Completions(crate::manpage::CompletionsArgs),
}

/// `--output`, the same three formats for every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Text for a person at a terminal (progress spinners). `text` is the old spelling.
    #[value(alias = "text")]
    Human,
    /// Plain log lines on stderr (maintainer scripts); reports as for `human`.
    Plain,
    /// One JSON object on stdout (schema in the man page, JSON OUTPUT).
    Json,
}

/// Where to look: the file tree and the host. Every subcommand takes these, with
/// the same environment variables.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Treat DIR as `/` for every file read or written (image builds, tests).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "JITSI_MEET_TOKENS_ROOT"
    )]
    pub root: PathBuf,
    /// The Jitsi Meet domain (Prosody VirtualHost), e.g. meet.example.com. `status`
    /// checks only this host [default: every token host]; `token` reads its options.
    #[arg(long, value_name = "DOMAIN", env = "JITSI_MEET_TOKENS_DOMAIN")]
    pub domain: Option<String>,
}

/// How tokens are signed: `configure` writes these, `token` overrides the host's.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Application id (`app_id`): tokens must carry it as `iss` (or an accepted issuer).
    #[arg(long, value_name = "ID", env = "JITSI_MEET_TOKENS_APP_ID")]
    pub app_id: Option<String>,
    /// Read the HMAC secret (`app_secret`) from FILE (`-` = stdin; one trailing
    /// newline is dropped). Or set JITSI_MEET_TOKENS_APP_SECRET. Never pass a secret
    /// as an argument: other users can read command lines.
    #[arg(long, value_name = "FILE", env = "JITSI_MEET_TOKENS_APP_SECRET_FILE")]
    pub app_secret_file: Option<PathBuf>,
    /// Token signature algorithm (`signature_algorithm`: HS256, RS256, ES256, EdDSA, ...).
    #[arg(
        long,
        alias = "alg",
        value_name = "ALG",
        env = "JITSI_MEET_TOKENS_SIGNATURE_ALGORITHM"
    )]
    pub signature_algorithm: Option<String>,
}

/// Public-key sources, instead of a shared secret.
#[derive(Debug, Clone, Args)]
pub struct KeyServerArgs {
    /// ASAP key server base URL (`asap_key_server`): the key for header `kid` is
    /// fetched from `<URL>/<sha256(kid)>.pem`.
    #[arg(long, value_name = "URL", env = "JITSI_MEET_TOKENS_ASAP_KEY_SERVER")]
    pub asap_key_server: Option<String>,
    /// JWKS or `{kid: certificate}` document URL (`cache_keys_url`).
    #[arg(long, value_name = "URL", env = "JITSI_MEET_TOKENS_CACHE_KEYS_URL")]
    pub cache_keys_url: Option<String>,
}

/// Which `iss` and `aud` a token may carry, and how much clock skew it may show.
#[derive(Debug, Clone, Args)]
pub struct AcceptedArgs {
    /// Accepted `iss` values (`asap_accepted_issuers`), comma-separated or repeated
    /// (`*` = any) [default: the app id]. `--issuer` is the old spelling.
    #[arg(
        long = "issuers",
        alias = "issuer",
        value_name = "ISS,...",
        value_delimiter = ',',
        env = "JITSI_MEET_TOKENS_ISSUERS"
    )]
    pub issuers: Option<Vec<String>>,
    /// Accepted `aud` values (`asap_accepted_audiences`), comma-separated or repeated
    /// (`*` = any). `--audience` is the old spelling.
    #[arg(
        long = "audiences",
        alias = "audience",
        value_name = "AUD,...",
        value_delimiter = ',',
        env = "JITSI_MEET_TOKENS_AUDIENCES"
    )]
    pub audiences: Option<Vec<String>>,
    /// Seconds of clock skew tolerated for exp and nbf (`token_clock_leeway`; iat is
    /// not checked). `--leeway` is the old spelling.
    #[arg(
        long,
        alias = "leeway",
        value_name = "SECONDS",
        env = "JITSI_MEET_TOKENS_TOKEN_CLOCK_LEEWAY",
        value_parser = leeway
    )]
    pub token_clock_leeway: Option<Whole>,
}

/// Options shared by `configure` and `unconfigure`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub target: Target,
    /// Never prompt, even on a terminal (maintainer scripts, config management).
    #[arg(long)]
    pub non_interactive: bool,
    /// Do not restart Prosody (report that a restart is needed instead).
    #[arg(long)]
    pub no_restart: bool,
    /// Print the unified diff that would be applied (secret masked); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format [default: human on a terminal, plain otherwise].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
    /// Settings file (TOML) with defaults for these flags; `configure` records the
    /// values it is given there, comments kept.
    #[arg(
        long,
        value_name = "FILE",
        env = "JITSI_MEET_TOKENS_SETTINGS",
        default_value = crate::settings::DEFAULT_SETTINGS
    )]
    pub settings: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ConfigureArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Take the token settings of a docker-jitsi-meet `.env` file (JWT_APP_ID,
    /// JWT_APP_SECRET, JWT_ACCEPTED_ISSUERS, XMPP_DOMAIN, ...); flags and variables
    /// win over it, it wins over the settings file. Each variable used or ignored is
    /// reported.
    #[arg(long, value_name = "FILE")]
    pub from_docker_env: Option<PathBuf>,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub key_server: KeyServerArgs,
    #[command(flatten)]
    pub accepted: AcceptedArgs,
    /// Let clients without a token in (as guests).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        env = "JITSI_MEET_TOKENS_ALLOW_EMPTY_TOKEN"
    )]
    pub allow_empty_token: Option<bool>,
    /// Do not enable presence_identity (user identity from the token in presence).
    #[arg(long)]
    pub no_presence_identity: bool,
    #[command(flatten)]
    pub secure: SecureDomainArgs,
    /// Directory holding this package's Prosody plugins (put in plugin_paths).
    #[arg(long, value_name = "DIR", env = "JITSI_MEET_TOKENS_PLUGIN_DIR")]
    pub plugin_dir: Option<String>,
    /// Native module built for Prosody's Lua version, installed when missing or
    /// different [default: lua5.X/jitsi_tokens.so next to this binary].
    #[arg(long, value_name = "FILE", env = "JITSI_MEET_TOKENS_NATIVE_MODULE")]
    pub native_module: Option<PathBuf>,
    /// Add `Include "conf.d/*.cfg.lua"` to prosody.cfg.lua when missing (Prosody's
    /// conffile: only on an administrator's request, never from maintainer scripts).
    #[arg(long)]
    pub fix_include: bool,
    #[command(flatten)]
    pub host: crate::configure::NewHostArg,
}

/// The Jitsi "secure domain": guests without a token, moderators from the token,
/// recorders and gateways let into token-checked rooms.
#[derive(Debug, Clone, Args)]
pub struct SecureDomainArgs {
    /// Guest domain: an anonymous VirtualHost for people without a token, who may
    /// join once a token user has started the meeting (also set as
    /// `hosts.anonymousdomain` in Jitsi Meet's config.js, and Jicofo told to require
    /// token authentication). An empty JITSI_MEET_TOKENS_GUEST_DOMAIN means none.
    #[arg(
        long,
        value_name = "DOMAIN",
        env = GUEST_DOMAIN_ENV,
        conflicts_with = "no_guest_domain"
    )]
    pub guest_domain: Option<String>,
    /// Remove the guest domain a previous run set up.
    #[arg(long)]
    pub no_guest_domain: bool,
    /// Moderators from the token: `context.user.moderator` (or an owner/moderator
    /// affiliation) makes an occupant owner, any other token member; Jicofo no
    /// longer makes the first occupant owner.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        env = "JITSI_MEET_TOKENS_MODERATORS_FROM_TOKEN",
        conflicts_with = "no_moderators_from_token"
    )]
    pub moderators_from_token: Option<bool>,
    /// Turn moderators from the token off again.
    #[arg(long)]
    pub no_moderators_from_token: bool,
    /// Bare JIDs or domains let into token-checked rooms without a token
    /// (`token_verification_allowlist`), comma-separated or repeated, beside the
    /// accounts configure detects (Jibri's recorder host, Jicofo's trusted-domains,
    /// Jigasi's org.jitsi.jigasi.xmpp.acc.USER_ID).
    #[arg(
        long,
        value_name = "JID_OR_DOMAIN,...",
        value_delimiter = ',',
        env = "JITSI_MEET_TOKENS_ALLOWLIST"
    )]
    pub allowlist: Option<Vec<String>>,
}

pub const GUEST_DOMAIN_ENV: &str = "JITSI_MEET_TOKENS_GUEST_DOMAIN";

impl SecureDomainArgs {
    /// `Some("")` for "no guest domain" (the flag, or an empty variable, which clap
    /// reads as absent).
    pub fn guest_domain(&self) -> Option<String> {
        let empty_env = std::env::var_os(GUEST_DOMAIN_ENV).is_some_and(|v| v.is_empty());
        if self.no_guest_domain || (self.guest_domain.is_none() && empty_env) {
            return Some(String::new());
        }
        self.guest_domain.clone()
    }
    pub fn moderators_from_token(&self) -> Option<bool> {
        if self.no_moderators_from_token {
            return Some(false);
        }
        self.moderators_from_token
    }
}

#[derive(Debug, Clone, Args)]
pub struct UnconfigureArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// For the package's prerm: restart Prosody only if it is running, and report one
    /// that does not come back as a warning (exit 0 once the files are reverted).
    #[arg(long, conflicts_with = "no_restart")]
    pub if_running: bool,
}

/// `--token-clock-leeway` by the option table's rule, as Prosody reads the option
/// (`30.0` is 30).
fn leeway(s: &str) -> Result<Whole, String> {
    let n: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    option_table::whole_value("token_clock_leeway", Neutral::Num(n)).map_err(|e| e.to_string())
}
