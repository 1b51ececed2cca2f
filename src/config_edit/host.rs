//! The desired token-auth state of one host, applied to a host file.
//!
//! What [`apply_desired`] does, exactly:
//!
//! * Global part of the host file: `plugin_paths` holds [`DesiredHost::plugin_dir`]
//!   ahead of Jitsi's directory (an existing entry is matched with or without a
//!   trailing `/`; if ours sits behind Jitsi's it is moved; if `plugin_paths` is
//!   absent it is created as [`DesiredHost::new_plugin_paths`]: ours, the inherited
//!   paths, then Jitsi's when `jitsi_plugin_dir` is set).
//! * `VirtualHost "<domain>"` (an error if absent; every other host is left alone):
//!   `authentication = "token"` (only the value is replaced, so Jitsi's
//!   `-- do not delete me` comment stays); `app_id` and, in secret mode, `app_secret`:
//!   when the option is not assigned and Jitsi's commented marker line
//!   (`--app_id="example_app_id"`, `--app_secret="example_app_secret"`, spaces
//!   ignored) sits on its own line in the section, the marker is replaced in place by
//!   `app_id="<value>"` / `app_secret="<value>"`, as the old jitsi-meet-tokens package
//!   left it (and [`super::revert`] puts the marker back); otherwise the option is set
//!   or appended. Key-server / keys-URL mode sets `asap_key_server` or
//!   `cache_keys_url` and `signature_algorithm` and removes `app_secret`; secret mode
//!   removes `asap_key_server`, `cache_keys_url` and a non-HS `signature_algorithm`.
//!   Then `asap_accepted_issuers`, `asap_accepted_audiences`,
//!   `enable_domain_verification`, `token_clock_leeway` (each only when given),
//!   `allow_empty_token`, `c2s_require_encryption = false`, and `"presence_identity"`
//!   added to (or, when off, removed from) `modules_enabled`.
//! * `Component "<muc domain>"`: `"token_verification"` in `modules_enabled` (Jitsi's
//!   `--"token_verification";` line inside the table becomes the active entry). A
//!   missing component is a warning, not an error. Each of
//!   [`DesiredHost::allowlist`] in `token_verification_allowlist` (created when
//!   absent); `token_verification_moderators_from_token = true` when asked, removed
//!   when turned off.

use super::{Change, Document, EditError, ListPos, SectionId, Value};

/// Where this package installs its Prosody plugins.
pub const DEFAULT_PLUGIN_DIR: &str = "/usr/share/jitsi-meet-tokens/prosody-plugins/";
/// Where Jitsi Meet installs its Prosody plugins.
pub const DEFAULT_JITSI_PLUGIN_DIR: &str = "/usr/share/jitsi-meet/prosody-plugins/";

/// How tokens are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// HS256 with a shared secret (raw bytes).
    Secret { app_id: String, app_secret: Vec<u8> },
    /// Public keys fetched per `kid` from `asap_key_server`.
    KeyServer {
        app_id: String,
        asap_key_server: String,
        signature_algorithm: String,
    },
    /// Public keys from a JWKS / certificate map URL.
    KeysUrl {
        app_id: String,
        cache_keys_url: String,
        signature_algorithm: String,
    },
}

impl AuthMode {
    pub fn app_id(&self) -> &str {
        match self {
            AuthMode::Secret { app_id, .. }
            | AuthMode::KeyServer { app_id, .. }
            | AuthMode::KeysUrl { app_id, .. } => app_id,
        }
    }
}

/// The token-auth settings for one host. `None` fields are left as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredHost {
    pub domain: String,
    /// Default `conference.<domain>`.
    pub muc_domain: Option<String>,
    pub auth: AuthMode,
    pub accepted_issuers: Option<Vec<String>>,
    pub accepted_audiences: Option<Vec<String>>,
    pub allow_empty_token: bool,
    pub enable_domain_verification: Option<bool>,
    pub presence_identity: bool,
    pub token_clock_leeway: Option<jitsi_tokens_verifier::option_table::Whole>,
    pub plugin_dir: String,
    /// Jitsi's plugin directory, kept behind ours; `None` on a plain Prosody.
    pub jitsi_plugin_dir: Option<String>,
    /// `plugin_paths` the host file would otherwise inherit (from prosody.cfg.lua):
    /// kept when `plugin_paths` has to be created in the host file, since that
    /// assignment replaces the inherited one.
    pub inherited_plugin_paths: Vec<String>,
    /// Bare JIDs or domains the conference component lets in without a token
    /// (guest domain, recorders, gateways); added, never removed from, the list.
    pub allowlist: Vec<String>,
    /// Entries to take out of `token_verification_allowlist` (a guest domain
    /// turned off).
    pub allowlist_removed: Vec<String>,
    /// `token_verification_moderators_from_token`: `None` leaves it as it is.
    pub moderators_from_token: Option<bool>,
}

impl DesiredHost {
    /// Defaults: MUC `conference.<domain>`, no guests, presence_identity on, our
    /// plugin dir ahead of Jitsi's, other options untouched.
    pub fn new(domain: &str, auth: AuthMode) -> Self {
        DesiredHost {
            domain: domain.to_string(),
            muc_domain: None,
            auth,
            accepted_issuers: None,
            accepted_audiences: None,
            allow_empty_token: false,
            enable_domain_verification: None,
            presence_identity: true,
            token_clock_leeway: None,
            plugin_dir: DEFAULT_PLUGIN_DIR.to_string(),
            jitsi_plugin_dir: Some(DEFAULT_JITSI_PLUGIN_DIR.to_string()),
            inherited_plugin_paths: Vec::new(),
            allowlist: Vec::new(),
            allowlist_removed: Vec::new(),
            moderators_from_token: None,
        }
    }

    /// `plugin_paths` for a file that has none: ours, the inherited ones, Jitsi's.
    pub fn new_plugin_paths(&self) -> Vec<String> {
        let mut dirs = vec![self.plugin_dir.clone()];
        for d in self
            .inherited_plugin_paths
            .iter()
            .chain(&self.jitsi_plugin_dir)
        {
            if !dirs.iter().any(|x| same_dir(x.as_bytes(), d)) {
                dirs.push(d.clone());
            }
        }
        dirs
    }

    pub fn muc(&self) -> String {
        self.muc_domain
            .clone()
            .unwrap_or_else(|| format!("conference.{}", self.domain))
    }
}

/// The result of [`apply_desired`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    /// Empty when the text is unchanged.
    pub changes: Vec<Change>,
    /// Things the caller should tell the administrator (e.g. no MUC component).
    pub warnings: Vec<String>,
}

impl Edited {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// The conference component's options of mod_token_verification that configure sets.
pub const ALLOWLIST: &str = "token_verification_allowlist";
pub const MODERATORS_FROM_TOKEN: &str = "token_verification_moderators_from_token";

const APP_ID_MARKER: &str = r#"app_id="example_app_id""#;
const APP_SECRET_MARKER: &str = r#"app_secret="example_app_secret""#;

fn same_dir(a: &[u8], b: &str) -> bool {
    fn trim(x: &[u8]) -> &[u8] {
        let mut x = x;
        while x.len() > 1 && x.ends_with(b"/") {
            x = &x[..x.len() - 1];
        }
        x
    }
    trim(a) == trim(b.as_bytes())
}

/// Bring the host file `text` to the desired state (see the module doc).
pub fn apply_desired(text: &str, desired: &DesiredHost) -> Result<Edited, EditError> {
    let mut doc = Document::parse(text)?;
    let vh = SectionId::virtual_host(&desired.domain);
    if !doc.has_section(&vh) {
        return Err(EditError::NoSection(vh));
    }
    let muc = SectionId::component(&desired.muc());
    // Refuse before changing anything, so error lines refer to the original text.
    check_editable(&doc, &vh, &muc)?;
    doc.set(&vh, "authentication", &Value::str("token"))?;
    plugin_paths(&mut doc, desired)?;
    set_key_source(&mut doc, &vh, desired)?;
    set_token_options(&mut doc, desired)?;
    let warnings = set_conference(&mut doc, &muc, desired)?;
    let changes = doc.take_changes();
    Ok(Edited {
        text: doc.text().to_string(),
        changes,
        warnings,
    })
}

/// Every key the edit may change holds a value it can rewrite ([`Document::check_editable`]).
fn check_editable(doc: &Document, vh: &SectionId, muc: &SectionId) -> Result<(), EditError> {
    for key in [
        "authentication",
        "app_id",
        "app_secret",
        "asap_key_server",
        "cache_keys_url",
        "signature_algorithm",
        "asap_accepted_issuers",
        "asap_accepted_audiences",
        "allow_empty_token",
        "enable_domain_verification",
        "token_clock_leeway",
        "c2s_require_encryption",
    ] {
        doc.check_editable(vh, key, false)?;
    }
    doc.check_editable(vh, "modules_enabled", true)?;
    doc.check_editable(&SectionId::Global, "plugin_paths", true)?;
    if doc.has_section(muc) {
        doc.check_editable(muc, "modules_enabled", true)?;
        doc.check_editable(muc, ALLOWLIST, true)?;
        doc.check_editable(muc, MODERATORS_FROM_TOKEN, false)?;
    }
    Ok(())
}

/// The app id, and the secret or key server, the other sources removed.
fn set_key_source(
    doc: &mut Document,
    vh: &SectionId,
    desired: &DesiredHost,
) -> Result<(), EditError> {
    let set_marked = |doc: &mut Document, key: &str, marker: &str, v: &Value| {
        if !doc.activate_marker(vh, key, marker, v)? {
            doc.set(vh, key, v)?;
        }
        Ok::<(), EditError>(())
    };
    set_marked(
        doc,
        "app_id",
        APP_ID_MARKER,
        &Value::str(desired.auth.app_id()),
    )?;
    match &desired.auth {
        AuthMode::Secret { app_secret, .. } => {
            set_marked(
                doc,
                "app_secret",
                APP_SECRET_MARKER,
                &Value::str(app_secret),
            )?;
            doc.remove(vh, "asap_key_server")?;
            doc.remove(vh, "cache_keys_url")?;
            if let Some(Value::Str(alg)) = doc.get(vh, "signature_algorithm") {
                if !alg.starts_with(b"HS") {
                    doc.remove(vh, "signature_algorithm")?;
                }
            }
        }
        AuthMode::KeyServer {
            asap_key_server,
            signature_algorithm,
            ..
        } => {
            doc.set(vh, "asap_key_server", &Value::str(asap_key_server))?;
            doc.set(vh, "signature_algorithm", &Value::str(signature_algorithm))?;
            doc.remove(vh, "app_secret")?;
            doc.remove(vh, "cache_keys_url")?;
        }
        AuthMode::KeysUrl {
            cache_keys_url,
            signature_algorithm,
            ..
        } => {
            doc.set(vh, "cache_keys_url", &Value::str(cache_keys_url))?;
            doc.set(vh, "signature_algorithm", &Value::str(signature_algorithm))?;
            doc.remove(vh, "app_secret")?;
            doc.remove(vh, "asap_key_server")?;
        }
    }
    Ok(())
}

/// The token options and the modules every token host has.
fn set_token_options(doc: &mut Document, desired: &DesiredHost) -> Result<(), EditError> {
    let vh = SectionId::virtual_host(&desired.domain);
    if let Some(iss) = &desired.accepted_issuers {
        doc.set(&vh, "asap_accepted_issuers", &Value::list(iss))?;
    }
    if let Some(aud) = &desired.accepted_audiences {
        doc.set(&vh, "asap_accepted_audiences", &Value::list(aud))?;
    }
    doc.set(
        &vh,
        "allow_empty_token",
        &Value::Bool(desired.allow_empty_token),
    )?;
    if let Some(v) = desired.enable_domain_verification {
        doc.set(&vh, "enable_domain_verification", &Value::Bool(v))?;
    }
    if let Some(v) = desired.token_clock_leeway {
        doc.set(&vh, "token_clock_leeway", &Value::Int(v.into()))?;
    }
    doc.set(&vh, "c2s_require_encryption", &Value::Bool(false))?;
    if desired.presence_identity {
        doc.list_add(&vh, "modules_enabled", b"presence_identity", ListPos::End)?;
    } else {
        doc.list_remove(&vh, "modules_enabled", b"presence_identity")?;
    }
    Ok(())
}

/// Token checks on the conference component, or a warning when the file has none.
fn set_conference(
    doc: &mut Document,
    muc: &SectionId,
    desired: &DesiredHost,
) -> Result<Vec<String>, EditError> {
    let mut warnings = Vec::new();
    if doc.has_section(muc) {
        doc.list_add(muc, "modules_enabled", b"token_verification", ListPos::End)?;
        for e in &desired.allowlist {
            doc.list_add(muc, ALLOWLIST, e.as_bytes(), ListPos::End)?;
        }
        for e in &desired.allowlist_removed {
            doc.list_remove(muc, ALLOWLIST, e.as_bytes())?;
        }
        match desired.moderators_from_token {
            Some(true) => {
                doc.set(muc, MODERATORS_FROM_TOKEN, &Value::Bool(true))?;
            }
            Some(false) => {
                doc.remove(muc, MODERATORS_FROM_TOKEN)?;
            }
            None => {}
        }
    } else {
        warnings.push(format!(
            "no Component \"{}\" \"muc\" in this file: rooms are not checked against tokens",
            desired.muc()
        ));
    }
    Ok(warnings)
}

fn plugin_paths(doc: &mut Document, desired: &DesiredHost) -> Result<(), EditError> {
    let g = SectionId::Global;
    let ours = desired.plugin_dir.as_bytes();
    let Some(Value::List(items)) = doc.get(&g, "plugin_paths") else {
        if doc.get(&g, "plugin_paths").is_none() {
            doc.set(&g, "plugin_paths", &Value::list(desired.new_plugin_paths()))?;
            return Ok(());
        }
        // Not a list of strings: list_add reports it with its line.
        doc.list_add(&g, "plugin_paths", ours, ListPos::End)?;
        return Ok(());
    };
    let spelled = items
        .iter()
        .find(|i| same_dir(i, &desired.plugin_dir))
        .cloned()
        .unwrap_or_else(|| ours.to_vec());
    let jitsi = desired
        .jitsi_plugin_dir
        .as_ref()
        .and_then(|j| items.iter().find(|i| same_dir(i, j)).cloned());
    let pos = match jitsi {
        Some(j) => ListPos::Before(j),
        None => ListPos::Start,
    };
    doc.list_add(&g, "plugin_paths", &spelled, pos)?;
    Ok(())
}
