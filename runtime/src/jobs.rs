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
//!
//! Module map (each adds its own `impl Ledger` block; the types are
//! re-exported here):
//! - this file: [`Ledger`], [`LedgerError`], the statement helpers, the
//!   `job_events` insert every status change shares, relaxed commits;
//! - `users`: users, access checks, refresh tokens;
//! - `lifecycle`: a job's creation, failure, retry and deletion;
//! - `runs`: stage runs and their leases, the recovery sweep's queries;
//! - `records`: [`StageRecords`], the rows a stage run commits with it;
//! - `queries`: read-only look-ups (jobs, events, objects, files);
//! - `outbox`: pending outbox rows and their removal;
//! - `dead_letters`: the DLQ's rows and their replay.

use crate::db::{Db, DbError};
use crate::{from_millis, now_millis};
use schemas::events::{EVENT_VERSION, JobStatus, StatusEvent};
use schemas::{JobId, Stage, UserId};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult, Statement, Value};

mod dead_letters;
mod lifecycle;
mod outbox;
mod queries;
mod records;
mod runs;
mod users;

pub use dead_letters::{DeadLetter, DeadLetterFilter, Replay};
pub use lifecycle::NewJob;
pub use outbox::OutboxRow;
pub use queries::{GeneratedFileRecord, JobRecord, ObjectRecord};
pub use records::StageRecords;
pub use runs::{LeaseRecord, StartOutcome};
pub use users::{RefreshUse, UserAccess, UserRecord};

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
