//! The `posture` command line. Thin: parse, run, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            // A usage error is bad input like any other: one line, exit 2.
            _ => {
                eprintln!("posture: error: {}", cli::usage_error_line(&e));
                return ExitCode::from(2);
            }
        },
    };
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            if cli::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("posture: error: {}", cli::error_line(&e));
            ExitCode::from(2)
        }
    }
}
