//! Read-only look-ups for the API, the stages and the notifier: jobs,
//! their events, their stored objects and generated files.

use super::{Ledger, LedgerError, Result, get, parse};
use crate::{from_millis, now_millis};
use schemas::events::{EVENT_VERSION, JobStatus, StatusEvent};
use schemas::model::v1::Diagnostic;
use schemas::{JobId, UserId};
use sea_orm::{QueryResult, Value};

/// A job row.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// Owner.
    pub user_id: UserId,
    /// Current status.
    pub status: JobStatus,
    /// Uploaded file name.
    pub file_name: String,
    /// Generator requested.
    pub generator: String,
    /// Generator version that produced the code.
    pub generator_version: Option<String>,
    /// Diagnostics of the parse (and failure).
    pub diagnostics: Vec<Diagnostic>,
    /// Failure reason, if failed or dead-lettered.
    pub error: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A stored object linked to a job.
#[derive(Debug, Clone)]
pub struct ObjectRecord {
    /// Object key.
    pub key: String,
    /// What it is (`source`, `model`, `code_zip`, `manifest`).
    pub kind: String,
    /// Hex sha256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
}

/// One generated file inside the job's zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFileRecord {
    /// Path inside the project.
    pub path: String,
    /// The zip object holding it.
    pub object_key: String,
    /// Hex sha256 of the file contents.
    pub sha256: String,
    /// Uncompressed size.
    pub size: i64,
    /// `generated` or `user`.
    pub owner: String,
    /// Offset of the entry's data inside the zip.
    pub zip_offset: i64,
    /// Stored length of the entry's data.
    pub zip_length: i64,
}

impl Ledger {
    pub(super) fn job_from(row: &QueryResult) -> Result<JobRecord> {
        let diagnostics: String = get(row, "diagnostics")?;
        Ok(JobRecord {
            id: parse(&get::<String>(row, "id")?, "job id")?,
            user_id: parse(&get::<String>(row, "user_id")?, "user id")?,
            status: parse(&get::<String>(row, "status")?, "status")?,
            file_name: get(row, "file_name")?,
            generator: get(row, "generator")?,
            generator_version: get(row, "generator_version")?,
            diagnostics: serde_json::from_str(&diagnostics).unwrap_or_default(),
            error: get(row, "error")?,
            created_at: get(row, "created_at")?,
            updated_at: get(row, "updated_at")?,
        })
    }

    pub(super) const JOB_COLUMNS: &'static str = "id, user_id, status, file_name, generator, generator_version, diagnostics, error, created_at, updated_at";

    /// A job by id, whoever owns it (stages and admins).
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {} FROM jobs WHERE id = $1", Self::JOB_COLUMNS);
        self.one(&sql, vec![id.to_string().into()])
            .await?
            .as_ref()
            .map(Self::job_from)
            .transpose()
    }

    /// A user's jobs, newest first, optionally with one status and only
    /// those created before the job `before` (the previous page's last).
    pub async fn jobs_of(
        &self,
        user: UserId,
        status: Option<JobStatus>,
        before: Option<JobId>,
        limit: u64,
    ) -> Result<Vec<JobRecord>> {
        // Ids are UUIDv7, so id order is creation order: `before` pages by key.
        let mut sql = format!("SELECT {} FROM jobs WHERE user_id = $1", Self::JOB_COLUMNS);
        let mut values: Vec<Value> = vec![user.to_string().into()];
        if let Some(s) = status {
            values.push(s.as_str().into());
            sql.push_str(&format!(" AND status = ${}", values.len()));
        }
        if let Some(b) = before {
            values.push(b.to_string().into());
            sql.push_str(&format!(" AND id < ${}", values.len()));
        }
        values.push((limit as i64).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", values.len()));
        self.all(&sql, values)
            .await?
            .iter()
            .map(Self::job_from)
            .collect()
    }

    fn event_from(row: &QueryResult, user: UserId) -> Result<StatusEvent> {
        let detail: String = get(row, "detail")?;
        Ok(StatusEvent {
            schema_version: EVENT_VERSION,
            seq: get(row, "id")?,
            job_id: parse(&get::<String>(row, "job_id")?, "job id")?,
            user_id: user,
            status: parse(&get::<String>(row, "status")?, "status")?,
            stage: parse(&get::<String>(row, "stage")?, "stage")?,
            at: from_millis(get(row, "at")?),
            detail: serde_json::from_str(&detail).unwrap_or_default(),
        })
    }

    /// Every event of one job, oldest first.
    pub async fn events(&self, job: JobId, user: UserId) -> Result<Vec<StatusEvent>> {
        self.all(
            "SELECT id, job_id, status, stage, detail, at FROM job_events WHERE job_id = $1 ORDER BY id",
            vec![job.to_string().into()],
        )
        .await?
        .iter()
        .map(|r| Self::event_from(r, user))
        .collect()
    }

    /// Every event of a user's unfinished jobs plus jobs changed in the
    /// last `recent_ms`, oldest first: the websocket snapshot.
    pub async fn snapshot_events(&self, user: UserId, recent_ms: i64) -> Result<Vec<StatusEvent>> {
        self.all(
            "SELECT e.id, e.job_id, e.status, e.stage, e.detail, e.at FROM job_events e JOIN jobs j ON j.id = e.job_id \
             WHERE j.user_id = $1 AND (j.status NOT IN ('done', 'failed', 'dead_lettered') OR j.updated_at >= $2) ORDER BY e.id",
            vec![user.to_string().into(), (now_millis() - recent_ms).into()],
        )
        .await?
        .iter()
        .map(|r| Self::event_from(r, user))
        .collect()
    }

    /// The objects linked to a job.
    pub async fn objects_of(&self, job: JobId) -> Result<Vec<ObjectRecord>> {
        self.all(
            "SELECT object_key, kind, sha256, size FROM objects WHERE job_id = $1 ORDER BY object_key",
            vec![job.to_string().into()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ObjectRecord {
                key: get(r, "object_key")?,
                kind: get(r, "kind")?,
                sha256: get(r, "sha256")?,
                size: get(r, "size")?,
            })
        })
        .collect()
    }

    /// The generated-file rows of a job, by path.
    pub async fn generated_files_of(&self, job: JobId) -> Result<Vec<GeneratedFileRecord>> {
        self.all(
            "SELECT path, object_key, sha256, size, owner, zip_offset, zip_length FROM generated_files WHERE job_id = $1 ORDER BY path",
            vec![job.to_string().into()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(GeneratedFileRecord {
                path: get(r, "path")?,
                object_key: get(r, "object_key")?,
                sha256: get(r, "sha256")?,
                size: get(r, "size")?,
                owner: get(r, "owner")?,
                zip_offset: get(r, "zip_offset")?,
                zip_length: get(r, "zip_length")?,
            })
        })
        .collect()
    }

    /// Jobs of a user that are not finished (the active-job cap).
    pub async fn active_jobs_of(&self, user: UserId) -> Result<i64> {
        let row = self
            .one(
                "SELECT COUNT(*) AS n FROM jobs WHERE user_id = $1 AND status NOT IN ('done', 'failed', 'dead_lettered')",
                vec![user.to_string().into()],
            )
            .await?
            .ok_or_else(|| LedgerError::Corrupt("count returned nothing".into()))?;
        get(&row, "n")
    }
}
