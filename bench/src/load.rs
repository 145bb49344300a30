//! `c4forge-bench load`: registers a user, follows all its jobs over one
//! websocket, submits N uploads over HTTP (open loop at a fixed rate, or
//! closed loop at a fixed concurrency) and reports throughput, latency from
//! the start of the upload to the `done` event, errors, and the RSS and CPU
//! time of the given server processes before and after.

use super::LoadArgs;
use super::procs::{self, MachineCpu, ProcSample};
use super::stats::Latencies;
use anyhow::{Context, bail};
use axum::body::Bytes;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The big bank container sample, uploaded unless `--file` says otherwise.
const BIGBANK: &str = include_str!("../../tests/fixtures/bigbank_container.puml");

/// Upper bound of `--jobs`.
const MAX_JOBS: usize = 100_000;

/// Refuses any server that is not on this machine: the tool is a load
/// generator and must not be pointed at someone else's service.
pub fn check_loopback(server: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(server).with_context(|| format!("`{server}` is not a URL"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("`{server}`: expected an http:// or https:// URL");
    }
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("refusing to load `{server}`: only loopback servers (127.0.0.0/8, ::1, localhost)");
    }
    Ok(url)
}

/// How a job ended, as the websocket told.
#[derive(Debug, Clone)]
struct Finish {
    at: Instant,
    status: String,
}

enum Slot {
    Waiting(oneshot::Sender<Finish>),
    Finished(Finish),
}

/// Meets upload responses and terminal websocket events, in either order.
#[derive(Default, Clone)]
struct Tracker {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Tracker {
    fn finish(&self, job: &str, f: Finish) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        match slots.remove(job) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(f);
            }
            // A duplicate (snapshot after a reconnect): keep the first.
            Some(Slot::Finished(first)) => {
                slots.insert(job.to_string(), Slot::Finished(first));
            }
            None => {
                slots.insert(job.to_string(), Slot::Finished(f));
            }
        }
    }

    fn wait(&self, job: &str) -> oneshot::Receiver<Finish> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut slots) = self.slots.lock() {
            match slots.remove(job) {
                Some(Slot::Finished(f)) => {
                    let _ = tx.send(f);
                }
                _ => {
                    slots.insert(job.to_string(), Slot::Waiting(tx));
                }
            }
        }
        rx
    }
}

/// How one job went.
#[derive(Debug)]
enum Outcome {
    Done {
        latency: Duration,
        accepted: Duration,
        at: Instant,
    },
    Failed(String),
    Timeout,
    Refused(u16),
    Transport(String),
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    token: String,
    body: Bytes,
    tracker: Tracker,
    job_timeout: Duration,
    deadline: Instant,
}

async fn one_job(ctx: &Ctx, i: usize) -> Outcome {
    let start = Instant::now();
    let resp = ctx
        .http
        .post(format!("{}/api/v1/diagrams?name=bench-{i}.puml", ctx.base))
        .bearer_auth(&ctx.token)
        .header("content-type", "text/plain")
        .body(ctx.body.clone())
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Outcome::Transport(e.to_string()),
    };
    let code = resp.status().as_u16();
    if code != 202 {
        return Outcome::Refused(code);
    }
    let accepted = start.elapsed();
    let job = match resp.json::<serde_json::Value>().await {
        Ok(v) => v["job_id"].as_str().unwrap_or_default().to_string(),
        Err(e) => return Outcome::Transport(format!("202 body: {e}")),
    };
    if job.is_empty() {
        return Outcome::Transport("202 without job_id".into());
    }
    let until = (start + ctx.job_timeout).min(ctx.deadline);
    match tokio::time::timeout_at(until.into(), ctx.tracker.wait(&job)).await {
        Ok(Ok(f)) if f.status == "done" => Outcome::Done {
            latency: f.at.saturating_duration_since(start),
            accepted,
            at: f.at,
        },
        Ok(Ok(f)) => Outcome::Failed(f.status),
        _ => Outcome::Timeout,
    }
}

/// Registers a fresh user and returns its access token.
pub async fn register(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let creds = serde_json::json!({
        "email": format!("bench-{nanos}-{}@example.com", rand::random::<u32>()),
        "password": "c4forge-bench-password",
    });
    let r = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .context("register")?;
    if r.status().as_u16() != 201 {
        bail!(
            "register answered {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let r = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&creds)
        .send()
        .await
        .context("token")?;
    if r.status().as_u16() != 200 {
        bail!("token answered {}", r.status());
    }
    let v: serde_json::Value = r.json().await.context("token body")?;
    v["access_token"]
        .as_str()
        .map(str::to_string)
        .context("no access_token in the token response")
}

/// Follows every job of the user over one websocket; reconnects (and takes
/// the snapshot again) if the server closes it. Signals `ready` after the
/// first snapshot.
async fn follow(
    url: String,
    tracker: Tracker,
    ready: oneshot::Sender<()>,
    reconnects: Arc<AtomicUsize>,
) {
    let mut ready = Some(ready);
    loop {
        let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => ws,
            Err(e) => {
                eprintln!("websocket: {e}; reconnecting");
                tokio::time::sleep(Duration::from_millis(200)).await;
                reconnects.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        while let Some(msg) = ws.next().await {
            let Ok(msg) = msg else { break };
            let WsMessage::Text(text) = msg else { continue };
            let at = Instant::now();
            let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                continue;
            };
            match v["type"].as_str() {
                Some("snapshot_done") => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Some("event") => {
                    let status = v["event"]["status"].as_str().unwrap_or_default();
                    if matches!(status, "done" | "failed" | "dead_lettered")
                        && let Some(job) = v["event"]["job_id"].as_str()
                    {
                        tracker.finish(
                            job,
                            Finish {
                                at,
                                status: status.to_string(),
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        reconnects.fetch_add(1, Ordering::Relaxed);
        eprintln!("websocket closed by the server; reconnecting");
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs the load and prints the report.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let url = check_loopback(&args.server)?;
    if args.jobs > MAX_JOBS {
        bail!("--jobs is limited to {MAX_JOBS}");
    }
    match (args.rate, args.concurrency) {
        (Some(r), _) if !(r > 0.0 && r <= 10_000.0) => bail!("--rate must be in (0, 10000]"),
        (_, Some(c)) if c == 0 || c > 10_000 => bail!("--concurrency must be in 1..=10000"),
        _ => {}
    }
    let base = url.as_str().trim_end_matches('/').to_string();
    let body = match &args.file {
        Some(f) => {
            Bytes::from(std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?)
        }
        None => Bytes::from_static(BIGBANK.as_bytes()),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.job_timeout_secs.max(1)))
        .build()?;
    let token = register(&http, &base).await?;

    let tracker = Tracker::default();
    let reconnects = Arc::new(AtomicUsize::new(0));
    let ws_url = format!("{}/api/v1/ws?token={token}", base.replacen("http", "ws", 1));
    let (ready_tx, ready_rx) = oneshot::channel();
    let follower = tokio::spawn(follow(
        ws_url,
        tracker.clone(),
        ready_tx,
        reconnects.clone(),
    ));
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .context("the websocket sent no snapshot within 10 s")?
        .context("websocket follower ended")?;

    let before = procs::sample_all(&args.pids)?;
    let cpu_before = MachineCpu::now();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_secs);
    let ctx = Arc::new(Ctx {
        http,
        base: base.clone(),
        token,
        body,
        tracker,
        job_timeout: Duration::from_secs(args.job_timeout_secs),
        deadline,
    });

    let mut outcomes: Vec<Outcome> = Vec::with_capacity(args.jobs);
    let mut max_lag = Duration::ZERO;
    let mut submitted = 0usize;
    if let Some(rate) = args.rate {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..args.jobs {
            let due = started + interval.mul_f64(i as f64);
            if due >= deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            max_lag = max_lag.max(Instant::now().saturating_duration_since(due));
            let ctx = ctx.clone();
            tasks.spawn(async move { one_job(&ctx, i).await });
            submitted += 1;
        }
        while let Some(r) = tasks.join_next().await {
            outcomes.push(r.unwrap_or_else(|e| Outcome::Transport(e.to_string())));
        }
    } else {
        let concurrency = args.concurrency.unwrap_or(1).min(args.jobs.max(1));
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (ctx, next, jobs) = (ctx.clone(), next.clone(), args.jobs);
            workers.spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs || Instant::now() >= ctx.deadline {
                        break;
                    }
                    mine.push(one_job(&ctx, i).await);
                }
                mine
            });
        }
        while let Some(r) = workers.join_next().await {
            outcomes.extend(r.unwrap_or_default());
        }
        submitted = outcomes.len();
    }
    let elapsed = started.elapsed();
    let after = procs::sample_all(&args.pids)?;
    let cpu_after = MachineCpu::now();
    follower.abort();

    let mut latency = Latencies::default();
    let mut accept = Latencies::default();
    let mut last_done = started;
    let (mut done, mut failed, mut timeouts, mut transport) = (0, 0, 0, 0);
    let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
    let mut first_error = None;
    for o in &outcomes {
        match o {
            Outcome::Done {
                latency: l,
                accepted,
                at,
            } => {
                done += 1;
                latency.push(*l);
                accept.push(*accepted);
                last_done = last_done.max(*at);
            }
            Outcome::Failed(s) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("a job ended `{s}`"));
            }
            Outcome::Timeout => timeouts += 1,
            Outcome::Refused(code) => *refused.entry(*code).or_default() += 1,
            Outcome::Transport(e) => {
                transport += 1;
                first_error.get_or_insert_with(|| e.clone());
            }
        }
    }
    let window = last_done.saturating_duration_since(started);
    let throughput = if done > 0 && window > Duration::ZERO {
        done as f64 / window.as_secs_f64()
    } else {
        0.0
    };
    let refused_total: usize = refused.values().sum();
    let errors = failed + timeouts + refused_total + transport;
    let busy = cpu_before.busy_percent(&cpu_after);
    let mode = match (args.rate, args.concurrency) {
        (Some(r), _) => format!("open loop {r} uploads/s"),
        (_, c) => format!("closed loop concurrency {}", c.unwrap_or(1)),
    };

    println!(
        "c4forge-bench load {}: {} jobs, {mode}, {base}",
        args.label, args.jobs
    );
    println!(
        "submitted {submitted}  done {done}  failed {failed}  timeouts {timeouts}  non-202 {refused_total} {refused:?}  transport {transport}  websocket reconnects {}",
        reconnects.load(Ordering::Relaxed)
    );
    if let Some(e) = &first_error {
        println!("first error: {e}");
    }
    println!(
        "throughput {throughput:.2} jobs/s (done / {:.2} s from first upload to last done); run {:.2} s",
        window.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if args.rate.is_some() {
        println!(
            "submission lag max {:.1} ms",
            max_lag.as_secs_f64() * 1000.0
        );
    }
    println!("upload -> done   {}", latency.summary());
    println!("upload -> 202    {}", accept.summary());
    println!(
        "machine CPU busy {busy:.0}% of {} CPUs during the run",
        procs::cpus()
    );
    let mut proc_json = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        let cpu = a.cpu.saturating_sub(b.cpu).as_secs_f64();
        println!(
            "pid {:>7}  RSS {:>6.1} -> {:>6.1} MiB  peak {:>6.1} MiB  CPU {:>7.2} s ({:>5.1}% of one core)  {}",
            a.pid,
            mib(b.rss_kib),
            mib(a.rss_kib),
            mib(a.hwm_kib),
            cpu,
            100.0 * cpu / elapsed.as_secs_f64().max(1e-9),
            procs::short_name(&a.cmdline)
        );
        proc_json.push(proc_to_json(b, a, elapsed));
    }
    if let Some(path) = &args.json {
        let v = serde_json::json!({
            "label": args.label,
            "server": base,
            "jobs": args.jobs,
            "rate": args.rate,
            "concurrency": args.concurrency,
            "submitted": submitted,
            "done": done,
            "failed": failed,
            "timeouts": timeouts,
            "non_202": refused.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "transport_errors": transport,
            "errors": errors,
            "first_error": first_error,
            "websocket_reconnects": reconnects.load(Ordering::Relaxed),
            "throughput_jobs_per_sec": throughput,
            "window_secs": window.as_secs_f64(),
            "run_secs": elapsed.as_secs_f64(),
            "max_submission_lag_ms": max_lag.as_secs_f64() * 1000.0,
            "latency_upload_to_done": latency.to_json(),
            "latency_upload_to_202": accept.to_json(),
            "machine_cpu_busy_percent": busy,
            "cpus": procs::cpus(),
            "processes": proc_json,
        });
        super::write_json(path, &v)?;
    }
    Ok(())
}

fn proc_to_json(b: &ProcSample, a: &ProcSample, elapsed: Duration) -> serde_json::Value {
    let cpu = a.cpu.saturating_sub(b.cpu).as_secs_f64();
    serde_json::json!({
        "pid": a.pid,
        "name": procs::short_name(&a.cmdline),
        "rss_before_mib": mib(b.rss_kib),
        "rss_after_mib": mib(a.rss_kib),
        "hwm_after_mib": mib(a.hwm_kib),
        "cpu_secs": cpu,
        "cpu_percent_of_one_core": 100.0 * cpu / elapsed.as_secs_f64().max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://127.1.2.3:1").is_ok());
        assert!(check_loopback("http://localhost:8080/").is_ok());
        assert!(check_loopback("http://[::1]:8080").is_ok());
        assert!(check_loopback("http://10.0.0.1:8080").is_err());
        assert!(check_loopback("http://example.com").is_err());
        assert!(check_loopback("ftp://127.0.0.1").is_err());
    }

    #[tokio::test]
    async fn tracker_meets_events_in_either_order() {
        let t = Tracker::default();
        let f = |s: &str| Finish {
            at: Instant::now(),
            status: s.into(),
        };
        t.finish("a", f("done"));
        assert_eq!(t.wait("a").await.expect("early event").status, "done");
        let rx = t.wait("b");
        t.finish("b", f("failed"));
        assert_eq!(rx.await.expect("late event").status, "failed");
    }
}
