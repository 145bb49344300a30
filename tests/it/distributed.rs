//! End-to-end tests of the distributed mode: one `c4forge serve --stages X`
//! process per stage, chained over the local RabbitMQ, with state in the
//! local PostgreSQL and files in the S3 test server. Each test gets its own
//! PostgreSQL database, RabbitMQ vhost and S3 bucket.

use crate::common;

use common::*;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use sea_orm::Database;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn upload_to_download_with_one_process_per_stage() {
    let iso = Isolated::create().await;
    upload_to_download(&iso, iso.env()).await;
}

/// The same journey with Kafka as the bus (see `Isolated::kafka_env`).
#[cfg(feature = "kafka")]
#[tokio::test]
async fn upload_to_download_with_one_process_per_stage_on_kafka() {
    let iso = Isolated::create().await;
    upload_to_download(&iso, iso.kafka_env()).await;
}

/// A small diagram crosses the pipeline without any stage reading an object
/// back from S3: the source and the model ride in the messages (the objects
/// are still written, as the record users download). Each GET costs a round
/// trip of 10 to 50 ms against S3, more than a stage's own work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_read_nothing_back_from_s3_for_a_small_diagram() {
    let iso = Isolated::create().await;
    let (proxy, api, _stages) = stages_behind_s3_proxy(&iso).await;
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "hotpath@example.com").await;
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
    assert_eq!(
        wait_terminal(&http, &api.base, &token, &job, 60).await,
        "done"
    );
    let requests = proxy.requests();
    let puts: Vec<_> = requests.iter().filter(|r| r.starts_with("PUT ")).collect();
    let reads: Vec<_> = requests
        .iter()
        .filter(|r| r.starts_with("GET ") || r.starts_with("HEAD "))
        .collect();
    // model.json, code.zip and c4forge.json are written ...
    assert!(puts.len() >= 3, "the stages wrote too little: {requests:?}");
    // ... and nothing is read back.
    assert!(reads.is_empty(), "the stages read objects back: {reads:?}");
}

/// Upload, watch, download and check every object and row, with one
/// process per stage on the bus that `env` configures.
async fn upload_to_download(iso: &Isolated, env: Vec<(String, String)>) {
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
    let jobs = submit(&http, &api.base, &token, 12).await;
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

// The websocket clients run while `spawn` blocks: use two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notifier_instance_delivers_to_its_own_clients() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    // Two API/notifier instances behind an imagined load balancer.
    let one = spawn(&["--stages", "ingest,notifier"], &env);
    let two = spawn(&["--stages", "notifier"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &one.base, "fanout@example.com").await;
    let job = submit(&http, &one.base, &token, 1).await.remove(0);
    // Both clients connect while the job waits, so what follows is live.
    let watchers = [one.base.clone(), two.base.clone()].map(|base| {
        let (token, job) = (token.clone(), job.clone());
        tokio::spawn(async move { watch(&base, &token, &job).await })
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let _stages = spawn(&["--stages", "parse,generate,store"], &env);
    for (i, w) in watchers.into_iter().enumerate() {
        let (statuses, _) = w.await.expect("watcher");
        assert_eq!(statuses, HAPPY_PATH, "instance {}", i + 1);
    }
}

/// Issue 17 in the distributed mode: a generate run far longer than the
/// no-progress age and than its lease, whose heartbeat keeps the lease
/// alive. The sweep of the ingest process never re-dispatches it, and when
/// the broker redelivers its message (every connection closed mid-run) the
/// redelivery is deferred instead of starting a second run: one generate
/// run, every status once, no orphan.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_long_run_is_neither_swept_nor_run_twice_on_redelivery() {
    let iso = Isolated::create().await;
    let env = with(
        iso.env(),
        &[
            ("C4FORGE_STALE_AFTER_SECS", "1"),
            ("C4FORGE_LEASE_SECS", "2"),
            ("C4FORGE_HEARTBEAT_SECS", "1"),
        ],
    );
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    let generate = spawn(
        &["--stages", "generate"],
        &with(
            env.clone(),
            &[("FAILPOINTS", "stage-run-sleep-generate=sleep(15000)")],
        ),
    );
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "long@example.com").await;
    let job = submit(&http, &api.base, &token, 1).await.remove(0);
    wait_any(
        &http,
        &api.base,
        &token,
        std::slice::from_ref(&job),
        &["generating"],
        60,
    )
    .await;
    // The broker drops every connection: the run's unacked message is
    // delivered again while the run is still at work.
    let out = std::process::Command::new("rabbitmqctl")
        .args(["close_all_connections", "-p", &iso.vhost, "redelivery test"])
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        wait_terminal(&http, &api.base, &token, &job, 90).await,
        "done",
        "generate log:\n{}",
        generate.log_text()
    );
    check_jobs(&iso, &[(job.clone(), "done")]).await;
    let db = Database::connect(iso.database_url())
        .await
        .expect("test database");
    let runs = rows(
        &db,
        &format!("SELECT runs FROM stage_leases WHERE job_id = '{job}' AND stage = 'generate'"),
    )
    .await;
    let runs: i64 = runs[0].try_get("", "runs").expect("runs");
    assert_eq!(runs, 1, "generate log:\n{}", generate.log_text());
    assert!(
        generate.log_text().contains("deferring the delivery"),
        "the redelivery should have met the live lease:\n{}",
        generate.log_text()
    );
    assert!(
        !api.log_text().contains("recovered unfinished job"),
        "the sweep re-dispatched a job whose run was alive:\n{}",
        api.log_text()
    );
}
