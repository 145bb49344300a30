//! Websocket fan-out at scale in the embedded mode: 1,000 clients connected
//! at once, each following its own job from upload to `done` through the
//! public HTTP API and websocket.

use crate::common;

use common::*;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Concurrent websocket clients (and jobs).
const CLIENTS: usize = 1_000;
/// Uploads in flight at once while the clients are being set up.
const UPLOAD_CONCURRENCY: usize = 16;
/// The smallest useful C4 diagram, so that 1,000 jobs stay cheap.
const SMALL: &str = "@startuml\n!include <C4/C4_Container>\nPerson(user, \"User\")\nContainer(api, \"API\", \"Python\", \"Serves users\")\nRel(user, api, \"Uses\", \"HTTPS\")\n@enduml\n";
/// Hang guard for one client (the test is not timed; this only turns a
/// hang into a failure with a message).
const GUARD: Duration = Duration::from_secs(600);

/// The soft limit of open files of this process (the server inherits it).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_websocket_clients_each_see_their_job_done() {
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= 2 * CLIENTS as u64 + 256,
            "this test holds {CLIENTS} websockets in this process and in the server: raise `ulimit -n` (now {limit})"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![
        ("C4FORGE_DATA_DIR".into(), dir.path().display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
        // One user submits every job: lift the per-user limits.
        ("C4FORGE_UPLOADS_PER_MINUTE".into(), "100000".into()),
        ("C4FORGE_MAX_ACTIVE_JOBS".into(), "100000".into()),
        ("C4FORGE_MAX_WEBSOCKETS_PER_USER".into(), "100000".into()),
    ];
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "fanout@example.com").await;
    let ws_base = server.base.replacen("http", "ws", 1);

    // Each client uploads its job, connects its websocket for that job and
    // waits until all the clients are connected before reading, so that
    // all 1,000 connections are open at the same time.
    let connected = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let uploads = Arc::new(tokio::sync::Semaphore::new(UPLOAD_CONCURRENCY));
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let (http, base, ws_base, token) = (
            http.clone(),
            server.base.clone(),
            ws_base.clone(),
            token.clone(),
        );
        let (connected, uploads) = (connected.clone(), uploads.clone());
        clients.spawn(async move {
            let permit = uploads.acquire_owned().await.expect("semaphore");
            let (status, body) = upload(
                &http,
                &base,
                Some(&token),
                &format!("f{i}.puml"),
                SMALL.as_bytes().to_vec(),
            )
            .await;
            assert_eq!(status, 202, "upload {i}: {body}");
            let job = body["job_id"].as_str().expect("job id").to_string();
            let (mut ws, _) = tokio_tungstenite::connect_async(format!(
                "{ws_base}/api/v1/ws?job={job}&token={token}"
            ))
            .await
            .expect("websocket connects");
            drop(permit);
            connected.wait().await;
            let mut statuses = Vec::new();
            let mut live_done = false;
            let deadline = tokio::time::Instant::now() + GUARD;
            while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
                let msg = msg.expect("websocket message");
                let Ok(text) = msg.to_text() else { continue };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                if v["type"] != "event" {
                    continue;
                }
                assert_eq!(v["event"]["job_id"], job.as_str(), "another job's event");
                let status = v["event"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                statuses.push(status.clone());
                if status == "done" || status == "failed" || status == "dead_lettered" {
                    live_done = v["snapshot"] == false;
                    break;
                }
            }
            (job, statuses, live_done)
        });
    }
    let mut finished = 0;
    let mut live = 0;
    while let Some(joined) = clients.join_next().await {
        let (job, statuses, live_done) = joined.expect("client task");
        assert_eq!(
            statuses,
            HAPPY_PATH,
            "job {job}: events seen by its client; server log:\n{}",
            server.log_text()
        );
        finished += 1;
        live += usize::from(live_done);
    }
    assert_eq!(finished, CLIENTS);
    eprintln!("{CLIENTS} clients saw `done`; {live} of them live (the rest in their snapshot)");
}
