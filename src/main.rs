//! The `c4forge` binary: parses the command line and configuration, then
//! calls the libraries. See ARCHITECTURE.md for the map of the workspace.

mod cli;
mod commands;
mod config;
mod serve;

use clap::Parser;

/// mimalloc rather than the system allocator: the parser builds a model of
/// many small items, and with glibc's allocator a large diagram pays for
/// fresh pages on every parse (BENCHMARKS.md, "Fourth pass": 10 MB parses
/// 20% faster, and time grows linearly with the input).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
