//! The dead-letter queue in the ledger: recording, listing and replaying
//! dead-lettered messages (a replay goes out through the outbox).

use super::{Ledger, LedgerError, Result, get, parse};
use crate::now_millis;
use schemas::events::{JobStatus, StatusEvent};
use schemas::{JobId, Stage, UserId};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait, Value};

/// A dead-lettered message as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// Row id (what `replay` takes).
    pub id: i64,
    /// The job.
    pub job_id: String,
    /// The stage that gave up.
    pub stage: String,
    /// Why.
    pub reason: String,
    /// Attempts made.
    pub attempts: i64,
    /// The message body.
    pub payload: String,
    /// First failure (ms).
    pub first_failed_at: i64,
    /// Last failure (ms).
    pub last_failed_at: i64,
    /// When it was replayed (ms), if it was.
    pub replayed_at: Option<i64>,
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Only this stage.
    pub stage: Option<String>,
    /// Reason contains this text.
    pub reason: Option<String>,
    /// Failed at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Also list replayed entries.
    pub include_replayed: bool,
    /// Most entries to return (1..=1000).
    pub limit: u64,
}

/// The outcome of a replay.
#[derive(Debug)]
pub enum Replay {
    /// Queued again; the job's event if its status moved.
    Queued(Option<StatusEvent>),
    /// Replayed before: nothing done.
    AlreadyReplayed,
    /// No such entry.
    NotFound,
}

impl Ledger {
    // ---- dead letters ----

    /// Records a dead-lettered message.
    pub async fn record_dead_letter(
        &self,
        job: JobId,
        stage: Stage,
        reason: &str,
        attempts: u32,
        payload: &str,
    ) -> Result<()> {
        let now = now_millis();
        self.exec(
            "INSERT INTO dead_letters (job_id, stage, reason, attempts, payload, first_failed_at, last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![job.to_string().into(), stage.as_str().into(), reason.into(), i64::from(attempts).into(), payload.into(), now.into(), now.into()],
        )
        .await?;
        Ok(())
    }

    /// Number of dead letters not replayed yet.
    pub async fn dead_letter_count(&self) -> Result<i64> {
        let row = self
            .one(
                "SELECT COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL",
                vec![],
            )
            .await?
            .ok_or_else(|| LedgerError::Corrupt("count returned nothing".into()))?;
        get(&row, "n")
    }

    fn dead_letter_from(row: &QueryResult) -> Result<DeadLetter> {
        Ok(DeadLetter {
            id: get(row, "id")?,
            job_id: get(row, "job_id")?,
            stage: get(row, "stage")?,
            reason: get(row, "reason")?,
            attempts: get(row, "attempts")?,
            payload: get(row, "payload")?,
            first_failed_at: get(row, "first_failed_at")?,
            last_failed_at: get(row, "last_failed_at")?,
            replayed_at: get(row, "replayed_at")?,
        })
    }

    const DEAD_LETTER_COLUMNS: &'static str = "id, job_id, stage, reason, attempts, payload, first_failed_at, last_failed_at, replayed_at";

    /// Dead letters, newest first, filtered by stage, reason substring,
    /// time (`since` ms) and whether replayed.
    pub async fn dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>> {
        let mut sql = format!(
            "SELECT {} FROM dead_letters WHERE 1 = 1",
            Self::DEAD_LETTER_COLUMNS
        );
        let mut values: Vec<Value> = Vec::new();
        if let Some(stage) = &filter.stage {
            values.push(stage.clone().into());
            sql.push_str(&format!(" AND stage = ${}", values.len()));
        }
        if let Some(reason) = &filter.reason {
            values.push(format!("%{reason}%").into());
            sql.push_str(&format!(" AND reason LIKE ${}", values.len()));
        }
        if let Some(since) = filter.since_ms {
            values.push(since.into());
            sql.push_str(&format!(" AND last_failed_at >= ${}", values.len()));
        }
        if !filter.include_replayed {
            sql.push_str(" AND replayed_at IS NULL");
        }
        values.push((filter.limit.clamp(1, 1000) as i64).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", values.len()));
        self.all(&sql, values)
            .await?
            .iter()
            .map(Self::dead_letter_from)
            .collect()
    }

    /// One dead letter.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>> {
        let sql = format!(
            "SELECT {} FROM dead_letters WHERE id = $1",
            Self::DEAD_LETTER_COLUMNS
        );
        self.one(&sql, vec![id.into()])
            .await?
            .as_ref()
            .map(Self::dead_letter_from)
            .transpose()
    }

    /// Replays a dead letter: marks it replayed, moves its job back to the
    /// status its stage starts from (the one sanctioned backward move, an
    /// operator's decision), and queues its message in the outbox, all in
    /// one transaction. Replaying an entry twice processes it once: the
    /// second call returns [`Replay::AlreadyReplayed`].
    pub async fn replay_dead_letter(&self, id: i64) -> Result<Replay> {
        let Some(dl) = self.dead_letter(id).await? else {
            return Ok(Replay::NotFound);
        };
        let stage: Stage = parse(&dl.stage, "stage")?;
        let before = match stage {
            Stage::Generate => JobStatus::Parsing,
            Stage::Fill | Stage::Store => JobStatus::Generating,
            _ => JobStatus::Queued,
        };
        let routing_key = schemas::messages::routing_key_for(stage).unwrap_or("job.uploaded");
        let now = now_millis();
        let tx = self.db.begin().await?;
        let claimed = tx
            .execute_raw(self.stmt(
                "UPDATE dead_letters SET replayed_at = $1 WHERE id = $2 AND replayed_at IS NULL",
                vec![now.into(), id.into()],
            ))
            .await?
            .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(Replay::AlreadyReplayed);
        }
        let job_id: JobId = parse(&dl.job_id, "job id")?;
        let user = tx
            .query_one_raw(self.stmt(
                "SELECT user_id FROM jobs WHERE id = $1",
                vec![dl.job_id.clone().into()],
            ))
            .await?;
        // The operator fixed the cause: earlier crashes no longer count.
        tx.execute_raw(self.stmt(
            "UPDATE stage_leases SET crashes = 0 WHERE job_id = $1 AND stage = $2",
            vec![dl.job_id.clone().into(), stage.as_str().into()],
        ))
        .await?;
        let mut event = None;
        if let Some(row) = user {
            let user_id: UserId = parse(&get::<String>(&row, "user_id")?, "user id")?;
            let moved = tx
                .execute_raw(self.stmt(
                    "UPDATE jobs SET status = $1, error = NULL, updated_at = $2 WHERE id = $3 AND status = 'dead_lettered'",
                    vec![before.as_str().into(), now.into(), dl.job_id.clone().into()],
                ))
                .await?
                .rows_affected();
            if moved == 1 {
                let detail = serde_json::json!({"replayed_dead_letter": id});
                event = Some(
                    self.insert_event(&tx, job_id, user_id, before, stage, detail)
                        .await?,
                );
            }
        }
        tx.execute_raw(self.stmt(
            "INSERT INTO outbox (job_id, routing_key, body, created_at) VALUES ($1, $2, $3, $4)",
            vec![
                dl.job_id.clone().into(),
                routing_key.into(),
                dl.payload.clone().into(),
                now.into(),
            ],
        ))
        .await?;
        tx.commit().await?;
        Ok(Replay::Queued(event))
    }
}
