//! Job status and the status events that the notifier pushes to clients.

use crate::{JobId, Stage, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job is. Transitions only move forward:
/// `queued -> parsing -> generating -> storing -> done`, or to `failed`
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
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Queued,
        JobStatus::Parsing,
        JobStatus::Generating,
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
            Stage::Store => Some((
                JobStatus::Storing,
                &[JobStatus::Generating, JobStatus::Storing],
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
    /// Progress detail: counts after parsing, files generated, links when
    /// done, diagnostics when failed.
    #[serde(default)]
    pub detail: serde_json::Value,
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
