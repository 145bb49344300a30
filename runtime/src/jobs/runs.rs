//! Stage runs and their leases: starting a stage on a job (forward-only
//! status move plus lease), renewing and releasing the lease, recording
//! the finished run with its output, and the recovery sweep's view of
//! unfinished jobs (see the parent module's doc for the lease rules).

use super::{JobRecord, Ledger, LedgerError, Result, StageRecords, get, parse, placeholders};
use crate::now_millis;
use schemas::events::{JobStatus, StatusEvent};
use schemas::{JobId, Stage, UserId};
use sea_orm::{ConnectionTrait, TransactionTrait, Value};

/// What a stage finds when it tries to start work on a job.
#[derive(Debug)]
pub enum StartOutcome {
    /// The job moved to the stage's status (event returned if it changed).
    Started(Option<StatusEvent>),
    /// Like `Started`, but earlier runs of this stage for the job died
    /// holding their lease (their process crashed or was killed) this many
    /// times: the stage loop runs it alone, or dead-letters it at the limit.
    StartedAfterCrashes {
        /// The status event, as for `Started`.
        event: Option<StatusEvent>,
        /// Runs of this `(job, stage)` whose lease was found unreleased.
        crashes: i64,
    },
    /// This stage already committed for the job; its output is attached.
    AlreadyDone(Option<String>),
    /// The job is finished or failed; nothing to do.
    Terminal(JobStatus),
    /// The job was deleted; the message is obsolete.
    Missing,
    /// Another run of this stage holds a live lease on the job: this
    /// delivery must not start a second, concurrent run.
    Leased {
        /// Who runs it (process and run id).
        owner: String,
        /// When its lease expires unless renewed (ms).
        until: i64,
    },
}

/// The lease of one stage run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The run holding (or that last held) the lease.
    pub owner: String,
    /// Expiry (ms); 0 once released.
    pub lease_until: i64,
    /// Last heartbeat, start or release (ms).
    pub heartbeat_at: i64,
    /// When the current (or last) run started (ms).
    pub started_at: i64,
    /// How many runs of this stage were started for the job.
    pub runs: i64,
}

impl Ledger {
    /// Jobs not in a terminal status, oldest first (recovery sweep).
    pub async fn unfinished_jobs(&self, limit: u64) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {} FROM jobs WHERE status NOT IN ('done', 'failed', 'dead_lettered') ORDER BY created_at LIMIT $1",
            Self::JOB_COLUMNS
        );
        self.all(&sql, vec![(limit as i64).into()])
            .await?
            .iter()
            .map(Self::job_from)
            .collect()
    }

    /// Unfinished jobs the recovery sweep may re-enqueue, oldest first:
    /// no run of theirs holds a live lease (`lease_until >= now`), and either
    /// a run's lease expired without being released (its process died), or
    /// the job made no progress since `idle_before` (ms): neither its row
    /// nor any lease changed since then (a job between stages whose message
    /// was lost). `idle_before = i64::MAX` takes every job without a live
    /// lease (start-up recovery of the embedded mode).
    pub async fn recoverable_jobs(
        &self,
        idle_before: i64,
        now: i64,
        limit: u64,
    ) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {} FROM jobs WHERE status NOT IN ('done', 'failed', 'dead_lettered') \
             AND NOT EXISTS (SELECT 1 FROM stage_leases l WHERE l.job_id = jobs.id AND l.lease_until >= $2) \
             AND (EXISTS (SELECT 1 FROM stage_leases l WHERE l.job_id = jobs.id AND l.lease_until > 0) \
                  OR (updated_at < $1 AND NOT EXISTS (SELECT 1 FROM stage_leases l WHERE l.job_id = jobs.id AND l.heartbeat_at >= $1))) \
             ORDER BY created_at LIMIT $3",
            Self::JOB_COLUMNS
        );
        self.all(
            &sql,
            vec![idle_before.into(), now.into(), (limit as i64).into()],
        )
        .await?
        .iter()
        .map(Self::job_from)
        .collect()
    }

    /// Marks the expired leases of `job` released after the sweep
    /// re-enqueued it, so the next sweep waits for the no-progress age
    /// instead of re-enqueueing it again at once. Returns how many there were.
    pub async fn settle_expired_leases(&self, job: JobId, now: i64) -> Result<u64> {
        self.exec(
            "UPDATE stage_leases SET lease_until = 0, heartbeat_at = $1, crashes = crashes + 1 WHERE job_id = $2 AND lease_until > 0 AND lease_until < $1",
            vec![now.into(), job.to_string().into()],
        )
        .await
    }

    /// Releases every lease. Only for the start of the embedded mode: its
    /// in-process bus cannot be shared, so a lease found then belongs to a
    /// previous incarnation of this very process and no run is alive.
    pub async fn release_all_leases(&self) -> Result<u64> {
        self.exec(
            "UPDATE stage_leases SET lease_until = 0, heartbeat_at = $1, crashes = crashes + 1 WHERE lease_until > 0",
            vec![now_millis().into()],
        )
        .await
    }

    /// Renews the lease of the run `owner` on `(job, stage)` until
    /// `now + lease_ms`. False when the run no longer holds it (another run
    /// took it over after it expired, or it was released).
    pub async fn renew_lease(
        &self,
        job: JobId,
        stage: Stage,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool> {
        let now = now_millis();
        let renewed = self
            .exec(
                "UPDATE stage_leases SET lease_until = $1, heartbeat_at = $2 WHERE job_id = $3 AND stage = $4 AND owner = $5 AND lease_until > 0",
                vec![
                    now.saturating_add(lease_ms).into(),
                    now.into(),
                    job.to_string().into(),
                    stage.as_str().into(),
                    owner.into(),
                ],
            )
            .await?;
        Ok(renewed == 1)
    }

    /// Releases the lease of the run `owner` on `(job, stage)` (a run that
    /// ended without committing: failed, retried, timed out).
    pub async fn release_lease(&self, job: JobId, stage: Stage, owner: &str) -> Result<()> {
        self.end_lease(job, stage, owner, 0).await
    }

    /// Releases the lease `owner` took without running: the delivery sends
    /// itself round to run alone (a crash suspect), so the start is not
    /// counted as a run of the stage.
    pub async fn return_lease(&self, job: JobId, stage: Stage, owner: &str) -> Result<()> {
        self.end_lease(job, stage, owner, 1).await
    }

    /// Releases `owner`'s lease and takes `uncount` back from its runs.
    async fn end_lease(&self, job: JobId, stage: Stage, owner: &str, uncount: i64) -> Result<()> {
        self.exec(
            "UPDATE stage_leases SET lease_until = 0, heartbeat_at = $1, runs = runs - $5 WHERE job_id = $2 AND stage = $3 AND owner = $4",
            vec![
                now_millis().into(),
                job.to_string().into(),
                stage.as_str().into(),
                owner.into(),
                uncount.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// The lease row of `(job, stage)`, if a run was ever started.
    pub async fn lease(&self, job: JobId, stage: Stage) -> Result<Option<LeaseRecord>> {
        self.one(
            "SELECT owner, lease_until, heartbeat_at, started_at, runs FROM stage_leases WHERE job_id = $1 AND stage = $2",
            vec![job.to_string().into(), stage.as_str().into()],
        )
        .await?
        .map(|r| {
            Ok(LeaseRecord {
                owner: get(&r, "owner")?,
                lease_until: get(&r, "lease_until")?,
                heartbeat_at: get(&r, "heartbeat_at")?,
                started_at: get(&r, "started_at")?,
                runs: get(&r, "runs")?,
            })
        })
        .transpose()
    }

    /// Moves `job` to the status `stage` sets when it starts, forward only;
    /// the status event carries `detail` (what the previous stage produced,
    /// see [`schemas::messages::Message::progress_detail`]). Takes no lease:
    /// the consumer loop uses [`Ledger::start_run`].
    pub async fn start_stage(
        &self,
        job: JobId,
        stage: Stage,
        detail: serde_json::Value,
    ) -> Result<StartOutcome> {
        self.start(job, stage, detail, None).await
    }

    /// [`Ledger::start_stage`] for one run of the stage by `owner`, which
    /// must take the lease of `(job, stage)` for `lease_ms` first, in the
    /// same transaction as the status change: [`StartOutcome::Leased`] when
    /// another run holds a live lease. A run that took the lease and then
    /// finds the stage committed (a run that finished meanwhile) returns
    /// [`StartOutcome::AlreadyDone`].
    pub async fn start_run(
        &self,
        job: JobId,
        stage: Stage,
        detail: serde_json::Value,
        owner: &str,
        lease_ms: i64,
    ) -> Result<StartOutcome> {
        self.start(job, stage, detail, Some((owner, lease_ms)))
            .await
    }

    async fn committed_output(
        &self,
        conn: &impl ConnectionTrait,
        job: JobId,
        stage: Stage,
    ) -> Result<Option<Option<String>>> {
        conn.query_one_raw(self.stmt(
            "SELECT output FROM stage_runs WHERE job_id = $1 AND stage = $2",
            vec![job.to_string().into(), stage.as_str().into()],
        ))
        .await?
        .map(|row| get(&row, "output"))
        .transpose()
    }

    async fn start(
        &self,
        job: JobId,
        stage: Stage,
        detail: serde_json::Value,
        lease: Option<(&str, i64)>,
    ) -> Result<StartOutcome> {
        // The stage's committed run and the job's owner and status in one
        // round trip (one row always: each column is a scalar subquery).
        let row = self
            .one(
                "SELECT (SELECT COUNT(*) FROM stage_runs WHERE job_id = $1 AND stage = $2) AS committed, \
                 (SELECT output FROM stage_runs WHERE job_id = $1 AND stage = $2) AS output, \
                 (SELECT user_id FROM jobs WHERE id = $1) AS user_id, \
                 (SELECT status FROM jobs WHERE id = $1) AS status",
                vec![job.to_string().into(), stage.as_str().into()],
            )
            .await?
            .ok_or_else(|| LedgerError::Corrupt("a scalar SELECT returned no row".into()))?;
        if get::<i64>(&row, "committed")? > 0 {
            return Ok(StartOutcome::AlreadyDone(get(&row, "output")?));
        }
        let started_by = JobStatus::started_by(stage);
        if started_by.is_none() && lease.is_none() {
            return Ok(StartOutcome::Started(None));
        }
        let (Some(user_id), Some(status)) = (
            get::<Option<String>>(&row, "user_id")?,
            get::<Option<String>>(&row, "status")?,
        ) else {
            return Ok(StartOutcome::Missing);
        };
        let user_id: UserId = parse(&user_id, "user id")?;
        let status: JobStatus = parse(&status, "status")?;
        if status.is_terminal() {
            return Ok(StartOutcome::Terminal(status));
        }
        let now = now_millis();
        let tx = self.db.begin().await?;
        self.relax_commit(&tx).await?;
        let mut crashes: i64 = 0;
        if let Some((owner, lease_ms)) = lease {
            // Taken when there is no lease row or its lease expired (or was
            // released: 0); a live lease of another run leaves the row as is.
            // An expired lease that was never released (> 0) is a run
            // that died: counted in `crashes`.
            let taken = tx
                .query_one_raw(self.stmt(
                    "INSERT INTO stage_leases (job_id, stage, owner, lease_until, heartbeat_at, started_at, runs) VALUES ($1, $2, $3, $4, $5, $5, 1) \
                     ON CONFLICT (job_id, stage) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until, \
                     heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at, runs = stage_leases.runs + 1, \
                     crashes = stage_leases.crashes + CASE WHEN stage_leases.lease_until > 0 THEN 1 ELSE 0 END \
                     WHERE stage_leases.lease_until < $5 RETURNING crashes",
                    vec![
                        job.to_string().into(),
                        stage.as_str().into(),
                        owner.into(),
                        now.saturating_add(lease_ms).into(),
                        now.into(),
                    ],
                ))
                .await?;
            let Some(taken) = taken else {
                let holder = tx
                    .query_one_raw(self.stmt(
                        "SELECT owner, lease_until FROM stage_leases WHERE job_id = $1 AND stage = $2",
                        vec![job.to_string().into(), stage.as_str().into()],
                    ))
                    .await?;
                tx.rollback().await?;
                let (owner, until) = match holder {
                    Some(row) => (get(&row, "owner")?, get(&row, "lease_until")?),
                    None => (String::new(), now),
                };
                return Ok(StartOutcome::Leased { owner, until });
            };
            crashes = get(&taken, "crashes")?;
            // A run that held the lease until just now may have committed.
            if let Some(output) = self.committed_output(&tx, job, stage).await? {
                tx.rollback().await?;
                return Ok(StartOutcome::AlreadyDone(output));
            }
        }
        let started = |event| {
            if crashes > 0 {
                StartOutcome::StartedAfterCrashes { event, crashes }
            } else {
                StartOutcome::Started(event)
            }
        };
        let Some((next, allowed)) = started_by else {
            tx.commit().await?;
            return Ok(started(None));
        };
        let from: Vec<&JobStatus> = allowed.iter().filter(|s| **s != next).collect();
        let sql = format!(
            "UPDATE jobs SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({})",
            placeholders(4, from.len())
        );
        let mut values: Vec<Value> = vec![next.as_str().into(), now.into(), job.to_string().into()];
        values.extend(from.iter().map(|s| Value::from(s.as_str())));
        let changed = tx
            .execute_raw(self.stmt(&sql, values))
            .await?
            .rows_affected();
        let event = if changed == 1 {
            Some(
                self.insert_event(&tx, job, user_id, next, stage, detail)
                    .await?,
            )
        } else {
            None
        };
        tx.commit().await?;
        Ok(started(event))
    }

    /// Records that `stage` finished `job` with `output` (the message it
    /// publishes next), writes the rows its work produced (`records`) and
    /// releases the stage's lease, in one transaction. With `done`, also
    /// moves the job to `done` with that event detail. Idempotent.
    pub async fn complete_stage(
        &self,
        job: JobId,
        user: UserId,
        stage: Stage,
        output: Option<&str>,
        done: Option<serde_json::Value>,
        records: &StageRecords,
    ) -> Result<Option<StatusEvent>> {
        let now = now_millis();
        let tx = self.db.begin().await?;
        // Written whether or not this run's stage row is the first: a
        // retried run re-PUT its objects, and their rows follow the latest.
        self.write_records(&tx, job, records).await?;
        let inserted = tx
            .execute_raw(self.stmt(
                "INSERT INTO stage_runs (job_id, stage, output, completed_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                vec![job.to_string().into(), stage.as_str().into(), output.map(str::to_string).into(), now.into()],
            ))
            .await?
            .rows_affected();
        // The stage is committed: whichever run holds its lease is done.
        tx.execute_raw(self.stmt(
            "UPDATE stage_leases SET lease_until = 0, heartbeat_at = $1 WHERE job_id = $2 AND stage = $3",
            vec![now.into(), job.to_string().into(), stage.as_str().into()],
        ))
        .await?;
        let mut event = None;
        if let (1, Some(detail)) = (inserted, done) {
            let changed = tx
                .execute_raw(self.stmt(
                    "UPDATE jobs SET status = 'done', updated_at = $1 WHERE id = $2 AND status = 'storing'",
                    vec![now.into(), job.to_string().into()],
                ))
                .await?
                .rows_affected();
            if changed == 1 {
                event = Some(
                    self.insert_event(&tx, job, user, JobStatus::Done, stage, detail)
                        .await?,
                );
            }
        }
        tx.commit().await?;
        Ok(event)
    }

    /// The output of the latest committed stage of a job (recovery sweep).
    pub async fn latest_output(&self, job: JobId) -> Result<Option<String>> {
        let rows = self
            .all(
                "SELECT stage, output FROM stage_runs WHERE job_id = $1",
                vec![job.to_string().into()],
            )
            .await?;
        let order = |s: &str| Stage::ALL.iter().position(|x| x.as_str() == s).unwrap_or(0);
        let mut best: Option<(usize, Option<String>)> = None;
        for r in &rows {
            let stage: String = get(r, "stage")?;
            let pos = order(&stage);
            if best.as_ref().is_none_or(|(b, _)| pos > *b) {
                best = Some((pos, get(r, "output")?));
            }
        }
        Ok(best.and_then(|(_, o)| o))
    }
}
