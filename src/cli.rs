//! Command-line interface definition.

pub use c4forge_client::args::{ClientOpts, DlqCommand, JobsArgs, LoginArgs, SubmitArgs};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Parses the process's command line; `--help` of the program and of each
/// command ends with the exit statuses. A bad command line exits with 2
/// (clap's status, [`crate::exit::Exit::Usage`]).
pub fn parse() -> Cli {
    let matches = Cli::command()
        .mut_subcommands(|c| c.after_help(crate::exit::HELP))
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Turns C4-PlantUML architecture diagrams into runnable Python service projects.
#[derive(Debug, Parser)]
#[command(name = "c4forge", version, about, after_help = crate::exit::HELP)]
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
    /// Inspect and replay the dead-letter queue: through a server's admin API
    /// with `--remote` (the session of `c4forge login`, or `--server`), or
    /// directly in the configured deployment's database (operator tool; a
    /// running ingest relays replays).
    Dlq(DlqArgs),
    /// Log in to a c4forge server and remember it (client).
    Login(LoginArgs),
    /// Upload diagrams through the local outbox: recorded first, sent with
    /// retries, delivered later if the server is down (client).
    Submit(SubmitArgs),
    /// List, show, watch and sync your jobs on the server (client).
    Jobs(JobsArgs),
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

/// `dlq` options.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// Talk to the server of `c4forge login` (or `--server`) instead of the database.
    #[arg(long)]
    pub remote: bool,
    /// Client session and server, for `--remote`.
    #[command(flatten)]
    pub client: ClientOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: DlqCommand,
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
    /// Diagram files (relative includes resolve from the including file,
    /// as in PlantUML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// With `--format json`: indent the JSON for reading (the default is
    /// compact, streamed: smaller and faster on large diagrams).
    #[arg(long)]
    pub pretty: bool,
    /// Confine relative includes to this directory (for diagrams from
    /// elsewhere); without it they are read wherever they point, as
    /// PlantUML reads them.
    #[arg(long, value_name = "DIR")]
    pub include_root: Option<PathBuf>,
}

/// `convert` options.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Diagram files (relative includes resolve from the including file,
    /// as in PlantUML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Confine relative includes to this directory (see `parse`).
    #[arg(long, value_name = "DIR")]
    pub include_root: Option<PathBuf>,
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
    /// Deployment targets to write under `deploy/<target>/` besides the code
    /// and docker-compose: a comma-separated list of k8s, aws-ecs,
    /// azure-aca, gcp-run, or `all` (default: none).
    #[arg(long, value_name = "TARGETS", default_value = "", value_parser = parse_deploy)]
    pub deploy: DeployTargets,
    /// Ask this model to write the bodies of the `impl/` modules, keeping
    /// only those that pass ruff and the project's tests (the endpoint:
    /// `C4FORGE_FILL_URL`, its key `C4FORGE_FILL_API_KEY`); modules you
    /// edited are never touched.
    #[arg(long, value_name = "MODEL")]
    pub fill: Option<String>,
}

/// The targets of `--deploy`, parsed from one comma-separated value (an
/// alias, so clap takes the list as one value rather than repeated flags).
pub type DeployTargets = Vec<schemas::deploy::DeployTarget>;

/// `--deploy`: the comma list as targets (one value, not clap's list, so
/// `all` and repeats behave the same everywhere).
fn parse_deploy(text: &str) -> Result<DeployTargets, String> {
    schemas::deploy::DeployTarget::parse_list(text).map_err(|e| e.to_string())
}
