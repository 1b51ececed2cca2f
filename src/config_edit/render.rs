//! Rendering a complete host config from `templates/host.cfg.lua.hbs`.
//!
//! Templates never quote by hand: every value goes through the `lua` helper, which
//! writes a Lua literal with [`lua_string`]. HTML escaping is off and strict mode on,
//! so a missing variable is an error rather than an empty string.

use super::{lua_string, AuthMode, DesiredHost, EditError};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde_json::{json, Value as Json};

/// The host template, compiled into the binary.
pub const HOST_TEMPLATE: &str = include_str!("../../templates/host.cfg.lua.hbs");

/// A JSON value as a Lua literal: strings, `{"bytes": [..]}` (raw bytes),
/// arrays of those (a table), booleans and numbers.
fn json_to_lua(v: &Json) -> Option<String> {
    Some(match v {
        Json::String(s) => lua_string(s),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Object(o) => {
            let bytes = o.get("bytes")?.as_array()?;
            let raw: Option<Vec<u8>> = bytes
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            lua_string(raw?)
        }
        Json::Array(items) if items.is_empty() => "{}".to_string(),
        Json::Array(items) => {
            let inner: Option<Vec<String>> = items.iter().map(json_to_lua).collect();
            format!("{{ {} }}", inner?.join(", "))
        }
        Json::Null => return None,
    })
}

fn lua_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let param = h
        .param(0)
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("lua", 0))?;
    let lit = json_to_lua(param.value()).ok_or_else(|| {
        RenderError::from(RenderErrorReason::Other(format!(
            "`lua` cannot write {} as a Lua literal",
            param.value()
        )))
    })?;
    out.write(&lit)?;
    Ok(())
}

/// Configure a registry the way our templates need it (no HTML escaping, strict
/// mode, the `lua` helper).
pub fn register_lua_helpers(hb: &mut Handlebars) {
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(true);
    hb.register_helper("lua", Box::new(lua_helper));
}

fn bytes_json(b: &[u8]) -> Json {
    match std::str::from_utf8(b) {
        Ok(s) => json!(s),
        Err(_) => json!({ "bytes": b }),
    }
}

/// A complete token-enabled host config for a Prosody without one.
pub fn render_host(d: &DesiredHost) -> Result<String, EditError> {
    let mut hb = Handlebars::new();
    register_lua_helpers(&mut hb);
    hb.register_template_string("host", HOST_TEMPLATE)
        .map_err(|e| EditError::Template(e.to_string()))?;
    let plugin_paths = d.new_plugin_paths();
    let (secret, key_server, keys_url, alg) = match &d.auth {
        AuthMode::Secret { app_secret, .. } => (
            bytes_json(app_secret),
            json!(false),
            json!(false),
            json!(false),
        ),
        AuthMode::KeyServer {
            asap_key_server,
            signature_algorithm,
            ..
        } => (
            json!(false),
            json!(asap_key_server),
            json!(false),
            json!(signature_algorithm),
        ),
        AuthMode::KeysUrl {
            cache_keys_url,
            signature_algorithm,
            ..
        } => (
            json!(false),
            json!(false),
            json!(cache_keys_url),
            json!(signature_algorithm),
        ),
    };
    let data = json!({
        "domain": d.domain,
        "muc_domain": d.muc(),
        "plugin_paths": plugin_paths,
        "app_id": d.auth.app_id(),
        "is_secret": matches!(d.auth, AuthMode::Secret { .. }),
        "is_key_server": matches!(d.auth, AuthMode::KeyServer { .. }),
        "is_keys_url": matches!(d.auth, AuthMode::KeysUrl { .. }),
        "app_secret": secret,
        "asap_key_server": key_server,
        "cache_keys_url": keys_url,
        "signature_algorithm": alg,
        "has_issuers": d.accepted_issuers.is_some(),
        "accepted_issuers": d.accepted_issuers.clone().unwrap_or_default(),
        "has_audiences": d.accepted_audiences.is_some(),
        "accepted_audiences": d.accepted_audiences.clone().unwrap_or_default(),
        "allow_empty_token": d.allow_empty_token,
        "has_domain_verification": d.enable_domain_verification.is_some(),
        "enable_domain_verification": d.enable_domain_verification.unwrap_or(true),
        "has_leeway": d.token_clock_leeway.is_some(),
        "token_clock_leeway": d.token_clock_leeway.unwrap_or(0),
        "presence_identity": d.presence_identity,
    });
    hb.render("host", &data)
        .map_err(|e| EditError::Template(e.to_string()))
}

/// The guest host template, compiled into the binary.
pub const GUEST_HOST_TEMPLATE: &str = include_str!("../../templates/guest-host.cfg.lua.hbs");

/// The guest VirtualHost's file: anonymous login (`authentication` is Jitsi's
/// `jitsi-anonymous` or Prosody's `anonymous`), BOSH and WebSocket.
pub fn render_guest_host(guest_domain: &str, authentication: &str) -> Result<String, EditError> {
    let mut hb = Handlebars::new();
    register_lua_helpers(&mut hb);
    hb.register_template_string("guest", GUEST_HOST_TEMPLATE)
        .map_err(|e| EditError::Template(e.to_string()))?;
    hb.render(
        "guest",
        &json!({ "guest_domain": guest_domain, "authentication": authentication }),
    )
    .map_err(|e| EditError::Template(e.to_string()))
}

/// The value writer's property (checked by the `host_values` fuzz target and a
/// proptest): a host rendered with these values, then edited to the second set,
/// loads through Prosody's loader with exactly those values and nothing else (no
/// other host or option appeared, so no value escaped its literal). `Ok(false)`:
/// the domain is refused, as `configure` refuses it, before anything is written.
#[doc(hidden)]
pub fn check_written_values(
    loader: &super::Loader,
    domain: &str,
    first: (&str, &[u8], &[String]),
    second: (&str, &[u8], &[String]),
) -> Result<bool, String> {
    if crate::settings::check_domain(domain).is_err() {
        return Ok(false);
    }
    let desired = |(app_id, secret, issuers): (&str, &[u8], &[String])| {
        let mut d = DesiredHost::new(
            domain,
            AuthMode::Secret {
                app_id: app_id.to_string(),
                app_secret: secret.to_vec(),
            },
        );
        d.accepted_issuers = Some(issuers.to_vec());
        d
    };
    // Which options each host has: a value that escaped its literal would add one.
    let shape = |cfg: &super::LoadedConfig| -> Vec<(bool, Vec<String>)> {
        let mut v: Vec<_> = cfg
            .hosts
            .iter()
            .map(|(h, o)| (h == "*", o.keys().cloned().collect::<Vec<_>>()))
            .collect();
        v.sort();
        v
    };
    let skeleton = render_host(&desired(("a", b"s", &["i".to_string()])))
        .map_err(|e| format!("render: {e}"))?;
    let want_shape = shape(&loader.load_text(&skeleton).map_err(|e| e.to_string())?);
    let text = render_host(&desired(first)).map_err(|e| format!("render: {e}"))?;
    let edited = super::apply_desired(&text, &desired(second))
        .map_err(|e| format!("edit: {e}"))?
        .text;
    for (t, (app_id, secret, issuers)) in [(&text, first), (&edited, second)] {
        let cfg = loader.load_text(t).map_err(|e| format!("load: {e}\n{t}"))?;
        let names: Vec<&String> = cfg.hosts.keys().collect();
        if cfg.hosts.len() != 3 || shape(&cfg) != want_shape {
            return Err(format!(
                "hosts {names:?} or their options are not the template's:\n{t}"
            ));
        }
        let (_, host) = cfg
            .hosts
            .iter()
            .find(|(_, o)| o.contains_key("app_id"))
            .ok_or_else(|| format!("no host with app_id among {names:?}:\n{t}"))?;
        let want: Vec<Vec<u8>> = issuers.iter().map(|i| i.as_bytes().to_vec()).collect();
        let got_iss = host.get("asap_accepted_issuers").and_then(|v| v.as_list());
        let ok = host.get("app_id").and_then(|v| v.as_bytes()) == Some(app_id.as_bytes())
            && host.get("app_secret").and_then(|v| v.as_bytes()) == Some(secret)
            && (got_iss == Some(want) || (issuers.is_empty() && got_iss.is_none()));
        if !ok {
            return Err(format!("values differ after loading:\n{t}\n{host:?}"));
        }
    }
    Ok(true)
}
