//! `c4forge serve`: wires the selected stages of one process.

use anyhow::{Context, Result, bail};
use backon::{ExponentialBuilder, Retryable};
use runtime::Config;
use runtime::bus::SharedBus;
use runtime::jobs::Ledger;
use runtime::objects::Objects;
use runtime::shutdown::Shutdown;
use runtime::stage::{LoopSettings, StageContext, StageHandler};
use schemas::Stage;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Parses `--stages` (empty: every stage).
pub fn parse_stages(raw: &[String]) -> Result<BTreeSet<Stage>> {
    if raw.is_empty() {
        return Ok(Stage::ALL.into_iter().collect());
    }
    raw.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.parse::<Stage>().map_err(anyhow::Error::from))
        .collect()
}

fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(8)
        .with_jitter()
}

/// Connects to the database (with retries) and applies migrations.
pub async fn open_database(cfg: &Config) -> Result<Ledger> {
    if cfg.database.url.is_empty() {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    }
    let url = cfg.database_url();
    let db = (|| runtime::db::connect(&url, cfg.database.max_connections))
        .retry(retry_policy())
        .notify(|e, d| tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "database not reachable yet"))
        .await
        .with_context(|| format!("connecting to {}", runtime::config::mask_url_password(&url)))?;
    let applied = runtime::db::migrate(&db)
        .await
        .context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "migrations applied");
    }
    Ok(Ledger::new(db))
}

/// Placeholder JWT secrets shipped in deployment files (the Kubernetes
/// Secret's, and the default an earlier compose file had). A secret printed
/// in a public repository signs tokens anyone can forge, so `serve` refuses
/// them, and any value containing [`PLACEHOLDER_MARK`].
pub const PLACEHOLDER_JWT_SECRETS: &[&str] = &[
    "CHANGE-ME-run-openssl-rand-hex-32",
    "compose-local-only-jwt-secret-0123456789abcdef",
];

/// What marks a value of `compose/k8s/base/11-secret.yaml` as a placeholder.
pub const PLACEHOLDER_MARK: &str = "CHANGE-ME";

/// The JWT secret: configured, or (embedded mode) a random one kept in the data dir.
/// A placeholder from the deployment files is refused with an error naming the setting.
fn jwt_secret(cfg: &Config) -> Result<Vec<u8>> {
    let configured = cfg.auth.jwt_secret.trim();
    if PLACEHOLDER_JWT_SECRETS.contains(&configured)
        || configured.to_ascii_uppercase().contains(PLACEHOLDER_MARK)
    {
        bail!(
            "C4FORGE_JWT_SECRET (auth.jwt_secret) is a placeholder from the deployment files, \
             so anyone could sign tokens: set it to a random secret (openssl rand -hex 32), \
             the same in every ingest and notifier process"
        );
    }
    if !cfg.auth.jwt_secret.is_empty() {
        return Ok(cfg.auth.jwt_secret.as_bytes().to_vec());
    }
    if !cfg.is_embedded() {
        bail!(
            "C4FORGE_JWT_SECRET (auth.jwt_secret) must be set in distributed mode: every ingest and notifier process must share it"
        );
    }
    let path = cfg.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    let secret: [u8; 32] = rand::random();
    let text = hex::encode(secret);
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(text.into_bytes())
}

/// Runs the service until a signal or a fatal error.
pub async fn run(cfg: Config, stages: BTreeSet<Stage>) -> Result<()> {
    let names: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
    tracing::info!(stages = ?names, embedded = cfg.is_embedded(), "starting c4forge");
    let metrics = runtime::telemetry::metrics_handle();
    let ledger = open_database(&cfg).await?;
    let objects =
        Objects::open(&cfg.objects.url, &cfg.data_dir).context("opening the object store")?;
    let bus: SharedBus = (|| runtime::bus::connect(&cfg.bus.url, &cfg.bus.prefix))
        .retry(retry_policy())
        .notify(|e, d| tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "bus not reachable yet"))
        .await
        .with_context(|| format!("connecting to the bus {}", runtime::config::mask_url_password(&cfg.bus.url)))?;
    let shutdown: Shutdown = runtime::shutdown::on_signals();
    let mut tasks: JoinSet<Result<&'static str>> = JoinSet::new();
    let breakers = runtime::breaker::Breakers::default();
    let ctx = StageContext {
        breakers: breakers.clone(),
        ledger: ledger.clone(),
        objects: objects.clone(),
        bus: bus.clone(),
    };
    let settings = LoopSettings::from(&cfg);

    let handlers: Vec<Arc<dyn StageHandler>> = vec![
        Arc::new(preprocess::stage::ParseStage),
        Arc::new(infer::stage::GenerateStage::new(
            infer::GenerateLimits::from(&cfg.generate),
        )),
        Arc::new(storage::StoreStage),
    ];
    for handler in handlers.into_iter().filter(|h| stages.contains(&h.stage())) {
        let (ctx, settings, shutdown) = (ctx.clone(), settings.clone(), shutdown.clone());
        tasks.spawn(async move {
            let name = handler.stage().as_str();
            runtime::stage::run(handler, ctx, settings, shutdown)
                .await
                .with_context(|| format!("{name} stage"))?;
            Ok(name)
        });
    }

    let relay_wake = Arc::new(Notify::new());
    if stages.contains(&Stage::Ingest) {
        if cfg.is_embedded() {
            // The in-process queues died with the last process: resume every
            // unfinished job from its last committed stage (its runs' leases
            // died with it too).
            match runtime::outbox::recover_embedded_start(&ledger, &bus).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "recovery sweep re-enqueued unfinished jobs"),
                Err(e) => tracing::warn!(error = %e, "recovery sweep failed"),
            }
        }
        let (l, b, w, s) = (
            ledger.clone(),
            bus.clone(),
            relay_wake.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            runtime::outbox::relay(l, b, w, s).await;
            Ok("outbox relay")
        });
        let (l, b, s) = (ledger.clone(), bus.clone(), shutdown.clone());
        let stale = Duration::from_secs(cfg.stages.stale_after_secs);
        tasks.spawn(async move {
            runtime::outbox::maintain(l, b, stale, s).await;
            Ok("maintenance")
        });
    }

    let hub = notifier::Hub::new();
    if stages.contains(&Stage::Notifier) {
        let (h, b, s) = (hub.clone(), bus.clone(), shutdown.clone());
        tasks.spawn(async move {
            h.run(b, s).await.context("notifier")?;
            Ok("notifier")
        });
    }

    let serves_api = stages.contains(&Stage::Ingest) || stages.contains(&Stage::Notifier);
    let probes = ingest::Probes {
        ledger: ledger.clone(),
        objects: objects.clone(),
        bus: bus.clone(),
        metrics: metrics.clone(),
        breakers: breakers.clone(),
    };
    let (app, listen) = if serves_api {
        let keys = Arc::new(ingest::auth::TokenKeys::new(
            &jwt_secret(&cfg)?,
            cfg.auth.token_ttl_secs,
        ));
        let mut app = axum::Router::new();
        if stages.contains(&Stage::Ingest) {
            app = app.merge(ingest::router(ingest::AppState {
                ledger: ledger.clone(),
                objects: objects.clone(),
                bus: bus.clone(),
                keys: keys.clone(),
                relay_wake,
                max_upload_bytes: cfg.http.max_upload_bytes,
                allow_register: cfg.auth.allow_register,
                public_url: cfg.http.public_url.clone(),
                default_generator: infer::DEFAULT_GENERATOR.to_string(),
                metrics: metrics.clone(),
                breakers: breakers.clone(),
                limits: ingest::limits::Limits::new(
                    cfg.http.uploads_per_minute,
                    cfg.http.auth_per_minute,
                    cfg.http.max_active_jobs,
                ),
                models: infer::generators()
                    .into_iter()
                    .filter_map(|g| serde_json::to_value(g).ok())
                    .collect(),
                refresh_ttl_secs: cfg.auth.refresh_ttl_secs,
            }));
        } else {
            app = app.merge(ingest::probes_router(probes));
        }
        if stages.contains(&Stage::Notifier) {
            app = app.merge(notifier::router(notifier::NotifierState {
                hub: hub.clone(),
                ledger: ledger.clone(),
                verify: ingest::auth::websocket_verifier(keys.clone(), ledger.clone()),
                max_connections_per_user: cfg.http.max_websockets_per_user,
            }));
        }
        (app, cfg.http.listen.clone())
    } else {
        (ingest::probes_router(probes), cfg.http.admin_listen.clone())
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    if serves_api {
        tracing::info!(%addr, "http listening");
        // Scripts and tests read this line to find the port when listening on :0.
        println!("c4forge listening on http://{addr}");
    } else {
        tracing::info!(%addr, "admin listening (healthz, readyz, metrics)");
        println!("c4forge admin listening on http://{addr}");
    }
    let s = shutdown.clone();
    let app = ingest::harden(app, &cfg.http.cors_origins);
    let limits = ingest::server::ServerLimits {
        header_read_timeout: Duration::from_secs(cfg.http.header_read_timeout_secs),
        body_read_timeout: Duration::from_secs(cfg.http.body_read_timeout_secs),
        idle_timeout: Duration::from_secs(cfg.http.idle_timeout_secs),
        max_connections: cfg.http.max_connections,
    };
    tasks.spawn(async move {
        ingest::server::serve(listener, app, limits, s)
            .await
            .context("http server")?;
        Ok("http")
    });

    // Any task ending early is fatal for the process (a supervisor restarts it).
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("task panicked").and_then(|r| r);
        match outcome {
            Ok(name) if shutdown.is_cancelled() => tracing::info!(task = name, "stopped"),
            Ok(name) => {
                tracing::error!(task = name, "task ended unexpectedly; shutting down");
                result = Err(anyhow::anyhow!("{name} ended unexpectedly"));
                shutdown.cancel();
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "fatal; shutting down");
                if result.is_ok() {
                    result = Err(e);
                }
                shutdown.cancel();
            }
        }
    }
    tracing::info!("c4forge stopped");
    result
}
