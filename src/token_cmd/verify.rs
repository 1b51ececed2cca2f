//! `token verify`: run a token through the same verifier Prosody loads, then walk the
//! spec's check order to say which checks passed, which one failed and why.
//!
//! The verifier's answer decides the outcome. The walk only attributes that answer to
//! a check (by its reason text) and describes the decoded header and claims; it never
//! judges a token differently. Room joins are previewed with the verifier's room rule,
//! the one `mod_token_verification` runs, on the host's room options.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use jitsi_tokens_verifier::room::{Joiner, RoomRule};
use jitsi_tokens_verifier::{header, key_file, Claims, Failure, Options, Reason, Verifier};
use serde::Serialize;
use serde_json::{Map, Value};

use super::host::HostArgs;
use super::http;
use super::time::{format_time, now, parse_duration, parse_time};
use crate::cli::{AcceptedArgs, KeyServerArgs, Output};

/// Verify a token exactly as Prosody will and explain every check.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token; `-` or nothing reads it from stdin.
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    #[command(flatten)]
    pub host: HostArgs,

    /// Public key PEM to verify RS/PS/ES/EdDSA tokens with (instead of fetching it).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    #[command(flatten)]
    pub key_server: KeyServerArgs,

    #[command(flatten)]
    pub accepted: AcceptedArgs,

    /// Accept a token without `room` (`asap_require_room_claim = false`).
    #[arg(long)]
    pub no_require_room: bool,

    /// Accept a header without `typ` (`token_require_typ = false`).
    #[arg(long)]
    pub no_require_typ: bool,

    /// Preview the MUC join of this room (`room`, `[tenant]room` or a room JID)
    /// instead of the rooms the token's claims name on the host's MUC.
    #[arg(long = "join", value_name = "ROOM")]
    pub join: Option<String>,

    /// Check as if the clock showed TIME: Unix seconds, RFC 3339, `now+1h`, ...
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// Timeout for fetching a key over HTTP.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Output::Human)]
    pub output: Output,
}

/// The checks in the order Prosody runs them (tokens.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Step {
    Decode,
    Typ,
    Alg,
    Key,
    Signature,
    Time,
    Iss,
    Aud,
    Room,
    Sub,
    Join,
}

const STEPS: [Step; 11] = [
    Step::Decode,
    Step::Typ,
    Step::Alg,
    Step::Key,
    Step::Signature,
    Step::Time,
    Step::Iss,
    Step::Aud,
    Step::Room,
    Step::Sub,
    Step::Join,
];

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Decode => "header decoded",
            Step::Typ => "typ",
            Step::Alg => "alg",
            Step::Key => "kid / key",
            Step::Signature => "signature",
            Step::Time => "exp / nbf",
            Step::Iss => "iss",
            Step::Aud => "aud",
            Step::Room => "room",
            Step::Sub => "sub",
            Step::Join => "room join",
        }
    }
}

/// Named as `status` names its results (`not-reached` is this command's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Outcome {
    #[serde(rename = "ok")]
    Passed,
    #[serde(rename = "fail")]
    Failed,
    Skipped,
    NotReached,
}

#[derive(Debug)]
struct Check {
    check: Step,
    result: Outcome,
    detail: String,
    hint: Option<String>,
}

/// Written as `status` writes its check records: every field present, null when it
/// does not apply (a token's checks concern no host, file or line).
impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Record<'a> {
            check: Step,
            host: Option<&'a str>,
            result: Outcome,
            value: Option<&'a str>,
            file: Option<&'a str>,
            line: Option<u32>,
            detail: &'a str,
            hint: &'a Option<String>,
        }
        Record {
            check: self.check,
            host: None,
            result: self.result,
            value: None,
            file: None,
            line: None,
            detail: &self.detail,
            hint: &self.hint,
        }
        .serialize(s)
    }
}

/// One previewed room join: the verifier's room rule, as Prosody runs it.
#[derive(Debug, Serialize)]
struct JoinPreview {
    room: String,
    allowed: bool,
    /// The jitmeet condition Prosody answers with.
    condition: Option<&'static str>,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Report {
    /// Prosody accepts the login and lets the token join at least one previewed room.
    valid: bool,
    joins: Vec<JoinPreview>,
    /// Why no join was previewed, when none was.
    joins_not_previewed: Option<String>,
    reason: Option<String>,
    condition: Option<&'static str>,
    at: i64,
    checks: Vec<Check>,
    header: Option<Map<String, Value>>,
    claims: Option<Map<String, Value>>,
}

/// Which check a refusal belongs to.
fn step_of(code: Reason) -> Step {
    use Reason as R;
    match code {
        R::TokenRequired | R::InvalidToken | R::InvalidHeader | R::InvalidBody => Step::Decode,
        R::InvalidTyp => Step::Typ,
        R::InvalidAlg => Step::Alg,
        R::KidMissing | R::KidOnlyAsymmetric | R::KeyMissing | R::NoPublicKey => Step::Key,
        R::InvalidSignature => Step::Signature,
        R::ExpNotNumber | R::NbfNotNumber | R::Expired | R::NotYetValid => Step::Time,
        R::IssMissing | R::IssInvalid => Step::Iss,
        R::AudMissing | R::AudInvalid => Step::Aud,
        R::RoomMissing => Step::Room,
        R::SubMissing => Step::Sub,
    }
}

pub fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let token = read_token(args.token.as_deref())?;
    let mut settings = args.host.resolve()?;
    let o = &mut settings.options;
    if let Some(url) = &args.key_server.asap_key_server {
        o.asap_key_server = Some(url.clone());
    }
    if let Some(url) = &args.key_server.cache_keys_url {
        o.cache_keys_url = Some(url.clone());
    }
    if let Some(issuers) = &args.accepted.issuers {
        o.asap_accepted_issuers = Some(issuers.clone());
    }
    if let Some(audiences) = &args.accepted.audiences {
        o.asap_accepted_audiences = Some(audiences.clone());
    }
    if args.no_require_room {
        o.asap_require_room_claim = Some(false);
    }
    if args.no_require_typ {
        o.token_require_typ = Some(false);
    }
    if let Some(l) = args.accepted.token_clock_leeway {
        o.token_clock_leeway = Some(l);
    }
    let at = match &args.at {
        Some(t) => parse_time(t, now())
            .map_err(anyhow::Error::msg)
            .context("--at")?,
        None => now(),
    };
    let options = settings.options.clone();
    let local_key = match &args.public_key {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading public key {}", path.display()))?,
        ),
        None => None,
    };
    let verifier = match &local_key {
        // The PEM is the key source: no key server is asked.
        Some(pem) => Verifier::with_public_key(options.clone(), pem),
        None => Verifier::new(options.clone()),
    }
    .map_err(|e| anyhow::anyhow!("the host's token options cannot work: {e}"))?;
    let hdr = header(&token).ok();
    let key = obtain_key(args, &verifier, &options, hdr.as_ref())?;
    let result = match &key {
        KeyOutcome::Pem(pem, _) => verifier.verify(&token, Some(pem), at),
        KeyOutcome::None | KeyOutcome::Local(_) | KeyOutcome::Loaded(_) => {
            verifier.verify(&token, None, at)
        }
        KeyOutcome::FetchFailed(_) => match verifier.verify(&token, None, at) {
            // Prosody refuses with this text when its key fetch fails.
            Err(f) if f.code == Reason::KeyMissing => Err(Failure {
                read: f.read,
                ..Failure::new(Reason::NoPublicKey)
            }),
            other => other,
        },
    };
    let ctx = Ctx {
        options: &options,
        verifier: &verifier,
        key: &key,
        header: hdr.as_ref(),
        claims: decode_claims(&token),
        at,
    };
    let joins = match &result {
        Ok(claims) => preview_joins(&settings, claims, args.join.as_deref())?,
        Err(_) => Err("the login is refused".into()),
    };
    let report = explain(&ctx, &result, joins);
    match args.output {
        Output::Json => {
            crate::token_cmd::output(writeln!(out, "{}", serde_json::to_string_pretty(&report)?))?
        }
        Output::Human | Output::Plain => crate::token_cmd::output(write_text(out, &report))?,
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_token(arg: Option<&str>) -> Result<String> {
    let raw = match arg {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the token from stdin")?;
            s
        }
    };
    // People paste tokens with a newline or a `Bearer ` prefix; Prosody gets neither.
    let t = raw.trim();
    Ok(t.strip_prefix("Bearer ").unwrap_or(t).trim().to_owned())
}

enum KeyOutcome {
    /// Shared secret: no key needed.
    None,
    /// A PEM and where it came from.
    Pem(String, String),
    /// The verifier's own key ([`Verifier::with_public_key`]): where it came from.
    Local(String),
    /// A keys document was loaded: how many keys, from where.
    Loaded(String),
    FetchFailed(String),
}

fn obtain_key(
    args: &VerifyArgs,
    v: &Verifier,
    o: &Options,
    hdr: Option<&Map<String, Value>>,
) -> Result<KeyOutcome> {
    if !v.uses_public_keys() {
        return Ok(KeyOutcome::None);
    }
    if let Some(path) = &args.public_key {
        return Ok(KeyOutcome::Local(format!(
            "public key file {}",
            path.display()
        )));
    }
    if let Some(url) = &o.cache_keys_url {
        // Shown as Prosody logs it: no userinfo, query values masked.
        let shown = jitsi_tokens_verifier::loggable_url(url);
        return Ok(match http::get(url, args.timeout) {
            Ok(body) => match v.set_keys(&body) {
                Ok(n) => KeyOutcome::Loaded(format!("{n} key(s) from cache_keys_url {shown}")),
                Err(e) => KeyOutcome::FetchFailed(format!("{shown}: {e}")),
            },
            Err(e) => KeyOutcome::FetchFailed(e.to_string()),
        });
    }
    let (Some(base), Some(kid)) = (
        &o.asap_key_server,
        hdr.and_then(|h| h.get("kid")).and_then(Value::as_str),
    ) else {
        // No kid: the verifier reports it in its own words.
        return Ok(KeyOutcome::None);
    };
    let url = format!("{}/{}", base.trim_end_matches('/'), key_file(kid));
    Ok(match http::get_public_key(v, &url, args.timeout) {
        Ok(pem) => KeyOutcome::Pem(pem, jitsi_tokens_verifier::loggable_url(&url)),
        Err(e) => KeyOutcome::FetchFailed(e.to_string()),
    })
}

/// The payload decoded for display only (the verifier decides validity).
fn decode_claims(token: &str) -> Option<Map<String, Value>> {
    jitsi_tokens_verifier::claims_unverified_with(token.as_bytes(), |c| c.to_map()).ok()
}

struct Ctx<'a> {
    options: &'a Options,
    verifier: &'a Verifier,
    key: &'a KeyOutcome,
    header: Option<&'a Map<String, Value>>,
    claims: Option<Claims>,
    at: i64,
}

/// The rooms whose join is previewed: `--join ROOM`, else on the host's MUC the
/// room the claim names (`anyroom` for `*`) and, for a `sub` that looks like a tenant
/// (no dot, not the host), that tenant's room. Err: why none is previewed.
fn preview_joins(
    settings: &super::host::Settings,
    claims: &Claims,
    join: Option<&str>,
) -> Result<Result<Vec<JoinPreview>, String>> {
    let rule = match (&settings.room_rule, join) {
        (Some(rule), _) => rule.clone(),
        (None, Some(room)) if room.contains('@') => {
            // No host config: Prosody's defaults on the room's own MUC.
            let component = room.split_once('@').map(|(_, c)| c).unwrap_or_default();
            RoomRule::from_options(component, |_| None).map_err(anyhow::Error::msg)?
        }
        (None, Some(_)) => anyhow::bail!(
            "--join ROOM needs --domain (the host whose MUC the room is on) or a room JID \
             such as room@conference.example.com"
        ),
        (None, None) => {
            return Ok(Err(
                "no --domain: give --domain (or --join ROOM@MUC) to check room joins".into(),
            ))
        }
    };
    let muc = rule.muc_domain();
    let jid = |node: &str| {
        if node.contains('@') {
            node.to_owned()
        } else {
            // Prosody's nodeprep lowercases the room name.
            format!("{}@{muc}", node.to_ascii_lowercase())
        }
    };
    let joiner = Joiner::from_claims(claims);
    let rooms = match join {
        Some(room) => vec![jid(room)],
        None => {
            let room = claims.get("room").and_then(Value::as_str);
            let name = match room {
                _ if joiner.regex => {
                    return Ok(Err(format!(
                        "the room claim {} is a pattern (context.room.regex): give --join ROOM",
                        show(claims.get("room"))
                    )))
                }
                Some("*") | None => "anyroom".to_owned(),
                Some(r) => r.to_ascii_lowercase(),
            };
            let mut rooms = vec![jid(&name)];
            if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
                let host = settings.domain.as_deref().unwrap_or_default();
                if sub != "*" && !sub.contains('.') && !sub.eq_ignore_ascii_case(host) {
                    rooms.push(jid(&format!("[{}]{name}", sub.to_ascii_lowercase())));
                }
            }
            rooms
        }
    };
    Ok(Ok(rooms
        .into_iter()
        .map(|room| match rule.check(&room, &joiner) {
            Ok(allowed) => JoinPreview {
                room,
                allowed: true,
                condition: None,
                detail: allowed.0,
            },
            Err(d) => JoinPreview {
                room,
                allowed: false,
                condition: Some(d.condition.as_str()),
                detail: d.detail,
            },
        })
        .collect()))
}

fn explain(
    ctx: &Ctx,
    result: &Result<Claims, Failure>,
    joins: Result<Vec<JoinPreview>, String>,
) -> Report {
    let failed = result.as_ref().err();
    let failed_step = failed.map(|f| step_of(f.code));
    let mut checks = Vec::new();
    for step in STEPS {
        let check = match failed_step {
            Some(s) if step > s => Check {
                check: step,
                result: Outcome::NotReached,
                detail: "not checked (an earlier check failed)".into(),
                hint: None,
            },
            Some(s) if step == s => {
                let f = failed.unwrap();
                let (detail, hint) = failure_detail(ctx, step, f);
                Check {
                    check: step,
                    result: Outcome::Failed,
                    detail,
                    hint: Some(hint),
                }
            }
            _ if step == Step::Join => join_check(&joins),
            _ => pass_detail(ctx, step),
        };
        checks.push(check);
    }
    let join_failed = checks
        .iter()
        .any(|c| c.check == Step::Join && c.result == Outcome::Failed);
    let (joins, joins_not_previewed) = match joins {
        Ok(j) => (j, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    Report {
        valid: failed.is_none() && !join_failed,
        joins,
        joins_not_previewed: joins_not_previewed.filter(|_| failed.is_none()),
        reason: failed.map(|f| f.reason.clone()),
        condition: failed.map(|f| f.condition.as_str()),
        at: ctx.at,
        checks,
        header: ctx.header.cloned(),
        claims: ctx.claims.clone(),
    }
}

fn claim<'a>(ctx: &'a Ctx, name: &str) -> Option<&'a Value> {
    ctx.claims.as_ref().and_then(|c| c.get(name))
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "(missing)".into(),
    }
}

fn list(v: &Option<Vec<String>>, default: &str) -> String {
    match v {
        Some(items) => items.join(", "),
        None => default.to_owned(),
    }
}

fn issuers(ctx: &Ctx) -> String {
    list(
        &ctx.options.asap_accepted_issuers,
        ctx.options.app_id.as_deref().unwrap_or("app_id"),
    )
}

fn audiences(ctx: &Ctx) -> String {
    list(&ctx.options.asap_accepted_audiences, "*")
}

fn passed(check: Step, detail: String) -> Check {
    Check {
        check,
        result: Outcome::Passed,
        detail,
        hint: None,
    }
}

fn skipped(check: Step, detail: &str) -> Check {
    Check {
        check,
        result: Outcome::Skipped,
        detail: detail.into(),
        hint: None,
    }
}

fn hdr(ctx: &Ctx, name: &str) -> Option<Value> {
    ctx.header.and_then(|h| h.get(name)).cloned()
}

fn pass_detail(ctx: &Ctx, step: Step) -> Check {
    let alg = ctx.verifier.algorithm();
    match step {
        Step::Decode => passed(
            step,
            format!("three base64url segments; header {}", show_map(ctx.header)),
        ),
        Step::Typ if ctx.options.token_require_typ == Some(false) => passed(
            step,
            format!(
                "{} (not required: token_require_typ = false)",
                show(hdr(ctx, "typ").as_ref())
            ),
        ),
        Step::Typ => passed(step, "\"JWT\"".into()),
        Step::Alg => passed(step, format!("\"{alg}\" = signature_algorithm")),
        Step::Key => match ctx.key {
            KeyOutcome::None => skipped(step, "not used: shared secret (app_secret)"),
            KeyOutcome::Pem(_, from) | KeyOutcome::Local(from) => passed(
                step,
                format!("kid {} → {from}", show(hdr(ctx, "kid").as_ref())),
            ),
            KeyOutcome::Loaded(from) => passed(
                step,
                format!("kid {} found in {from}", show(hdr(ctx, "kid").as_ref())),
            ),
            KeyOutcome::FetchFailed(e) => passed(step, e.clone()),
        },
        Step::Signature if alg.is_symmetric() => {
            passed(step, format!("valid {alg} HMAC with app_secret"))
        }
        Step::Signature => passed(step, format!("valid {alg} signature with the public key")),
        Step::Time => passed(step, time_detail(ctx)),
        Step::Iss => passed(
            step,
            format!(
                "{} accepted (asap_accepted_issuers: {})",
                show(claim(ctx, "iss")),
                issuers(ctx)
            ),
        ),
        Step::Aud => passed(
            step,
            format!(
                "{} accepted (asap_accepted_audiences: {})",
                show(claim(ctx, "aud")),
                audiences(ctx)
            ),
        ),
        Step::Room => match claim(ctx, "room") {
            Some(v) => passed(step, v.to_string()),
            None => skipped(
                step,
                "no room claim (allowed: asap_require_room_claim = false)",
            ),
        },
        Step::Sub => passed(step, show(claim(ctx, "sub"))),
        Step::Join => unreachable!("handled by join_check"),
    }
}

fn show_map(m: Option<&Map<String, Value>>) -> String {
    m.map(|m| Value::Object(m.clone()).to_string())
        .unwrap_or_else(|| "(undecodable)".into())
}

fn num(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_f64).map(|f| f as i64)
}

fn time_detail(ctx: &Ctx) -> String {
    let leeway = ctx.options.token_clock_leeway.unwrap_or(0);
    let mut parts = Vec::new();
    match (claim(ctx, "exp"), num(claim(ctx, "exp"))) {
        (_, Some(exp)) => parts.push(format!(
            "exp {} ({} s left)",
            format_time(exp),
            exp - ctx.at
        )),
        (Some(v), None) => parts.push(format!("exp {v} is not a number")),
        (None, None) => parts.push("no exp (never expires)".into()),
    }
    match (claim(ctx, "nbf"), num(claim(ctx, "nbf"))) {
        (_, Some(nbf)) => parts.push(format!("nbf {} ({} s ago)", format_time(nbf), ctx.at - nbf)),
        (Some(v), None) => parts.push(format!("nbf {v} is not a number")),
        (None, None) => parts.push("no nbf".into()),
    }
    if leeway > 0 {
        parts.push(format!("leeway {leeway} s"));
    }
    format!("{}; checked at {}", parts.join(", "), format_time(ctx.at))
}

fn failure_detail(ctx: &Ctx, step: Step, failure: &Failure) -> (String, String) {
    let alg = ctx.verifier.algorithm();
    let hint = match step {
        Step::Decode => "the token must be three base64url parts (header.payload.signature) of JSON objects; \
                         check it was copied whole"
            .to_owned(),
        Step::Typ => format!(
            "header typ is {}; the issuer must set typ \"JWT\", or set token_require_typ = false",
            show(hdr(ctx, "typ").as_ref())
        ),
        Step::Alg => format!(
            "header alg is {}, the host expects \"{alg}\" (signature_algorithm); mint with that algorithm \
             or change signature_algorithm",
            show(hdr(ctx, "alg").as_ref())
        ),
        Step::Key => match ctx.key {
            KeyOutcome::FetchFailed(e) => format!("fetching the key failed: {e}"),
            _ if failure.code == Reason::KidMissing => {
                "a key-server host needs the header kid naming the key".into()
            }
            _ if failure.code == Reason::KidOnlyAsymmetric => {
                "key-server hosts take only asymmetric tokens (RS/PS/ES/EdDSA), never HS".into()
            }
            _ => "give --public-key FILE, or check the key server / keys URL serves this kid".into(),
        },
        Step::Signature if alg.is_symmetric() => {
            "the token was signed with another secret than this host's app_secret, or altered after signing".into()
        }
        Step::Signature => "the token was signed with another private key than the public key for its kid, \
                            or altered after signing"
            .into(),
        Step::Time => format!(
            "{}; mint a fresh token, and if the issuer's clock differs from this server's, fix it (NTP) \
             or set token_clock_leeway",
            time_detail(ctx)
        ),
        Step::Iss => format!(
            "iss is {}; accepted: {} (asap_accepted_issuers); mint with one of those or add it there",
            show(claim(ctx, "iss")),
            issuers(ctx)
        ),
        Step::Aud => format!(
            "aud is {}; accepted: {} (asap_accepted_audiences); mint with one of those or add it there",
            show(claim(ctx, "aud")),
            audiences(ctx)
        ),
        Step::Room => "add a room claim (\"*\" for any room) or set asap_require_room_claim = false".into(),
        Step::Sub => "add a sub claim: the domain (or the tenant), or \"*\"".into(),
        Step::Join => String::new(),
    };
    (failure.reason.clone(), hint)
}

/// The join step: passed when Prosody lets the token into at least one previewed room.
fn join_check(joins: &Result<Vec<JoinPreview>, String>) -> Check {
    let joins = match joins {
        Ok(j) => j,
        Err(why) => return skipped(Step::Join, why),
    };
    let shown: Vec<String> = joins
        .iter()
        .map(|j| match j.condition {
            None => format!("{} allowed ({})", j.room, j.detail),
            Some(c) => format!("{} refused with {c} ({})", j.room, j.detail),
        })
        .collect();
    let detail = shown.join("; ");
    if joins.iter().any(|j| j.allowed) {
        passed(Step::Join, detail)
    } else {
        Check {
            check: Step::Join,
            result: Outcome::Failed,
            detail,
            hint: Some(
                "mint the token for this room (or room \"*\") with sub the host's domain, \
                 the tenant, or \"*\""
                    .into(),
            ),
        }
    }
}

fn write_text(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "Checks in Prosody's order, at {}:",
        format_time(report.at)
    )?;
    for c in &report.checks {
        let mark = match c.result {
            Outcome::Passed => "ok",
            Outcome::Failed => "FAIL",
            Outcome::Skipped => "skip",
            Outcome::NotReached => "-",
        };
        writeln!(out, "  {mark:<5} {:<15} {}", c.check.label(), c.detail)?;
        if let Some(h) = &c.hint {
            writeln!(out, "  {:<5} {:<15} hint: {h}", "", "")?;
        }
    }
    match (&report.reason, report.valid) {
        (Some(reason), _) => writeln!(
            out,
            "REFUSED: Prosody answers SASL <{}/> with text \"{reason}\"",
            report.condition.unwrap_or("not-allowed")
        ),
        (None, false) => writeln!(out, "REFUSED at room join (the login itself would succeed)"),
        (None, true) => match &report.joins_not_previewed {
            Some(why) => writeln!(
                out,
                "LOGIN ACCEPTED: Prosody accepts this token at login; room joins not checked ({why})"
            ),
            None => writeln!(
                out,
                "VALID: Prosody accepts this token and lets it join {}",
                report
                    .joins
                    .iter()
                    .filter(|j| j.allowed)
                    .map(|j| j.room.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}
