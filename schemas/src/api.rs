//! Request and response bodies of the HTTP API (`/api/v1`).

use crate::JobId;
use crate::events::{JobStatus, StatusEvent};
use crate::model::v1::Diagnostic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /auth/register` and `POST /auth/token` body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// E-mail address; case-insensitive (stored trimmed and lowercased).
    pub email: String,
    /// Plain-text password; only its argon2id hash is stored.
    pub password: String,
}

/// `POST /auth/register` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// Login name.
    pub email: String,
    /// Whether the user may use admin endpoints.
    pub is_admin: bool,
}

/// `POST /auth/token` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A JWT for the `Authorization: Bearer` header and the websocket.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use token for `POST /auth/refresh` (rotated on each use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `POST /diagrams` response (202 Accepted).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiagramAccepted {
    /// The new job.
    pub job_id: JobId,
    /// Always `queued`.
    pub status: JobStatus,
    /// URL of the job resource (also in the `Location` header).
    pub location: String,
    /// Websocket URL that streams this job's events.
    pub websocket: String,
}

/// `GET /diagrams/{id}` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job.
    pub job_id: JobId,
    /// Current status.
    pub status: JobStatus,
    /// The uploaded file name.
    pub file_name: String,
    /// Generator name.
    pub generator: String,
    /// Generator version that produced the code, once generated.
    pub generator_version: Option<String>,
    /// When the job was accepted.
    pub created_at: DateTime<Utc>,
    /// When the job last changed.
    pub updated_at: DateTime<Utc>,
    /// Parser diagnostics (and the failure reason, if any).
    pub diagnostics: Vec<Diagnostic>,
    /// Every transition, oldest first.
    pub history: Vec<StatusEvent>,
    /// Download links once done.
    pub links: JobLinks,
}

/// Links of a job's resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobLinks {
    /// This resource.
    pub this: String,
    /// The generated project as a zip, once done.
    pub code_zip: Option<String>,
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI naming the error kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human title.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What exactly went wrong.
    pub detail: String,
}

/// `GET /readyz` body: each dependency's state, `ok` or the error met.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// The database ping.
    pub database: String,
    /// The bus check.
    pub bus: String,
    /// The object store check.
    pub objects: String,
    /// Each circuit breaker's state (`closed`, `open`, `half_open`) by
    /// dependency; an open one makes the process not ready.
    pub breakers: std::collections::BTreeMap<String, String>,
}

/// One registered generator (`GET /models`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeneratorView {
    /// The name an upload's `generator` query names.
    pub name: String,
    /// Its version, recorded on each job it generates.
    pub version: String,
    /// What it produces.
    pub description: String,
}

/// `GET /models` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeneratorList {
    /// Every registered generator.
    pub items: Vec<GeneratorView>,
    /// The language models an upload's `fill` may name (empty, and absent
    /// from older servers: no fill endpoint configured).
    #[serde(default)]
    pub fill: Vec<FillModelView>,
}

/// One language model the optional fill step may ask to write the
/// `impl/` bodies (configured by `fill.models` / `C4FORGE_FILL_MODEL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FillModelView {
    /// The name an upload's `fill` names, sent to the endpoint as is.
    pub name: String,
    /// Its version: the tag after `:` (`qwen2.5-coder:7b` is `7b`), else
    /// `latest`, as Ollama and vLLM name model versions.
    pub version: String,
    /// The web page's preselected choice (the first configured).
    pub default: bool,
}

impl FillModelView {
    /// The views of the configured model names, the first the default.
    pub fn of(names: &[String]) -> Vec<Self> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Self {
                name: name.clone(),
                version: name
                    .rsplit_once(':')
                    .map(|(_, tag)| tag.to_string())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "latest".to_string()),
                default: i == 0,
            })
            .collect()
    }
}

/// One job of the job list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobSummary {
    /// The job.
    pub job_id: JobId,
    /// Current status.
    pub status: JobStatus,
    /// The uploaded file name.
    pub file_name: String,
    /// When the job was accepted.
    pub created_at: DateTime<Utc>,
    /// Its resource and, once done, its download.
    pub links: JobLinks,
}

/// `GET /diagrams` response: one page of the caller's jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobPage {
    /// The jobs of this page.
    pub items: Vec<JobSummary>,
    /// The next page, or null on the last one.
    pub next: Option<String>,
}

/// One generated file of a job's code manifest.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeFile {
    /// Path inside the project.
    pub path: String,
    /// Hex SHA-256 of the contents.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// `generated` or `user`.
    pub owner: String,
    /// Where to download this file alone.
    pub link: String,
}

/// `GET /diagrams/{id}/code` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeManifest {
    /// The job.
    pub job_id: JobId,
    /// Generator name.
    pub generator: String,
    /// Generator version that produced the code.
    pub generator_version: Option<String>,
    /// The whole project as a zip.
    pub code_zip: String,
    /// Every generated file.
    pub files: Vec<CodeFile>,
}

/// `POST /diagrams/{id}/retry` response (202 Accepted).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryAccepted {
    /// The job.
    pub job_id: JobId,
    /// Always `queued`.
    pub status: JobStatus,
}

/// One entry of the dead-letter queue.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    /// Entry id (what replay takes).
    pub id: i64,
    /// The job.
    pub job_id: String,
    /// The stage that gave up.
    pub stage: String,
    /// Why.
    pub reason: String,
    /// Attempts made.
    pub attempts: i64,
    /// First failure.
    pub first_failed_at: DateTime<Utc>,
    /// Last failure.
    pub last_failed_at: DateTime<Utc>,
    /// When it was replayed, if it was.
    pub replayed_at: Option<DateTime<Utc>>,
}

/// `GET /admin/dlq` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    /// The entries matching the filters.
    pub items: Vec<DeadLetterView>,
    /// Entries not replayed yet, in the whole queue.
    pub unreplayed: i64,
}

/// `GET /admin/dlq/{id}` response: the entry and its message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetterDetail {
    /// The entry.
    #[serde(flatten)]
    pub entry: DeadLetterView,
    /// The message body: its JSON, or the raw text when it is not JSON.
    pub payload: serde_json::Value,
}

/// What a replay of one dead letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    /// The message is back in the pipeline.
    Queued,
    /// It was replayed before: nothing done.
    AlreadyReplayed,
}

/// `POST /admin/dlq/{id}/replay` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayOutcome {
    /// The entry.
    pub id: i64,
    /// What happened.
    pub status: ReplayStatus,
}

/// `POST /admin/dlq/replay` response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkReplay {
    /// The entries put back into the pipeline.
    pub replayed: Vec<i64>,
}
