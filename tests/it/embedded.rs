//! End-to-end tests of the embedded mode: one `c4forge serve` process with
//! SQLite, a local object directory and the in-process bus.

use crate::common;

use common::*;
use sea_orm::{ConnectionTrait, Database, Statement};

/// A diagram whose relationship names an unknown alias (`apii`, line 5).
const BROKEN: &str = "@startuml\n!include <C4/C4_Container>\nPerson(user, \"User\")\nContainer(api, \"API\", \"Rust\")\nRel(user, apii, \"Uses\")\n@enduml\n";

fn embedded_env(dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("C4FORGE_DATA_DIR".into(), dir.display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
    ]
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

#[tokio::test]
async fn upload_to_download_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "embedded@example.com").await;

    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "bigbank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();
    assert_eq!(body["_location_header"], format!("/api/v1/diagrams/{job}"));
    assert!(
        body["websocket"]
            .as_str()
            .is_some_and(|w| w.starts_with("ws://"))
    );

    let (statuses, seqs) = watch(&server.base, &token, &job).await;
    assert_eq!(statuses, HAPPY_PATH, "log:\n{}", server.log_text());
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "events out of order: {seqs:?}"
    );

    let entries = zip_entries(&http, &server.base, &token, &job).await;
    assert_bigbank_project(&entries);

    // Objects under deterministic keys in the data dir, one row per object.
    let objects = dir.path().join("objects").join("jobs").join(&job);
    for rel in [
        "source/bigbank.puml",
        "model.json",
        "code.zip",
        "c4forge.json",
    ] {
        assert!(objects.join(rel).is_file(), "missing object {rel}");
    }
    let db = Database::connect(format!(
        "sqlite://{}",
        dir.path().join("c4forge.db").display()
    ))
    .await
    .expect("sqlite");
    let linked = count(
        &db,
        &format!("SELECT COUNT(*) FROM objects WHERE job_id = '{job}'"),
    )
    .await;
    assert_eq!(linked, 4);
    let files = count(
        &db,
        &format!("SELECT COUNT(*) FROM generated_files WHERE job_id = '{job}'"),
    )
    .await;
    assert_eq!(files as usize, entries.len());

    // A single file is served from one ranged read of the zip.
    let r = http
        .get(format!(
            "{}/api/v1/diagrams/{job}/code/pyproject.toml",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("file");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("[project]"));
}

#[tokio::test]
async fn bad_uploads_get_clear_4xx_and_enqueue_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = embedded_env(dir.path());
    env.push(("C4FORGE_MAX_UPLOAD_BYTES".into(), "4096".into()));
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "bad@example.com").await;

    /// (what, token, body, expected status, what the detail must mention)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("empty", Some(&token), Vec::new(), 400, "empty"),
        ("blank", Some(&token), b"  \n\t ".to_vec(), 400, "empty"),
        (
            "latin1",
            Some(&token),
            b"@startuml\nPerson(a, \"Caf\xe9\")\n@enduml\n".to_vec(),
            415,
            "UTF-8",
        ),
        (
            "no token",
            None,
            BIGBANK.as_bytes().to_vec(),
            401,
            "Authorization",
        ),
        (
            "bad token",
            Some("not-a-token"),
            BIGBANK.as_bytes().to_vec(),
            401,
            "token",
        ),
        ("too large", Some(&token), vec![b'x'; 5000], 413, "larger"),
    ];
    for (what, tok, body, want, says) in cases {
        let (status, problem) = upload(&http, &server.base, tok, "x.puml", body).await;
        assert_eq!(status, want, "{what}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(says),
            "{what}: detail {detail:?} should mention {says:?}"
        );
        assert_eq!(problem["status"], want, "{what}: problem+json body");
    }
    let db = Database::connect(format!(
        "sqlite://{}",
        dir.path().join("c4forge.db").display()
    ))
    .await
    .expect("sqlite");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM jobs").await,
        0,
        "a rejected upload created a job"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox").await,
        0,
        "a rejected upload enqueued a message"
    );
    assert!(
        !dir.path().join("objects").join("jobs").exists(),
        "a rejected upload stored an object"
    );
}

#[tokio::test]
async fn an_invalid_diagram_fails_with_diagnostics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "diag@example.com").await;
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "broken.puml",
        BROKEN.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    let job = body["job_id"].as_str().expect("job").to_string();
    let (statuses, _) = watch(&server.base, &token, &job).await;
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("failed"),
        "{statuses:?}"
    );
    let view: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams/{job}", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let diags = view["diagnostics"].as_array().expect("diagnostics");
    let unknown = diags
        .iter()
        .find(|d| {
            d["severity"] == "error" && d["message"].as_str().is_some_and(|m| m.contains("apii"))
        })
        .unwrap_or_else(|| panic!("no diagnostic about `apii` in {diags:?}"));
    assert_eq!(unknown["line"], 5);
    assert_eq!(unknown["file"], "broken.puml");
    // The code of a failed job is not downloadable.
    let r = http
        .get(format!("{}/api/v1/diagrams/{job}/code.zip", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("zip");
    assert_eq!(r.status(), 409);
}

/// What a client following one job over the websocket learns at each
/// step: the file, what the parser found, what was generated, where the
/// result is; and for a broken diagram, the diagnostics with their place.
#[tokio::test]
async fn progress_events_carry_the_detail_of_each_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "detail@example.com").await;
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "bigbank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();
    let events = watch_events(&server.base, &token, &job).await;
    let by_status = |s: &str| {
        events
            .iter()
            .find(|e| e["status"] == s)
            .unwrap_or_else(|| panic!("no `{s}` event in {events:?}"))["detail"]
            .clone()
    };
    assert_eq!(by_status("queued")["file_name"], "bigbank.puml");

    // The counts after parsing are those of the stored model.
    let model: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams/{job}/model", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("model")
        .json()
        .await
        .expect("json");
    let sum = |field: &str| -> u64 {
        model["diagrams"]
            .as_array()
            .expect("diagrams")
            .iter()
            .map(|d| d[field].as_array().map_or(0, Vec::len) as u64)
            .sum()
    };
    let parsed = by_status("generating");
    assert!(sum("elements") > 0 && sum("relationships") > 0);
    assert_eq!(parsed["elements"], sum("elements"), "{parsed}");
    assert_eq!(parsed["relationships"], sum("relationships"), "{parsed}");
    assert!(parsed["warnings"].is_u64(), "{parsed}");

    // Files generated, then the same count stored, with working links.
    let entries = zip_entries(&http, &server.base, &token, &job).await;
    let generated = by_status("storing");
    assert_eq!(generated["files"], entries.len() as u64, "{generated}");
    assert!(generated["bytes"].as_u64().is_some_and(|b| b > 0));
    assert_eq!(generated["generator"], "python-fastapi");
    let done = by_status("done");
    assert_eq!(done["files"], entries.len() as u64, "{done}");
    assert_eq!(
        done["links"]["code_zip"],
        format!("/api/v1/diagrams/{job}/code.zip")
    );
    for link in [
        done["links"]["job"].as_str().expect("job link").to_string(),
        done["links"]["code_zip"]
            .as_str()
            .expect("zip link")
            .to_string(),
        format!(
            "{}pyproject.toml",
            done["links"]["code_files"].as_str().expect("files link")
        ),
    ] {
        let r = http
            .get(format!("{}{link}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("follow link");
        assert_eq!(r.status(), 200, "{link}");
    }

    // A broken diagram: the failed event carries the diagnostics.
    let (_, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "broken.puml",
        BROKEN.as_bytes().to_vec(),
    )
    .await;
    let job = body["job_id"].as_str().expect("job id").to_string();
    let events = watch_events(&server.base, &token, &job).await;
    let failed = events.last().expect("events");
    assert_eq!(failed["status"], "failed", "{events:?}");
    assert!(
        failed["detail"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let diags = failed["detail"]["diagnostics"]
        .as_array()
        .expect("diagnostics");
    let apii = diags
        .iter()
        .find(|d| d["message"].as_str().is_some_and(|m| m.contains("apii")))
        .unwrap_or_else(|| panic!("no diagnostic about `apii` in {diags:?}"));
    assert_eq!(apii["line"], 5);
    assert!(apii["column"].as_u64().is_some_and(|c| c > 0), "{apii}");
}

#[tokio::test]
async fn users_never_see_each_others_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let alice = login(&http, &server.base, "alice@example.com").await;
    let bob = login(&http, &server.base, "bob@example.com").await;
    let (_, body) = upload(
        &http,
        &server.base,
        Some(&alice),
        "a.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    let job = body["job_id"].as_str().expect("job").to_string();
    for path in ["", "/code.zip", "/model"] {
        let r = http
            .get(format!("{}/api/v1/diagrams/{job}{path}", server.base))
            .bearer_auth(&bob)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "bob reading alice's job{path}");
    }
    let list: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams", server.base))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    // Bob's websocket for alice's job shows nothing of it.
    let (statuses, _) = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        watch(&server.base, &bob, &job),
    )
    .await
    .unwrap_or_default();
    assert!(statuses.is_empty(), "bob saw {statuses:?}");
}

#[tokio::test]
async fn unfinished_jobs_resume_after_a_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = embedded_env(dir.path());
    // Only ingest runs: jobs are accepted and committed but nothing processes them.
    let first = spawn(&["--stages", "ingest"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &first.base, "resume@example.com").await;
    let jobs = submit(&http, &first.base, &token, 3).await;
    drop(first); // SIGKILL: the in-process queue is lost with the process.
    let second = spawn(&[], &env);
    for job in &jobs {
        let (statuses, _) = watch(&second.base, &token, job).await;
        assert_eq!(
            statuses.last().map(String::as_str),
            Some("done"),
            "job {job}: {statuses:?}\n{}",
            second.log_text()
        );
    }
}

/// The SQLite database of an embedded server's data dir.
async fn data_db(dir: &std::path::Path) -> sea_orm::DatabaseConnection {
    Database::connect(format!("sqlite://{}", dir.join("c4forge.db").display()))
        .await
        .expect("sqlite")
}

/// How many runs of `stage` were started for `job` (the stage's lease row).
async fn runs_of(db: &sea_orm::DatabaseConnection, job: &str, stage: &str) -> i64 {
    count(
        db,
        &format!("SELECT runs FROM stage_leases WHERE job_id = '{job}' AND stage = '{stage}'"),
    )
    .await
}

/// Issue 17: a generate run that takes longer than the no-progress age
/// (`stale_after_secs`) and than its lease is kept alive by its heartbeat:
/// the sweep never re-dispatches it, the job is done after one generate run.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_run_longer_than_the_stale_age_is_not_dispatched_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = with(
        embedded_env(dir.path()),
        &[
            ("C4FORGE_STALE_AFTER_SECS", "1"),
            ("C4FORGE_LEASE_SECS", "2"),
            ("C4FORGE_HEARTBEAT_SECS", "1"),
            ("FAILPOINTS", "stage-run-sleep-generate=sleep(5000)"),
        ],
    );
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "slow@example.com").await;
    let job = submit(&http, &server.base, &token, 1).await.remove(0);
    let (statuses, _) = watch(&server.base, &token, &job).await;
    assert_eq!(statuses, HAPPY_PATH, "log:\n{}", server.log_text());
    let db = data_db(dir.path()).await;
    assert_eq!(runs_of(&db, &job, "generate").await, 1, "one generate run");
    let log = server.log_text();
    assert!(
        !log.contains("recovered unfinished job"),
        "the sweep re-dispatched a job whose run was alive:\n{log}"
    );
}

/// Issue 17: a stage run over `stages.run_timeout_secs` fails its job
/// permanently with a reason naming the budget, and frees its slot: with
/// one generate slot, a job submitted while the first is stuck still
/// completes. Nothing is dead-lettered.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_run_over_its_time_budget_fails_with_the_reason_and_frees_its_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = with(
        embedded_env(dir.path()),
        &[
            ("C4FORGE_RUN_TIMEOUT_SECS", "2"),
            ("C4FORGE_PREFETCH", "1"),
            // The first generate run is stuck for 10 minutes.
            ("FAILPOINTS", "stage-run-sleep-generate=1*sleep(600000)"),
        ],
    );
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "budget@example.com").await;
    let stuck = submit(&http, &server.base, &token, 1).await.remove(0);
    wait_any(
        &http,
        &server.base,
        &token,
        std::slice::from_ref(&stuck),
        &["generating"],
        60,
    )
    .await;
    let other = submit(&http, &server.base, &token, 1).await.remove(0);

    let events = watch_events(&server.base, &token, &stuck).await;
    let last = events.last().expect("events");
    assert_eq!(last["status"], "failed", "{events:?}");
    assert_eq!(
        last["detail"]["reason"],
        "generate stage run exceeded its time budget of 2 s (stages.run_timeout_secs)",
        "{last}"
    );
    let (statuses, _) = watch(&server.base, &token, &other).await;
    assert_eq!(statuses, HAPPY_PATH, "log:\n{}", server.log_text());

    let db = data_db(dir.path()).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM dead_letters").await, 0);
    assert_eq!(runs_of(&db, &stuck, "generate").await, 1, "not retried");
    let leased = count(
        &db,
        &format!(
            "SELECT lease_until FROM stage_leases WHERE job_id = '{stuck}' AND stage = 'generate'"
        ),
    )
    .await;
    assert_eq!(leased, 0, "the timed-out run released its lease");
}

/// A process killed while a run holds a (long) lease: the restarted
/// embedded process knows that run died with it and resumes the job at
/// once instead of waiting for the lease to expire.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_run_killed_mid_lease_resumes_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = with(
        embedded_env(dir.path()),
        &[
            ("C4FORGE_LEASE_SECS", "600"),
            ("C4FORGE_HEARTBEAT_SECS", "1"),
        ],
    );
    let first = spawn(
        &[],
        &with(
            env.clone(),
            &[("FAILPOINTS", "stage-run-sleep-generate=sleep(600000)")],
        ),
    );
    let http = reqwest::Client::new();
    let token = login(&http, &first.base, "killed@example.com").await;
    let job = submit(&http, &first.base, &token, 1).await.remove(0);
    wait_any(
        &http,
        &first.base,
        &token,
        std::slice::from_ref(&job),
        &["generating"],
        60,
    )
    .await;
    drop(first); // SIGKILL mid-run: its lease would live 10 more minutes.
    let second = spawn(&[], &env);
    let (statuses, _) = watch(&second.base, &token, &job).await;
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("done"),
        "{statuses:?}\n{}",
        second.log_text()
    );
    let db = data_db(dir.path()).await;
    assert_eq!(
        runs_of(&db, &job, "generate").await,
        2,
        "the dead run and its successor"
    );
}

/// The next JSON message of a websocket, before `deadline`.
async fn next_json<S, E>(ws: &mut S, deadline: tokio::time::Instant) -> serde_json::Value
where
    S: futures_util::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a websocket message in time")
            .expect("the websocket stays open")
            .expect("websocket message");
        if let Ok(text) = msg.to_text()
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        {
            return v;
        }
    }
}

/// A websocket following all of a user's jobs (no `?job=`) connected before
/// the upload gets every status of the new job live, `queued` first.
#[tokio::test]
async fn a_websocket_following_all_jobs_gets_every_status_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "follow@example.com").await;
    let url = format!(
        "{}/api/v1/ws?token={token}",
        server.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while next_json(&mut ws, deadline).await["type"] != "snapshot_done" {}

    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "bigbank.puml",
        BIGBANK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id");
    let mut statuses = Vec::new();
    while statuses.last().is_none_or(|s| s != "done" && s != "failed") {
        let v = next_json(&mut ws, deadline).await;
        if v["type"] == "event" && v["event"]["job_id"] == job {
            assert_eq!(v["snapshot"], false, "{v}");
            statuses.push(v["event"]["status"].as_str().unwrap_or("?").to_string());
        }
    }
    assert_eq!(statuses, HAPPY_PATH, "log:\n{}", server.log_text());
}

/// Issue 17, item 2: a 1.4 KB upload whose `$variables` grow a label to
/// 256 KiB, used by 16 containers, made a 156 MB project. Now generation
/// refuses it before rendering anything: the job ends `failed` with a reason
/// naming the text budget and the setting that raises it, and an error
/// diagnostic at the first container that crossed it.
#[tokio::test]
async fn an_amplified_label_fails_the_job_with_the_budget_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "amplify@example.com").await;
    let source = include_str!("../fixtures/amplification.puml");
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "amplification.puml",
        source.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();
    let events = watch_events(&server.base, &token, &job).await;
    let failed = events.last().expect("events");
    assert_eq!(
        failed["status"],
        "failed",
        "{events:?}\n{}",
        server.log_text()
    );
    assert_eq!(failed["stage"], "generate", "{failed}");
    let reason = failed["detail"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("generate.max_text_bytes")
            && reason.contains("C4FORGE_GENERATE_MAX_TEXT_BYTES")
            && reason.contains("element `c1`"),
        "{reason}"
    );
    let first_container = source
        .lines()
        .position(|l| l.starts_with("Container(c1,"))
        .expect("fixture line")
        + 1;
    let diags = failed["detail"]["diagnostics"]
        .as_array()
        .expect("diagnostics");
    let budget = diags
        .iter()
        .find(|d| d["severity"] == "error")
        .unwrap_or_else(|| panic!("no error diagnostic in {diags:?}"));
    assert_eq!(budget["line"], first_container, "{budget}");
    assert_eq!(budget["file"], "amplification.puml", "{budget}");
    // Nothing was generated or stored.
    let r = http
        .get(format!("{}/api/v1/diagrams/{job}/code.zip", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("zip");
    assert_eq!(r.status(), 409);
    assert!(
        !dir.path()
            .join("objects/jobs")
            .join(&job)
            .join("code.zip")
            .exists()
    );
}

/// Issue 17, item 13: invisible and bidirectional control characters in
/// labels are removed from the generated project, and the job's
/// diagnostics carry one warning per cleaned field.
#[tokio::test]
async fn trojan_source_characters_are_removed_with_warnings_on_the_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &embedded_env(dir.path()));
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "trojan@example.com").await;
    let source = "@startuml\n!include <C4/C4_Container>\nPerson(admin, \"Admin\u{202E}nimda\")\n\
                  Container(api, \"Order API\", \"Python, FastAPI\", \"Checks\u{2066} access\u{2069}\u{200B}\")\n\
                  Rel(admin, api, \"Approves\u{FEFF} refunds in\", \"HTTPS\")\n@enduml\n";
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "trojan.puml",
        source.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();
    let (statuses, _) = watch(&server.base, &token, &job).await;
    assert_eq!(statuses, HAPPY_PATH, "log:\n{}", server.log_text());
    let zip = http
        .get(format!("{}/api/v1/diagrams/{job}/code.zip", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("zip")
        .bytes()
        .await
        .expect("zip bytes");
    let text = String::from_utf8_lossy(&zip);
    for c in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{FEFF}'] {
        assert!(!text.contains(c), "U+{:04X} left in code.zip", u32::from(c));
    }
    assert!(text.contains("Order API"));
    let view: serde_json::Value = http
        .get(format!("{}/api/v1/diagrams/{job}", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let warnings: Vec<(u64, String)> = view["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["severity"] == "warning")
        .filter_map(|d| Some((d["line"].as_u64()?, d["message"].as_str()?.to_string())))
        .filter(|(_, m)| m.contains("trojan source"))
        .collect();
    let lines: Vec<u64> = warnings.iter().map(|w| w.0).collect();
    assert_eq!(lines, [3, 4, 5], "{warnings:?}");
    assert!(
        warnings[0].1.contains("name of element `admin`"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].1.contains("description of element `api`"),
        "{warnings:?}"
    );
    assert!(
        warnings[2]
            .1
            .contains("label of relationship `admin -> api`"),
        "{warnings:?}"
    );
}
