//! The `c4forge` binary: parses the command line and configuration, then
//! calls the libraries. See ARCHITECTURE.md for the map of the workspace.

mod cli;
mod commands;
mod config;
mod exit;
mod fill;
mod serve;

/// mimalloc rather than the system allocator: the parser builds a model of
/// many small items, and with glibc's allocator a large diagram pays for
/// fresh pages on every parse (BENCHMARKS.md, "Fourth pass": 10 MB parses
/// 20% faster, and time grows linearly with the input).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::parse();
    #[cfg(feature = "failpoints")]
    if let Err(e) = runtime::failpoints::arm_from_env() {
        eprintln!("error: {e}");
        return exit::Exit::Usage.into();
    }
    match commands::run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            commands::exit_of(&e).into()
        }
    }
}
