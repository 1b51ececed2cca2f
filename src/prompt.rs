//! Interactive prompts (dialoguer), only on a terminal, only for missing values,
//! never with `--non-interactive`. Secret input is hidden; a strong generated
//! secret is offered.

use crate::config_edit::{Document, SectionId, Value};
use crate::settings::{generate_secret, Secret, Values};
use crate::tree;
use anyhow::{Context, Result};
use dialoguer::{Input, Password, Select};
use std::io::IsTerminal;
use std::path::Path;

/// Prompting is allowed: a person is at the terminal and stdin is not the secret.
pub fn allowed(non_interactive: bool, secret_file: Option<&Path>) -> bool {
    !non_interactive
        && secret_file != Some(Path::new("-"))
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
}

/// Virtual hosts already configured (defaults for the domain prompt), and the
/// current app_id / whether a secret is set for `domain`.
fn detected(root: &Path) -> Vec<String> {
    let Ok(t) = tree::scan(root) else {
        return vec![];
    };
    let mut hosts = Vec::new();
    for f in t.files() {
        for s in &f.sections {
            if let SectionId::VirtualHost { name } = s {
                if name != "localhost" && !name.starts_with("auth.") && !hosts.contains(name) {
                    hosts.push(name.clone());
                }
            }
        }
    }
    hosts
}

fn current(root: &Path, domain: &str, key: &str) -> Option<Vec<u8>> {
    let t = tree::scan(root).ok()?;
    let f = t.files_with_host(domain).into_iter().next()?;
    match Document::parse(&f.text)
        .ok()?
        .get(&SectionId::virtual_host(domain), key)?
    {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

pub fn configure(root: &Path, v: &mut Values, secret: &mut Option<Secret>) -> Result<()> {
    if v.domain.is_none() {
        let hosts = detected(root);
        let mut q = Input::<String>::new().with_prompt("Jitsi Meet domain (Prosody VirtualHost)");
        if let Some(h) = hosts.first() {
            q = q.default(h.clone());
        }
        v.domain = Some(q.interact_text().context("reading the domain")?);
    }
    let domain = v.domain.clone().unwrap_or_default();
    if v.app_id.is_none() {
        let mut q = Input::<String>::new().with_prompt("Application id (tokens' iss)");
        if let Some(id) = current(root, &domain, "app_id") {
            q = q.default(String::from_utf8_lossy(&id).into_owned());
        }
        v.app_id = Some(q.interact_text().context("reading the app id")?);
    }
    let key_mode = v.asap_key_server.is_some() || v.cache_keys_url.is_some();
    if secret.is_none() && !key_mode {
        let has = current(root, &domain, "app_secret").is_some_and(|s| s != b"example_app_secret");
        let mut items = vec!["Generate a strong random secret", "Type a secret (hidden)"];
        if has {
            items.insert(0, "Keep the current secret");
        }
        let pick = Select::new()
            .with_prompt("App secret (HS256 shared key)")
            .items(&items)
            .default(0)
            .interact()
            .context("reading the secret choice")?;
        match items[pick] {
            "Keep the current secret" => {}
            "Generate a strong random secret" => {
                *secret = Some(Secret(generate_secret()?.into_bytes()));
                eprintln!(
                    "A new secret will be written to the host file (app_secret); \
                     `jitsi-meet-tokens token mint` reads it from there."
                );
            }
            _ => {
                let s = Password::new()
                    .with_prompt("App secret")
                    .with_confirmation("Repeat the app secret", "The two entries differ")
                    .interact()
                    .context("reading the secret")?;
                *secret = Some(Secret(s.into_bytes()));
            }
        }
    }
    Ok(())
}
