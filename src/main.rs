//! The `c4forge` binary: parses the command line and configuration, then
//! calls the libraries. See ARCHITECTURE.md for the map of the workspace.

mod cli;
mod commands;
mod config;
mod serve;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    #[cfg(feature = "failpoints")]
    if let Err(e) = runtime::failpoints::arm_from_env() {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(2);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
