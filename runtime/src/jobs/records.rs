//! What a stage's work leaves in the ledger besides its stage run: the
//! objects it stored, the job's diagnostics, the generated-file rows and the
//! generator version.
//!
//! A stage hands these to [`Ledger::complete_stage`] as [`StageRecords`],
//! which writes them in the transaction that records the stage run: one
//! commit per stage instead of one per row kind, and no state in which the
//! rows exist without the run (or the run without its rows). The standalone
//! methods below write the same rows on their own, for callers outside a
//! stage (the infrastructure benchmark, tests).

use super::{GeneratedFileRecord, Ledger, ObjectRecord, Result, placeholders};
use crate::now_millis;
use schemas::JobId;
use schemas::model::v1::Diagnostic;
use sea_orm::{ConnectionTrait, TransactionTrait, Value};

/// Rows per multi-row INSERT of generated files (8 parameters each, far
/// below SQLite's and PostgreSQL's parameter limits).
pub(super) const FILE_ROWS_PER_INSERT: usize = 200;

/// The ledger rows a stage's work produced, committed together with its
/// stage run (see the module doc). Everything is optional: a stage fills in
/// what it made.
#[derive(Debug, Clone, Default)]
pub struct StageRecords {
    /// Objects the stage stored, linked to the job (upserts: a retried PUT
    /// rewrites the object under the same key, and its row follows).
    pub objects: Vec<ObjectRecord>,
    /// The job's diagnostics (warnings of a job that continues), replacing
    /// the stored ones.
    pub diagnostics: Option<Vec<Diagnostic>>,
    /// The job's generated-file rows, replacing the stored ones.
    pub generated_files: Option<Vec<GeneratedFileRecord>>,
    /// The generator version that produced the job's code.
    pub generator_version: Option<String>,
}

impl StageRecords {
    /// Nothing to record.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
            && self.diagnostics.is_none()
            && self.generated_files.is_none()
            && self.generator_version.is_none()
    }
}

impl Ledger {
    /// Writes `records` of `job` on `conn` (a transaction of the caller's).
    pub(super) async fn write_records(
        &self,
        conn: &impl ConnectionTrait,
        job: JobId,
        records: &StageRecords,
    ) -> Result<()> {
        let job_id = job.to_string();
        if !records.objects.is_empty() {
            let now = now_millis();
            let mut sql = String::from(
                "INSERT INTO objects (object_key, job_id, kind, sha256, size, created_at) VALUES ",
            );
            let mut values: Vec<Value> = Vec::with_capacity(records.objects.len() * 6);
            for (i, rec) in records.objects.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("({})", placeholders(i * 6 + 1, 6)));
                values.extend([
                    rec.key.clone().into(),
                    job_id.clone().into(),
                    rec.kind.clone().into(),
                    rec.sha256.clone().into(),
                    rec.size.into(),
                    now.into(),
                ]);
            }
            sql.push_str(
                " ON CONFLICT (object_key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size",
            );
            conn.execute_raw(self.stmt(&sql, values)).await?;
        }
        match (&records.diagnostics, &records.generator_version) {
            (None, None) => {}
            (diagnostics, version) => {
                // One UPDATE for whichever of the two job columns is set.
                let mut sets = Vec::new();
                let mut values: Vec<Value> = Vec::new();
                if let Some(diagnostics) = diagnostics {
                    let json = serde_json::to_string(diagnostics).unwrap_or_else(|_| "[]".into());
                    values.push(json.into());
                    sets.push(format!("diagnostics = ${}", values.len()));
                }
                if let Some(version) = version {
                    values.push(version.clone().into());
                    sets.push(format!("generator_version = ${}", values.len()));
                }
                values.push(job_id.clone().into());
                let sql = format!(
                    "UPDATE jobs SET {} WHERE id = ${}",
                    sets.join(", "),
                    values.len()
                );
                conn.execute_raw(self.stmt(&sql, values)).await?;
            }
        }
        if let Some(files) = &records.generated_files {
            conn.execute_raw(self.stmt(
                "DELETE FROM generated_files WHERE job_id = $1",
                vec![job_id.clone().into()],
            ))
            .await?;
            // Multi-row INSERTs: one round trip per chunk instead of per
            // file (a project has dozens of files).
            for chunk in files.chunks(FILE_ROWS_PER_INSERT) {
                let mut sql = String::from(
                    "INSERT INTO generated_files (job_id, path, object_key, sha256, size, owner, zip_offset, zip_length) VALUES ",
                );
                let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
                for (i, f) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("({})", placeholders(i * 8 + 1, 8)));
                    values.extend([
                        job_id.clone().into(),
                        f.path.clone().into(),
                        f.object_key.clone().into(),
                        f.sha256.clone().into(),
                        f.size.into(),
                        f.owner.clone().into(),
                        f.zip_offset.into(),
                        f.zip_length.into(),
                    ]);
                }
                conn.execute_raw(self.stmt(&sql, values)).await?;
            }
        }
        Ok(())
    }

    /// Writes `records` of `job` in a transaction of their own.
    pub async fn record(&self, job: JobId, records: &StageRecords) -> Result<()> {
        let tx = self.db.begin().await?;
        self.write_records(&tx, job, records).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the diagnostics (warnings) of a job that continues.
    pub async fn set_diagnostics(&self, job: JobId, diagnostics: &[Diagnostic]) -> Result<()> {
        let records = StageRecords {
            diagnostics: Some(diagnostics.to_vec()),
            ..StageRecords::default()
        };
        self.write_records(&self.db, job, &records).await
    }

    /// Records which generator version produced the job's code.
    pub async fn set_generator_version(&self, job: JobId, version: &str) -> Result<()> {
        let records = StageRecords {
            generator_version: Some(version.to_string()),
            ..StageRecords::default()
        };
        self.write_records(&self.db, job, &records).await
    }

    /// Links a stored object to its job (upsert: a retried PUT rewrites it).
    pub async fn record_object(&self, job: JobId, rec: &ObjectRecord) -> Result<()> {
        let records = StageRecords {
            objects: vec![rec.clone()],
            ..StageRecords::default()
        };
        self.write_records(&self.db, job, &records).await
    }

    /// Replaces the generated-file rows of a job in one transaction.
    pub async fn record_generated_files(
        &self,
        job: JobId,
        files: &[GeneratedFileRecord],
    ) -> Result<()> {
        let records = StageRecords {
            generated_files: Some(files.to_vec()),
            ..StageRecords::default()
        };
        self.record(job, &records).await
    }
}
