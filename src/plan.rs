//! The edit plan: a value listing, per file, the old text, the new text and what to
//! do. `--dry-run`, the Debian postinst and Ansible's check mode print the same plan;
//! only [`crate::apply`] touches the system. Every printed diff is masked so the
//! secret never appears (`app_secret = "****"`).

use crate::fsops::Perms;
use similar::TextDiff;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write `new` (create or replace).
    Write { new: String },
    /// Create a symlink pointing at `target` (relative, as Debian's conf.d links are).
    Symlink { target: PathBuf },
    /// Remove a file or symlink we created.
    Remove,
    /// Install a binary (the native module).
    Install { bytes: Vec<u8> },
}

#[derive(Debug, Clone)]
pub struct Change {
    /// The path on the real file system (root prefix included).
    pub path: PathBuf,
    /// The path as the target system sees it (`/etc/prosody/...`), for reports.
    pub shown: String,
    /// Current text (`None`: the file does not exist or is not text).
    pub old: Option<String>,
    pub action: Action,
    /// Owner/group/mode to give the file.
    pub perms: Perms,
    /// The file is one Prosody reads (a change needs a restart).
    pub restart: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// Secret values (raw and as written) to mask wherever they appear in output.
    pub secrets: Vec<String>,
    /// What the plan does that the administrator should be told (allowlist entries
    /// added and why, hosts left as they are).
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    pub fn needs_restart(&self) -> bool {
        self.changes.iter().any(|c| c.restart)
    }
    pub fn files(&self) -> Vec<String> {
        self.changes.iter().map(|c| c.shown.clone()).collect()
    }

    /// A unified diff of the whole plan, secrets masked.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            let rel = c.shown.trim_start_matches('/');
            match &c.action {
                Action::Write { new } => {
                    let old = c.old.as_deref().unwrap_or("");
                    let (a, b) = if c.old.is_some() {
                        (format!("a/{rel}"), format!("b/{rel}"))
                    } else {
                        ("/dev/null".to_string(), format!("b/{rel}"))
                    };
                    let d = TextDiff::from_lines(old, new.as_str());
                    let text = d
                        .unified_diff()
                        .context_radius(3)
                        .header(&a, &b)
                        .to_string();
                    out.push_str(&self.mask(&text));
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Action::Symlink { target } => {
                    out.push_str(&format!("symlink {} -> {}\n", c.shown, target.display()))
                }
                Action::Remove => match &c.old {
                    Some(old) => {
                        let d = TextDiff::from_lines(old.as_str(), "");
                        let text = d
                            .unified_diff()
                            .header(&format!("a/{rel}"), "/dev/null")
                            .to_string();
                        out.push_str(&self.mask(&text));
                    }
                    None => out.push_str(&format!("remove {}\n", c.shown)),
                },
                Action::Install { bytes } => {
                    out.push_str(&format!("install {} ({} bytes)\n", c.shown, bytes.len()))
                }
            }
        }
        out
    }

    /// Mask every `app_secret = ...` assignment and every known secret value.
    pub fn mask(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let mut l = mask_line(line);
            // Short secrets would mask half the text; their assignment line is
            // masked by `mask_line` all the same.
            for s in &self.secrets {
                if s.len() >= 8 && l.contains(s.as_str()) {
                    l = l.replace(s.as_str(), "****");
                }
            }
            out.push_str(&l);
        }
        out
    }
}

/// `app_secret = <anything>` (also behind a diff marker) becomes `app_secret = "****"`,
/// keeping indentation, a trailing `;`/`,` and the line end.
pub fn mask_line(line: &str) -> String {
    let (marker, body) = match line.chars().next() {
        Some(c @ ('+' | '-' | ' ')) if !line.starts_with("---") && !line.starts_with("+++") => {
            line.split_at(c.len_utf8())
        }
        _ => ("", line),
    };
    let trimmed = body.trim_start();
    let indent = &body[..body.len() - trimmed.len()];
    let Some(rest) = trimmed.strip_prefix("app_secret") else {
        return line.to_string();
    };
    if !rest.trim_start().starts_with('=') || rest.trim_start().starts_with("==") {
        return line.to_string();
    }
    let end = if body.ends_with("\r\n") {
        "\r\n"
    } else if body.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    let code = trimmed.trim_end_matches(['\r', '\n']).trim_end();
    let sep = if code.ends_with(';') {
        ";"
    } else if code.ends_with(',') {
        ","
    } else {
        ""
    };
    format!("{marker}{indent}app_secret = \"****\"{sep}{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_assignments_in_diffs() {
        assert_eq!(
            mask_line("+    app_secret = \"s3cr\\\"et\";\n"),
            "+    app_secret = \"****\";\n"
        );
        assert_eq!(mask_line("-app_secret=[[x]]\n"), "-app_secret = \"****\"\n");
        assert_eq!(
            mask_line(" --app_secret=\"example\"\n"),
            " --app_secret=\"example\"\n"
        );
        assert_eq!(mask_line("+app_secrets = 1\n"), "+app_secrets = 1\n");
    }

    #[test]
    fn diff_never_shows_a_secret() {
        let plan = Plan {
            changes: vec![Change {
                path: "/x".into(),
                shown: "/etc/prosody/conf.avail/m.cfg.lua".into(),
                old: Some("a = 1\napp_secret = \"old-secret\"\n".into()),
                action: Action::Write {
                    new: "a = 1\napp_secret = \"new-secret\"\nmulti = \"new-secret\"\n".into(),
                },
                perms: Perms {
                    mode: 0o640,
                    uid: 0,
                    gid: 0,
                },
                restart: true,
            }],
            warnings: vec![],
            secrets: vec!["new-secret".into()],
            notes: vec![],
        };
        let d = plan.diff();
        assert!(!d.contains("secret\""), "{d}");
        assert!(
            d.contains("-app_secret = \"****\"\n+app_secret = \"****\"\n"),
            "{d}"
        );
        assert!(d.contains("+multi = \"****\""), "{d}");
        assert!(d.contains("--- a/etc/prosody/conf.avail/m.cfg.lua"));
    }
}
