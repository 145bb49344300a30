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
