//! Database connection (SQLite in embedded mode, PostgreSQL in distributed
//! mode) and the schema migrations.
//!
//! Queries are plain SQL through sea-orm's connection with `$N` placeholders,
//! which both sqlx drivers accept; timestamps are stored as epoch
//! milliseconds and ids as text so one statement works on both backends.
//! Only the DDL differs (auto-increment keys), see [`MIGRATIONS`].

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use std::time::Duration;

/// A pooled database connection.
pub type Db = DatabaseConnection;

/// Database failures. Connection problems are transient; the rest are bugs
/// or a schema from a newer version.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The driver reported an error.
    #[error("database: {0}")]
    Driver(#[from] DbErr),
    /// The URL names no supported database.
    #[error("unsupported database url `{0}` (expected postgres:// or sqlite://)")]
    UnsupportedUrl(String),
    /// The SQLite file could not be created or restricted to the service's user.
    #[error("database file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Mode of the SQLite database file (and its `-wal` and `-shm` files, which
/// SQLite creates with the database file's mode): it holds password hashes
/// and refresh tokens, so only the service's user reads it, like the JWT
/// secret file beside it.
pub const SQLITE_FILE_MODE: u32 = 0o600;

/// The file of a `sqlite:` URL, unless the database lives in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.contains(":memory:") || query.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Creates the SQLite file with [`SQLITE_FILE_MODE`] before SQLite does (its
/// own default follows the umask, usually 0644), and tightens the files an
/// earlier version left readable by others.
fn prepare_sqlite_file(url: &str) -> Result<(), DbError> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    let err = |path: &std::path::Path, source| DbError::File {
        path: path.display().to_string(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            // Only where SQLite would create it too (`mode=rwc`); otherwise
            // a missing file stays the error SQLite reports.
            if url.contains("mode=rwc") {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(SQLITE_FILE_MODE)
                    .open(&path)
                {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(err(&path, e)),
                }
            }
            return Ok(());
        }
        let files = ["", "-wal", "-shm"].map(|suffix| {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            std::path::PathBuf::from(name)
        });
        for file in files {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(SQLITE_FILE_MODE))
                    .map_err(|e| err(&file, e))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, err);
    Ok(())
}

/// One schema version: the SQL to reach it, with `{serial}` standing for the
/// backend's auto-increment primary key.
#[derive(Debug)]
pub struct Migration {
    /// Version number, applied in increasing order.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    /// Statements separated by `;` on their own line ends; one that starts
    /// with `{postgres} ` runs on PostgreSQL only.
    pub sql: &'static str,
}

/// The migration that case-folds existing e-mails (new ones are folded by
/// the API and `c4forge user create`). 4 because main's version 3 (stage
/// leases) precedes it once merged; versions need not be contiguous.
pub const EMAIL_FOLD_VERSION: i64 = 4;

/// Marks a migration statement that runs on PostgreSQL only (a storage
/// setting SQLite has no counterpart for); SQLite skips it.
const POSTGRES_ONLY: &str = "{postgres} ";

/// Every migration of the schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "jobs, events, stage runs, outbox, objects, generated files, dead letters, users",
        sql: r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL,
    file_name TEXT NOT NULL,
    generator TEXT NOT NULL,
    generator_version TEXT,
    diagnostics TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_status ON jobs (status);
CREATE TABLE job_events (
    id {serial},
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, id);
CREATE TABLE stage_runs (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    output TEXT,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, stage)
);
CREATE TABLE outbox (
    id {serial},
    job_id TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE objects (
    object_key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX objects_job ON objects (job_id);
CREATE TABLE generated_files (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    object_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    owner TEXT NOT NULL,
    zip_offset BIGINT NOT NULL,
    zip_length BIGINT NOT NULL,
    PRIMARY KEY (job_id, path)
);
CREATE TABLE dead_letters (
    id {serial},
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    payload TEXT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    replayed_at BIGINT
);
CREATE INDEX dead_letters_job ON dead_letters (job_id)
"#,
    },
    Migration {
        version: 2,
        name: "refresh tokens (stored hashed, rotated, revoked by family)",
        sql: r#"
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family)
"#,
    },
    Migration {
        version: 3,
        name: "stage leases (owner, lease_until and heartbeat of the running stage run of a job)",
        sql: r#"
CREATE TABLE stage_leases (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    runs BIGINT NOT NULL,
    PRIMARY KEY (job_id, stage)
);
CREATE INDEX stage_leases_until ON stage_leases (lease_until)
"#,
    },
    Migration {
        version: EMAIL_FOLD_VERSION,
        name: "case-fold user e-mails (lowercase, trimmed); colliding rows keep their spelling",
        // A row is folded unless another row already has the folded address
        // or an older row folds to the same address: the oldest account of
        // a collision gets the folded address, the others keep their
        // spelling (still reachable by typing it exactly, see
        // `Ledger::user_for_login`) and `migrate` logs a warning. Both
        // conditions depend only on values the update does not change, so
        // the row order of the UPDATE does not matter.
        sql: r#"
UPDATE users SET email = LOWER(TRIM(email))
WHERE email <> LOWER(TRIM(email))
  AND NOT EXISTS (SELECT 1 FROM users taken WHERE taken.email = LOWER(TRIM(users.email)))
  AND NOT EXISTS (
    SELECT 1 FROM users older
    WHERE older.id <> users.id
      AND LOWER(TRIM(older.email)) = LOWER(TRIM(users.email))
      AND (older.created_at < users.created_at OR (older.created_at = users.created_at AND older.id < users.id))
  )
"#,
    },
    Migration {
        version: 5,
        name: "stage leases count the runs that died unreleased (crash loop limit)",
        sql: r#"
ALTER TABLE stage_leases ADD COLUMN crashes BIGINT NOT NULL DEFAULT 0
"#,
    },
    Migration {
        version: 6,
        name: "unfinished jobs indexed apart (per user and by age); stage outputs compressed with lz4",
        // The upload's per-user limit counted every job the user ever had
        // (an index scan of all of them on each upload) and the sweeps read
        // the whole `status` index; both now read only unfinished jobs.
        // PostgreSQL only: a stage's recorded output (the generated file
        // set, ~200 KB) is compressed with lz4 instead of pglz, several times
        // cheaper in CPU; a server built without lz4 keeps pglz (the DO
        // block swallows the error, as a NOTICE).
        sql: r#"
CREATE INDEX jobs_unfinished_user ON jobs (user_id) WHERE status NOT IN ('done', 'failed', 'dead_lettered');
CREATE INDEX jobs_unfinished_age ON jobs (created_at) WHERE status NOT IN ('done', 'failed', 'dead_lettered');
DROP INDEX jobs_status;
{postgres} DO $$ BEGIN ALTER TABLE stage_runs ALTER COLUMN output SET COMPRESSION lz4; EXCEPTION WHEN others THEN RAISE NOTICE 'stage_runs.output keeps pglz: %', SQLERRM; END $$
"#,
    },
];

/// Connects to `url` (`postgres://...` or `sqlite://...`). `max_connections`
/// of 0 keeps the default (10 for PostgreSQL, 4 for SQLite). A SQLite
/// database runs in WAL mode with `synchronous=NORMAL`; see [`connect_with`].
pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
    connect_with(url, max_connections, false).await
}

/// [`connect`], choosing SQLite's commit durability: with `sqlite_full_sync`
/// every commit is fsynced (`synchronous=FULL`); without, WAL mode's
/// `synchronous=NORMAL` fsyncs only at checkpoints, so a commit costs tens
/// of microseconds instead of a disk flush and survives a killed process,
/// but a power loss or OS crash may undo the last commits. Every pooled
/// connection gets these settings (pragmas are per connection).
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    sqlite_full_sync: bool,
) -> Result<Db, DbError> {
    let sqlite = url.starts_with("sqlite:");
    if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(DbError::UnsupportedUrl(url.to_string()));
    }
    if sqlite {
        prepare_sqlite_file(url)?;
    }
    let mut opts = ConnectOptions::new(url.to_string());
    let max = match max_connections {
        0 if sqlite => 4,
        0 => 10,
        n => n,
    };
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if sqlite {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        opts.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .synchronous(if sqlite_full_sync {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
        });
    }
    Ok(Database::connect(opts).await?)
}

/// Applies every migration not applied yet, each in its own transaction.
/// Safe to run from several processes at once on PostgreSQL (an advisory
/// lock serializes them). Returns the versions applied now.
pub async fn migrate(db: &Db) -> Result<Vec<i64>, DbError> {
    let backend = db.get_database_backend();
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let tx = db.begin().await?;
        if backend == DbBackend::Postgres {
            tx.execute_unprepared("SELECT pg_advisory_xact_lock(4242004)")
                .await?;
        }
        let done = tx
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT version FROM schema_migrations WHERE version = $1",
                [m.version.into()],
            ))
            .await?
            .is_some();
        if done {
            tx.commit().await?;
            continue;
        }
        let serial = match backend {
            DbBackend::Postgres => "BIGSERIAL PRIMARY KEY",
            _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        for stmt in m.sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            let stmt = match stmt.strip_prefix(POSTGRES_ONLY) {
                Some(pg) if backend == DbBackend::Postgres => pg,
                Some(_) => continue,
                None => stmt,
            };
            tx.execute_unprepared(&stmt.replace("{serial}", serial))
                .await?;
        }
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            [m.version.into(), crate::now_millis().into()],
        ))
        .await?;
        tx.commit().await?;
        applied.push(m.version);
    }
    if applied.contains(&EMAIL_FOLD_VERSION) {
        warn_unfolded_emails(db).await?;
    }
    Ok(applied)
}

/// Logs the accounts whose e-mail the case-folding migration left as it
/// was because another account already had (or got) the folded address.
/// They keep working when the address is typed exactly as stored; an
/// operator should merge or rename them.
async fn warn_unfolded_emails(db: &Db) -> Result<(), DbError> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM users WHERE email <> LOWER(TRIM(email)) ORDER BY created_at",
        ))
        .await?;
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "id").ok())
        .collect();
    if !ids.is_empty() {
        tracing::warn!(
            accounts = ids.len(),
            user_ids = %ids.join(","),
            "e-mails differing only in case from an older account were left unfolded; \
             they sign in only with the exact spelling: merge or rename them"
        );
    }
    Ok(())
}

/// A cheap round trip, for `/readyz`.
pub async fn ping(db: &Db) -> Result<(), DbError> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = connect(&url, 0).await.expect("connect");
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(migrate(&db).await.expect("first"), all);
        assert!(migrate(&db).await.expect("second").is_empty());
    }

    #[test]
    fn migration_versions_increase() {
        // A repeated version would be skipped as already applied.
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
