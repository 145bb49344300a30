//! `c4forge-bench ws`: websocket fan-out. Two phases against a running
//! server (loopback only):
//!
//! 1. Memory: N idle websockets of one user (no jobs yet, so an empty
//!    snapshot), all connected at once; the notifier process's RSS with
//!    them minus its RSS before, divided by N.
//! 2. Delivery: N clients, each uploading one job, then following that job
//!    on its own websocket (`?job=`) until `done`; every live event's
//!    delivery latency is the client's receive time minus the event's `at`
//!    (the timestamp the stage wrote in the transaction that committed
//!    it, millisecond resolution, same machine clock). A client stays
//!    connected after its `done` until every client has finished, so all
//!    N connections are open together at the end.

use super::WsArgs;
use super::load::{check_loopback, register};
use super::procs;
use super::stats::Latencies;
use anyhow::{Context, bail};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Upper bound of `--clients` (each holds a file descriptor here and one
/// in the server).
const MAX_CLIENTS: usize = 50_000;
/// The smallest useful C4 diagram: the scenario measures delivery, not the
/// generator.
const SMALL: &str = "@startuml\n!include <C4/C4_Container>\nPerson(user, \"User\")\nContainer(api, \"API\", \"Python\", \"Serves users\")\nRel(user, api, \"Uses\", \"HTTPS\")\n@enduml\n";
/// Time for the server's RSS to settle after the last connection.
const SETTLE: Duration = Duration::from_secs(2);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and reads until `snapshot_done`.
async fn connect(url: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("websocket connect")?;
    while let Some(msg) = ws.next().await {
        if let WsMessage::Text(t) = msg.context("websocket read")?
            && t.as_str().contains("\"snapshot_done\"")
        {
            return Ok(ws);
        }
    }
    bail!("websocket closed before the snapshot ended")
}

fn rss_kib(pid: Option<u32>) -> anyhow::Result<Option<u64>> {
    pid.map(|p| procs::sample(p).map(|s| s.rss_kib)).transpose()
}

/// Phase 1: returns (RSS before, RSS with N idle connections) in KiB.
async fn idle_memory(
    args: &WsArgs,
    ws_url: &str,
) -> anyhow::Result<(Option<u64>, Option<u64>, Duration)> {
    let before = rss_kib(args.pid)?;
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (url, gate) = (ws_url.to_string(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            connect(&url).await
        });
    }
    let mut sockets = Vec::with_capacity(args.clients);
    while let Some(joined) = tasks.join_next().await {
        sockets.push(joined??);
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let with = rss_kib(args.pid)?;
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    Ok((before, with, connect_time))
}

/// What one client of phase 2 saw.
#[derive(Default)]
struct Seen {
    /// Delivery latency of every live event.
    all: Latencies,
    /// Delivery latency of live `done` events.
    done: Latencies,
    /// Clients whose job ended `done`.
    finished: usize,
    /// Clients that got their `done` in the snapshot (job finished before
    /// the websocket was up).
    done_in_snapshot: usize,
    /// Clients whose job failed or whose connection broke.
    errors: Vec<String>,
}

fn since_at(event: &serde_json::Value) -> Option<Duration> {
    let at = chrono::DateTime::parse_from_rfc3339(event["at"].as_str()?).ok()?;
    let now = chrono::Utc::now();
    (now - at.with_timezone(&chrono::Utc)).to_std().ok()
}

async fn one_client(
    http: &reqwest::Client,
    base: &str,
    ws_base: &str,
    token: &str,
    i: usize,
    uploads: &tokio::sync::Semaphore,
    seen: &Mutex<Seen>,
) -> anyhow::Result<Ws> {
    let permit = uploads.acquire().await?;
    let resp = http
        .post(format!("{base}/api/v1/diagrams?name=fanout-{i}.puml"))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body(SMALL)
        .send()
        .await
        .context("upload")?;
    if resp.status().as_u16() != 202 {
        bail!("upload answered {}", resp.status());
    }
    let v: serde_json::Value = resp.json().await.context("upload body")?;
    let job = v["job_id"].as_str().context("no job_id")?.to_string();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/api/v1/ws?job={job}&token={token}"))
            .await
            .context("websocket connect")?;
    drop(permit);
    while let Some(msg) = ws.next().await {
        let WsMessage::Text(text) = msg.context("websocket read")? else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            continue;
        };
        if v["type"] != "event" {
            continue;
        }
        let event = &v["event"];
        let live = v["snapshot"] == false;
        let latency = live.then(|| since_at(event)).flatten();
        let status = event["status"].as_str().unwrap_or_default();
        let mut s = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        if let Some(l) = latency {
            s.all.push(l);
            if status == "done" {
                s.done.push(l);
            }
        }
        match status {
            "done" => {
                s.finished += 1;
                s.done_in_snapshot += usize::from(!live);
                return Ok(ws);
            }
            "failed" | "dead_lettered" => bail!("job {job} ended {status}"),
            _ => {}
        }
    }
    bail!("job {job}: websocket closed before done")
}

/// Runs both phases and prints the report.
pub async fn run(args: WsArgs) -> anyhow::Result<()> {
    let url = check_loopback(&args.server)?;
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        bail!("--clients must be in 1..={MAX_CLIENTS}");
    }
    let base = url.as_str().trim_end_matches('/').to_string();
    let ws_base = base.replacen("http", "ws", 1);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let token = register(&http, &base).await?;
    let ws_url = format!("{ws_base}/api/v1/ws?token={token}");

    let (before, with, connect_time) = idle_memory(&args, &ws_url).await?;
    let per_conn = match (before, with) {
        (Some(b), Some(w)) => Some(w.saturating_sub(b) as f64 * 1024.0 / args.clients as f64),
        _ => None,
    };
    println!("websocket fan-out {}: {} clients", args.label, args.clients);
    println!(
        "idle connections: {} connected in {:.1} s; notifier RSS {} -> {} MiB; {} per connection",
        args.clients,
        connect_time.as_secs_f64(),
        before.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        with.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        per_conn.map_or("? (no --pid)".into(), |b| format!("{:.1} KiB", b / 1024.0)),
    );
    tokio::time::sleep(SETTLE).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let uploads = Arc::new(tokio::sync::Semaphore::new(args.upload_concurrency));
    let (all_done_tx, all_done) = tokio::sync::watch::channel(false);
    let all_done_tx = Arc::new(all_done_tx);
    let through = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.max_secs);
    let clients = args.clients;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.clients {
        let (http, base, ws_base, token) =
            (http.clone(), base.clone(), ws_base.clone(), token.clone());
        let (seen, uploads, open, through) =
            (seen.clone(), uploads.clone(), open.clone(), through.clone());
        let (all_done_tx, mut all_done) = (all_done_tx.clone(), all_done.clone());
        tasks.spawn(async move {
            let result = tokio::time::timeout_at(
                deadline,
                one_client(&http, &base, &ws_base, &token, i, &uploads, &seen),
            )
            .await;
            let ws = match result {
                Ok(Ok(ws)) => Some(ws),
                Ok(Err(e)) => {
                    if let Ok(mut s) = seen.lock() {
                        s.errors.push(format!("{e:#}"));
                    }
                    None
                }
                Err(_) => {
                    if let Ok(mut s) = seen.lock() {
                        s.errors.push("timeout".into());
                    }
                    None
                }
            };
            // Counted as open before this client reports through, so the
            // count is complete when the last one does.
            if ws.is_some() {
                open.fetch_add(1, Ordering::SeqCst);
            }
            if through.fetch_add(1, Ordering::SeqCst) + 1 == clients {
                let _ = all_done_tx.send(true);
            }
            // Keep the connection (answering the server's pings) until
            // every client is through; uncount it if the server closes it.
            if let Some(mut ws) = ws {
                tokio::select! {
                    _ = all_done.wait_for(|d| *d) => {}
                    _ = async { while let Some(Ok(_)) = ws.next().await {} } => {
                        open.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
        });
    }
    let mut peak_open = 0;
    while tasks.join_next().await.is_some() {
        if *all_done.borrow() && peak_open == 0 {
            peak_open = open.load(Ordering::SeqCst);
        }
    }
    let elapsed = started.elapsed();
    let s = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    println!(
        "delivery: {} of {} jobs done in {:.1} s ({} done events came in the snapshot), {} errors, {} connections open at the end",
        s.finished,
        args.clients,
        elapsed.as_secs_f64(),
        s.done_in_snapshot,
        s.errors.len(),
        peak_open,
    );
    println!(
        "latency commit -> client, every live event: {}",
        s.all.summary()
    );
    println!(
        "latency commit -> client, live done events: {}",
        s.done.summary()
    );
    for e in s.errors.iter().take(5) {
        println!("  error: {e}");
    }
    if let Some(path) = &args.json {
        super::write_json(
            path,
            &serde_json::json!({
                "label": args.label,
                "clients": args.clients,
                "idle_connect_secs": connect_time.as_secs_f64(),
                "rss_before_kib": before,
                "rss_with_idle_kib": with,
                "bytes_per_connection": per_conn,
                "jobs_done": s.finished,
                "done_in_snapshot": s.done_in_snapshot,
                "errors": s.errors.len(),
                "open_at_end": peak_open,
                "elapsed_secs": elapsed.as_secs_f64(),
                "latency_all_live": s.all.to_json(),
                "latency_done_live": s.done.to_json(),
            }),
        )?;
    }
    if !s.errors.is_empty() {
        bail!("{} clients did not see their job done", s.errors.len());
    }
    Ok(())
}
