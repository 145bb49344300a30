//! Configuration of a c4forge process.
//!
//! Loading order (implemented by the binary): defaults < `c4forge.toml` <
//! `C4FORGE_*` environment < command-line flags. Every struct denies unknown
//! fields so a typo in `c4forge.toml` is an error, not a silently ignored
//! setting. An empty URL means "embedded": the database and object directory
//! live under `data_dir` and the bus is in-process.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Default HTTP listen address (loopback: the embedded mode is a local tool).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default admin listen address of stage-only processes (any free port).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:0";
/// Default data directory of the embedded mode.
pub const DEFAULT_DATA_DIR: &str = "./c4forge-data";
/// Default name prefix of every exchange and queue.
pub const DEFAULT_BUS_PREFIX: &str = "c4forge";
/// Default unacknowledged deliveries per stage consumer.
pub const DEFAULT_PREFETCH: u16 = 8;
/// Default attempts of a stage before its message is dead-lettered.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Default largest accepted upload.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Default seconds a client has to send a request head (the first from
/// the connection's accept, later ones from their first byte).
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default seconds a client has to send a whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 60;
/// Default seconds a keep-alive connection may sit idle.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default cap on open HTTP connections (websockets included).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default cap on one user's websockets per notifier process.
pub const DEFAULT_MAX_WEBSOCKETS_PER_USER: usize = 32;
/// Default access token lifetime.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;
/// Default time budget of one stage run (the handler's work on one message).
pub const DEFAULT_RUN_TIMEOUT_SECS: u64 = 300;
/// Default lease of a stage run: how long a run counts as alive after its
/// start or its last heartbeat.
pub const DEFAULT_LEASE_SECS: u64 = 15;
/// Default interval of a running stage's lease heartbeat (a third of the
/// lease, so two missed beats still leave the lease alive).
pub const DEFAULT_HEARTBEAT_SECS: u64 = 5;
/// Default age of no progress after which the sweep re-enqueues a job
/// that no live stage run holds.
pub const DEFAULT_STALE_AFTER_SECS: u64 = 900;

/// The whole configuration of one process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded mode keeps its SQLite file and objects.
    pub data_dir: PathBuf,
    /// HTTP server settings (ingest and notifier).
    pub http: HttpConfig,
    /// Message bus settings.
    pub bus: BusConfig,
    /// Database settings.
    pub database: DatabaseConfig,
    /// Object store settings.
    pub objects: ObjectsConfig,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Consumer loop settings.
    pub stages: StagesConfig,
    /// Generation budgets of the generate stage and `convert`.
    pub generate: GenerateConfig,
    /// The optional model-written implementations (`fill` step): endpoint,
    /// models, budgets per job and concurrency per process.
    pub fill: FillConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            http: HttpConfig::default(),
            bus: BusConfig::default(),
            database: DatabaseConfig::default(),
            objects: ObjectsConfig::default(),
            auth: AuthConfig::default(),
            stages: StagesConfig::default(),
            generate: GenerateConfig::default(),
            fill: FillConfig::default(),
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address, `host:port`.
    pub listen: String,
    /// Public base URL used in the upload's absolute `location` and
    /// websocket links. When empty, the local address the request arrived
    /// on (never the client's `Host` header); set it behind a proxy or
    /// port mapping.
    pub public_url: String,
    /// Largest accepted request body in bytes (413 above).
    pub max_upload_bytes: usize,
    /// Uploads one user may make per minute (429 above).
    pub uploads_per_minute: u32,
    /// Sign-in and registration requests per client IP per minute.
    pub auth_per_minute: u32,
    /// Unfinished jobs one user may have at once (429 above).
    pub max_active_jobs: i64,
    /// Origins allowed by CORS (empty: same origin only).
    pub cors_origins: Vec<String>,
    /// Admin address (`/healthz`, `/readyz`, `/metrics`) of a process that
    /// runs neither ingest nor notifier; port 0 picks a free port.
    pub admin_listen: String,
    /// Seconds a client has to send a request head: the first from the
    /// moment its connection is accepted, later ones from their first
    /// byte. The connection is closed after it (slow-header clients).
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a whole request body, from the first
    /// time the server waits for it (a total, so a trickle cannot stretch
    /// it); the request then fails with 408.
    pub body_read_timeout_secs: u64,
    /// Seconds a keep-alive connection with no request in flight and no
    /// traffic stays open.
    pub idle_timeout_secs: u64,
    /// Open HTTP connections at most (websockets included); one more is
    /// answered 503 and closed at once.
    pub max_connections: usize,
    /// Websockets one user may have open on one notifier process; one more
    /// is answered 429.
    pub max_websockets_per_user: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_string(),
            public_url: String::new(),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            admin_listen: DEFAULT_ADMIN_LISTEN.to_string(),
            uploads_per_minute: 120,
            auth_per_minute: 60,
            max_active_jobs: 100,
            cors_origins: Vec::new(),
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT_SECS,
            body_read_timeout_secs: DEFAULT_BODY_READ_TIMEOUT_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_websockets_per_user: DEFAULT_MAX_WEBSOCKETS_PER_USER,
        }
    }
}

/// Message bus settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `amqp://user:pass@host:port/vhost`, or empty for the in-process bus.
    pub url: String,
    /// Prefix of every exchange and queue name, so several deployments (or
    /// tests) can share one broker.
    pub prefix: String,
    /// Unacknowledged deliveries per stage consumer (bounds stage concurrency).
    pub prefetch: u16,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            prefix: DEFAULT_BUS_PREFIX.to_string(),
            prefetch: DEFAULT_PREFETCH,
        }
    }
}

/// Database settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite://path?mode=rwc`; empty means the SQLite
    /// file `c4forge.db` in the data dir.
    pub url: String,
    /// Largest number of pooled connections (0 = driver default).
    pub max_connections: u32,
    /// SQLite only: make every commit durable against power loss and OS
    /// crashes (`synchronous=FULL`, an fsync per commit). Off by default:
    /// in WAL mode with `synchronous=NORMAL` a commit survives the process
    /// being killed, and only a power loss or OS crash may undo the last
    /// commits before a checkpoint (see docs/RUNTIME.md, "Durability of commits").
    pub sqlite_full_sync: bool,
}

/// Object store settings. S3 credentials and endpoint come from the standard
/// `AWS_*` environment variables so any S3-compatible server works.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// `s3://bucket[/prefix]` or `file:///dir`; empty means the `objects`
    /// directory in the data dir.
    pub url: String,
}

/// Authentication settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HMAC secret for access tokens. Empty in embedded mode means a random
    /// secret kept in the data dir; every process of a distributed
    /// deployment must share the same value.
    pub jwt_secret: String,
    /// Access token lifetime in seconds.
    pub token_ttl_secs: u64,
    /// Whether `POST /auth/register` is open.
    pub allow_register: bool,
    /// Refresh token lifetime in seconds.
    pub refresh_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            token_ttl_secs: DEFAULT_TOKEN_TTL_SECS,
            allow_register: true,
            refresh_ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// Consumer loop settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StagesConfig {
    /// Attempts (first try included) before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt, full jitter.
    pub retry_base_ms: u64,
    /// Largest retry delay in milliseconds.
    pub retry_max_ms: u64,
    /// A job that no live stage run holds and that made no progress for
    /// this many seconds is re-enqueued by the periodic sweep (longer than
    /// the largest retry delay tier).
    pub stale_after_secs: u64,
    /// Time budget of one stage run in seconds: a run that takes longer
    /// fails its job permanently with a reason naming this key (one slow
    /// diagram must not hold a stage's slots for everyone).
    pub run_timeout_secs: u64,
    /// Lease of a running stage run in seconds: the run's process records
    /// it when the run starts and renews it every `heartbeat_secs`; the
    /// sweep and redeliveries leave a job alone while its lease is live.
    /// A killed process's runs are taken over once it expires.
    pub lease_secs: u64,
    /// How often a running stage renews its lease, in seconds (less than
    /// `lease_secs`).
    pub heartbeat_secs: u64,
}

impl Default for StagesConfig {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_base_ms: 500,
            retry_max_ms: 30_000,
            stale_after_secs: DEFAULT_STALE_AFTER_SECS,
            run_timeout_secs: DEFAULT_RUN_TIMEOUT_SECS,
            lease_secs: DEFAULT_LEASE_SECS,
            heartbeat_secs: DEFAULT_HEARTBEAT_SECS,
        }
    }
}

/// A `stages` setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum StagesConfigError {
    /// A duration that must be positive is 0.
    #[error("stages.{0} must be at least 1 second")]
    Zero(&'static str),
    /// The heartbeat would let the lease expire between two beats.
    #[error(
        "stages.heartbeat_secs ({heartbeat}) must be less than stages.lease_secs ({lease}), or a live run's lease expires between two heartbeats"
    )]
    HeartbeatNotBelowLease {
        /// The configured heartbeat interval.
        heartbeat: u64,
        /// The configured lease.
        lease: u64,
    },
}

impl StagesConfig {
    /// Checks the time budget, lease and heartbeat settings together.
    pub fn validate(&self) -> Result<(), StagesConfigError> {
        for (name, value) in [
            ("run_timeout_secs", self.run_timeout_secs),
            ("lease_secs", self.lease_secs),
            ("heartbeat_secs", self.heartbeat_secs),
            ("stale_after_secs", self.stale_after_secs),
        ] {
            if value == 0 {
                return Err(StagesConfigError::Zero(name));
            }
        }
        if self.heartbeat_secs >= self.lease_secs {
            return Err(StagesConfigError::HeartbeatNotBelowLease {
                heartbeat: self.heartbeat_secs,
                lease: self.lease_secs,
            });
        }
        Ok(())
    }
}

/// Default largest number of elements and boundaries one generation takes.
pub const DEFAULT_GENERATE_MAX_ELEMENTS: usize = 2_000;
/// Default largest number of relationships one generation takes.
pub const DEFAULT_GENERATE_MAX_RELATIONSHIPS: usize = 5_000;
/// Default largest text field of the model (label, description, ...) in bytes.
pub const DEFAULT_GENERATE_MAX_TEXT_BYTES: usize = 8 * 1024;
/// Default largest generated project (contents and paths) in bytes.
pub const DEFAULT_GENERATE_MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// Generation budgets (issue 17): a diagram over one of them fails
/// (permanently in the service, with an error from `convert`) with a
/// diagnostic naming the limit, instead of occupying the generate stage for
/// minutes or producing a project of hundreds of megabytes. The defaults
/// leave real architecture diagrams far below every budget; the library
/// keeps the same defaults (`infer::limits`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerateConfig {
    /// Elements and boundaries over all diagrams of one upload.
    pub max_elements: usize,
    /// Relationships over all diagrams of one upload.
    pub max_relationships: usize,
    /// Bytes of one text field of the model (a label, technology,
    /// description, tag or link), which templates copy into many files.
    pub max_text_bytes: usize,
    /// Bytes of the generated project (file contents and paths), checked
    /// while rendering so generation stops as soon as it is crossed.
    pub max_output_bytes: usize,
    /// A generated file set whose JSON has at least this many bytes travels
    /// to the store stage deflated (`schemas::carried`): five- to eightfold
    /// fewer bytes through the stage run's row and the broker for about a
    /// millisecond of CPU. 0: never deflate.
    pub deflate_above_bytes: usize,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            max_elements: DEFAULT_GENERATE_MAX_ELEMENTS,
            max_relationships: DEFAULT_GENERATE_MAX_RELATIONSHIPS,
            max_text_bytes: DEFAULT_GENERATE_MAX_TEXT_BYTES,
            max_output_bytes: DEFAULT_GENERATE_MAX_OUTPUT_BYTES,
            deflate_above_bytes: schemas::messages::DEFLATE_ABOVE,
        }
    }
}

/// Default requests to the model endpoint per job (answers and retries).
pub const DEFAULT_FILL_MAX_REQUESTS: u32 = 64;
/// Default tokens (prompt and answer, as the endpoint reports them) per job.
pub const DEFAULT_FILL_MAX_TOKENS: u64 = 200_000;
/// Default seconds the fill step of one job may take in all.
pub const DEFAULT_FILL_MAX_SECONDS: u64 = 240;
/// Default seconds one request to the endpoint may take.
pub const DEFAULT_FILL_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Default answers asked for one module before its stub stays (the first
/// answer and the retries after a rejection by the gate).
pub const DEFAULT_FILL_MAX_ANSWERS: u32 = 2;
/// Default transport retries of one request (timeouts, 429, 5xx).
pub const DEFAULT_FILL_MAX_RETRIES: u32 = 3;
/// Default requests in flight to the endpoint per process.
pub const DEFAULT_FILL_CONCURRENCY: usize = 2;
/// Default largest answer body accepted from the endpoint.
pub const DEFAULT_FILL_MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Default `max_tokens` asked for one answer.
pub const DEFAULT_FILL_MAX_ANSWER_TOKENS: u32 = 4096;

/// An API key that never shows: `Debug` prints asterisks and it is never
/// serialized, so neither a log line nor `c4forge config` reveals it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from the environment or the configuration file.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    /// The key, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// No key configured (local endpoints such as Ollama need none).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"********\""
        })
    }
}

impl Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

/// The `[fill]` section: an OpenAI-compatible chat-completions endpoint
/// that may write the bodies of `impl/` modules, kept only when they pass
/// the verification gate. Off unless a job asks for it by model name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FillConfig {
    /// Base URL of the endpoint, up to and including `/v1` (for example
    /// `http://127.0.0.1:11434/v1` for Ollama); empty: filling is off.
    pub url: String,
    /// Models a job may ask for (`GET /api/v1/models`); the first is the
    /// default of the web page. `convert --fill MODEL` may name any.
    pub models: Vec<String>,
    /// Bearer key of the endpoint (`C4FORGE_FILL_API_KEY`); never logged,
    /// printed or stored with a job.
    pub api_key: ApiKey,
    /// Python used by the gate (`-m ruff`, `-m pytest`); empty: the
    /// `C4FORGE_PYTHON` environment variable, else `python3` on `PATH`.
    pub python: String,
    /// Requests to the endpoint per job, retries included.
    pub max_requests: u32,
    /// Tokens per job, as the endpoint reports them (estimated from the
    /// text length when it does not).
    pub max_tokens: u64,
    /// Seconds the fill step of one job may take; modules not reached by
    /// then keep their stubs.
    pub max_seconds: u64,
    /// Seconds one request may take (a timeout is retried).
    pub request_timeout_secs: u64,
    /// Answers asked for one module (the first and the retries after the
    /// gate rejected one) before its stub stays.
    pub max_answers: u32,
    /// Transport retries of one request: timeouts, 429 (after its
    /// `Retry-After`), 5xx.
    pub max_retries: u32,
    /// Requests in flight to the endpoint per process.
    pub concurrency: usize,
    /// Largest answer body read from the endpoint, in bytes.
    pub max_answer_bytes: usize,
    /// `max_tokens` asked for one answer.
    pub max_answer_tokens: u32,
}

impl Default for FillConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            models: Vec::new(),
            api_key: ApiKey::default(),
            python: String::new(),
            max_requests: DEFAULT_FILL_MAX_REQUESTS,
            max_tokens: DEFAULT_FILL_MAX_TOKENS,
            max_seconds: DEFAULT_FILL_MAX_SECONDS,
            request_timeout_secs: DEFAULT_FILL_REQUEST_TIMEOUT_SECS,
            max_answers: DEFAULT_FILL_MAX_ANSWERS,
            max_retries: DEFAULT_FILL_MAX_RETRIES,
            concurrency: DEFAULT_FILL_CONCURRENCY,
            max_answer_bytes: DEFAULT_FILL_MAX_ANSWER_BYTES,
            max_answer_tokens: DEFAULT_FILL_MAX_ANSWER_TOKENS,
        }
    }
}

impl FillConfig {
    /// Whether an endpoint is configured.
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }
}

impl Config {
    /// True when nothing external is configured: SQLite, local objects and
    /// the in-process bus.
    pub fn is_embedded(&self) -> bool {
        self.bus.url.is_empty()
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("c4forge.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// A copy with every secret masked, for `c4forge config` and logs.
    pub fn masked(&self) -> Config {
        let mut shown = self.clone();
        if !shown.auth.jwt_secret.is_empty() {
            shown.auth.jwt_secret = "********".into();
        }
        shown.bus.url = mask_url_password(&shown.bus.url);
        shown.database.url = mask_url_password(&shown.database.url);
        shown
    }
}

/// Replaces the password of a URL with `********`.
pub fn mask_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let mut c = Config::default();
        c.bus.url = "amqp://guest:secret@localhost:5672/%2f".into();
        c.auth.jwt_secret = "topsecret".into();
        let shown = serde_json::to_string(&c.masked()).unwrap_or_default();
        assert!(
            !shown.contains("secret@") && !shown.contains("topsecret"),
            "{shown}"
        );
    }

    #[test]
    fn stage_time_settings_are_checked_together() {
        assert!(StagesConfig::default().validate().is_ok());
        let bad = StagesConfig {
            heartbeat_secs: 15,
            lease_secs: 15,
            ..StagesConfig::default()
        };
        let err = bad.validate().expect_err("heartbeat not below lease");
        assert!(err.to_string().contains("stages.heartbeat_secs"), "{err}");
        let zero = StagesConfig {
            run_timeout_secs: 0,
            ..StagesConfig::default()
        };
        let err = zero.validate().expect_err("zero budget");
        assert!(err.to_string().contains("stages.run_timeout_secs"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Config>(r#"{"http":{"listn":"x"}}"#);
        assert!(err.is_err());
    }
}
