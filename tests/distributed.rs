//! End-to-end tests of the distributed mode: one `c4forge serve --stages X`
//! process per stage, chained over the local RabbitMQ, with state in the
//! local PostgreSQL and files in the S3 test server. Each test gets its own
//! PostgreSQL database, RabbitMQ vhost and S3 bucket.

mod common;

use common::*;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use sha2::{Digest, Sha256};
use std::process::Command;

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";

fn s3_endpoint() -> String {
    std::env::var("C4FORGE_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// Isolated resources of one test, removed on drop.
struct Isolated {
    db_name: String,
    vhost: String,
    bucket: String,
}

impl Isolated {
    async fn create() -> Self {
        let me = Self {
            db_name: unique("c4t_"),
            vhost: unique("c4t-"),
            bucket: unique("c4t-"),
        };
        let admin = Database::connect(PG_ADMIN)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (user postgres)");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", me.db_name))
            .await
            .expect("create database");
        for args in [
            vec!["add_vhost", &me.vhost],
            vec![
                "set_permissions",
                "-p",
                &me.vhost,
                "guest",
                ".*",
                ".*",
                ".*",
            ],
        ] {
            let ok = Command::new("rabbitmqctl")
                .args(&args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(ok, "rabbitmqctl {args:?} failed: is RabbitMQ running?");
        }
        let r = reqwest::Client::new()
            .put(format!("{}/{}", s3_endpoint(), me.bucket))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "S3 test server at {} unreachable ({e}); scripts/test.sh starts it",
                    s3_endpoint()
                )
            });
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        me
    }

    fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.db_name)
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("C4FORGE_BUS", format!("{AMQP_BASE}/{}", self.vhost)),
            ("C4FORGE_DATABASE", self.database_url()),
            ("C4FORGE_OBJECTS", format!("s3://{}", self.bucket)),
            (
                "C4FORGE_JWT_SECRET",
                "distributed-test-secret-0123456789abcdef".into(),
            ),
            ("C4FORGE_LISTEN", "127.0.0.1:0".into()),
            ("AWS_ENDPOINT_URL", s3_endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn s3(&self) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(s3_endpoint())
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .build()
            .expect("s3 client")
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.vhost])
            .output();
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name),
            ])
            .output();
    }
}

fn migrate(env: &[(String, String)]) {
    let out = Command::new(bin())
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("migrate");
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .expect("query")
}

#[tokio::test]
async fn upload_to_download_with_one_process_per_stage() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let parse = spawn(&["--stages", "parse"], &env);
    let _generate = spawn(&["--stages", "generate"], &env);
    let _store = spawn(&["--stages", "store"], &env);

    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "dist@example.com").await;
    let (status, body) = upload(
        &http,
        &api.base,
        Some(&token),
        "bigbank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();

    let (statuses, seqs) = watch(&api.base, &token, &job).await;
    assert_eq!(statuses, HAPPY_PATH, "api log:\n{}", api.log_text());
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "events out of order: {seqs:?}"
    );

    let entries = zip_entries(&http, &api.base, &token, &job).await;
    assert_bigbank_project(&entries);

    // Every object is in S3 under its deterministic key, and PostgreSQL
    // links exactly those objects with the right hash and size.
    let s3 = iso.s3();
    let db = Database::connect(iso.database_url())
        .await
        .expect("test database");
    let linked = rows(&db, &format!("SELECT object_key, sha256, size FROM objects WHERE job_id = '{job}' ORDER BY object_key")).await;
    let keys: Vec<String> = linked
        .iter()
        .map(|r| r.try_get::<String>("", "object_key").expect("key"))
        .collect();
    let expected = [
        "c4forge.json",
        "code.zip",
        "model.json",
        "source/bigbank.puml",
    ]
    .map(|k| format!("jobs/{job}/{k}"));
    assert_eq!(keys, expected);
    for r in &linked {
        let key: String = r.try_get("", "object_key").expect("key");
        let bytes = s3
            .get(&ObjectPath::from(key.as_str()))
            .await
            .expect("object exists")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(
            r.try_get::<String>("", "sha256").expect("sha"),
            hex::encode(Sha256::digest(&bytes)),
            "{key}"
        );
        assert_eq!(
            r.try_get::<i64>("", "size").expect("size"),
            bytes.len() as i64,
            "{key}"
        );
    }
    let files = rows(
        &db,
        &format!("SELECT path FROM generated_files WHERE job_id = '{job}'"),
    )
    .await;
    assert_eq!(files.len(), entries.len(), "one row per generated file");
    let done = rows(&db, &format!("SELECT status FROM jobs WHERE id = '{job}'")).await;
    assert_eq!(
        done[0].try_get::<String>("", "status").expect("status"),
        "done"
    );

    // A stage-only process answers probes and exposes its metrics on its admin port.
    let ready = http
        .get(format!("{}/readyz", parse.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let metrics = http
        .get(format!("{}/metrics", parse.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"c4forge_stage_messages_total{stage="parse",outcome="ok"} 1"#),
        "parse metrics:\n{metrics}"
    );
}

#[tokio::test]
async fn competing_consumers_share_a_stage_queue() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let parsers = [
        spawn(&["--stages", "parse"], &env),
        spawn(&["--stages", "parse"], &env),
    ];
    let _rest = spawn(&["--stages", "generate,store"], &env);

    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "many@example.com").await;
    let mut jobs = Vec::new();
    for i in 0..12 {
        let (status, body) = upload(
            &http,
            &api.base,
            Some(&token),
            &format!("d{i}.puml"),
            BIGBANK.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(status, 202);
        jobs.push(body["job_id"].as_str().expect("job").to_string());
    }
    for job in &jobs {
        let (statuses, _) = watch(&api.base, &token, job).await;
        assert_eq!(statuses, HAPPY_PATH, "job {job}");
    }
    // Both parse processes took part, and each job was parsed exactly once.
    for p in &parsers {
        assert!(
            p.log_text().contains("diagram parsed"),
            "a parse process did no work:\n{}",
            p.log_text()
        );
    }
    let parsed: usize = parsers
        .iter()
        .map(|p| p.log_text().matches("diagram parsed").count())
        .sum();
    assert_eq!(parsed, jobs.len());
}
