//! The benchmark tool behind `c4forge-bench`: command line, and the shared
//! harness (closed-loop runner, percentiles, `/proc` sampling) used by both
//! the load generator ([`load`]) and the infrastructure probe ([`infra`]).

pub mod fanout;
pub mod infra;
pub mod load;
pub mod procs;
pub mod stats;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `c4forge-bench` command line.
#[derive(Debug, Parser)]
#[command(
    name = "c4forge-bench",
    version,
    about = "Load generator and infrastructure probe of the c4forge benchmarks"
)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub command: Command,
}

/// The two measurements.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive a running server: register, one websocket, N uploads.
    Load(LoadArgs),
    /// Measure RabbitMQ, PostgreSQL and S3 through c4forge's runtime code.
    Infra(InfraArgs),
    /// Websocket fan-out: memory per idle connection, then N clients each
    /// following its own job, with delivery latency from commit to client.
    Ws(WsArgs),
}

/// Options of `c4forge-bench ws`.
#[derive(Debug, Args)]
pub struct WsArgs {
    /// Base URL of the server's API (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Websocket clients (and jobs), at most 50000; each needs a file
    /// descriptor here and one in the server (`ulimit -n`).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// The notifier process whose RSS is read (per-connection memory).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Uploads (each followed by its websocket connect) in flight at once.
    #[arg(long, default_value_t = 32)]
    pub upload_concurrency: usize,
    /// Idle websocket handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Give up on clients still waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub max_secs: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Free-form label printed with the results (scenario name).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// Options of `c4forge-bench load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Base URL of the server's API (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Uploads to submit (at most 100000).
    #[arg(long, default_value_t = 100)]
    pub jobs: usize,
    /// Open loop: uploads started per second, whatever the server does.
    #[arg(
        long,
        conflicts_with = "concurrency",
        required_unless_present = "concurrency"
    )]
    pub rate: Option<f64>,
    /// Closed loop: jobs in flight at once (each waits for `done`).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Server process ids whose RSS and CPU time are reported (repeatable).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// The diagram to upload (default: the big bank container sample).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Stop submitting and waiting after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub max_secs: u64,
    /// A job not done this long after its upload counts as a timeout.
    #[arg(long, default_value_t = 120)]
    pub job_timeout_secs: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Free-form label printed with the results (scenario name).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// Options of `c4forge-bench infra`.
#[derive(Debug, Args)]
pub struct InfraArgs {
    /// RabbitMQ URL, ideally of a fresh vhost (queues are left behind).
    #[arg(long)]
    pub amqp: Option<String>,
    /// PostgreSQL URL of a fresh, empty database (it is migrated).
    #[arg(long)]
    pub database: Option<String>,
    /// S3 bucket (existing; endpoint and credentials from `AWS_*`).
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Operations per measurement (at most 1000000).
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Stop a measurement after this many seconds even if `count` is not reached.
    #[arg(long, default_value_t = 20.0)]
    pub secs: f64,
    /// Operations in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Size of a published message in bytes.
    #[arg(long, default_value_t = 1024)]
    pub msg_bytes: usize,
    /// Size of a stored object in bytes.
    #[arg(long, default_value_t = 8192)]
    pub object_bytes: usize,
    /// Generated-file rows the ledger job path records per job.
    #[arg(long, default_value_t = 40)]
    pub files_per_job: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs the selected command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    runtime::install_crypto_provider();
    match cli.command {
        Command::Load(args) => load::run(args).await,
        Command::Infra(args) => infra::run(args).await,
        Command::Ws(args) => fanout::run(args).await,
    }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
