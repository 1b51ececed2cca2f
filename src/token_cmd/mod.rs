//! `jitsi-meet-tokens token mint|verify`: test tokens with the same verifier crate the
//! Prosody module loads, so what the CLI accepts is what the server accepts.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

pub mod host;
pub mod http;
pub mod mint;
pub mod time;
pub mod verify;

/// Mint and verify test tokens.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a test token from the host's own settings; prints only the token.
    Mint(mint::MintArgs),
    /// Verify a token exactly as Prosody will and explain each check.
    Verify(verify::VerifyArgs),
}

/// Run `token ...`, writing results to `out` (stdout in the binary). Exit 1 when a
/// token is refused; errors (unreadable files, bad options) are returned.
pub fn run(args: &TokenArgs, out: &mut dyn Write) -> Result<ExitCode> {
    match &args.command {
        TokenCommand::Mint(a) => mint::run(a, out).map(|()| ExitCode::SUCCESS),
        TokenCommand::Verify(a) => verify::run(a, out),
    }
}

/// A reader that closed the pipe (`| head`) has what it wanted: not an error.
pub fn output(written: std::io::Result<()>) -> std::io::Result<()> {
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
