//! A job's life outside the stage runs: its creation by ingest, its
//! failure, a user's retry, and its deletion.

use super::{Ledger, ObjectRecord, Result, get};
use crate::now_millis;
use schemas::events::{JobStatus, StatusEvent};
use schemas::model::v1::Diagnostic;
use schemas::{JobId, Stage, UserId};
use sea_orm::{ConnectionTrait, TransactionTrait};

/// A new job, as ingest creates it.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Id.
    pub id: JobId,
    /// Owner.
    pub user_id: UserId,
    /// Uploaded file name.
    pub file_name: String,
    /// Generator requested.
    pub generator: String,
    /// Routing key of the first message.
    pub routing_key: String,
    /// The encoded first message (`job.uploaded`).
    pub message: String,
    /// The uploaded source, already stored.
    pub source: ObjectRecord,
}

impl Ledger {
    /// Creates a queued job with its first event, its `ingest` stage run and
    /// the outbox row of its first message, all in one transaction.
    pub async fn create_job(&self, job: &NewJob) -> Result<StatusEvent> {
        let now = now_millis();
        let tx = self.db.begin().await?;
        tx.execute_raw(self.stmt(
            "INSERT INTO jobs (id, user_id, status, file_name, generator, diagnostics, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![job.id.to_string().into(), job.user_id.to_string().into(), JobStatus::Queued.as_str().into(), job.file_name.clone().into(), job.generator.clone().into(), "[]".into(), now.into(), now.into()],
        ))
        .await?;
        let event = self
            .insert_event(
                &tx,
                job.id,
                job.user_id,
                JobStatus::Queued,
                Stage::Ingest,
                serde_json::json!({"file_name": job.file_name}),
            )
            .await?;
        tx.execute_raw(self.stmt(
            "INSERT INTO stage_runs (job_id, stage, output, completed_at) VALUES ($1, $2, $3, $4)",
            vec![
                job.id.to_string().into(),
                Stage::Ingest.as_str().into(),
                job.message.clone().into(),
                now.into(),
            ],
        ))
        .await?;
        tx.execute_raw(self.stmt(
            "INSERT INTO outbox (job_id, routing_key, body, created_at) VALUES ($1, $2, $3, $4)",
            vec![
                job.id.to_string().into(),
                job.routing_key.clone().into(),
                job.message.clone().into(),
                now.into(),
            ],
        ))
        .await?;
        tx.execute_raw(self.stmt(
            "INSERT INTO objects (object_key, job_id, kind, sha256, size, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![job.source.key.clone().into(), job.id.to_string().into(), job.source.kind.clone().into(), job.source.sha256.clone().into(), job.source.size.into(), now.into()],
        ))
        .await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Moves a job to `failed` or `dead_lettered` with its diagnostics and
    /// reason, unless it already reached a terminal status.
    pub async fn fail_job(
        &self,
        job: JobId,
        user: UserId,
        stage: Stage,
        status: JobStatus,
        reason: &str,
        diagnostics: &[Diagnostic],
    ) -> Result<Option<StatusEvent>> {
        let diag_json = serde_json::to_string(diagnostics).unwrap_or_else(|_| "[]".into());
        let tx = self.db.begin().await?;
        let changed = tx
            .execute_raw(self.stmt(
                "UPDATE jobs SET status = $1, error = $2, diagnostics = $3, updated_at = $4 WHERE id = $5 AND status NOT IN ('done', 'failed', 'dead_lettered')",
                vec![status.as_str().into(), reason.into(), diag_json.into(), now_millis().into(), job.to_string().into()],
            ))
            .await?
            .rows_affected();
        let event = if changed == 1 {
            let detail = serde_json::to_value(schemas::events::FailedDetail {
                reason: reason.to_string(),
                diagnostics: diagnostics.to_vec(),
            })
            .unwrap_or_default();
            Some(
                self.insert_event(&tx, job, user, status, stage, detail)
                    .await?,
            )
        } else {
            None
        };
        tx.commit().await?;
        Ok(event)
    }

    // ---- retry and delete ----

    /// Starts a failed or dead-lettered job over from its uploaded source:
    /// status back to `queued`, later stage runs forgotten, open dead letters
    /// closed, the first message queued again. Returns the event, or `None`
    /// if the job is not failed or dead-lettered.
    pub async fn retry_job(&self, job: JobId, user: UserId) -> Result<Option<StatusEvent>> {
        let Some(first) = self
            .one(
                "SELECT output FROM stage_runs WHERE job_id = $1 AND stage = 'ingest'",
                vec![job.to_string().into()],
            )
            .await?
        else {
            return Ok(None);
        };
        let message: String = get(&first, "output")?;
        let now = now_millis();
        let tx = self.db.begin().await?;
        let moved = tx
            .execute_raw(self.stmt(
                "UPDATE jobs SET status = 'queued', error = NULL, diagnostics = '[]', generator_version = NULL, updated_at = $1 \
                 WHERE id = $2 AND user_id = $3 AND status IN ('failed', 'dead_lettered')",
                vec![now.into(), job.to_string().into(), user.to_string().into()],
            ))
            .await?
            .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.execute_raw(self.stmt(
            "DELETE FROM stage_runs WHERE job_id = $1 AND stage <> 'ingest'",
            vec![job.to_string().into()],
        ))
        .await?;
        // A fresh start: crashes of earlier runs no longer count.
        tx.execute_raw(self.stmt(
            "UPDATE stage_leases SET crashes = 0 WHERE job_id = $1",
            vec![job.to_string().into()],
        ))
        .await?;
        tx.execute_raw(self.stmt(
            "UPDATE dead_letters SET replayed_at = $1 WHERE job_id = $2 AND replayed_at IS NULL",
            vec![now.into(), job.to_string().into()],
        ))
        .await?;
        let event = self
            .insert_event(
                &tx,
                job,
                user,
                JobStatus::Queued,
                Stage::Ingest,
                serde_json::json!({"retry": true}),
            )
            .await?;
        tx.execute_raw(self.stmt(
            "INSERT INTO outbox (job_id, routing_key, body, created_at) VALUES ($1, 'job.uploaded', $2, $3)",
            vec![job.to_string().into(), message.into(), now.into()],
        ))
        .await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    /// Removes every row of a job (its objects must be deleted by the
    /// caller first, from [`Ledger::objects_of`]).
    pub async fn delete_job(&self, job: JobId) -> Result<()> {
        let tx = self.db.begin().await?;
        for table in [
            "generated_files",
            "objects",
            "stage_runs",
            "job_events",
            "outbox",
            "dead_letters",
        ] {
            tx.execute_raw(self.stmt(
                &format!("DELETE FROM {table} WHERE job_id = $1"),
                vec![job.to_string().into()],
            ))
            .await?;
        }
        tx.execute_raw(self.stmt(
            "DELETE FROM jobs WHERE id = $1",
            vec![job.to_string().into()],
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
