//! The CLI client of a c4forge server: `login`, `submit`, `jobs`.
//!
//! It follows the async-client pattern of a durable background sender: an
//! upload is first recorded in a local SQLite outbox (`outbox`), then a
//! sender (`sender`) delivers pending rows with backoff and a circuit
//! breaker. Uploads made while the server is down are delivered when it
//! comes back, also after the CLI restarted: every `submit` (even with no
//! file) and `jobs sync` send what is pending, and a row is never sent
//! twice (see `sender` for how, and for the residual risk). `watch`
//! follows jobs with progress bars over the notifier's websocket.
//!
//! Every request renews a refused token once (refresh token, else
//! `C4FORGE_PASSWORD`) and retries (`api`).
//!
//! Exit status ([`Exit`]): 0 everything delivered (and, when watching,
//! done); 3 an upload was refused or a job failed on its diagram; 1 a job
//! was dead-lettered; 4 no such job; 5 the server cannot be reached; 6
//! uploads are still pending (they will be retried) or a watch ended before
//! its jobs; 7 the login was refused. When several apply, the first met.

mod api;
pub mod args;
pub mod exit;
mod outbox;
mod sender;
mod state;
mod watch;

use anyhow::{Context, Result};
use api::{Api, ApiError};
use args::{ClientOpts, JobsArgs, JobsCommand, LoginArgs, SubmitArgs, WatchArgs};
use exit::{Exit, fail};
use outbox::Outbox;
use state::{ClientDir, Session};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// The exit status of the client's own errors (an [`ApiError`] in an
/// error's chain): see [`exit::of`].
pub fn exit_of(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    cause.downcast_ref::<ApiError>().map(ApiError::exit)
}

/// `a`, unless it is [`Exit::Ok`]: the first problem met decides.
fn first(a: Exit, b: Exit) -> Exit {
    if a == Exit::Ok { b } else { a }
}

/// The password for logins: `C4FORGE_PASSWORD`, never a flag (flags show in
/// `ps`).
fn env_password() -> Option<String> {
    std::env::var("C4FORGE_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Reads one line from stdin after a prompt on stderr; `secret` turns the
/// terminal's echo off meanwhile (through `stty`, when stdin is a terminal).
fn prompt(label: &str, secret: bool) -> Result<String> {
    eprint!("{label}: ");
    let tty = std::io::stdin().is_terminal();
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if secret && tty {
        stty("-echo");
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if secret && tty {
        stty("echo");
        eprintln!();
    }
    read.with_context(|| format!("reading the {label} from stdin"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `c4forge login`: gets a token and stores the server, e-mail and token.
pub async fn login(args: LoginArgs) -> Result<Exit> {
    let dir = ClientDir::resolve(args.client.client_dir.as_deref())?;
    let old = dir.load_session()?.unwrap_or_default();
    let server = args
        .client
        .server
        .map(|s| api::normalize_server(&s))
        .or_else(|| (!old.server.is_empty()).then(|| old.server.clone()))
        .ok_or_else(|| {
            fail(
                Exit::Usage,
                "no server: pass --server URL (or set C4FORGE_SERVER)",
            )
        })?;
    let email = match args.email {
        Some(e) => e,
        None if !old.email.is_empty() && old.server == server => old.email.clone(),
        None => prompt("email", false)?,
    };
    let password = match env_password() {
        Some(p) => p,
        None => prompt("password", true)?,
    };
    let api = Api::new(&server, "")?;
    if args.register {
        match api.register(&email, &password).await {
            Ok(true) => println!("registered {email} on {server}"),
            Ok(false) => println!("{email} is already registered on {server}; logging in"),
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("registering {email} on {server}"))
                );
            }
        }
    }
    let token = api
        .login(&email, &password)
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("logging in to {server} as {email}")))?;
    let session = Session {
        server: server.clone(),
        email: email.clone(),
        token: token.access_token,
        refresh_token: token.refresh_token,
        expires_at: chrono::Utc::now().timestamp() + token.expires_in as i64,
    };
    dir.save_session(&session)?;
    println!(
        "logged in to {server} as {email}; the token (valid {} min) is in {}",
        token.expires_in / 60,
        dir.session_path().display()
    );
    Ok(Exit::Ok)
}

/// The client directory, the session and the API client of a command.
struct Client {
    dir: ClientDir,
    api: Arc<Api>,
}

fn open(opts: &ClientOpts) -> Result<Client> {
    let dir = ClientDir::resolve(opts.client_dir.as_deref())?;
    let session = dir.load_session()?.unwrap_or_default();
    let server = opts
        .server
        .as_deref()
        .map(api::normalize_server)
        .or_else(|| (!session.server.is_empty()).then(|| session.server.clone()))
        .ok_or_else(|| {
            fail(
                Exit::Usage,
                "not logged in: run `c4forge login --server URL` first",
            )
        })?;
    // A token belongs to the server it came from.
    let token = if session.server == server {
        session.token.clone()
    } else {
        String::new()
    };
    let renewal = api::Renewal {
        dir: dir.clone(),
        session: Session {
            // The refresh token belongs to the server too.
            refresh_token: session
                .refresh_token
                .clone()
                .filter(|_| session.server == server),
            ..session.clone()
        },
        password: env_password(),
    };
    let api = Arc::new(Api::new(&server, &token)?.with_renewal(renewal));
    Ok(Client { dir, api })
}

fn watch_plan(w: &WatchArgs) -> watch::WatchPlan {
    watch::WatchPlan {
        download: w.download.clone(),
        timeout: Duration::from_secs(w.timeout_secs),
    }
}

/// `c4forge submit`: records the files in the outbox, then sends what is
/// pending.
pub async fn submit(args: SubmitArgs) -> Result<Exit> {
    let ctx = open(&args.client)?;
    // Read every file before recording any, so a typo records nothing.
    let mut files = Vec::new();
    for path in &args.files {
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no file name", path.display()))?;
        let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        files.push((name, shown.display().to_string(), body));
    }
    let outbox = Outbox::open(&ctx.dir.outbox_path()).await?;
    for (name, path, body) in files {
        let id = outbox.add(ctx.api.base(), &name, &path, body).await?;
        println!("{name}: saved in the outbox (#{id})");
    }
    send_and_watch(
        &ctx,
        &outbox,
        args.wait_secs,
        args.watch.then_some(&args.watching),
    )
    .await
}

/// Sends the pending rows, reports, and optionally watches the accepted
/// jobs.
async fn send_and_watch(
    ctx: &Client,
    outbox: &Outbox,
    wait_secs: u64,
    watching: Option<&WatchArgs>,
) -> Result<Exit> {
    let sender = sender::Sender::new(outbox, &ctx.api, Duration::from_secs(wait_secs));
    let report = sender.run().await?;
    let others = outbox
        .pending(None)
        .await?
        .iter()
        .filter(|r| r.server != ctx.api.base())
        .count();
    if others > 0 {
        eprintln!(
            "{others} upload(s) in the outbox are for another server: `c4forge jobs sync --server URL` sends them"
        );
    }
    if let Some((_, why)) = &report.stopped {
        eprintln!("stopped: {why}");
    }
    if report.pending > 0 {
        eprintln!(
            "{} upload(s) pending in {}: they will be sent by `c4forge jobs sync` or the next `c4forge submit`",
            report.pending,
            ctx.dir.outbox_path().display()
        );
    } else if report.delivered.is_empty() && report.rejected.is_empty() {
        println!("nothing pending");
    }
    let mut code = if !report.rejected.is_empty() {
        Exit::InvalidInput
    } else if let Some((exit, _)) = &report.stopped {
        *exit
    } else if report.pending > 0 {
        Exit::Pending
    } else {
        Exit::Ok
    };
    if let Some(w) = watching {
        let jobs: Vec<String> = report.delivered.iter().map(|(_, j)| j.clone()).collect();
        if !jobs.is_empty() {
            let endings = watch::watch(ctx.api.clone(), &jobs, watch_plan(w)).await?;
            code = first(code, watch_code(&endings));
        }
    }
    Ok(code)
}

/// The status of watched jobs: the worst ending, in this order: a job that
/// does not exist, one failed on its diagram, one dead-lettered, one
/// unfinished.
fn watch_code(endings: &[watch::Ending]) -> Exit {
    use watch::Ending;
    [
        (Ending::NotFound, Exit::NotFound),
        (Ending::Failed, Exit::InvalidInput),
        (Ending::DeadLettered, Exit::Failed),
        (Ending::Unfinished, Exit::Pending),
    ]
    .into_iter()
    .find(|(ending, _)| endings.contains(ending))
    .map_or(Exit::Ok, |(_, exit)| exit)
}

/// `c4forge jobs ...`.
pub async fn jobs(args: JobsArgs) -> Result<Exit> {
    let ctx = open(&args.client)?;
    match args.command {
        JobsCommand::Sync {
            wait_secs,
            watch,
            watching,
        } => {
            let outbox = Outbox::open(&ctx.dir.outbox_path()).await?;
            send_and_watch(&ctx, &outbox, wait_secs, watch.then_some(&watching)).await
        }
        JobsCommand::List { limit } => list(&ctx, limit).await,
        JobsCommand::Show { id } => show(&ctx, &id).await,
        JobsCommand::Watch { ids, watching } => {
            let ids = if ids.is_empty() {
                ctx.api
                    .list(200)
                    .await
                    .map_err(|e| api_error(&ctx, e))?
                    .into_iter()
                    .filter(|j| !matches!(j.status.as_str(), "done" | "failed" | "dead_lettered"))
                    .map(|j| j.job_id)
                    .collect()
            } else {
                ids
            };
            if ids.is_empty() {
                println!("no job in progress");
                return Ok(Exit::Ok);
            }
            let endings = watch::watch(ctx.api.clone(), &ids, watch_plan(&watching)).await?;
            Ok(watch_code(&endings))
        }
    }
}

/// `e` with the server named; the [`ApiError`] stays in the chain (it
/// decides the exit status).
fn api_error(ctx: &Client, e: ApiError) -> anyhow::Error {
    let context = match &e {
        ApiError::Unauthorized(_) => format!(
            "{} refused the login: run `c4forge login --server {}`",
            ctx.api.base(),
            ctx.api.base()
        ),
        _ => ctx.api.base().to_string(),
    };
    anyhow::Error::new(e).context(context)
}

async fn list(ctx: &Client, limit: u64) -> Result<Exit> {
    let mut code = Exit::Ok;
    match ctx.api.list(limit).await {
        Ok(jobs) => {
            println!(
                "{:<36}  {:<13}  {:<20}  file",
                "job", "status", "created (UTC)"
            );
            for j in &jobs {
                println!(
                    "{:<36}  {:<13}  {:<20}  {}",
                    j.job_id,
                    j.status,
                    j.created_at.format("%Y-%m-%d %H:%M:%S"),
                    j.file_name
                );
            }
            println!(
                "{} job{} on {}",
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                ctx.api.base()
            );
        }
        Err(e) => {
            let e = api_error(ctx, e);
            eprintln!("error: {e:#}");
            code = exit::of(&e, |_| None);
        }
    }
    let outbox = Outbox::open(&ctx.dir.outbox_path()).await?;
    let local: Vec<_> = outbox
        .recent(limit)
        .await?
        .into_iter()
        .filter(|r| r.status != outbox::RowStatus::Completed)
        .collect();
    if !local.is_empty() {
        println!(
            "\nnot delivered (local outbox {}):",
            ctx.dir.path().display()
        );
        for r in local {
            println!(
                "  #{:<4} {:<13} {} ({}) -> {} ({} attempt{}, {} bytes, saved {}){}",
                r.id,
                r.status.as_str(),
                r.file_name,
                r.path,
                r.server,
                r.attempts,
                if r.attempts == 1 { "" } else { "s" },
                r.size,
                runtime::from_millis(r.created_at).format("%Y-%m-%d %H:%M:%S UTC"),
                r.last_error.map(|e| format!(": {e}")).unwrap_or_default()
            );
        }
    }
    Ok(code)
}

async fn show(ctx: &Client, id: &str) -> Result<Exit> {
    let v = ctx.api.job(id).await.map_err(|e| api_error(ctx, e))?;
    println!("job        {}", v.job_id);
    println!("file       {}", v.file_name);
    println!("status     {}", v.status);
    println!(
        "generator  {}{}",
        v.generator,
        v.generator_version
            .as_deref()
            .map(|g| format!(" ({g})"))
            .unwrap_or_default()
    );
    println!(
        "created    {}",
        v.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!(
        "updated    {}",
        v.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(zip) = &v.links.code_zip {
        println!("download   {}{zip}", ctx.api.base());
    }
    println!("history");
    for e in &v.history {
        println!(
            "  {}  {:<13} {}",
            e.at.format("%H:%M:%S%.3f"),
            e.status.as_str(),
            e.stage.as_str()
        );
    }
    if !v.diagnostics.is_empty() {
        println!("diagnostics");
        for d in &v.diagnostics {
            println!(
                "  {}:{}:{}: {:?}: {}",
                d.file, d.line, d.column, d.severity, d.message
            );
        }
    }
    Ok(Exit::Ok)
}

/// `c4forge dlq --remote ...`: the dead-letter queue through the server's
/// admin API (the session's user must be an admin).
pub async fn dlq(opts: &ClientOpts, cmd: args::DlqCommand) -> Result<Exit> {
    use args::DlqCommand;
    let ctx = open(opts)?;
    match cmd {
        DlqCommand::List {
            stage,
            reason,
            all,
            limit,
        } => {
            let mut query = vec![format!("limit={limit}")];
            if let Some(s) = stage {
                query.push(format!("stage={s}"));
            }
            if let Some(r) = reason {
                query.push(format!("reason={r}"));
            }
            if all {
                query.push("include_replayed=true".into());
            }
            let page: serde_json::Value = ctx
                .api
                .get_json(&format!("/api/v1/admin/dlq?{}", query.join("&")))
                .await
                .map_err(|e| api_error(&ctx, e))?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            for d in &items {
                let replayed = if d["replayed_at"].is_null() {
                    ""
                } else {
                    " (replayed)"
                };
                println!(
                    "{:>6}  {}  {:<8}  {:>3}  {}  {}{replayed}",
                    d["id"],
                    d["job_id"].as_str().unwrap_or(""),
                    d["stage"].as_str().unwrap_or(""),
                    d["attempts"],
                    d["last_failed_at"].as_str().unwrap_or(""),
                    d["reason"].as_str().unwrap_or("")
                );
            }
            println!(
                "{} entries shown, {} not replayed",
                items.len(),
                page["unreplayed"]
            );
        }
        DlqCommand::Show { id } => {
            let entry: serde_json::Value = ctx
                .api
                .get_json(&format!("/api/v1/admin/dlq/{id}"))
                .await
                .map_err(|e| api_error(&ctx, e))?;
            println!("{}", serde_json::to_string_pretty(&entry)?);
        }
        DlqCommand::Replay { ids } => {
            // every id is tried; an unknown one makes the status "not found"
            let mut exit = Exit::Ok;
            for id in ids {
                match ctx
                    .api
                    .post_json::<serde_json::Value>(&format!("/api/v1/admin/dlq/{id}/replay"))
                    .await
                {
                    Ok(answer) => println!("{id}: {}", answer["status"].as_str().unwrap_or("?")),
                    Err(ApiError::Rejected { status: 404, .. }) => {
                        println!("{id}: not found");
                        exit = Exit::NotFound;
                    }
                    Err(e) => return Err(api_error(&ctx, e)),
                }
            }
            return Ok(exit);
        }
    }
    Ok(Exit::Ok)
}
