//! `runtime`: everything a c4forge stage needs from the outside world.
//!
//! Stages (parse, generate, store) are thin adapters around pure functions;
//! this crate gives them a bus to consume from and publish to, a database with
//! the job ledger, an object store, and a consumer loop that applies the
//! pipeline's delivery rules (idempotency, forward-only status, retry with
//! backoff, dead-lettering, ack only after commit and confirmed publish). It is
//! the only crate that knows lapin, sea-orm connections, object_store and
//! process signals.
//!
//! Module map:
//! - [`config`]: the configuration structs of a c4forge process (with defaults).
//! - [`breaker`]: circuit breakers per dependency (database, object store, bus).
//! - [`bus`]: the [`bus::Bus`] trait with an in-process backend (`bus/memory.rs`),
//!   a RabbitMQ backend (`bus/amqp.rs`) and a Kafka backend (`bus/kafka.rs`,
//!   feature `kafka`).
//! - [`db`]: database connection (SQLite or PostgreSQL) and migrations.
//! - [`jobs`]: the job ledger, one module per concern: `jobs/users.rs` (users,
//!   refresh tokens), `jobs/lifecycle.rs` (create, fail, retry, delete a job),
//!   `jobs/runs.rs` (stage runs and their leases, the sweep's queries),
//!   `jobs/records.rs` (the rows a stage run commits with it), `jobs/queries.rs`
//!   (read-only look-ups), `jobs/outbox.rs`, `jobs/dead_letters.rs`.
//! - [`objects`]: the object store (local directory or S3) keyed by `ObjectKey`.
//! - [`stage`]: the consumer loop and the typed stage errors.
//! - [`carry`]: how a stage hands a payload on (inline, deflated, or by object key) and opens it.
//! - [`outbox`]: the relay that publishes committed outbox rows, and the recovery sweep.
//! - [`telemetry`]: tracing and Prometheus metrics setup.
//! - [`shutdown`]: the shutdown signal shared by every task of a process.
//! - [`failpoints`] (feature `failpoints`): fault injection for the fault tests.

pub mod breaker;
pub mod bus;
pub mod carry;
pub mod config;
pub mod db;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod jobs;
pub mod objects;
pub mod outbox;
pub mod shutdown;
pub mod stage;
pub mod telemetry;

pub use config::Config;

/// Milliseconds since the Unix epoch: how timestamps are stored, identical
/// on SQLite and PostgreSQL.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Converts a stored millisecond timestamp back to a UTC time.
pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Installs the process-wide TLS crypto provider. Several dependencies enable
/// different rustls backends; without one chosen explicitly the first TLS
/// connection (HTTPS to S3, `amqps://`, PostgreSQL TLS) would fail.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
