//! The `jitsi-meet-tokens` binary: parse arguments, call one library entry point,
//! turn its result into an exit code (0 ok, 1 failure, 2 bad usage).

use clap::{CommandFactory, Parser};
use jitsi_meet_tokens::cli::{Cli, Command};
use jitsi_meet_tokens::{configure, error, manpage, status, token_cmd, unconfigure};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Configure(_) | Command::Unconfigure(_)) {
        // Read-only commands: a closed pipe (`| head`) ends them quietly, as for any
        // Unix filter. Never for configure/unconfigure, which must not die mid-write.
        // SAFETY: set before any thread exists; SIG_DFL is always a valid handler.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    let mut out = std::io::stdout();
    let result = match cli.command {
        Command::Configure(a) => return configure::main(a),
        Command::Unconfigure(a) => return unconfigure::main(a),
        Command::CheckDomain(a) => return configure::check_domain_main(a),
        Command::Status(a) => status::run(&a, &mut out),
        Command::Token(a) => token_cmd::run(&a, &mut out),
        Command::Man(a) => {
            manpage::run_man(&a, Cli::command(), &mut out).map(|()| ExitCode::SUCCESS)
        }
        Command::Completions(a) => {
            manpage::run_completions(&a, Cli::command(), &mut out).map(|()| ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("jitsi-meet-tokens: error: {}", error::render(&e));
        ExitCode::from(error::exit_code(&e) as u8)
    })
}
