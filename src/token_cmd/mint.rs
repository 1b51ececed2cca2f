//! `token mint`: build the claims a Jitsi Meet token carries and sign them with the
//! verifier crate's own `mint`, so a minted token is exactly what the server expects.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use jitsi_tokens_verifier::{mint, Algorithm, Claims, SigningKey};
use serde_json::{json, Map, Value};

use super::host::{HostArgs, KeySource};
use super::time::{now, parse_duration, parse_time};

/// Mint a test token from the host's own settings; prints only the token on stdout.
#[derive(Debug, Args)]
pub struct MintArgs {
    #[command(flatten)]
    pub host: HostArgs,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for RS/PS/ES/EdDSA tokens; its public
    /// key is what the key server or keys URL serves for `--kid`.
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,

    /// Key id written to the header (`kid`); key-server hosts fetch the key by it.
    #[arg(long)]
    pub kid: Option<String>,

    /// `room` claim: the room name, or `*` for any room.
    #[arg(long, default_value = "*")]
    pub room: String,

    /// `sub` claim [default: --domain when given, else `*`].
    #[arg(long)]
    pub sub: Option<String>,

    /// `iss` claim [default: the app id].
    #[arg(long)]
    pub iss: Option<String>,

    /// `aud` claim.
    #[arg(long, default_value = "jitsi")]
    pub aud: String,

    /// `context.user.name`.
    #[arg(long)]
    pub name: Option<String>,

    /// `context.user.email`.
    #[arg(long)]
    pub email: Option<String>,

    /// `context.user.avatar` (URL).
    #[arg(long)]
    pub avatar: Option<String>,

    /// `context.user.id`.
    #[arg(long)]
    pub user_id: Option<String>,

    /// Set `context.user.moderator = true`.
    #[arg(long)]
    pub moderator: bool,

    /// `context.tenant` (for `[tenant]room` addresses).
    #[arg(long)]
    pub tenant: Option<String>,

    /// `context.group`.
    #[arg(long)]
    pub group: Option<String>,

    /// Lifetime: `exp` is the issue time plus this (e.g. 90s, 15m, 1h, 7days).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,

    /// Leave out `exp` (the token never expires; Prosody accepts that).
    #[arg(long, conflicts_with = "ttl")]
    pub no_exp: bool,

    /// `nbf` (not before): Unix seconds, RFC 3339, `now`, or `now+DURATION`.
    #[arg(long, value_name = "TIME")]
    pub nbf: Option<String>,

    /// Issue the token as if the clock showed TIME (`iat`; `exp`/`nbf` follow it).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// Set or replace a top-level claim: KEY=JSON (e.g. `exp="soon"`, `flag=true`).
    #[arg(long = "claim", value_name = "KEY=JSON")]
    pub claims: Vec<String>,

    /// Remove a claim after all others are set (e.g. `--omit sub` to test refusals).
    #[arg(long, value_name = "CLAIM")]
    pub omit: Vec<String>,
}

pub fn run(args: &MintArgs, out: &mut dyn Write) -> Result<()> {
    let settings = args.host.resolve()?;
    let app_id = settings.options.app_id.clone();
    let key = match &args.private_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading private key {}", path.display()))?;
            KeySource::PrivatePem(pem)
        }
        None => match settings.options.app_secret.clone() {
            Some(secret) => KeySource::Secret(secret),
            None => bail!(
                "no signing key: give --app-secret-file FILE (or -) for HS tokens, \
                 --private-key FILE for RS/PS/ES/EdDSA, or --domain of a host with app_secret"
            ),
        },
    };
    let alg = signing_algorithm(args, settings.options.signature_algorithm.as_deref(), &key)?;
    if !alg.is_symmetric() && args.kid.is_none() {
        eprintln!("warning: no --kid: a key-server host refuses a token without `kid`");
    }
    let now = now();
    let iat = match &args.at {
        Some(t) => parse_time(t, now)
            .map_err(anyhow::Error::msg)
            .context("--at")?,
        None => now,
    };
    let claims = build_claims(args, app_id.as_deref(), settings.domain.as_deref(), iat)?;
    let signing = match &key {
        KeySource::Secret(s) => SigningKey::Secret(s),
        KeySource::PrivatePem(p) => SigningKey::PrivatePem(p),
    };
    let token =
        mint(alg, signing, args.kid.as_deref(), &claims).map_err(|e| anyhow::anyhow!("{e}"))?;
    super::output(writeln!(out, "{token}"))?;
    Ok(())
}

/// `--alg`, else the host's `signature_algorithm`, else what the key implies
/// (HS256 for a secret, RS256 for a private key: the spec's defaults).
fn signing_algorithm(
    args: &MintArgs,
    host_alg: Option<&str>,
    key: &KeySource,
) -> Result<Algorithm> {
    let name = args.host.key.signature_algorithm.as_deref().or(host_alg);
    let alg = match name {
        Some(n) => n
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown algorithm {n:?}"))?,
        None if matches!(key, KeySource::Secret(_)) => Algorithm::HS256,
        None => Algorithm::RS256,
    };
    match (alg.is_symmetric(), key) {
        (true, KeySource::PrivatePem(_)) => {
            bail!("{alg} signs with the shared secret: drop --private-key or choose --alg RS256/ES256/...")
        }
        (false, KeySource::Secret(_)) => {
            bail!("{alg} signs with a private key: give --private-key FILE")
        }
        _ => Ok(alg),
    }
}

fn build_claims(
    args: &MintArgs,
    app_id: Option<&str>,
    domain: Option<&str>,
    iat: i64,
) -> Result<Claims> {
    let iss = match (&args.iss, app_id) {
        (Some(iss), _) => iss.clone(),
        (None, Some(id)) => id.to_owned(),
        (None, None) => {
            bail!("no issuer: give --iss or --app-id (or --domain of a configured host)")
        }
    };
    let sub = args
        .sub
        .clone()
        .or_else(|| domain.map(str::to_owned))
        .unwrap_or_else(|| "*".into());
    let exp = (!args.no_exp).then(|| iat + args.ttl.as_secs() as i64);
    let mut claims = basic_claims(&iss, &args.aud, &sub, &args.room, iat, exp);
    if let Some(nbf) = &args.nbf {
        let nbf = parse_time(nbf, iat)
            .map_err(anyhow::Error::msg)
            .context("--nbf")?;
        claims.insert("nbf".into(), json!(nbf));
    }
    let mut user = Map::new();
    for (key, value) in [
        ("id", &args.user_id),
        ("name", &args.name),
        ("email", &args.email),
        ("avatar", &args.avatar),
    ] {
        if let Some(v) = value {
            user.insert(key.into(), json!(v));
        }
    }
    if args.moderator {
        user.insert("moderator".into(), json!(true));
    }
    let mut context = Map::new();
    if !user.is_empty() {
        context.insert("user".into(), Value::Object(user));
    }
    if let Some(t) = &args.tenant {
        context.insert("tenant".into(), json!(t));
    }
    if let Some(g) = &args.group {
        context.insert("group".into(), json!(g));
    }
    if !context.is_empty() {
        claims.insert("context".into(), Value::Object(context));
    }
    for kv in &args.claims {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--claim {kv:?}: expected KEY=JSON"))?;
        let v: Value =
            serde_json::from_str(v).with_context(|| format!("--claim {k}: value is not JSON"))?;
        claims.insert(k.to_owned(), v);
    }
    for k in &args.omit {
        claims.remove(k);
    }
    Ok(claims)
}

/// The claims every Jitsi token carries; `exp` is left out when `None`.
pub fn basic_claims(
    iss: &str,
    aud: &str,
    sub: &str,
    room: &str,
    iat: i64,
    exp: Option<i64>,
) -> Claims {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(iss));
    claims.insert("aud".into(), json!(aud));
    claims.insert("sub".into(), json!(sub));
    claims.insert("room".into(), json!(room));
    claims.insert("iat".into(), json!(iat));
    if let Some(exp) = exp {
        claims.insert("exp".into(), json!(exp));
    }
    claims
}
