//! Command-line interface definition.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Turns C4-PlantUML architecture diagrams into runnable Python service projects.
#[derive(Debug, Parser)]
#[command(name = "c4forge", version, about)]
pub struct Cli {
    /// Configuration file (default: ./c4forge.toml when it exists).
    #[arg(long, global = true, env = "C4FORGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded mode (SQLite file, objects, secret).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: every stage in one process (embedded mode, the
    /// default) or the stages named by --stages (distributed mode).
    Serve(ServeArgs),
    /// Parse diagrams and print the model (JSON) or a tree with diagnostics (text).
    Parse(ParseArgs),
    /// Generate a project from diagrams into a directory, offline.
    Convert(ConvertArgs),
    /// Apply the database schema migrations and exit.
    Migrate,
    /// Print the effective configuration with secrets masked.
    Config,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address (ingest and notifier).
    #[arg(long)]
    pub listen: Option<String>,
    /// Stages to run in this process, comma separated:
    /// ingest, parse, generate, store, notifier (default: all).
    #[arg(long, value_delimiter = ',')]
    pub stages: Vec<String>,
}

/// Output format of `parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The model IR as JSON (the public contract).
    Json,
    /// A tree of the model plus diagnostics with carets.
    Text,
}

/// `parse` options.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Diagram files (relative includes resolve below each file's directory).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `convert` options.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Diagram files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output directory (created if missing; regenerated safely if it exists).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Generator name.
    #[arg(long = "model", default_value = infer::DEFAULT_GENERATOR)]
    pub model: String,
    /// Template overlay directory.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Only print what would be created, updated, deleted and kept.
    #[arg(long)]
    pub dry_run: bool,
}
