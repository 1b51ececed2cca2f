//! Man page and shell completions generated from the clap definitions (hidden
//! commands `man` and `completions SHELL`, run by the Debian build), so every flag
//! is documented once, in its doc comment.

use std::io::Write;

use anyhow::Result;
use clap::{Args, Command};
use clap_complete::Shell;
use clap_mangen::Man;

/// Print the man page (roff) on stdout: the main command, then a section per
/// subcommand with its synopsis and options (one page holds them all).
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Print a shell completion script on stdout.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Render the page for `cmd` (the root command, `Cli::command()`).
pub fn run_man(_args: &ManArgs, cmd: Command, out: &mut dyn Write) -> Result<()> {
    let mut page = Vec::new();
    render_man(cmd, &mut page)?;
    crate::token_cmd::output(out.write_all(&page))?;
    Ok(())
}

fn render_man(cmd: Command, out: &mut dyn Write) -> Result<()> {
    let mut cmd = cmd;
    cmd.build();
    let man = Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    let bin = cmd.get_name().to_owned();
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        render_command(sub, &bin, out)?;
    }
    man.render_version_section(out)?;
    Ok(())
}

/// One `.SH` per subcommand (nested ones too), holding its synopsis and options.
fn render_command(cmd: &Command, parent: &str, out: &mut dyn Write) -> Result<()> {
    let full = format!("{parent} {}", cmd.get_name());
    if cmd.has_subcommands() {
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            render_command(sub, &full, out)?;
        }
        return Ok(());
    }
    // `build()` gave every subcommand its full bin name, which the synopsis shows.
    let named = cmd.clone().bin_name(full.clone());
    writeln!(out, ".SH \"{}\"", full.to_uppercase())?;
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        writeln!(out, "{}", roff_text(&about.to_string()))?;
    }
    let man = Man::new(named);
    man.render_synopsis_section(out)?;
    man.render_options_section(out)?;
    Ok(())
}

/// Plain text as a roff paragraph: lines starting with `.` or `'` would be requests.
fn roff_text(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run_completions(args: &CompletionsArgs, cmd: Command, out: &mut dyn Write) -> Result<()> {
    let mut cmd = cmd;
    let name = cmd.get_name().to_owned();
    // generate() panics on a write error: render first, then write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    crate::token_cmd::output(out.write_all(&script))?;
    Ok(())
}
