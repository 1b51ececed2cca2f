//! The `jitsi-meet-tokens` binary: parse arguments, call one library entry point,
//! turn its result into an exit code (0 ok, 1 failure, 2 bad usage).

use clap::Parser;
use jitsi_meet_tokens::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Configure(a) => jitsi_meet_tokens::configure::main(a),
        Command::Unconfigure(a) => jitsi_meet_tokens::unconfigure::main(a),
        Command::Token(a) => match jitsi_meet_tokens::token_cmd::run(&a, &mut std::io::stdout()) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(jitsi_meet_tokens::error::exit_code(&e) as u8)
            }
        },
    }
}
