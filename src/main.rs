//! The `c4forge` binary: parses the command line and configuration, then
//! calls the libraries. See ARCHITECTURE.md for the map of the workspace.

mod cli;
mod commands;
mod config;
mod serve;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
