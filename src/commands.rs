//! Dispatch of the subcommands.

use crate::cli::{Cli, Command, ConvertArgs, DlqCommand, Format, ParseArgs, UserCommand};
use crate::exit::{Exit, coded, fail};
use anyhow::{Context, Result};
use preprocess::{IncludeResolver, SourceFile};
use std::path::{Path, PathBuf};

use c4forge_client as client;

/// The exit status of a command's error (see [`crate::exit`]).
pub fn exit_of(e: &anyhow::Error) -> Exit {
    crate::exit::of(e)
}

/// Runs one command; the [`Exit`] says how it went (an error carries its
/// own, see [`exit_of`]).
pub fn run(cli: Cli) -> Result<Exit> {
    let mut cfg = crate::config::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| coded(Exit::Usage, e))?;
    if let Some(dir) = cli.data_dir {
        cfg.data_dir = dir;
    }
    match cli.command {
        Command::Parse(args) => parse(&args),
        Command::Convert(args) => convert(&args, &cfg),
        Command::Config => {
            print!(
                "{}",
                toml::to_string_pretty(&cfg.masked()).context("rendering the configuration")?
            );
            Ok(Exit::Ok)
        }
        Command::Migrate => {
            runtime::telemetry::init_tracing();
            tokio_runtime()?.block_on(async {
                server::open_database(&cfg).await?;
                println!(
                    "migrations applied to {}",
                    runtime::config::mask_url_password(&cfg.database_url())
                );
                Ok(Exit::Ok)
            })
        }
        Command::User(cmd) => tokio_runtime()?.block_on(user(&cfg, cmd)),
        Command::Dlq(args) if args.remote || args.client.server.is_some() => {
            tokio_runtime()?.block_on(client::dlq(&args.client, args.command))
        }
        Command::Dlq(args) => tokio_runtime()?.block_on(dlq(&cfg, args.command)),
        Command::Login(args) => tokio_runtime()?.block_on(client::login(args)),
        Command::Submit(args) => tokio_runtime()?.block_on(client::submit(args)),
        Command::Jobs(args) => tokio_runtime()?.block_on(client::jobs(args)),
        Command::Serve(args) => {
            runtime::telemetry::init_tracing();
            runtime::install_crypto_provider();
            if let Some(listen) = args.listen {
                cfg.http.listen = listen;
            }
            let stages =
                crate::serve::parse_stages(&args.stages).map_err(|e| coded(Exit::Usage, e))?;
            let rt = tokio_runtime()?;
            let served = rt.block_on(crate::serve::run(cfg, stages));
            // A stage run abandoned at its time budget may still occupy a
            // blocking thread: do not wait for it (dropping would).
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            served?;
            Ok(Exit::Ok)
        }
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves relative includes on the filesystem from the including file,
/// as PlantUML does; never outside `root` when one is given
/// (`--include-root`). Uploads never come here: the service resolves them
/// inside their bundle only.
struct FsResolver {
    root: Option<PathBuf>,
}

impl IncludeResolver for FsResolver {
    fn resolve(&self, including_file: &str, target: &str) -> Result<SourceFile, String> {
        let base = Path::new(including_file).parent().unwrap_or(Path::new("."));
        let wanted = base.join(target);
        let real = wanted
            .canonicalize()
            .map_err(|e| format!("cannot read {}: {e}", wanted.display()))?;
        if let Some(root) = &self.root
            && !real.starts_with(root)
        {
            return Err(format!(
                "{} is outside the include root {} (`--include-root`)",
                real.display(),
                root.display()
            ));
        }
        let text = std::fs::read_to_string(&real)
            .map_err(|e| format!("cannot read {}: {e}", real.display()))?;
        Ok(SourceFile {
            path: wanted.to_string_lossy().into_owned(),
            text,
        })
    }
}

fn read_sources(
    files: &[PathBuf],
    include_root: Option<&Path>,
) -> Result<(Vec<SourceFile>, FsResolver)> {
    let mut sources = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(
                Exit::InvalidInput,
                format!(
                    "{}: not UTF-8 text (invalid byte at offset {})",
                    f.display(),
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        sources.push(SourceFile {
            path: f.to_string_lossy().into_owned(),
            text,
        });
    }
    let root = include_root
        .map(|r| {
            r.canonicalize()
                .with_context(|| format!("resolving the include root {}", r.display()))
        })
        .transpose()?;
    Ok((sources, FsResolver { root }))
}

fn parse(args: &ParseArgs) -> Result<Exit> {
    let (sources, resolver) = read_sources(&args.files, args.include_root.as_deref())?;
    let model = preprocess::parse_many(&sources, &resolver);
    match args.format {
        Format::Json => write_json(&model, args.pretty)?,
        Format::Text => print!("{}", preprocess::render_text(&model, &sources)),
    }
    Ok(if model.has_errors() {
        Exit::InvalidInput
    } else {
        Exit::Ok
    })
}

/// Streams `model` as JSON to stdout through one buffered writer: compact
/// unless `pretty`, and never built as one string first (a 10 MB diagram's
/// model is tens of MB of JSON).
fn write_json(model: &schemas::model::v1::Model, pretty: bool) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if pretty {
        serde_json::to_writer_pretty(&mut out, model)?;
    } else {
        serde_json::to_writer(&mut out, model)?;
    }
    out.write_all(b"\n")
        .and_then(|()| out.flush())
        .context("writing the model to stdout")
}

/// Generated code names a source by its path relative to the include root
/// (`root`, canonical), else by its file name; never by the path as typed,
/// so the output does not depend on the working directory (and names
/// sources as uploads do). Renames the model's diagram files; returns the
/// model and the source name of the run.
fn named_sources(
    mut model: schemas::model::v1::Model,
    sources: &[SourceFile],
    root: Option<&Path>,
) -> (schemas::model::v1::Model, String) {
    let name = |file: &Path| {
        let inside =
            root.and_then(|r| Some(file.canonicalize().ok()?.strip_prefix(r).ok()?.to_owned()));
        match inside.filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => p
                .iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            None => file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    };
    let names: Vec<String> = sources.iter().map(|s| name(Path::new(&s.path))).collect();
    for d in &mut model.diagrams {
        if let Some(i) = sources.iter().position(|s| s.path == d.file) {
            d.file = names[i].clone();
        }
    }
    (model, names.join(", "))
}

fn convert(args: &ConvertArgs, cfg: &runtime::Config) -> Result<Exit> {
    let (sources, resolver) = read_sources(&args.files, args.include_root.as_deref())?;
    let model = preprocess::parse_many(&sources, &resolver);
    if model.has_errors() {
        eprint!("{}", preprocess::render_diagnostics(&model, &sources));
        return Ok(Exit::InvalidInput);
    }
    let (model, source_name) = named_sources(model, &sources, resolver.root.as_deref());
    let opts = infer::GenerateOptions {
        source_name,
        templates_dir: args.templates.clone(),
        limits: infer::GenerateLimits::from(&cfg.generate),
        deploy: args.deploy.clone(),
    };
    let generated = match infer::generate_with_warnings(&args.model, &model, &opts) {
        Ok(g) => g,
        // Over a generation budget: the diagram's size, reported like a
        // diagnostic (place, limit, setting), the exit status of invalid input.
        Err(infer::GenerateError::Budget(b)) => {
            let d = b.diagnostic(&opts.source_name);
            eprintln!("{}:{}:{}: error: {}", d.file, d.line, d.column, d.message);
            return Ok(Exit::InvalidInput);
        }
        // Unreadable property rows: each a diagnostic at its place.
        Err(infer::GenerateError::Spec(spec)) => {
            for d in &spec.0 {
                let level = match d.severity {
                    schemas::model::v1::Severity::Error => "error",
                    schemas::model::v1::Severity::Warning => "warning",
                };
                eprintln!("{}:{}:{}: {level}: {}", d.file, d.line, d.column, d.message);
            }
            return Ok(Exit::InvalidInput);
        }
        Err(e) => return Err(e.into()),
    };
    for w in &generated.warnings {
        eprintln!("{}:{}:{}: warning: {}", w.file, w.line, w.column, w.message);
    }
    let mut files = generated.files;
    let mut filled = Vec::new();
    if let Some(fill_model) = args.fill.as_deref().filter(|_| !args.dry_run) {
        (files, filled) = crate::fill::fill(&args.output, &cfg.fill, fill_model, &model, files)?;
    }
    let mut plan = infer::regen::plan(&args.output, &files)
        .with_context(|| format!("reading {}", args.output.display()))?;
    fill::local::write_filled(&mut plan, &filled);
    for line in plan.lines() {
        println!("{line}");
    }
    if args.dry_run {
        return Ok(Exit::Ok);
    }
    let report = infer::regen::apply(&args.output, &plan, &files)
        .with_context(|| format!("writing {}", args.output.display()))?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{}: {} created, {} updated, {} deleted, {} unchanged",
        args.output.display(),
        report.created.len(),
        report.updated.len(),
        report.deleted.len(),
        report.unchanged
    );
    Ok(Exit::Ok)
}

async fn user(cfg: &runtime::Config, cmd: UserCommand) -> Result<Exit> {
    let UserCommand::Create {
        email,
        password,
        admin,
    } = cmd;
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let email = ingest::auth::valid_email(&email).map_err(|e| fail(Exit::InvalidInput, e))?;
    ingest::auth::check_password_policy(&password, &email)
        .map_err(|e| fail(Exit::InvalidInput, e))?;
    let ledger = server::open_database(cfg).await?;
    let hash = ingest::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let user = ledger
        .create_user(&email, &hash, admin)
        .await
        .with_context(|| format!("creating user {email}"))?;
    println!(
        "created user {} ({}){}",
        user.email,
        user.id,
        if admin { " with the admin role" } else { "" }
    );
    Ok(Exit::Ok)
}

async fn dlq(cfg: &runtime::Config, cmd: DlqCommand) -> Result<Exit> {
    let ledger = server::open_database(cfg).await?;
    match cmd {
        DlqCommand::List {
            stage,
            reason,
            all,
            limit,
        } => {
            let filter = runtime::jobs::DeadLetterFilter {
                stage,
                reason,
                since_ms: None,
                include_replayed: all,
                limit,
            };
            let entries = ledger.dead_letters(&filter).await?;
            println!(
                "{:>6}  {:<36}  {:<8}  {:>3}  {:<24}  reason",
                "id", "job", "stage", "try", "last failure"
            );
            for d in &entries {
                let replayed = if d.replayed_at.is_some() {
                    " (replayed)"
                } else {
                    ""
                };
                println!(
                    "{:>6}  {:<36}  {:<8}  {:>3}  {:<24}  {}{replayed}",
                    d.id,
                    d.job_id,
                    d.stage,
                    d.attempts,
                    runtime::from_millis(d.last_failed_at).format("%Y-%m-%d %H:%M:%S UTC"),
                    d.reason
                );
            }
            println!(
                "{} entr{}",
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" }
            );
        }
        DlqCommand::Show { id } => {
            let d = ledger
                .dead_letter(id)
                .await?
                .ok_or_else(|| fail(Exit::NotFound, format!("no dead letter {id}")))?;
            println!("{}", serde_json::to_string_pretty(&d)?);
        }
        DlqCommand::Replay { ids } => {
            // every id is tried; an unknown one makes the status "not found"
            let mut exit = Exit::Ok;
            for id in ids {
                let outcome = match ledger.replay_dead_letter(id).await? {
                    runtime::jobs::Replay::Queued(_) => "queued (a running ingest relays it)",
                    runtime::jobs::Replay::AlreadyReplayed => "already replayed: nothing done",
                    runtime::jobs::Replay::NotFound => {
                        exit = Exit::NotFound;
                        "not found"
                    }
                };
                println!("{id}: {outcome}");
            }
            return Ok(exit);
        }
    }
    Ok(Exit::Ok)
}
