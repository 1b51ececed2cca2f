//! Interactive prompts (dialoguer), only on a terminal, only for missing values,
//! never with `--non-interactive`. Secret input is hidden; a strong generated
//! secret is offered.

use crate::config_edit::{Document, SectionId, Value};
use crate::settings::{generate_secret, Secret, Values};
use crate::tree;
use anyhow::{bail, Context, Result};
use dialoguer::console::Term;
use dialoguer::{Confirm, Input, Password, Select};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
                let new = generate_secret()?;
                hand_over(&new)?;
                *secret = Some(Secret(new.into_bytes()));
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
    secure_domain(&domain, v)
}

/// Guest access and moderators from the token, when neither flags, variables nor the
/// settings file said.
fn secure_domain(domain: &str, v: &mut Values) -> Result<()> {
    if v.guest_domain.is_none() {
        let guests = Confirm::new()
            .with_prompt("Let guests without a token join meetings a token user started?")
            .default(false)
            .interact()
            .context("reading the guest-access choice")?;
        v.guest_domain = Some(if guests {
            Input::<String>::new()
                .with_prompt("Guest domain (an anonymous VirtualHost)")
                .default(format!("guest.{domain}"))
                .interact_text()
                .context("reading the guest domain")?
        } else {
            String::new()
        });
    }
    if v.moderators_from_token.is_none() {
        v.moderators_from_token = Some(
            Confirm::new()
                .with_prompt("Take moderator rights from the token (context.user.moderator)?")
                .default(false)
                .interact()
                .context("reading the moderators choice")?,
        );
    }
    Ok(())
}

/// `--app-secret-file -` read from a terminal: a prompt, and no echo.
pub fn secret_from_terminal() -> Result<Vec<u8>> {
    Ok(Password::new()
        .with_prompt("App secret (input hidden)")
        .interact()
        .context("reading the app secret from the terminal")?
        .into_bytes())
}

/// Give a generated secret to the administrator, whose token issuer needs it: shown
/// once on the terminal (wiped after), or written to a file of theirs with mode
/// 0600. Never to stdout, a log or JSON.
fn hand_over(secret: &str) -> Result<()> {
    let how = [
        "Show it once on this terminal",
        "Write it to a file (mode 0600)",
    ];
    let pick = Select::new()
        .with_prompt("Your token issuer needs the new secret: how should you receive it?")
        .items(how)
        .default(0)
        .interact()
        .context("reading how to receive the secret")?;
    if pick == 0 {
        if !Confirm::new()
            .with_prompt("Show the secret now (make sure nobody reads your screen)?")
            .default(true)
            .interact()
            .context("reading the confirmation")?
        {
            bail!(crate::error::Error::Usage(
                "the generated secret was not shown; run again and choose a way to receive it"
                    .into()
            ));
        }
        let term = Term::stderr();
        term.write_line(&format!("app_secret: {secret}"))?;
        term.write_line("Press Enter once it is stored; it is then wiped from the screen.")?;
        term.read_line().context("waiting for Enter")?;
        term.clear_last_lines(3)?;
        term.write_line("The secret was shown once and wiped from the screen.")?;
        return Ok(());
    }
    loop {
        let path: String = Input::new()
            .with_prompt("File for the secret (a new file)")
            .interact_text()
            .context("reading the file name")?;
        let path = PathBuf::from(path);
        // create_new: never overwrite a file, which could be someone else's secret.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{secret}\n").as_bytes()));
        match written {
            Ok(()) => {
                eprintln!("The secret is in {} (mode 0600).", path.display());
                return Ok(());
            }
            Err(e) => eprintln!(
                "cannot write {}: {}; name another file",
                path.display(),
                crate::error::render(&e.into())
            ),
        }
    }
}
