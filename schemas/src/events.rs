//! Job status and the status events that the notifier pushes to clients.

use crate::{JobId, Stage, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job is. Transitions only move forward:
/// `queued -> parsing -> generating [-> filling] -> storing -> done` (`filling`
/// only for jobs that asked for model-written bodies), or to `failed`
/// (permanent error) or `dead_lettered` (retries exhausted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Accepted, waiting for the parse stage.
    Queued,
    /// The parse stage is working on it.
    Parsing,
    /// The generate stage is working on it.
    Generating,
    /// The fill stage is asking a model for the `impl/` bodies (jobs that
    /// asked for it only).
    Filling,
    /// The store stage is working on it.
    Storing,
    /// Finished; the project can be downloaded.
    Done,
    /// Failed permanently (for example an invalid diagram); see diagnostics.
    Failed,
    /// Retries exhausted; the message is in the dead-letter queue.
    DeadLettered,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Queued,
        JobStatus::Parsing,
        JobStatus::Generating,
        JobStatus::Filling,
        JobStatus::Storing,
        JobStatus::Done,
        JobStatus::Failed,
        JobStatus::DeadLettered,
    ];

    /// The stable lowercase name stored in the database and sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Parsing => "parsing",
            JobStatus::Generating => "generating",
            JobStatus::Filling => "filling",
            JobStatus::Storing => "storing",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::DeadLettered => "dead_lettered",
        }
    }

    /// No further transition happens on its own from a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed | JobStatus::DeadLettered
        )
    }

    /// The status a stage sets when it starts work, and the statuses it may
    /// move from (forward-only update). `None` for stages that do not own a
    /// job transition.
    pub fn started_by(stage: Stage) -> Option<(JobStatus, &'static [JobStatus])> {
        match stage {
            Stage::Parse => Some((JobStatus::Parsing, &[JobStatus::Queued, JobStatus::Parsing])),
            Stage::Generate => Some((
                JobStatus::Generating,
                &[JobStatus::Parsing, JobStatus::Generating],
            )),
            Stage::Fill => Some((
                JobStatus::Filling,
                &[JobStatus::Generating, JobStatus::Filling],
            )),
            Stage::Store => Some((
                JobStatus::Storing,
                &[
                    JobStatus::Generating,
                    JobStatus::Filling,
                    JobStatus::Storing,
                ],
            )),
            Stage::Ingest | Stage::Notifier => None,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`JobStatus::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown job status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// Version of [`StatusEvent`].
pub const EVENT_VERSION: u32 = 1;

/// One job transition, as stored in `job_events` and pushed to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusEvent {
    /// [`EVENT_VERSION`].
    pub schema_version: u32,
    /// Monotonic id of the event (the `job_events` row id); clients use it
    /// to drop duplicates between the snapshot and live events.
    pub seq: i64,
    /// The job.
    pub job_id: JobId,
    /// The job's owner; events are only delivered to them.
    pub user_id: UserId,
    /// The new status.
    pub status: JobStatus,
    /// The stage that made the transition.
    pub stage: Stage,
    /// When the transition was committed.
    pub at: DateTime<Utc>,
    /// Progress detail, by status: `queued` has `{"file_name"}`;
    /// `generating` has a [`ParsedDetail`] (what the parse stage found);
    /// `filling` has a [`FillingDetail`] (model and modules to ask for);
    /// `storing` has a [`GeneratedDetail`] (what the generate stage
    /// produced, with `fill`, a [`FilledDetail`], after a fill); `done` has a [`DoneDetail`] (files and links); `failed`
    /// and `dead_lettered` have a [`FailedDetail`] (reason, diagnostics with
    /// line and column); `parsing` has none (null). A retried or replayed
    /// job's event says so (`{"retry": true}`, `{"replayed_dead_letter"}`).
    /// Kept as JSON so that clients of an older version ignore fields they
    /// do not know.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Detail of the `generating` event: the parse stage's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParsedDetail {
    /// C4 elements found, over every diagram of the upload.
    pub elements: u64,
    /// Relationships found.
    pub relationships: u64,
    /// Diagnostics that did not stop the job (warnings).
    pub warnings: u64,
}

/// Detail of the `storing` event: the generate stage's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeneratedDetail {
    /// Files in the generated project.
    pub files: u64,
    /// Their total size in bytes (contents and paths).
    pub bytes: u64,
    /// The generator that produced them.
    pub generator: String,
}

/// Detail of the `filling` event: what the fill step is about to ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FillingDetail {
    /// The model asked.
    pub model: String,
    /// `impl/` modules it may write.
    pub modules: u64,
}

/// Counts of a finished fill step: in the `storing` event that follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilledDetail {
    /// The model asked.
    pub model: String,
    /// `impl/` modules considered.
    pub modules: u64,
    /// Modules whose answer passed the gate and replaced the stub.
    pub accepted: u64,
    /// Modules whose every answer the gate rejected (stub kept).
    pub rejected: u64,
    /// Modules the endpoint gave no usable answer for (stub kept).
    pub failed: u64,
    /// Modules not asked (user edits, budget, breaker; stub kept).
    pub skipped: u64,
}

/// Detail of the `done` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DoneDetail {
    /// Files stored.
    pub files: u64,
    /// The generator used.
    pub generator: String,
    /// Its version.
    pub generator_version: String,
    /// Where to get the result.
    pub links: DoneLinks,
}

/// API paths of a finished job's results (relative to the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DoneLinks {
    /// The job record (`GET`).
    pub job: String,
    /// The project as a zip.
    pub code_zip: String,
    /// Single files: append the file's path.
    pub code_files: String,
}

impl DoneLinks {
    /// The links of `job`.
    pub fn of(job: JobId) -> Self {
        Self {
            job: format!("/api/v1/diagrams/{job}"),
            code_zip: format!("/api/v1/diagrams/{job}/code.zip"),
            code_files: format!("/api/v1/diagrams/{job}/code/"),
        }
    }
}

/// Detail of the `failed` and `dead_lettered` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedDetail {
    /// Why, in one sentence.
    pub reason: String,
    /// The parser's diagnostics (line, column, message), empty when the
    /// failure is not about the diagram.
    pub diagnostics: Vec<crate::model::v1::Diagnostic>,
}

/// A message the server sends over the websocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsServerMessage {
    /// A status event; `snapshot` is true for events replayed from the
    /// database on connect or subscribe.
    Event {
        /// The event.
        event: StatusEvent,
        /// Replayed from history rather than live.
        snapshot: bool,
    },
    /// The snapshot is complete; everything after is live.
    SnapshotDone,
    /// The server is closing or refused a request.
    Error {
        /// Why.
        message: String,
    },
}
