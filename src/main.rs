//! The `posture` command line. Thin: parse, run, map the outcome to an exit code.

mod cli;
mod live_cmd;
mod report_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            if cli::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("posture: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
