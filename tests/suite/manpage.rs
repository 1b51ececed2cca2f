//! The man pages: one per command, generated from the clap definitions, rendered by
//! man-db without a single groff warning, and complete (every variable clap reads).

use super::*;
use clap::CommandFactory;

fn pages() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    success(
        cmd()
            .args(["man", "--dir"])
            .arg(dir.path())
            .env("SOURCE_DATE_EPOCH", "1767225600"),
    );
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    (dir, files)
}

/// `man -l` with every groff warning enabled; stderr must stay empty.
fn render(page: &Path) -> String {
    let out = std::process::Command::new("man")
        .env("MANWIDTH", "80")
        .env("MANROFFSEQ", "")
        .args(["--warnings=all", "-l"])
        .arg(page)
        .output()
        .expect("man-db's man");
    assert!(out.status.success(), "{}", page.display());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "groff warnings in {}",
        page.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn one_page_per_command_each_without_groff_warnings() {
    let (_dir, files) = pages();
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "jitsi-meet-tokens-configure.1",
            "jitsi-meet-tokens-status.1",
            "jitsi-meet-tokens-token-mint.1",
            "jitsi-meet-tokens-token-verify.1",
            "jitsi-meet-tokens-unconfigure.1",
            "jitsi-meet-tokens.1",
        ]
    );
    for f in &files {
        let roff = std::fs::read_to_string(f).unwrap();
        // Dated from SOURCE_DATE_EPOCH (2026-01-01), so builds are reproducible.
        let th = roff.lines().find(|l| l.starts_with(".TH ")).unwrap();
        assert!(
            th.contains(" 2026-01-01 \"jitsi-meet-tokens 0."),
            "{}: {th}",
            f.display()
        );
        let shown = render(f);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"] {
            assert!(
                shown.contains(&format!("\n{section}\n")),
                "{section} in {}",
                f.display()
            );
        }
    }
    let main = render(&files[5]);
    for section in ["COMMANDS", "ENVIRONMENT", "FILES", "EXAMPLES"] {
        assert!(
            main.contains(&format!("\n{section}\n")),
            "{section}: {main}"
        );
    }
    assert!(main.contains("jitsi-meet-tokens-configure(1)"), "{main}");
    // Synopses carry value names.
    let configure = render(&files[0]);
    assert!(configure.contains("[--root DIR]"), "{configure}");
    assert!(
        configure.contains("[--allow-empty-token[=BOOL]]"),
        "{configure}"
    );
    assert!(configure.contains("--from-docker-env"), "{configure}");
    let verify = render(&files[3]);
    assert!(
        verify.contains("[TOKEN]") && verify.contains("JSON OUTPUT"),
        "{verify}"
    );
    // The hidden commands get no page, their flags appear nowhere.
    assert!(!main.contains("completions"), "{main}");
}

/// Every variable a clap definition reads is in the main page's ENVIRONMENT, and
/// in the page of each command that reads it.
#[test]
fn environment_lists_every_variable_clap_reads() {
    let (_dir, files) = pages();
    let main = std::fs::read_to_string(&files[5]).unwrap();
    let env_section =
        &main[main.find(".SH ENVIRONMENT").unwrap()..main.find(".SH \"EXIT STATUS\"").unwrap()];
    fn walk(c: &clap::Command, out: &mut Vec<String>) {
        for a in c.get_arguments() {
            if let Some(e) = a.get_env() {
                out.push(e.to_string_lossy().into_owned());
            }
        }
        for s in c.get_subcommands() {
            walk(s, out);
        }
    }
    let mut vars = Vec::new();
    walk(&jitsi_meet_tokens::cli::Cli::command(), &mut vars);
    assert!(vars.len() >= 12, "{vars:?}");
    vars.push("JITSI_MEET_TOKENS_APP_SECRET".into());
    vars.push("JITSI_MEET_TOKENS_LOCK_TIMEOUT".into());
    for v in &vars {
        assert!(
            env_section.contains(&format!("\\fB{}\\fR", v)),
            "{v} missing"
        );
    }
    // Each command page lists ROOT (every command honours it).
    for f in &files {
        let page = std::fs::read_to_string(f).unwrap();
        assert!(page.contains("JITSI_MEET_TOKENS_ROOT"), "{}", f.display());
    }
}

#[test]
fn man_without_dir_prints_the_main_page() {
    let out = cmd().arg("man").output().unwrap();
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(
        man.contains(".TH JITSI-MEET-TOKENS 1"),
        "{}",
        &man[..200.min(man.len())]
    );
}
