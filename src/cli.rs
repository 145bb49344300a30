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
    /// Manage users directly in the configured database (operator tool).
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and replay the dead-letter queue directly in the configured
    /// deployment (operator tool; a running ingest relays replays).
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (password from --password, C4FORGE_USER_PASSWORD or stdin).
    Create {
        /// Login name.
        email: String,
        /// Password (prefer C4FORGE_USER_PASSWORD or stdin: flags show in `ps`).
        #[arg(long, env = "C4FORGE_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Grant the admin role (DLQ endpoints).
        #[arg(long)]
        admin: bool,
    },
}

/// `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, newest first.
    List {
        /// Only this stage.
        #[arg(long)]
        stage: Option<String>,
        /// Reason contains this text.
        #[arg(long)]
        reason: Option<String>,
        /// Include replayed entries.
        #[arg(long)]
        all: bool,
        /// Most entries.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Show one dead letter with its payload.
    Show {
        /// Entry id.
        id: i64,
    },
    /// Replay entries (idempotent: an entry replays once).
    Replay {
        /// Entry ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
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
