//! The durable outbox of uploads: a SQLite file in the client directory.
//!
//! `c4forge submit` first records each upload here (the file's bytes
//! included, so later edits of the file do not change what is sent) and only
//! then tries to send it. A row moves
//! `saving -> transmitting -> completed | failed`:
//!
//! - `saving`: recorded locally, waiting to be sent (also after a failed
//!   attempt whose outcome is certain: the server answered, or the
//!   connection was refused).
//! - `transmitting`: a POST may have reached the server. It is set and
//!   committed *before* the POST, so a crash or an ambiguous network error
//!   (timeout, connection reset after the request went out) leaves the row
//!   here, and the next sender first asks the server whether the job exists
//!   (see `sender`) instead of sending it again. `owner_pid` and
//!   `lease_until` say which process is sending it right now, so two CLI
//!   processes never send the same row at once.
//! - `completed`: the server accepted it; `job_id` is set.
//! - `failed`: the server refused it for good (4xx); `last_error` holds the
//!   server's `detail`.
//!
//! Statements are plain SQL through sea-orm's connection, like the server's
//! ledger (`runtime::jobs`), over `runtime::db::connect`.

use anyhow::{Context, Result};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use std::path::Path;

/// How long a claim on a row holds when its owner cannot be checked
/// (longer than the upload request timeout, so a live sender is never
/// overtaken).
pub const LEASE_MS: i64 = 120_000;

/// Statuses of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    /// Recorded locally, waiting to be sent.
    Saving,
    /// A POST may have reached the server; its outcome is not recorded.
    Transmitting,
    /// Accepted by the server.
    Completed,
    /// Refused by the server for good.
    Failed,
}

impl RowStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Saving => "saving",
            RowStatus::Transmitting => "transmitting",
            RowStatus::Completed => "completed",
            RowStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "saving" => RowStatus::Saving,
            "transmitting" => RowStatus::Transmitting,
            "completed" => RowStatus::Completed,
            "failed" => RowStatus::Failed,
            other => anyhow::bail!("unknown outbox status `{other}`"),
        })
    }
}

/// One upload in the outbox (without its body, which is loaded only to send).
#[derive(Debug, Clone)]
pub struct Row {
    /// Local id.
    pub id: i64,
    /// Server base URL the upload is for.
    pub server: String,
    /// File name sent as `?name=`.
    pub file_name: String,
    /// Where the file was read from (informative).
    pub path: String,
    /// Body size in bytes.
    pub size: i64,
    /// Current status.
    pub status: RowStatus,
    /// POST attempts made.
    pub attempts: i64,
    /// Why the last attempt did not complete.
    pub last_error: Option<String>,
    /// The server's job id once accepted.
    pub job_id: Option<String>,
    /// When the row was recorded (epoch ms).
    pub created_at: i64,
    /// Last change (epoch ms); the compare-and-set token of claims.
    pub updated_at: i64,
    /// When the row was first marked `transmitting` (epoch ms).
    pub first_sent_at: Option<i64>,
    /// Process sending it now, if any.
    pub owner_pid: Option<i64>,
    /// Until when that process's claim holds (epoch ms).
    pub lease_until: Option<i64>,
}

const COLUMNS: &str = "id, server, file_name, path, size, status, attempts, last_error, job_id, created_at, updated_at, first_sent_at, owner_pid, lease_until";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server TEXT NOT NULL,
    file_name TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    job_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    first_sent_at BIGINT,
    owner_pid BIGINT,
    lease_until BIGINT
);
CREATE INDEX IF NOT EXISTS uploads_status ON uploads (status, id)
"#;

/// Current time in epoch milliseconds. Strictly increasing within the
/// process, because `updated_at` is the compare-and-set token of claims.
pub fn now_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = chrono::Utc::now().timestamp_millis();
    let mut prev = LAST.load(Ordering::SeqCst);
    loop {
        let next = wall.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// Whether process `pid` is alive, when the system can tell (`/proc`).
/// `None` means unknown: only the lease decides then.
fn process_alive(pid: i64) -> Option<bool> {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return None;
    }
    Some(proc_root.join(pid.to_string()).exists())
}

impl Row {
    /// Whether this process may claim the row now: it waits to be sent, or
    /// its last sender is gone (its process exited, or its lease ran out).
    pub fn claimable(&self, now: i64) -> bool {
        match self.status {
            RowStatus::Saving => true,
            RowStatus::Transmitting => match self.owner_pid {
                None => true,
                Some(pid) if pid == i64::from(std::process::id()) => true,
                Some(pid) => {
                    process_alive(pid) == Some(false)
                        || self.lease_until.is_none_or(|until| until < now)
                }
            },
            RowStatus::Completed | RowStatus::Failed => false,
        }
    }
}

/// The outbox database.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: sea_orm::DatabaseConnection,
}

impl Outbox {
    /// Opens (and creates) the outbox file.
    pub async fn open(path: &Path) -> Result<Self> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = runtime::db::connect(&url, 1)
            .await
            .with_context(|| format!("opening the outbox {}", path.display()))?;
        db.execute_unprepared("PRAGMA busy_timeout=10000").await?;
        for stmt in SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
            db.execute_unprepared(stmt)
                .await
                .context("creating the outbox table")?;
        }
        Ok(Self { db })
    }

    fn stmt(sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64> {
        Ok(self
            .db
            .execute_raw(Self::stmt(sql, values))
            .await
            .context("writing the outbox")?
            .rows_affected())
    }

    async fn rows(&self, sql: &str, values: Vec<Value>) -> Result<Vec<Row>> {
        let found = self
            .db
            .query_all_raw(Self::stmt(sql, values))
            .await
            .context("reading the outbox")?;
        found.iter().map(row_from).collect()
    }

    /// Records an upload (status `saving`) and returns its id. The bytes are
    /// committed before anything is sent.
    pub async fn add(
        &self,
        server: &str,
        file_name: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<i64> {
        let now = now_ms();
        let size = body.len() as i64;
        let found = self
            .db
            .query_one_raw(Self::stmt(
                "INSERT INTO uploads (server, file_name, path, body, size, status, attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'saving', 0, $6, $6) RETURNING id",
                vec![server.into(), file_name.into(), path.into(), body.into(), size.into(), now.into()],
            ))
            .await
            .context("recording the upload in the outbox")?
            .context("the outbox returned no id")?;
        Ok(found.try_get::<i64>("", "id")?)
    }

    /// One row.
    pub async fn get(&self, id: i64) -> Result<Option<Row>> {
        Ok(self
            .rows(
                &format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"),
                vec![id.into()],
            )
            .await?
            .pop())
    }

    /// The body of a row.
    pub async fn body(&self, id: i64) -> Result<Vec<u8>> {
        let found = self
            .db
            .query_one_raw(Self::stmt(
                "SELECT body FROM uploads WHERE id = $1",
                vec![id.into()],
            ))
            .await?
            .with_context(|| format!("outbox row {id} vanished"))?;
        Ok(found.try_get::<Vec<u8>>("", "body")?)
    }

    /// Rows not yet completed or failed, oldest first; for `server` only
    /// when given.
    pub async fn pending(&self, server: Option<&str>) -> Result<Vec<Row>> {
        match server {
            Some(s) => {
                self.rows(
                    &format!("SELECT {COLUMNS} FROM uploads WHERE status IN ('saving', 'transmitting') AND server = $1 ORDER BY id"),
                    vec![s.into()],
                )
                .await
            }
            None => {
                self.rows(
                    &format!("SELECT {COLUMNS} FROM uploads WHERE status IN ('saving', 'transmitting') ORDER BY id"),
                    vec![],
                )
                .await
            }
        }
    }

    /// The most recent rows, newest first.
    pub async fn recent(&self, limit: u64) -> Result<Vec<Row>> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM uploads ORDER BY id DESC LIMIT $1"),
            vec![(limit as i64).into()],
        )
        .await
    }

    /// Job ids that completed rows of `server` already account for: a
    /// reconciliation must not adopt them a second time.
    pub async fn known_job_ids(&self, server: &str) -> Result<Vec<String>> {
        Ok(self
            .rows(
                &format!("SELECT {COLUMNS} FROM uploads WHERE server = $1 AND job_id IS NOT NULL"),
                vec![server.into()],
            )
            .await?
            .into_iter()
            .filter_map(|r| r.job_id)
            .collect())
    }

    /// Claims `row` for this process and marks it `transmitting` (committed
    /// before any byte is sent). Compare-and-set on the status and
    /// `updated_at` read: `false` when another process got there first.
    pub async fn claim(&self, row: &Row) -> Result<bool> {
        let now = now_ms();
        let n = self
            .exec(
                "UPDATE uploads SET status = 'transmitting', attempts = attempts + 1, owner_pid = $1, lease_until = $2, first_sent_at = COALESCE(first_sent_at, $3), updated_at = $3 WHERE id = $4 AND status = $5 AND updated_at = $6",
                vec![
                    i64::from(std::process::id()).into(),
                    (now + LEASE_MS).into(),
                    now.into(),
                    row.id.into(),
                    row.status.as_str().into(),
                    row.updated_at.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// The server accepted the upload as `job_id`.
    pub async fn complete(&self, id: i64, job_id: &str, note: Option<&str>) -> Result<()> {
        self.exec(
            "UPDATE uploads SET status = 'completed', job_id = $1, last_error = $2, owner_pid = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4",
            vec![job_id.into(), note.map(str::to_string).into(), now_ms().into(), id.into()],
        )
        .await?;
        Ok(())
    }

    /// The server refused the upload for good.
    pub async fn fail(&self, id: i64, error: &str) -> Result<()> {
        self.exec(
            "UPDATE uploads SET status = 'failed', last_error = $1, owner_pid = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3",
            vec![error.into(), now_ms().into(), id.into()],
        )
        .await?;
        Ok(())
    }

    /// Gives the row back after an attempt that did not complete. `certain`
    /// means the upload surely did not create a job (the server answered,
    /// or nobody listened), so the row is plainly pending again (`saving`);
    /// otherwise it stays `transmitting`, unowned, and is reconciled before
    /// it is sent again.
    pub async fn release(&self, id: i64, certain: bool, error: &str) -> Result<()> {
        let status = if certain {
            RowStatus::Saving
        } else {
            RowStatus::Transmitting
        };
        self.exec(
            "UPDATE uploads SET status = $1, last_error = $2, owner_pid = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4",
            vec![status.as_str().into(), error.into(), now_ms().into(), id.into()],
        )
        .await?;
        Ok(())
    }
}

fn row_from(r: &QueryResult) -> Result<Row> {
    Ok(Row {
        id: r.try_get("", "id")?,
        server: r.try_get("", "server")?,
        file_name: r.try_get("", "file_name")?,
        path: r.try_get("", "path")?,
        size: r.try_get("", "size")?,
        status: RowStatus::parse(&r.try_get::<String>("", "status")?)?,
        attempts: r.try_get("", "attempts")?,
        last_error: r.try_get("", "last_error")?,
        job_id: r.try_get("", "job_id")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
        first_sent_at: r.try_get("", "first_sent_at")?,
        owner_pid: r.try_get("", "owner_pid")?,
        lease_until: r.try_get("", "lease_until")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_move_forward_and_claims_are_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ob = Outbox::open(&dir.path().join("o.db")).await.expect("open");
        let id = ob
            .add("http://s", "a.puml", "/x/a.puml", b"@startuml".to_vec())
            .await
            .expect("add");
        let row = ob.get(id).await.expect("get").expect("row");
        assert_eq!(row.status, RowStatus::Saving);
        assert!(row.claimable(now_ms()));
        assert!(ob.claim(&row).await.expect("claim"));
        // A second claim from the same stale read loses.
        assert!(!ob.claim(&row).await.expect("claim"));
        let row = ob.get(id).await.expect("get").expect("row");
        assert_eq!(row.status, RowStatus::Transmitting);
        assert_eq!(row.attempts, 1);
        ob.release(id, false, "timeout").await.expect("release");
        let row = ob.get(id).await.expect("get").expect("row");
        assert_eq!(row.status, RowStatus::Transmitting, "ambiguous stays");
        assert!(row.claimable(now_ms()));
        ob.complete(id, "job-1", None).await.expect("complete");
        assert!(
            ob.pending(Some("http://s"))
                .await
                .expect("pending")
                .is_empty()
        );
        assert_eq!(ob.known_job_ids("http://s").await.expect("ids"), ["job-1"]);
        assert_eq!(ob.body(id).await.expect("body"), b"@startuml");
    }
}
