//! The command-line arguments of the client commands (`login`, `submit`,
//! `jobs`, `dlq --remote`), as clap definitions the binary's command line
//! embeds. `dlq`'s subcommands are shared with the binary's operator tool,
//! which runs them directly on a database.

use clap::{Args, Subcommand};
use std::path::PathBuf;

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

/// Options shared by the client commands (`login`, `submit`, `jobs`).
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Client state directory (session, outbox)
    /// [default: $XDG_CONFIG_HOME/c4forge or ~/.config/c4forge].
    #[arg(long, global = true, env = "C4FORGE_CLIENT_DIR")]
    pub client_dir: Option<PathBuf>,
    /// Server URL [default: the one of `c4forge login`].
    #[arg(long, global = true, env = "C4FORGE_SERVER")]
    pub server: Option<String>,
}

/// `login` options (password from C4FORGE_PASSWORD or stdin).
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Where and with which state directory.
    #[command(flatten)]
    pub client: ClientOpts,
    /// Login name [default: the stored one, else asked on stdin].
    #[arg(long, env = "C4FORGE_EMAIL")]
    pub email: Option<String>,
    /// Register the account first (an existing account just logs in).
    #[arg(long)]
    pub register: bool,
}

/// How `--watch` and `jobs watch` follow jobs.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Save each finished project's zip into this directory.
    #[arg(long, value_name = "DIR")]
    pub download: Option<PathBuf>,
    /// Stop watching after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// `submit` options.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Diagram files; none just sends what is pending in the outbox.
    pub files: Vec<PathBuf>,
    /// Where and with which state directory.
    #[command(flatten)]
    pub client: ClientOpts,
    /// Send what is pending (also done when files are given).
    #[arg(long)]
    pub resume: bool,
    /// Seconds to keep retrying while the server is unreachable; what is
    /// left is sent by the next `submit` or `jobs sync`.
    #[arg(long, default_value_t = 30)]
    pub wait_secs: u64,
    /// Follow the accepted jobs with progress bars.
    #[arg(long)]
    pub watch: bool,
    /// Watch options.
    #[command(flatten)]
    pub watching: WatchArgs,
}

/// `jobs` options.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Where and with which state directory.
    #[command(flatten)]
    pub client: ClientOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: JobsCommand,
}

/// `jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Your newest jobs on the server, and the uploads still in the outbox.
    List {
        /// Most jobs.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One job: status, history, diagnostics, download link.
    Show {
        /// Job id.
        id: String,
    },
    /// Follow jobs with progress bars (default: your unfinished jobs).
    Watch {
        /// Job ids.
        ids: Vec<String>,
        /// Watch options.
        #[command(flatten)]
        watching: WatchArgs,
    },
    /// Send the uploads pending in the outbox.
    Sync {
        /// Seconds to keep retrying while the server is unreachable.
        #[arg(long, default_value_t = 30)]
        wait_secs: u64,
        /// Follow the accepted jobs with progress bars.
        #[arg(long)]
        watch: bool,
        /// Watch options.
        #[command(flatten)]
        watching: WatchArgs,
    },
}
