//! Where `token mint`/`token verify` get a host's options: the Prosody config under
//! `--root` for `--domain`, with explicit flags taking precedence.

use std::path::Path;

use anyhow::{bail, Result};
use clap::Args;
use jitsi_tokens_verifier::option_table::{self, Neutral, OptionError, Scope, OPTIONS};
use jitsi_tokens_verifier::room::{MucMapper, RoomRule};
use jitsi_tokens_verifier::Options;

use crate::cli::{KeyArgs, Target};
use crate::config_edit::{Document, SectionId, Value};
use crate::tree::{self, Tree};

/// The host whose settings are used, and flags that override them.
#[derive(Debug, Args, Clone)]
pub struct HostArgs {
    /// The host whose token options are read from the Prosody config.
    #[command(flatten)]
    pub target: Target,
    /// Flags that override the host's options.
    #[command(flatten)]
    pub key: KeyArgs,
}

/// A host's options after the config and the flags are combined.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub domain: Option<String>,
    pub options: Options,
    /// The room check of the host's MUC (with `--domain`).
    pub room_rule: Option<RoomRule>,
}

/// What `mint` signs with.
pub enum KeySource {
    Secret(Vec<u8>),
    PrivatePem(String),
}

impl HostArgs {
    pub fn resolve(&self) -> Result<Settings> {
        let (mut options, room_rule) = match &self.target.domain {
            Some(domain) => {
                let hc = HostConfig::load(&self.target.root, domain)?;
                (hc.options()?, Some(hc.room_rule()?))
            }
            None => (Options::default(), None),
        };
        if let Some(id) = &self.key.app_id {
            options.app_id = Some(id.clone());
        }
        if let Some(path) = &self.key.app_secret_file {
            // The same reading as `configure --app-secret-file` (one trailing newline dropped).
            let secret = crate::settings::read_secret(Some(path), None)?;
            options.app_secret = secret.map(|s| s.0);
        }
        if let Some(alg) = &self.key.signature_algorithm {
            options.signature_algorithm = Some(alg.clone());
        }
        Ok(Settings {
            domain: self.target.domain.clone(),
            options,
            room_rule,
        })
    }
}

/// One host's view of the enabled Prosody config files under a root: the literal
/// value of an option on the host (last assignment wins), else the global one.
pub struct HostConfig {
    pub domain: String,
    /// Enabled files in load order (`prosody.cfg.lua`, then conf.d): shown path, parsed text.
    files: Vec<(String, Document)>,
}

/// Where an option's value was found.
#[derive(Debug, Clone)]
pub struct Found {
    pub value: Value,
    /// `/etc/prosody/conf.avail/x.cfg.lua:12`.
    pub at: String,
}

impl HostConfig {
    pub fn load(root: &Path, domain: &str) -> Result<HostConfig> {
        Self::from_tree(&tree::scan(root)?, domain)
    }

    pub fn from_tree(tree: &Tree, domain: &str) -> Result<HostConfig> {
        if tree.files_with_host(domain).is_empty() {
            bail!(
                "no VirtualHost {domain:?} in the enabled Prosody config under {} \
                 (run `jitsi-meet-tokens configure --domain {domain}` first, or check --root)",
                tree.root.display()
            );
        }
        let mut files = Vec::new();
        for f in tree.files() {
            let doc = Document::parse(&f.text).map_err(|e| anyhow::anyhow!("{}: {e}", f.shown))?;
            files.push((f.shown.clone(), doc));
        }
        Ok(HostConfig {
            domain: domain.to_lowercase(),
            files,
        })
    }

    /// The last literal assignment of `key` in `section` across the enabled files.
    pub fn in_section(&self, section: &SectionId, key: &str) -> Option<Found> {
        self.files.iter().rev().find_map(|(shown, doc)| {
            let value = doc.get(section, key)?;
            let line = doc.line_of(section, key).unwrap_or(0);
            Some(Found {
                value,
                at: format!("{shown}:{line}"),
            })
        })
    }

    /// The option as the host sees it: its own value, else the global one.
    pub fn effective(&self, key: &str) -> Option<Found> {
        self.in_section(&SectionId::virtual_host(&self.domain), key)
            .or_else(|| self.in_section(&SectionId::Global, key))
    }

    /// The token options of tokens.md as Prosody will read them for this host.
    pub fn options(&self) -> Result<Options> {
        let found = self.literals()?;
        Options::read(|k| found.get(k)).map_err(|e| found.error(e))
    }

    /// The room check as the host's MUC component runs it. The component is taken
    /// to be `<muc_mapper_domain_prefix>.<domain>` (Prosody's own fallback is the
    /// component's name, which the config does not tie to the host).
    pub fn room_rule(&self) -> Result<RoomRule> {
        let found = self.literals()?;
        let get = |k: &str| found.get(k);
        let prefix = option_table::Source::new(get)
            .string("muc_mapper_domain_prefix")
            .map_err(|e| found.error(e))?;
        let component = MucMapper {
            prefix,
            ..MucMapper::default()
        }
        .component_of(&self.domain);
        RoomRule::from_options(&component, get).map_err(|e| found.error(e))
    }

    /// Every VirtualHost option of the option table that the host sets to a literal,
    /// as the table's neutral value; an expression this tool cannot evaluate is an
    /// error naming it.
    fn literals(&self) -> Result<Literals> {
        let mut found = Vec::new();
        for o in OPTIONS.iter().filter(|o| o.scope == Scope::VirtualHost) {
            let Some(f) = self.effective(o.name) else {
                continue;
            };
            let value = match &f.value {
                Value::Bool(b) => Neutral::Bool(*b),
                Value::Str(s) => Neutral::Str(s.clone()),
                Value::Int(i) => Neutral::Num(*i as f64),
                Value::Num(n) => Neutral::Num(*n),
                Value::List(items) => {
                    Neutral::List(items.iter().cloned().map(Neutral::Str).collect())
                }
                Value::Other(_) => bail!(not_literal(o.name, &f, o.kind.expected())),
            };
            found.push((o.name, value, f.at));
        }
        Ok(Literals(found))
    }
}

/// Options found on a host: name, neutral value, where it was set.
struct Literals(Vec<(&'static str, Neutral, String)>);

impl Literals {
    fn get(&self, name: &str) -> Option<Neutral> {
        self.0
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, v, _)| v.clone())
    }

    /// The option table's wording, and where the value was set.
    fn error(&self, e: OptionError) -> anyhow::Error {
        match self.0.iter().find(|(n, ..)| *n == e.name) {
            Some((.., at)) => anyhow::anyhow!("{e} (at {at})"),
            None => anyhow::anyhow!("{e}"),
        }
    }
}

fn not_literal(key: &str, f: &Found, expected: &str) -> String {
    format!(
        "{key} at {} is {}, not {expected} this tool can read; pass the value with a flag instead",
        f.at,
        match &f.value {
            Value::Other(src) => format!("the expression `{src}`"),
            other => format!("{other:?}"),
        }
    )
}

/// The token options Prosody would use for `domain` (host value over global).
pub fn read_host_options(root: &Path, domain: &str) -> Result<Options> {
    HostConfig::load(root, domain)?.options()
}
