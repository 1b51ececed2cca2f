//! Settings for `configure`: flags and `JITSI_MEET_TOKENS_*` variables (both through
//! clap), then the TOML settings file for whatever they leave open. The file is
//! edited in place with toml_edit (comments and layout kept) when a run is given
//! values that differ from it. The secret is never stored there.

use anyhow::{Context, Result};
use jitsi_tokens_verifier::option_table::{Neutral, OptionError, Source, Whole};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use toml_edit::{value, Array, DocumentMut, Item};

pub const DEFAULT_SETTINGS: &str = "/etc/jitsi-meet-tokens/settings.toml";
pub const SECRET_ENV: &str = "JITSI_MEET_TOKENS_APP_SECRET";

/// A secret that never shows up in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Values a settings file may hold. Every field optional: flags fill the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    pub domain: Option<String>,
    pub app_id: Option<String>,
    pub asap_key_server: Option<String>,
    pub cache_keys_url: Option<String>,
    pub signature_algorithm: Option<String>,
    pub issuers: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub allow_empty_token: Option<bool>,
    pub token_clock_leeway: Option<Whole>,
    pub presence_identity: Option<bool>,
    pub plugin_dir: Option<String>,
    /// The guest VirtualHost (`Some("")`: none).
    pub guest_domain: Option<String>,
    pub moderators_from_token: Option<bool>,
    /// Extra `token_verification_allowlist` entries (bare JIDs or domains).
    pub allowlist: Option<Vec<String>>,
}

impl Values {
    /// `self` with the gaps filled from `other`.
    pub fn or(self, other: &Values) -> Values {
        Values {
            domain: self.domain.or(other.domain.clone()),
            app_id: self.app_id.or(other.app_id.clone()),
            asap_key_server: self.asap_key_server.or(other.asap_key_server.clone()),
            cache_keys_url: self.cache_keys_url.or(other.cache_keys_url.clone()),
            signature_algorithm: self
                .signature_algorithm
                .or(other.signature_algorithm.clone()),
            issuers: self.issuers.or(other.issuers.clone()),
            audiences: self.audiences.or(other.audiences.clone()),
            allow_empty_token: self.allow_empty_token.or(other.allow_empty_token),
            token_clock_leeway: self.token_clock_leeway.or(other.token_clock_leeway),
            presence_identity: self.presence_identity.or(other.presence_identity),
            plugin_dir: self.plugin_dir.or(other.plugin_dir.clone()),
            guest_domain: self.guest_domain.or(other.guest_domain.clone()),
            moderators_from_token: self.moderators_from_token.or(other.moderators_from_token),
            allowlist: self.allowlist.or(other.allowlist.clone()),
        }
    }
}

/// The settings file: its path, its parsed document, and its text as read.
pub struct SettingsFile {
    pub path: PathBuf,
    pub original: Option<String>,
    doc: DocumentMut,
}

fn get_str(doc: &DocumentMut, k: &str) -> Result<Option<String>> {
    match doc.get(k) {
        None => Ok(None),
        Some(i) => i
            .as_str()
            .map(|s| Some(s.to_string()))
            .with_context(|| format!("settings: `{k}` must be a string")),
    }
}

fn get_list(doc: &DocumentMut, k: &str) -> Result<Option<Vec<String>>> {
    let Some(i) = doc.get(k) else { return Ok(None) };
    let arr = i
        .as_array()
        .with_context(|| format!("settings: `{k}` must be an array of strings"))?;
    arr.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .with_context(|| format!("settings: `{k}` must hold only strings"))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// A TOML value as the option table's neutral value (a type TOML has and Lua has not
/// is shown by its name).
fn neutral(item: &Item) -> Option<Neutral> {
    let v = item.as_value()?;
    Some(match v {
        toml_edit::Value::String(s) => Neutral::Str(s.value().as_bytes().to_vec()),
        toml_edit::Value::Integer(i) => Neutral::Num(*i.value() as f64),
        toml_edit::Value::Float(f) => Neutral::Num(*f.value()),
        toml_edit::Value::Boolean(b) => Neutral::Bool(*b.value()),
        toml_edit::Value::Array(a) => Neutral::List(
            a.iter()
                .map(|i| neutral(&Item::Value(i.clone())).unwrap_or(Neutral::Other("table")))
                .collect(),
        ),
        toml_edit::Value::Datetime(_) => Neutral::Other("datetime"),
        toml_edit::Value::InlineTable(_) => Neutral::Other("table"),
    })
}

fn get_bool(doc: &DocumentMut, k: &str) -> Result<Option<bool>> {
    match doc.get(k) {
        None => Ok(None),
        Some(i) => i
            .as_bool()
            .map(Some)
            .with_context(|| format!("settings: `{k}` must be true or false")),
    }
}

impl SettingsFile {
    pub fn load(path: &Path) -> Result<SettingsFile> {
        let original = match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let doc: DocumentMut = original
            .as_deref()
            .unwrap_or("")
            .parse()
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        Ok(SettingsFile {
            path: path.to_path_buf(),
            original,
            doc,
        })
    }

    pub fn values(&self) -> Result<Values> {
        let d = &self.doc;
        // Keys named after Prosody options are read as the option table says.
        let option = Source::given(|k| d.get(k).and_then(neutral));
        let checked = |e: OptionError| anyhow::anyhow!("settings: {e}");
        Ok(Values {
            domain: get_str(d, "domain")?,
            app_id: option.string("app_id").map_err(checked)?,
            asap_key_server: option.string("asap_key_server").map_err(checked)?,
            cache_keys_url: option.string("cache_keys_url").map_err(checked)?,
            signature_algorithm: option.string("signature_algorithm").map_err(checked)?,
            issuers: option.strings("asap_accepted_issuers").map_err(checked)?,
            audiences: option.strings("asap_accepted_audiences").map_err(checked)?,
            allow_empty_token: option.boolean("allow_empty_token").map_err(checked)?,
            token_clock_leeway: option.whole("token_clock_leeway").map_err(checked)?,
            presence_identity: get_bool(d, "presence_identity")?,
            plugin_dir: get_str(d, "plugin_dir")?,
            guest_domain: get_str(d, "guest_domain")?,
            moderators_from_token: get_bool(d, "moderators_from_token")?,
            allowlist: get_list(d, "allowlist")?,
        })
    }

    /// Record `v`'s values; only keys whose value differs are touched, so comments
    /// and unrelated keys stay as they were. Returns the new text.
    pub fn update(&mut self, v: &Values) -> Result<String> {
        let old = self.values()?;
        let d = &mut self.doc;
        fn set_s(d: &mut DocumentMut, k: &str, new: &Option<String>, old: &Option<String>) {
            if let (Some(n), false) = (new, new == old) {
                set_keep_decor(d, k, value(n.as_str()));
            }
        }
        fn set_l(
            d: &mut DocumentMut,
            k: &str,
            new: &Option<Vec<String>>,
            old: &Option<Vec<String>>,
        ) {
            if let (Some(n), false) = (new, new == old) {
                let arr: Array = n.iter().map(String::as_str).collect();
                set_keep_decor(d, k, value(arr));
            }
        }
        fn set_b(d: &mut DocumentMut, k: &str, new: Option<bool>, old: Option<bool>) {
            if let (Some(n), false) = (new, new == old) {
                set_keep_decor(d, k, value(n));
            }
        }
        set_s(d, "domain", &v.domain, &old.domain);
        set_s(d, "app_id", &v.app_id, &old.app_id);
        set_s(
            d,
            "asap_key_server",
            &v.asap_key_server,
            &old.asap_key_server,
        );
        set_s(d, "cache_keys_url", &v.cache_keys_url, &old.cache_keys_url);
        set_s(
            d,
            "signature_algorithm",
            &v.signature_algorithm,
            &old.signature_algorithm,
        );
        set_l(d, "asap_accepted_issuers", &v.issuers, &old.issuers);
        set_l(d, "asap_accepted_audiences", &v.audiences, &old.audiences);
        set_b(
            d,
            "allow_empty_token",
            v.allow_empty_token,
            old.allow_empty_token,
        );
        if let (Some(n), false) = (
            v.token_clock_leeway,
            v.token_clock_leeway == old.token_clock_leeway,
        ) {
            set_keep_decor(d, "token_clock_leeway", value(i64::from(n)));
        }
        set_b(
            d,
            "presence_identity",
            v.presence_identity,
            old.presence_identity,
        );
        set_s(d, "plugin_dir", &v.plugin_dir, &old.plugin_dir);
        set_s(d, "guest_domain", &v.guest_domain, &old.guest_domain);
        set_b(
            d,
            "moderators_from_token",
            v.moderators_from_token,
            old.moderators_from_token,
        );
        set_l(d, "allowlist", &v.allowlist, &old.allowlist);
        let mut text = self.doc.to_string();
        if self.original.is_none() && !text.is_empty() {
            text = format!(
                "# jitsi-meet-tokens settings: defaults for `jitsi-meet-tokens configure`.\n\
                 # Flags and JITSI_MEET_TOKENS_* variables override them. The secret is never\n\
                 # stored here (use --app-secret-file or JITSI_MEET_TOKENS_APP_SECRET).\n{text}"
            );
        }
        Ok(text)
    }
}

/// Replace a key's value but keep the comment/whitespace around the old value.
fn set_keep_decor(d: &mut DocumentMut, k: &str, mut new: Item) {
    if let (Some(old), Some(nv)) = (d.get(k).and_then(Item::as_value), new.as_value_mut()) {
        *nv.decor_mut() = old.decor().clone();
    }
    d[k] = new;
}

/// The one rule for a domain, wherever it comes from (flags, settings file,
/// prompts, debconf and Ansible through this binary): a host name by IDNA (UTS #46
/// with STD3 rules: letters, digits and inner hyphens per label), every label 1 to
/// 63 and the whole name at most 253 bytes in its ASCII form, no trailing dot;
/// and a name Prosody's nameprep leaves as it is (lower case, no bidi mix).
/// Checked before anything is rendered, edited or loaded.
pub fn check_domain(domain: &str) -> Result<(), crate::error::Error> {
    check_host_name(domain, "--domain")
}

/// [`check_domain`]'s rule for any host name a flag names (`--guest-domain`).
pub fn check_host_name(name: &str, flag: &str) -> Result<(), crate::error::Error> {
    let usage = |why: String| Err(crate::error::Error::Usage(why));
    let Ok(ascii) = idna::domain_to_ascii_strict(name) else {
        return usage(format!(
            "{name:?} is not a valid host name for {flag}: use letters, digits, hyphens \
             and dots between labels (e.g. meet.example.com)"
        ));
    };
    if name.is_empty() {
        return usage(format!(
            "\"\" is not a valid host name for {flag}: give one, e.g. meet.example.com"
        ));
    }
    // Prosody names a host by the nameprep of the whole name (its bidi rule spans
    // labels, unlike IDNA's): a name it changes or refuses would not be our host,
    // nor would the components named `<label>.<name>` beside it.
    let component = format!("conference.{name}");
    match stringprep::nameprep(name) {
        Ok(p) if p == name && stringprep::nameprep(&component).is_ok() => Ok(()),
        Ok(p) if p != name => usage(format!(
            "{name:?} is not a valid host name for {flag} as given: Prosody calls \
             it {p:?}; give that"
        )),
        _ => usage(format!(
            "{name:?} is not a valid host name for {flag}: Prosody's nameprep refuses \
             it or its components' names (mixed right-to-left and left-to-right \
             text, or characters it does not know); give its ASCII form {ascii:?}"
        )),
    }
}

/// A `token_verification_allowlist` entry: a domain, or a bare JID `node@domain`
/// (node without the characters a JID's localpart may not hold), by the domain rule.
pub fn check_allowlist_entry(entry: &str) -> Result<(), crate::error::Error> {
    let bad_node = |n: &str| {
        n.is_empty()
            || n.chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"&'/:<>@".contains(c))
    };
    let host = match entry.split_once('@') {
        Some((node, _)) if bad_node(node) => None,
        Some((_, host)) => Some(host),
        None => Some(entry),
    };
    match host.map(|h| check_host_name(h, "--allowlist")) {
        Some(Ok(())) => Ok(()),
        _ => Err(crate::error::Error::Usage(format!(
            "{entry:?} is not a bare JID or domain for --allowlist (e.g. \
             recorder.meet.example.com or jigasi@auth.meet.example.com)"
        ))),
    }
}

/// Read the secret from `--app-secret-file` (`-` = stdin) or the environment.
/// One trailing line break (as `echo` and editors add) is not part of the secret.
pub fn read_secret(file: Option<&Path>, env: Option<Vec<u8>>) -> Result<Option<Secret>> {
    let raw = match file {
        Some(p) if p == Path::new("-") && std::io::stdin().is_terminal() => {
            crate::prompt::secret_from_terminal()?
        }
        Some(p) if p == Path::new("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .context("reading the app secret from stdin")?;
            buf
        }
        Some(p) => std::fs::read(p)
            .with_context(|| format!("reading the app secret from {}", p.display()))?,
        None => match env {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    let mut s = raw;
    if s.ends_with(b"\n") {
        s.pop();
        if s.ends_with(b"\r") {
            s.pop();
        }
    }
    if s.is_empty() {
        anyhow::bail!(crate::error::Error::Usage("the app secret is empty".into()));
    }
    Ok(Some(Secret(s)))
}

/// A warning when the secret file can be read by every user on the machine.
pub fn secret_file_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "the secret file {} is readable by every user (mode {:04o}): run `chmod 600 {}` \
             (or remove it once configured)",
            path.display(),
            mode & 0o7777,
            path.display()
        )
    })
}

/// A strong random secret: 32 bytes from the kernel, base64url without padding
/// (43 printable characters, safe in any shell or config file).
pub fn generate_secret() -> Result<String> {
    use base64::Engine;
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_keeps_comments_and_unrelated_keys() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.toml");
        std::fs::write(
            &p,
            "# top comment\napp_id = \"old\" # trailing\nother = 1\n",
        )
        .unwrap();
        let mut f = SettingsFile::load(&p).unwrap();
        let v = Values {
            app_id: Some("new".into()),
            issuers: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        };
        let text = f.update(&v).unwrap();
        assert!(
            text.starts_with("# top comment\napp_id = \"new\" # trailing\nother = 1\n"),
            "{text}"
        );
        assert!(text.contains("asap_accepted_issuers = [\"a\", \"b\"]"));
        let mut again = SettingsFile::load(&p).unwrap();
        std::fs::write(&p, &text).unwrap();
        again = SettingsFile::load(&p).unwrap_or(again);
        assert_eq!(again.update(&v).unwrap(), text, "same values: same text");
    }

    #[test]
    fn wrong_types_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.toml");
        std::fs::write(&p, "allow_empty_token = \"yes\"\n").unwrap();
        let e = SettingsFile::load(&p).unwrap().values().unwrap_err();
        assert!(e.to_string().contains("allow_empty_token"));
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn secret_trailing_newline_stripped_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sec");
        std::fs::write(&p, "a\nb\n\n").unwrap();
        assert_eq!(read_secret(Some(&p), None).unwrap().unwrap().0, b"a\nb\n");
        assert_eq!(
            read_secret(None, Some(b"x\r\n".to_vec()))
                .unwrap()
                .unwrap()
                .0,
            b"x"
        );
    }
}
