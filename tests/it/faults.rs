//! Fault tests of the distributed mode against the real RabbitMQ,
//! PostgreSQL and S3 test server. Each test submits jobs, injects a fault,
//! and checks with one shared checker (`check_jobs`) that every job ended as
//! expected, each status was reached once, and no object or row is
//! duplicated or orphaned. The test of a crash between commit and ack needs
//! the `failpoints` feature (on in the README's test command).

use crate::common;

use common::*;
use object_store::ObjectStoreExt;
use std::time::Duration;

const FAST_RETRIES: [(&str, &str); 3] = [
    ("C4FORGE_MAX_ATTEMPTS", "3"),
    ("C4FORGE_RETRY_BASE_MS", "20"),
    ("C4FORGE_RETRY_MAX_MS", "200"),
];

async fn all_reach(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    jobs: &[String],
    want: &str,
    secs: u64,
) {
    for job in jobs {
        assert_eq!(
            wait_terminal(http, base, token, job, secs).await,
            want,
            "job {job}"
        );
    }
}

fn done(jobs: &[String]) -> Vec<(String, &'static str)> {
    jobs.iter().map(|j| (j.clone(), "done")).collect()
}

#[tokio::test]
async fn stage_killed_mid_batch_then_restarted() {
    let iso = Isolated::create().await;
    killed_mid_batch_then_restarted(&iso, iso.env(), Duration::ZERO).await;
}

/// The same fault with Kafka as the bus: the killed consumer's uncommitted
/// offsets are delivered again to its successor in the consumer group.
/// The successor starts once the killed member's session (6 s in
/// `kafka_env`) has expired: tansu, the test broker, hands a member that
/// joins earlier a generation that still includes the dead member, whose
/// partitions then stay assigned to it.
#[cfg(feature = "kafka")]
#[tokio::test]
async fn stage_killed_mid_batch_then_restarted_on_kafka() {
    let iso = Isolated::create().await;
    killed_mid_batch_then_restarted(&iso, iso.kafka_env(), Duration::from_secs(7)).await;
}

/// Fault 1 on the bus that `env` configures: the generate process is
/// SIGKILLed mid-batch and started again `restart_after` later.
async fn killed_mid_batch_then_restarted(
    iso: &Isolated,
    env: Vec<(String, String)>,
    restart_after: Duration,
) {
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    let generate = spawn(&["--stages", "generate"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "kill@example.com").await;
    let jobs = submit(&http, &api.base, &token, 10).await;
    // mid-batch: the generate stage has started on a job
    let at_work = ["generating", "storing", "done"];
    wait_any(&http, &api.base, &token, &jobs, &at_work, 60).await;
    drop(generate); // SIGKILL, whatever it was doing
    tokio::time::sleep(restart_after).await;
    let _generate = spawn(&["--stages", "generate"], &env);
    all_reach(&http, &api.base, &token, &jobs, "done", 60).await;
    check_jobs(iso, &done(&jobs)).await;
}

/// Fault 2: the generate process dies right after committing a stage run,
/// before it publishes the next message and acks the delivery. The
/// redelivered message must find the committed run and only republish its
/// stored output: every job done, the stage's effect once.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn stage_killed_after_commit_before_ack() {
    use std::os::unix::process::ExitStatusExt;
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    // Its third commit aborts the process (SIGABRT, no destructors run).
    let mut generate = spawn(
        &["--stages", "generate"],
        &with(
            env.clone(),
            &[("FAILPOINTS", "stage-after-commit=2*off->return")],
        ),
    );
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "commit@example.com").await;
    let jobs = submit(&http, &api.base, &token, 10).await;
    let status = generate
        .exited_within(60)
        .await
        .expect("the fail point should have killed the generate process");
    assert_eq!(status.signal(), Some(6), "killed by abort: {status:?}");
    let restarted = spawn(
        &["--stages", "generate"],
        &with(env.clone(), &[("C4FORGE_LOG_FORMAT", "json")]),
    );
    all_reach(&http, &api.base, &token, &jobs, "done", 60).await;
    check_jobs(&iso, &done(&jobs)).await;
    // The committed run was found, not redone.
    let log = restarted.log_text();
    assert!(
        log.contains("\"outcome\":\"duplicate\""),
        "the redelivered, already committed message should be a duplicate:\n{log}"
    );
}

#[tokio::test]
async fn sigterm_drains_without_loss() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,generate"], &env);
    let store = spawn(&["--stages", "store"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "term@example.com").await;
    let jobs = submit(&http, &api.base, &token, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = store.terminate();
    assert!(
        status.success(),
        "SIGTERM should drain and exit cleanly, got {status:?}"
    );
    let _store = spawn(&["--stages", "store"], &env);
    all_reach(&http, &api.base, &token, &jobs, "done", 60).await;
    check_jobs(&iso, &done(&jobs)).await;
}

#[tokio::test]
async fn broker_closes_every_connection_mid_batch() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _stages = spawn(&["--stages", "parse,generate,store"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "close@example.com").await;
    let mut jobs = submit(&http, &api.base, &token, 8).await;
    let out = std::process::Command::new("rabbitmqctl")
        .args(["close_all_connections", "-p", &iso.vhost, "fault test"])
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    jobs.extend(submit(&http, &api.base, &token, 4).await);
    all_reach(&http, &api.base, &token, &jobs, "done", 90).await;
    check_jobs(&iso, &done(&jobs)).await;
}

// The proxy runs on the test runtime while `spawn` blocks: use two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_opens_the_breaker_and_loses_nothing() {
    let iso = Isolated::create().await;
    database_outage(&iso, iso.env()).await;
}

/// The same on Kafka: the stage's consumer leaves its group while the
/// breaker is open and joins again after (a rebalance each way); the
/// uncommitted work is redone, nothing is lost or dead-lettered.
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_opens_the_breaker_and_loses_nothing_on_kafka() {
    let iso = Isolated::create().await;
    database_outage(&iso, iso.kafka_env()).await;
}

/// Fault 4 on the bus that `direct` configures: PostgreSQL unreachable for
/// the stage processes for 10 s through a proxy the test controls.
async fn database_outage(iso: &Isolated, direct: Vec<(String, String)>) {
    let proxy = Proxy::start("127.0.0.1:5432").await;
    migrate(&direct);
    let via_proxy = with(
        direct.clone(),
        &[(
            "C4FORGE_DATABASE",
            &format!("postgres://postgres@{}/{}", proxy.addr, iso.db_name),
        )],
    );
    let api = spawn(&["--stages", "ingest,notifier"], &direct);
    let stages = spawn(&["--stages", "parse,generate,store"], &via_proxy);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "pg@example.com").await;
    proxy.down();
    let jobs = submit(&http, &api.base, &token, 6).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let ready = http
        .get(format!("{}/readyz", stages.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503, "readyz while the database is away");
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["breakers"]["database"], "open", "{body}");
    proxy.up();
    all_reach(&http, &api.base, &token, &jobs, "done", 90).await;
    check_jobs(iso, &done(&jobs)).await;
    assert!(
        stages.log_text().contains("breaker open; not consuming"),
        "{}",
        stages.log_text()
    );
}

// The proxy runs on the test runtime while `spawn` blocks: use two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_outage_is_ridden_out() {
    let iso = Isolated::create().await;
    let (proxy, api, _stages) = stages_behind_s3_proxy(&iso).await;
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "s3@example.com").await;
    proxy.down();
    let jobs = submit(&http, &api.base, &token, 6).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.up();
    all_reach(&http, &api.base, &token, &jobs, "done", 90).await;
    check_jobs(&iso, &done(&jobs)).await;
}

#[tokio::test]
async fn poison_message_is_dead_lettered_and_replayed_once() {
    let iso = Isolated::create().await;
    poison_dead_lettered_and_replayed_once(&iso, with(iso.env(), &FAST_RETRIES)).await;
}

/// The same with Kafka as the bus: retries through the retry topics, the
/// dead-letter topic feeding the same `dead_letters` table, and the
/// operator's list and replay unchanged.
#[cfg(feature = "kafka")]
#[tokio::test]
async fn poison_message_is_dead_lettered_and_replayed_once_on_kafka() {
    let iso = Isolated::create().await;
    poison_dead_lettered_and_replayed_once(&iso, with(iso.kafka_env(), &FAST_RETRIES)).await;
}

/// Faults 6 and 10 on the bus that `env` configures: a job whose source
/// vanished is dead-lettered after the attempt limit while others flow; an
/// admin sees it in the DLQ (API and CLI), fixes the cause and replays it
/// twice: processed once.
async fn poison_dead_lettered_and_replayed_once(iso: &Isolated, env: Vec<(String, String)>) {
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "poison@example.com").await;
    // The poison: a job whose source object vanished before parsing. The
    // diagram is larger than what rides inline in the message (a comment
    // pads it), so the parse stage must read it from the object store.
    let padding = format!("' {}\n", "padding ".repeat(12)).repeat(3_000);
    let padded = BIGBANK.replacen("@startuml\n", &format!("@startuml\n{padding}"), 1);
    assert!(padded.len() > schemas::messages::INLINE_COPY_LIMIT);
    let (status, body) = upload(
        &http,
        &api.base,
        Some(&token),
        "poison.puml",
        padded.into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let poison = body["job_id"].as_str().expect("job").to_string();
    let s3 = iso.s3();
    let source =
        object_store::path::Path::from(format!("jobs/{poison}/source/poison.puml").as_str());
    let original = s3
        .get(&source)
        .await
        .expect("source")
        .bytes()
        .await
        .expect("bytes");
    s3.delete(&source).await.expect("delete");
    let _stages = spawn(&["--stages", "parse,generate,store"], &env);
    let healthy = submit(&http, &api.base, &token, 4).await;
    assert_eq!(
        wait_terminal(&http, &api.base, &token, &poison, 60).await,
        "dead_lettered"
    );
    all_reach(&http, &api.base, &token, &healthy, "done", 60).await;

    // The operator sees it in the DLQ with stage, reason and attempts.
    let out = std::process::Command::new(bin())
        .args(["user", "create", "ops@example.com", "--admin"])
        .env("C4FORGE_USER_PASSWORD", "correct horse battery")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("user create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds =
        serde_json::json!({"email": "ops@example.com", "password": "correct horse battery"});
    let admin: serde_json::Value = http
        .post(format!("{}/api/v1/auth/token", api.base))
        .json(&creds)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let admin = admin["access_token"].as_str().expect("token").to_string();
    let r = http
        .get(format!("{}/api/v1/admin/dlq", api.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("dlq");
    assert_eq!(r.status(), 403, "a plain user may not read the DLQ");
    let dlq: serde_json::Value = http
        .get(format!("{}/api/v1/admin/dlq?stage=parse", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("dlq")
        .json()
        .await
        .expect("json");
    let items = dlq["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{dlq}");
    assert_eq!(items[0]["job_id"], poison.as_str());
    assert_eq!(items[0]["attempts"], 3);
    assert!(
        items[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not found")),
        "{dlq}"
    );
    let id = items[0]["id"].as_i64().expect("id");

    // The operator's CLI sees the same entry through the server.
    let client_dir = tempfile::tempdir().expect("client dir");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .env("C4FORGE_CLIENT_DIR", client_dir.path())
            .env("C4FORGE_PASSWORD", "correct horse battery")
            .output()
            .expect("c4forge");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["login", "--server", &api.base, "--email", "ops@example.com"]);
    let listed = cli(&["dlq", "--remote", "list", "--stage", "parse"]);
    assert!(
        listed.contains(&poison),
        "dlq list through the server: {listed}"
    );

    // Fix the cause, replay twice: processed once.
    s3.put(&source, original.into()).await.expect("restore");
    let first = http
        .post(format!("{}/api/v1/admin/dlq/{id}/replay", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("replay");
    assert_eq!(first.status(), 202);
    let second: serde_json::Value = http
        .post(format!("{}/api/v1/admin/dlq/{id}/replay", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("replay")
        .json()
        .await
        .expect("json");
    assert_eq!(second["status"], "already_replayed");
    assert_eq!(
        wait_terminal(&http, &api.base, &token, &poison, 60).await,
        "done"
    );
    let mut expected = done(&healthy);
    expected.push((poison, "done_after_replay"));
    check_jobs(iso, &expected).await;
}

async fn raw_publish(vhost: &str, routing_key: &str, body: &[u8]) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    let conn = lapin::Connection::connect(
        &format!("{AMQP_BASE}/{vhost}"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    ch.basic_publish(
        "c4forge.work".into(),
        routing_key.to_string().into(),
        BasicPublishOptions::default(),
        body,
        lapin::BasicProperties::default().with_delivery_mode(2),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm");
}

#[tokio::test]
async fn malformed_unknown_version_and_duplicate_messages() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let stages = spawn(&["--stages", "parse,generate,store"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "weird@example.com").await;
    let jobs = submit(&http, &api.base, &token, 2).await;
    all_reach(&http, &api.base, &token, &jobs, "done", 60).await;

    // The same message delivered again: acknowledged as a no-op.
    let db = sea_orm::Database::connect(iso.database_url())
        .await
        .expect("db");
    let out = rows(
        &db,
        &format!(
            "SELECT output FROM stage_runs WHERE job_id = '{}' AND stage = 'ingest'",
            jobs[0]
        ),
    )
    .await;
    let uploaded: String = out[0].try_get("", "output").expect("output");
    raw_publish(&iso.vhost, "job.uploaded", uploaded.as_bytes()).await;
    raw_publish(&iso.vhost, "job.uploaded", uploaded.as_bytes()).await;
    // Garbage and a message from a future version: dead-lettered at once.
    raw_publish(&iso.vhost, "job.uploaded", b"\x00\x01 not json").await;
    let mut future: serde_json::Value = serde_json::from_str(&uploaded).expect("json");
    future["schema_version"] = 99.into();
    future["job_id"] = jobs[1].clone().into();
    raw_publish(&iso.vhost, "job.parsed", future.to_string().as_bytes()).await;

    // The pipeline keeps working after all of that.
    let later = submit(&http, &api.base, &token, 1).await;
    all_reach(&http, &api.base, &token, &later, "done", 60).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let logs = stages.log_text();
    assert!(
        logs.contains("undecodable message; dead-lettering"),
        "{logs}"
    );
    assert!(logs.contains("unsupported schema version 99"), "{logs}");
    let dead = rows(&db, "SELECT reason FROM dead_letters").await;
    assert_eq!(
        dead.len(),
        1,
        "the versioned message names its job and is recorded"
    );
    // jobs[1] was done: a terminal job is not moved by a late dead letter.
    let mut expected = done(&jobs);
    expected.extend(done(&later));
    check_jobs(&iso, &expected).await;
}

#[tokio::test]
async fn websocket_reconnect_gets_the_current_state() {
    let iso = Isolated::create().await;
    let env = iso.env();
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "ws@example.com").await;
    let job = submit(&http, &api.base, &token, 1).await.remove(0);
    {
        // First connection sees the job queued, then goes away.
        let url = format!(
            "{}/api/v1/ws?job={job}&token={token}",
            api.base.replacen("http", "ws", 1)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        let first = futures_util::StreamExt::next(&mut ws)
            .await
            .expect("message")
            .expect("ok");
        assert!(first.to_text().expect("text").contains("\"queued\""));
    }
    let _stages = spawn(&["--stages", "parse,generate,store"], &env);
    let (statuses, seqs) = watch(&api.base, &token, &job).await;
    assert_eq!(statuses, HAPPY_PATH);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn a_lost_message_is_recovered_by_the_stale_job_sweep() {
    let iso = Isolated::create().await;
    let env = with(iso.env(), &[("C4FORGE_STALE_AFTER_SECS", "3")]);
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "lost@example.com").await;
    let jobs = submit(&http, &api.base, &token, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The broker loses the queued messages (an operator purge, a lost node).
    let out = std::process::Command::new("rabbitmqctl")
        .args(["purge_queue", "-p", &iso.vhost, "c4forge.parse"])
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _stages = spawn(&["--stages", "parse,generate,store"], &env);
    all_reach(&http, &api.base, &token, &jobs, "done", 60).await;
    check_jobs(&iso, &done(&jobs)).await;
    assert!(
        api.log_text()
            .contains("re-enqueued jobs that made no progress"),
        "{}",
        api.log_text()
    );
}

/// Waits up to `secs` until the process has handled a delivery (its log
/// says so): it holds partitions and works on them.
async fn has_handled(server: &Server, secs: u64) -> bool {
    for _ in 0..secs * 4 {
        if server.log_text().contains("delivery handled") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Fault 5: a Kafka consumer group rebalances under load. Two generate
/// processes share the stage's partitions, both with work in flight; a
/// third joins (partitions move to it) and then one of the first two leaves
/// by SIGTERM (its partitions move again) while 200 jobs go through. Every
/// job is done once: deliveries of revoked partitions are redone by their
/// new owner from the committed offset, and no offset was committed past
/// unsettled work (a job whose message was skipped that way would never be
/// done; the stale-job sweep is far away at its default of 15 min).
#[cfg(all(feature = "kafka", feature = "failpoints"))]
#[tokio::test]
async fn kafka_rebalance_under_load_does_every_job_once() {
    let iso = Isolated::create().await;
    let env = with(
        iso.kafka_env(),
        &[
            ("C4FORGE_UPLOADS_PER_MINUTE", "10000"),
            ("C4FORGE_MAX_ACTIVE_JOBS", "10000"),
        ],
    );
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    // Runs of 100 ms keep work in flight in every member.
    let slow = with(
        env.clone(),
        &[("FAILPOINTS", "stage-run-sleep-generate=sleep(100)")],
    );
    let first = spawn(&["--stages", "generate"], &slow);
    let second = spawn(&["--stages", "generate"], &slow);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "rebalance@example.com").await;
    let mut jobs = submit(&http, &api.base, &token, 100).await;
    for (name, member) in [("first", &first), ("second", &second)] {
        assert!(
            has_handled(member, 120).await,
            "the {name} generate process got no work:\n{}",
            member.log_text()
        );
    }
    let third = spawn(&["--stages", "generate"], &slow);
    jobs.extend(submit(&http, &api.base, &token, 100).await);
    assert!(
        has_handled(&third, 120).await,
        "the joining generate process got no partition:\n{}",
        third.log_text()
    );
    let status = first.terminate();
    assert!(status.success(), "SIGTERM should drain: {status:?}");
    all_reach(&http, &api.base, &token, &jobs, "done", 300).await;
    check_jobs(&iso, &done(&jobs)).await;
    let db = sea_orm::Database::connect(iso.database_url())
        .await
        .expect("db");
    assert!(
        rows(&db, "SELECT id FROM dead_letters").await.is_empty(),
        "nothing dead-lettered"
    );
}
