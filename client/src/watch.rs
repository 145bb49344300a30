//! Following jobs: a progress bar per job (`indicatif`) moved by the
//! notifier's websocket events (`GET /api/v1/ws?job=ID`), then the final
//! link, the diagnostics of failed jobs and, with `--download DIR`, the zip.
//!
//! The websocket is the fast path; when it cannot be opened (for example a
//! `wss://` server: this build has no TLS for websockets) or drops, the job
//! is polled (`GET /api/v1/diagrams/{id}`) once a second, so watching never
//! depends on it. Events are de-duplicated by `seq` across reconnects.
//! Bars go to stderr (hidden when it is not a terminal); the results go to
//! stdout, one line per job, after the bars.

use super::api::{Api, ApiError};
use anyhow::{Context, Result};
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use schemas::events::{JobStatus, WsServerMessage};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How a watched job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Finished; the project can be downloaded.
    Done,
    /// Failed (on its diagram: a stage refused it for good).
    Failed,
    /// Dead-lettered (retries exhausted or an undeliverable message).
    DeadLettered,
    /// The server has no such job (of this user).
    NotFound,
    /// Still running when the watch timed out (or the server was lost).
    Unfinished,
}

/// Position of a status on the bar (of [`STEPS`]).
fn step(status: JobStatus) -> u64 {
    match status {
        JobStatus::Queued => 1,
        JobStatus::Parsing => 2,
        // filling (a job that asked for model-written bodies) sits between
        // generating and storing, on the same step as generating.
        JobStatus::Generating | JobStatus::Filling => 3,
        JobStatus::Storing => 4,
        JobStatus::Done => 5,
        JobStatus::Failed | JobStatus::DeadLettered => 0,
    }
}

/// Number of steps of a bar: queued, parsing, generating, storing, done.
pub const STEPS: u64 = 5;

/// What to do while watching.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// Save finished projects here.
    pub download: Option<PathBuf>,
    /// Give up after this long.
    pub timeout: Duration,
}

struct Ctx {
    api: Arc<Api>,
    plan: WatchPlan,
    bars: MultiProgress,
    written: Mutex<HashSet<PathBuf>>,
}

/// Watches `jobs` to their end; prints one result block per job (in the
/// given order) and returns how each ended.
pub async fn watch(api: Arc<Api>, jobs: &[String], plan: WatchPlan) -> Result<Vec<Ending>> {
    let ctx = Arc::new(Ctx {
        api,
        plan,
        bars: MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()),
        written: Mutex::new(HashSet::new()),
    });
    let style = ProgressStyle::with_template(
        "{prefix:<28!} [{bar:20.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let mut tasks = Vec::new();
    for job in jobs {
        let pb = ctx.bars.add(
            ProgressBar::new(STEPS)
                .with_style(style.clone())
                .with_prefix(job.clone()),
        );
        let (ctx, job) = (ctx.clone(), job.clone());
        tasks.push(tokio::spawn(async move { follow(&ctx, &job, pb).await }));
    }
    let mut endings = Vec::new();
    let mut blocks = Vec::new();
    for t in tasks {
        let (ending, block) = t.await.context("a watch task panicked")?;
        endings.push(ending);
        blocks.push(block);
    }
    for b in blocks {
        print!("{b}");
    }
    Ok(endings)
}

/// Follows one job; returns how it ended and its result block.
async fn follow(ctx: &Ctx, job: &str, pb: ProgressBar) -> (Ending, String) {
    let deadline = Instant::now() + ctx.plan.timeout;
    let mut last_seq = 0_i64;
    let mut status = None;
    let mut ws_failures = 0_u32;
    loop {
        // The current state first (the bar's name, and a job that is
        // already finished needs no websocket).
        match ctx.api.job(job).await {
            Ok(view) => {
                pb.set_prefix(format!("{} {}", short(job), view.file_name));
                show(&pb, view.status);
                status = Some(view.status);
                if view.status.is_terminal() {
                    break;
                }
            }
            Err(ApiError::Rejected { status: 404, .. }) => {
                pb.abandon_with_message("not found");
                return (
                    Ending::NotFound,
                    format!("{job}: no such job on {}\n", ctx.api.base()),
                );
            }
            Err(e) => pb.set_message(format!("{e}")),
        }
        if Instant::now() >= deadline {
            break;
        }
        if ws_failures < 3 {
            match follow_ws(ctx, job, &pb, &mut last_seq, deadline).await {
                Ok(Some(s)) => {
                    status = Some(s);
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    ws_failures += 1;
                    tracing::debug!(job, error = %e, "websocket failed; polling");
                }
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    finish(ctx, job, &pb, status).await
}

/// The last eight characters of a job id: job ids are UUIDv7, whose first
/// characters are a timestamp shared by jobs submitted together.
fn short(job: &str) -> &str {
    job.get(job.len().saturating_sub(8)..).unwrap_or(job)
}

/// Moves the bar to `status`, never backwards (snapshot events replayed
/// after a poll are older than what the bar shows).
fn show(pb: &ProgressBar, status: JobStatus) {
    show_with(pb, status, String::new());
}

/// [`show`] with the event's progress detail after the status.
fn show_with(pb: &ProgressBar, status: JobStatus, note: String) {
    let message = if note.is_empty() {
        status.as_str().to_string()
    } else {
        format!("{status} ({note})")
    };
    let s = step(status);
    if s == 0 {
        pb.set_message(message);
    } else if s >= pb.position() {
        pb.set_position(s);
        pb.set_message(message);
    }
}

/// What the previous stage produced, from an event's detail: the parse
/// counts on `generating`, the generated files on `storing`.
fn progress_note(status: JobStatus, detail: &serde_json::Value) -> String {
    match status {
        JobStatus::Generating => {
            match serde_json::from_value::<schemas::events::ParsedDetail>(detail.clone()) {
                Ok(p) => format!("{} elements, {} relationships", p.elements, p.relationships),
                Err(_) => String::new(),
            }
        }
        JobStatus::Storing => {
            match serde_json::from_value::<schemas::events::GeneratedDetail>(detail.clone()) {
                Ok(g) => format!("{} files", g.files),
                Err(_) => String::new(),
            }
        }
        _ => String::new(),
    }
}

/// Reads the job's websocket until a terminal status (`Some`), a close or
/// the deadline (`None`).
async fn follow_ws(
    ctx: &Ctx,
    job: &str,
    pb: &ProgressBar,
    last_seq: &mut i64,
    deadline: Instant,
) -> Result<Option<JobStatus>> {
    let url = ctx.api.websocket_url(job);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .context("websocket connect timed out")?
    .context("websocket connect")?;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        let msg = msg.context("websocket read")?;
        let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
            if msg.is_close() {
                return Ok(None);
            }
            continue;
        };
        match serde_json::from_str::<WsServerMessage>(text.as_str()) {
            Ok(WsServerMessage::Event { event, .. }) => {
                if event.seq <= *last_seq || event.job_id.to_string() != job {
                    continue;
                }
                *last_seq = event.seq;
                show_with(pb, event.status, progress_note(event.status, &event.detail));
                if event.status.is_terminal() {
                    return Ok(Some(event.status));
                }
            }
            Ok(WsServerMessage::SnapshotDone) => {}
            Ok(WsServerMessage::Error { message }) => {
                anyhow::bail!("the server closed the websocket: {message}")
            }
            Err(_) => {}
        }
    }
    Ok(None)
}

/// Ends the bar and builds the job's result block: the link (and the
/// download) when done, the diagnostics when failed.
async fn finish(
    ctx: &Ctx,
    job: &str,
    pb: &ProgressBar,
    status: Option<JobStatus>,
) -> (Ending, String) {
    let base = ctx.api.base();
    let view = ctx.api.job(job).await.ok();
    let status = view.as_ref().map(|v| v.status).or(status);
    let name = view
        .as_ref()
        .map(|v| v.file_name.clone())
        .unwrap_or_default();
    match status {
        Some(JobStatus::Done) => {
            pb.finish_with_message("done");
            let mut block = format!("{job} {name}: done {base}/api/v1/diagrams/{job}/code.zip\n");
            if let Some(dir) = &ctx.plan.download {
                match download(ctx, job, dir).await {
                    Ok(path) => block.push_str(&format!("  saved {}\n", path.display())),
                    Err(e) => block.push_str(&format!("  download failed: {e:#}\n")),
                }
            }
            (Ending::Done, block)
        }
        Some(s @ (JobStatus::Failed | JobStatus::DeadLettered)) => {
            pb.abandon_with_message(s.as_str());
            let mut block = format!("{job} {name}: {s}\n");
            if let Some(v) = &view {
                for d in &v.diagnostics {
                    let sev = match d.severity {
                        schemas::model::v1::Severity::Error => "error",
                        schemas::model::v1::Severity::Warning => "warning",
                    };
                    block.push_str(&format!(
                        "  {}:{}:{}: {sev}: {}\n",
                        d.file, d.line, d.column, d.message
                    ));
                }
                if let Some(reason) = v
                    .history
                    .last()
                    .and_then(|e| e.detail.get("reason"))
                    .and_then(|r| r.as_str())
                {
                    block.push_str(&format!("  reason: {reason}\n"));
                }
            }
            let ending = if s == JobStatus::Failed {
                Ending::Failed
            } else {
                Ending::DeadLettered
            };
            (ending, block)
        }
        other => {
            let s = other.map_or("unknown", JobStatus::as_str);
            pb.abandon_with_message(format!("{s} (still running)"));
            (
                Ending::Unfinished,
                format!(
                    "{job} {name}: still {s} when the watch ended; `c4forge jobs watch {job}` continues\n"
                ),
            )
        }
    }
}

async fn download(ctx: &Ctx, job: &str, dir: &std::path::Path) -> Result<PathBuf> {
    let (bytes, name) = ctx.api.code_zip(job).await?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut path = dir.join(name.unwrap_or_else(|| format!("{job}.zip")));
    {
        let mut written = ctx
            .written
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        if !written.insert(path.clone()) {
            path = dir.join(format!("{job}.zip"));
            written.insert(path.clone());
        }
    }
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
