//! The job ledger: users, jobs, their events, stage runs, the outbox, stored
//! objects and generated files, and dead letters.
//!
//! Every status change is a forward-only `UPDATE ... WHERE status IN
//! (allowed previous)` and appends a `job_events` row in the same
//! transaction, so the history a websocket client replays is exactly what
//! happened. `stage_runs` records each finished `(job, stage)` with the
//! message it produced: a redelivered message whose stage already committed
//! re-publishes that output instead of redoing the work.
//!
//! `stage_leases` records the running `(job, stage)`: the run's owner, its
//! `lease_until` (renewed by the run's heartbeat), the time of the last
//! heartbeat or release, how many runs were started, and how many of them
//! died holding it (`crashes`: a lease found expired but never released,
//! by a new run or the sweep; reset by a retry or replay). A run starts only
//! by taking the lease ([`Ledger::start_run`]), which succeeds when there is
//! no lease row or its lease has expired; a finished run releases it
//! (`lease_until = 0`). The recovery sweep ([`Ledger::recoverable_jobs`])
//! never picks a job whose lease is live. Lease times are the clocks of the
//! processes, which must agree to well within a lease (NTP).

use crate::db::{Db, DbError};
use crate::{from_millis, now_millis};
use schemas::events::{EVENT_VERSION, JobStatus, StatusEvent};
use schemas::model::v1::Diagnostic;
use schemas::{JobId, Stage, UserId};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult, Statement, TransactionTrait,
    Value,
};

mod records;

pub use records::StageRecords;

/// `count` numbered statement placeholders from `$first`: `$4, $5, $6`.
fn placeholders(first: usize, count: usize) -> String {
    let numbered: Vec<String> = (first..first + count).map(|p| format!("${p}")).collect();
    numbered.join(", ")
}

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database failed (usually transient).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A stored value could not be read back (a bug or a foreign schema).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A unique constraint refused the row (for example a taken e-mail).
    #[error("already exists")]
    Conflict,
}

impl From<sea_orm::DbErr> for LedgerError {
    fn from(e: sea_orm::DbErr) -> Self {
        // The driver's error code decides, not the message text.
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => LedgerError::Conflict,
            _ => LedgerError::Db(DbError::Driver(e)),
        }
    }
}

type Result<T> = std::result::Result<T, LedgerError>;

/// A registered user.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Inactive users cannot log in.
    pub is_active: bool,
    /// May use admin endpoints.
    pub is_admin: bool,
}

/// A user's standing as an access check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserAccess {
    /// Cleared by an operator: every token of the user stops working.
    pub is_active: bool,
    /// Current role (the token's claim is not trusted for it).
    pub is_admin: bool,
    /// The token's refresh family was revoked (a refresh token was reused).
    pub session_revoked: bool,
}

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

/// A message waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Routing key to publish with.
    pub routing_key: String,
    /// The encoded envelope.
    pub body: String,
}

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

/// The job ledger over one database.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Db,
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> Result<T> {
    row.try_get::<T>("", col)
        .map_err(|e| LedgerError::Corrupt(format!("{col}: {e}")))
}

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse()
        .map_err(|_| LedgerError::Corrupt(format!("{what}: `{text}`")))
}

impl Ledger {
    /// A ledger over `db` (migrated).
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The underlying connection (health checks).
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    async fn all(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>> {
        Ok(self.db.query_all_raw(self.stmt(sql, values)).await?)
    }

    async fn one(&self, sql: &str, values: Vec<Value>) -> Result<Option<QueryResult>> {
        Ok(self.db.query_one_raw(self.stmt(sql, values)).await?)
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64> {
        Ok(self
            .db
            .execute_raw(self.stmt(sql, values))
            .await?
            .rows_affected())
    }

    // ---- users ----

    /// Creates a user; [`LedgerError::Conflict`] if the e-mail is taken.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<UserRecord> {
        let id = UserId::new();
        self.exec(
            "INSERT INTO users (id, email, password_hash, is_active, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![id.to_string().into(), email.into(), password_hash.into(), true.into(), is_admin.into(), now_millis().into()],
        )
        .await?;
        Ok(UserRecord {
            id,
            email: email.to_string(),
            password_hash: password_hash.to_string(),
            is_active: true,
            is_admin,
        })
    }

    fn user_from(row: &QueryResult) -> Result<UserRecord> {
        Ok(UserRecord {
            id: parse(&get::<String>(row, "id")?, "user id")?,
            email: get(row, "email")?,
            password_hash: get(row, "password_hash")?,
            is_active: get(row, "is_active")?,
            is_admin: get(row, "is_admin")?,
        })
    }

    /// Looks a user up by login name.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.one(
            "SELECT id, email, password_hash, is_active, is_admin FROM users WHERE email = $1",
            vec![email.into()],
        )
        .await?
        .as_ref()
        .map(Self::user_from)
        .transpose()
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.one(
            "SELECT id, email, password_hash, is_active, is_admin FROM users WHERE id = $1",
            vec![id.to_string().into()],
        )
        .await?
        .as_ref()
        .map(Self::user_from)
        .transpose()
    }

    /// Looks a user up for sign-in: the row whose e-mail is exactly
    /// `typed` (an account kept with its original spelling because it
    /// collided with another when e-mails were case-folded), else the row
    /// of `folded` (the normal case). One query either way.
    pub async fn user_for_login(&self, typed: &str, folded: &str) -> Result<Option<UserRecord>> {
        self.one(
            "SELECT id, email, password_hash, is_active, is_admin FROM users WHERE email = $1 OR email = $2 \
             ORDER BY CASE WHEN email = $1 THEN 0 ELSE 1 END LIMIT 1",
            vec![typed.into(), folded.into()],
        )
        .await?
        .as_ref()
        .map(Self::user_from)
        .transpose()
    }

    /// What an access token of `user` in refresh family `family` may do
    /// now: the user's current flags and whether the family was revoked
    /// (refresh-token reuse). `None` when the user no longer exists.
    pub async fn user_access(
        &self,
        user: UserId,
        family: Option<&str>,
    ) -> Result<Option<UserAccess>> {
        let Some(row) = self
            .one(
                "SELECT u.is_active, u.is_admin, \
                 (SELECT COUNT(*) FROM refresh_tokens r WHERE r.family = $2 AND r.user_id = $1 AND r.revoked_at IS NOT NULL) AS revoked \
                 FROM users u WHERE u.id = $1",
                vec![user.to_string().into(), family.unwrap_or_default().into()],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(UserAccess {
            is_active: get(&row, "is_active")?,
            is_admin: get(&row, "is_admin")?,
            session_revoked: get::<i64>(&row, "revoked")? > 0,
        }))
    }

    // ---- jobs ----

    async fn insert_event(
        &self,
        tx: &DatabaseTransaction,
        job: JobId,
        user: UserId,
        status: JobStatus,
        stage: Stage,
        detail: serde_json::Value,
    ) -> Result<StatusEvent> {
        let at = now_millis();
        let row = tx
            .query_one_raw(self.stmt(
                "INSERT INTO job_events (job_id, status, stage, detail, at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                vec![job.to_string().into(), status.as_str().into(), stage.as_str().into(), detail.to_string().into(), at.into()],
            ))
            .await?
            .ok_or_else(|| LedgerError::Corrupt("insert returned no id".into()))?;
        Ok(StatusEvent {
            schema_version: EVENT_VERSION,
            seq: get(&row, "id")?,
            job_id: job,
            user_id: user,
            status,
            stage,
            at: from_millis(at),
            detail,
        })
    }

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

    fn job_from(row: &QueryResult) -> Result<JobRecord> {
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

    const JOB_COLUMNS: &'static str = "id, user_id, status, file_name, generator, generator_version, diagnostics, error, created_at, updated_at";

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

    // ---- outbox ----

    /// The oldest outbox rows.
    pub async fn outbox_pending(&self, limit: u64) -> Result<Vec<OutboxRow>> {
        self.all(
            "SELECT id, routing_key, body FROM outbox ORDER BY id LIMIT $1",
            vec![(limit as i64).into()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(OutboxRow {
                id: get(r, "id")?,
                routing_key: get(r, "routing_key")?,
                body: get(r, "body")?,
            })
        })
        .collect()
    }

    /// Removes published outbox rows (one statement, a relaxed commit: a
    /// delete undone by a database crash only publishes the rows again,
    /// which the stages treat as duplicates).
    pub async fn outbox_delete_many(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM outbox WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let tx = self.db.begin().await?;
        self.relax_commit(&tx).await?;
        tx.execute_raw(self.stmt(&sql, ids.iter().map(|id| Value::from(*id)).collect()))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes the commit of `tx` return before PostgreSQL flushes it to disk
    /// (`synchronous_commit = off` for this transaction only). Used only for
    /// transactions whose loss in a database crash recovery redoes anyway:
    /// a stage run's start (status and lease: the run's retry starts it
    /// again) and outbox deletes (the rows are published again). Commits
    /// that are the only record of something (an accepted upload, a
    /// finished stage, a failure) stay synchronous; and since PostgreSQL's
    /// log is sequential, each synchronous commit also makes every relaxed
    /// one before it durable, so a crash can only undo relaxed commits of
    /// runs still in progress. No effect on SQLite (see `db`).
    async fn relax_commit(&self, tx: &DatabaseTransaction) -> Result<()> {
        if self.backend() == DbBackend::Postgres {
            tx.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
                .await?;
        }
        Ok(())
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

    // ---- refresh tokens ----

    /// Stores a new refresh token (by hash) in `family`.
    pub async fn store_refresh_token(
        &self,
        user: UserId,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
            vec![token_hash.into(), user.to_string().into(), family.into(), expires_at.into(), now_millis().into()],
        )
        .await?;
        Ok(())
    }

    /// Uses a refresh token once. A token used before is a theft signal:
    /// its whole family is revoked and `Reused` returned.
    pub async fn use_refresh_token(&self, token_hash: &str) -> Result<RefreshUse> {
        let Some(row) = self
            .one(
                "SELECT user_id, family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                vec![token_hash.into()],
            )
            .await?
        else {
            return Ok(RefreshUse::Unknown);
        };
        let family: String = get(&row, "family")?;
        let user: UserId = parse(&get::<String>(&row, "user_id")?, "user id")?;
        let revoked: Option<i64> = get(&row, "revoked_at")?;
        let expires_at: i64 = get(&row, "expires_at")?;
        let now = now_millis();
        if revoked.is_some() || expires_at < now {
            return Ok(RefreshUse::Unknown);
        }
        let claimed = self
            .exec(
                "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                vec![now.into(), token_hash.into()],
            )
            .await?;
        if claimed == 0 {
            self.exec(
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
                vec![now.into(), family.into()],
            )
            .await?;
            return Ok(RefreshUse::Reused);
        }
        Ok(RefreshUse::Valid { user, family })
    }

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

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshUse {
    /// First use: issue a new pair in the same family.
    Valid {
        /// The token's user.
        user: UserId,
        /// The rotation family.
        family: String,
    },
    /// Unknown, expired or revoked.
    Unknown,
    /// Used before: the family is now revoked.
    Reused,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn email_fold_migration_folds_rows_and_keeps_colliding_ones_reachable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = crate::db::connect(&url, 0).await.expect("connect");
        crate::db::migrate(&db).await.expect("migrate");
        let ledger = Ledger::new(db);
        // Rows as versions before the migration stored them (typed spelling).
        let rows = [
            ("alice-old", "Alice@Example.COM", 1),
            ("alice-new", "ALICE@example.com", 2),
            ("bob", " Bob@Example.com ", 3),
            ("carol-old", "Carol@Example.com", 1),
            ("carol-new", "carol@example.com", 4),
        ];
        let ids: std::collections::HashMap<&str, String> = rows
            .iter()
            .map(|(name, _, _)| (*name, UserId::new().to_string()))
            .collect();
        for (name, email, created) in rows {
            let id = ids[name].clone();
            ledger
                .exec(
                    "INSERT INTO users (id, email, password_hash, is_active, is_admin, created_at) VALUES ($1, $2, 'x', $3, $4, $5)",
                    vec![id.into(), email.into(), true.into(), false.into(), i64::from(created).into()],
                )
                .await
                .expect("insert");
        }
        // Run the folding migration (again) over these rows.
        ledger
            .exec(
                "DELETE FROM schema_migrations WHERE version = $1",
                vec![crate::db::EMAIL_FOLD_VERSION.into()],
            )
            .await
            .expect("forget");
        assert_eq!(
            crate::db::migrate(ledger.db()).await.expect("migrate"),
            vec![crate::db::EMAIL_FOLD_VERSION]
        );
        let email_of = |name: &'static str| {
            let ledger = ledger.clone();
            let id = ids[name].clone();
            async move {
                let row = ledger
                    .one("SELECT email FROM users WHERE id = $1", vec![id.into()])
                    .await
                    .expect("select")
                    .expect("row");
                get::<String>(&row, "email").expect("email")
            }
        };
        // Folded: the only or the oldest account of an address.
        assert_eq!(email_of("alice-old").await, "alice@example.com");
        assert_eq!(email_of("bob").await, "bob@example.com");
        assert_eq!(email_of("carol-new").await, "carol@example.com");
        // Left as they were: a newer duplicate, and an account whose folded
        // address another row already had.
        assert_eq!(email_of("alice-new").await, "ALICE@example.com");
        assert_eq!(email_of("carol-old").await, "Carol@Example.com");

        // Sign-in: any spelling reaches the folded account; the exact stored
        // spelling still reaches an unfolded one.
        let login = |typed: &'static str| {
            let ledger = ledger.clone();
            async move {
                ledger
                    .user_for_login(typed, &typed.trim().to_ascii_lowercase())
                    .await
                    .expect("lookup")
                    .map(|u| u.email)
            }
        };
        assert_eq!(
            login("ALICE@EXAMPLE.COM").await.as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(
            login("ALICE@example.com").await.as_deref(),
            Some("ALICE@example.com")
        );
        assert_eq!(
            login("Bob@example.com").await.as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(
            login("Carol@Example.com").await.as_deref(),
            Some("Carol@Example.com")
        );
        assert_eq!(login("nobody@example.com").await, None);
    }

    /// A migrated SQLite ledger (kept alive by the returned dir) with one
    /// queued job.
    async fn ledger_with_job() -> (tempfile::TempDir, Ledger, JobId) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = crate::db::connect(&url, 0).await.expect("connect");
        crate::db::migrate(&db).await.expect("migrate");
        let ledger = Ledger::new(db);
        let user = ledger
            .create_user("u@example.com", "x", false)
            .await
            .expect("user");
        let job = JobId::new();
        ledger
            .create_job(&NewJob {
                id: job,
                user_id: user.id,
                file_name: "a.puml".into(),
                generator: "python-fastapi".into(),
                routing_key: "job.uploaded".into(),
                message: "{}".into(),
                source: ObjectRecord {
                    key: format!("jobs/{job}/source/a.puml"),
                    kind: "source".into(),
                    sha256: "0".repeat(64),
                    size: 1,
                },
            })
            .await
            .expect("job");
        (dir, ledger, job)
    }

    #[tokio::test]
    async fn a_live_lease_admits_one_run_and_an_expired_one_is_taken_over() {
        let (_dir, ledger, job) = ledger_with_job().await;
        let detail = serde_json::Value::Null;
        let first = ledger
            .start_run(job, Stage::Parse, detail.clone(), "a", 60_000)
            .await
            .expect("start");
        assert!(matches!(first, StartOutcome::Started(Some(_))), "{first:?}");
        // A second delivery while the first run's lease is live: no second run.
        let second = ledger
            .start_run(job, Stage::Parse, detail.clone(), "b", 60_000)
            .await
            .expect("start");
        match second {
            StartOutcome::Leased { owner, until } => {
                assert_eq!(owner, "a");
                assert!(until > now_millis());
            }
            other => panic!("expected Leased, got {other:?}"),
        }
        assert!(
            ledger
                .renew_lease(job, Stage::Parse, "a", 60_000)
                .await
                .expect("renew")
        );
        assert!(
            !ledger
                .renew_lease(job, Stage::Parse, "b", 60_000)
                .await
                .expect("renew"),
            "only the holder renews"
        );
        // The holder dies: its lease expires (here: renewed into the past).
        assert!(
            ledger
                .renew_lease(job, Stage::Parse, "a", -1)
                .await
                .expect("renew")
        );
        let third = ledger
            .start_run(job, Stage::Parse, detail.clone(), "c", 60_000)
            .await
            .expect("start");
        // Taking over a lease that was never released counts a crash.
        assert!(
            matches!(
                third,
                StartOutcome::StartedAfterCrashes {
                    event: None,
                    crashes: 1
                }
            ),
            "{third:?}"
        );
        assert!(
            !ledger
                .renew_lease(job, Stage::Parse, "a", 60_000)
                .await
                .expect("renew"),
            "the dead run's lease was taken over"
        );
        let lease = ledger
            .lease(job, Stage::Parse)
            .await
            .expect("lease")
            .expect("row");
        assert_eq!((lease.owner.as_str(), lease.runs), ("c", 2));
        // Committing releases the lease; a later delivery finds the output.
        ledger
            .complete_stage(
                job,
                UserId::new(),
                Stage::Parse,
                Some("out"),
                None,
                &StageRecords::default(),
            )
            .await
            .expect("complete");
        let lease = ledger
            .lease(job, Stage::Parse)
            .await
            .expect("lease")
            .expect("row");
        assert_eq!(lease.lease_until, 0);
        let again = ledger
            .start_run(job, Stage::Parse, detail, "d", 60_000)
            .await
            .expect("start");
        assert!(
            matches!(again, StartOutcome::AlreadyDone(Some(ref o)) if o == "out"),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn the_sweep_skips_live_leases_and_recovers_expired_ones() {
        let (_dir, ledger, job) = ledger_with_job().await;
        let ids = |jobs: Vec<JobRecord>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
        let later = now_millis() + 3_600_000;
        // No run yet: recovered once it made no progress for the age.
        assert_eq!(
            ids(ledger
                .recoverable_jobs(later, now_millis(), 10)
                .await
                .expect("q")),
            vec![job]
        );
        assert!(
            ids(ledger
                .recoverable_jobs(0, now_millis(), 10)
                .await
                .expect("q"))
            .is_empty(),
            "a job with recent progress is left alone"
        );
        ledger
            .start_run(job, Stage::Parse, serde_json::Value::Null, "a", 60_000)
            .await
            .expect("start");
        // A live lease: never recovered, however old the job's row is.
        assert!(
            ids(ledger
                .recoverable_jobs(i64::MAX, now_millis(), 10)
                .await
                .expect("q"))
            .is_empty()
        );
        // Expired (the holder died): recovered at once, then settled so the
        // next sweep waits for the no-progress age again.
        ledger
            .renew_lease(job, Stage::Parse, "a", -1)
            .await
            .expect("expire");
        let now = now_millis();
        assert_eq!(
            ids(ledger.recoverable_jobs(0, now, 10).await.expect("q")),
            vec![job]
        );
        assert_eq!(
            ledger
                .settle_expired_leases(job, now)
                .await
                .expect("settle"),
            1
        );
        assert!(ids(ledger.recoverable_jobs(0, now, 10).await.expect("q")).is_empty());
        // Embedded start: every lease is a dead incarnation's.
        ledger
            .start_run(job, Stage::Parse, serde_json::Value::Null, "b", 60_000)
            .await
            .expect("start");
        assert_eq!(ledger.release_all_leases().await.expect("release"), 1);
        assert_eq!(
            ids(ledger
                .recoverable_jobs(i64::MAX, now_millis(), 10)
                .await
                .expect("q")),
            vec![job]
        );
    }

    #[tokio::test]
    async fn generated_file_rows_round_trip_across_insert_chunks() {
        let (_dir, ledger, job) = ledger_with_job().await;
        let rows = |n: usize| -> Vec<GeneratedFileRecord> {
            (0..n)
                .map(|i| GeneratedFileRecord {
                    path: format!("pkg/m{i:04}.py"),
                    object_key: "jobs/x/code.zip".into(),
                    sha256: format!("{i:064x}"),
                    size: i as i64,
                    owner: if i % 2 == 0 { "generated" } else { "user" }.into(),
                    zip_offset: 30 + i as i64,
                    zip_length: i as i64,
                })
                .collect()
        };
        // More rows than one INSERT carries, and not a multiple of it.
        let many = rows(2 * records::FILE_ROWS_PER_INSERT + 7);
        ledger
            .record_generated_files(job, &many)
            .await
            .expect("record");
        let back = ledger.generated_files_of(job).await.expect("read");
        assert_eq!(back, many);
        // Recording again replaces the rows.
        ledger
            .record_generated_files(job, &rows(3))
            .await
            .expect("replace");
        assert_eq!(ledger.generated_files_of(job).await.expect("read").len(), 3);
    }
}
