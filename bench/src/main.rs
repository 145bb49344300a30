//! `c4forge-bench`: the load generator and infrastructure probe of the
//! benchmarks (see `BENCHMARKS.md` and `scripts/bench.sh`).
//!
//! - `c4forge-bench load --server URL --jobs N (--rate R | --concurrency C)`
//!   drives a running c4forge server (loopback only) over its public API and
//!   reports throughput, upload-to-done latency, errors, and the RSS and CPU
//!   time of the server processes given with `--pid`.
//! - `c4forge-bench infra --amqp URL --database URL --s3-bucket B` measures
//!   the raw capacity of the local RabbitMQ, PostgreSQL and S3 server through
//!   c4forge's own `runtime` code paths.
//! - `c4forge-bench ws --server URL --clients N --pid PID` measures websocket
//!   fan-out: the notifier's memory per idle connection, then N clients each
//!   following its own job, with delivery latency from commit to client.

use c4forge_bench as bench;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = bench::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("c4forge-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("c4forge-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
