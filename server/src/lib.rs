//! The c4forge service as a library: [`run`] connects the database, the
//! object store and the bus (with backoff), starts the selected stages, the
//! outbox relay, the recovery sweep, the notifier and the HTTP server, and
//! stops them all when the caller's shutdown token is cancelled or a task
//! fails. The `c4forge serve` command passes a token cancelled on SIGTERM or
//! Ctrl-C; tests and embedders pass their own to stop it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use runtime::Config;
use runtime::bus::{BusError, SharedBus};
use runtime::db::DbError;
use runtime::jobs::Ledger;
use runtime::objects::{Objects, ObjectsError};
use runtime::shutdown::Shutdown;
use runtime::stage::{LoopSettings, StageContext, StageHandler};
use schemas::Stage;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Why the service could not start or stopped with an error. The
/// underlying error is the source, so callers can classify it by type.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The embedded mode's data directory cannot be created.
    #[error("creating data dir {}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be reached (after retries) or opened.
    #[error("connecting to {url}")]
    Database {
        /// The URL, password masked.
        url: String,
        /// Why.
        #[source]
        source: DbError,
    },
    /// The fill stage's endpoint client cannot be built.
    #[error("setting up the fill stage: {0}")]
    Fill(String),
    /// A migration failed.
    #[error("applying migrations")]
    Migrate(#[source] DbError),
    /// The object store URL is not usable.
    #[error("opening the object store")]
    Objects(#[source] ObjectsError),
    /// The bus cannot be reached (after retries).
    #[error("connecting to the bus {url}")]
    Bus {
        /// The URL, password masked.
        url: String,
        /// Why.
        #[source]
        source: BusError,
    },
    /// The JWT secret is missing or a placeholder (the message says which
    /// setting to change).
    #[error("{0}")]
    JwtSecret(String),
    /// The embedded mode's generated JWT secret cannot be stored.
    #[error("writing {}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP listener cannot be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address configured.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stage's consumer ended for good (its connection is lost).
    #[error("{stage} stage")]
    Stage {
        /// Which stage.
        stage: &'static str,
        /// Why.
        #[source]
        source: BusError,
    },
    /// The notifier's status subscription ended for good.
    #[error("notifier")]
    Notifier(#[source] BusError),
    /// The HTTP server failed.
    #[error("http server")]
    Http(#[source] std::io::Error),
    /// A task panicked.
    #[error("task panicked")]
    Panicked(#[source] tokio::task::JoinError),
    /// A task returned although nobody asked it to stop.
    #[error("{0} ended unexpectedly")]
    Ended(&'static str),
}

/// Where the service listens, told once the listener is bound (so a caller
/// that asked for port 0 learns the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// The bound address.
    pub addr: SocketAddr,
    /// True when it serves the API (ingest or notifier), false when only
    /// the admin endpoints (`/healthz`, `/readyz`, `/metrics`).
    pub api: bool,
}

fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(8)
        .with_jitter()
}

/// Connects to the database (with retries) and applies migrations.
pub async fn open_database(cfg: &Config) -> Result<Ledger, ServeError> {
    if cfg.database.url.is_empty() {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|source| ServeError::DataDir {
            path: cfg.data_dir.clone(),
            source,
        })?;
    }
    let url = cfg.database_url();
    let db = (|| {
        runtime::db::connect_with(
            &url,
            cfg.database.max_connections,
            cfg.database.sqlite_full_sync,
        )
    })
        .retry(retry_policy())
        .notify(|e, d| tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "database not reachable yet"))
        .await
        .map_err(|source| ServeError::Database {
            url: runtime::config::mask_url_password(&url),
            source,
        })?;
    let applied = runtime::db::migrate(&db)
        .await
        .map_err(ServeError::Migrate)?;
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
fn jwt_secret(cfg: &Config) -> Result<Vec<u8>, ServeError> {
    let configured = cfg.auth.jwt_secret.trim();
    if PLACEHOLDER_JWT_SECRETS.contains(&configured)
        || configured.to_ascii_uppercase().contains(PLACEHOLDER_MARK)
    {
        return Err(ServeError::JwtSecret(
            "C4FORGE_JWT_SECRET (auth.jwt_secret) is a placeholder from the deployment files, \
             so anyone could sign tokens: set it to a random secret (openssl rand -hex 32), \
             the same in every ingest and notifier process"
                .into(),
        ));
    }
    if !cfg.auth.jwt_secret.is_empty() {
        return Ok(cfg.auth.jwt_secret.as_bytes().to_vec());
    }
    if !cfg.is_embedded() {
        return Err(ServeError::JwtSecret(
            "C4FORGE_JWT_SECRET (auth.jwt_secret) must be set in distributed mode: every ingest and notifier process must share it"
                .into(),
        ));
    }
    let path = cfg.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    let secret: [u8; 32] = rand::random();
    let text = hex::encode(secret);
    if let Err(source) = std::fs::write(&path, &text) {
        return Err(ServeError::SecretFile { path, source });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(text.into_bytes())
}

/// Runs the `stages` of one process with `cfg` until `shutdown` is
/// cancelled (then drains and returns `Ok`) or a task fails (then stops the
/// others and returns its error). `on_listen` is told where the HTTP server
/// listens once it is bound.
pub async fn run(
    cfg: Config,
    stages: BTreeSet<Stage>,
    shutdown: Shutdown,
    on_listen: impl FnOnce(Listening) + Send,
) -> Result<(), ServeError> {
    let names: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
    tracing::info!(stages = ?names, embedded = cfg.is_embedded(), "starting c4forge");
    let metrics = runtime::telemetry::metrics_handle();
    let ledger = open_database(&cfg).await?;
    let objects = Objects::open(&cfg.objects.url, &cfg.data_dir).map_err(ServeError::Objects)?;
    let bus: SharedBus = (|| runtime::bus::connect(&cfg.bus.url, &cfg.bus.prefix))
        .retry(retry_policy())
        .notify(|e, d| tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "bus not reachable yet"))
        .await
        .map_err(|source| ServeError::Bus {
            url: runtime::config::mask_url_password(&cfg.bus.url),
            source,
        })?;
    let mut tasks: JoinSet<Result<&'static str, ServeError>> = JoinSet::new();
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
        Arc::new(
            infer::stage::GenerateStage::new(infer::GenerateLimits::from(&cfg.generate))
                .deflate_above(cfg.generate.deflate_above_bytes),
        ),
        Arc::new(
            fill::stage::FillStage::new(&cfg.fill).map_err(|e| ServeError::Fill(e.to_string()))?,
        ),
        Arc::new(storage::StoreStage),
    ];
    for handler in handlers.into_iter().filter(|h| stages.contains(&h.stage())) {
        let (ctx, settings, shutdown) = (ctx.clone(), settings.clone(), shutdown.clone());
        tasks.spawn(async move {
            let name = handler.stage().as_str();
            runtime::stage::run(handler, ctx, settings, shutdown)
                .await
                .map_err(|source| ServeError::Stage {
                    stage: name,
                    source,
                })?;
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
            h.run(b, s).await.map_err(ServeError::Notifier)?;
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
                    .map(|g| schemas::api::GeneratorView {
                        name: g.name.to_string(),
                        version: g.version.to_string(),
                        description: g.description.to_string(),
                    })
                    .collect(),
                fill_models: if cfg.fill.enabled() {
                    schemas::api::FillModelView::of(&cfg.fill.models)
                } else {
                    Vec::new()
                },
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
    let bind = |source| ServeError::Bind {
        addr: listen.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    if serves_api {
        tracing::info!(%addr, "http listening");
    } else {
        tracing::info!(%addr, "admin listening (healthz, readyz, metrics)");
    }
    on_listen(Listening {
        addr,
        api: serves_api,
    });
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
            .map_err(ServeError::Http)?;
        Ok("http")
    });

    // Any task ending early is fatal for the process (a supervisor restarts it).
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.map_err(ServeError::Panicked).and_then(|r| r);
        match outcome {
            Ok(name) if shutdown.is_cancelled() => tracing::info!(task = name, "stopped"),
            Ok(name) => {
                tracing::error!(task = name, "task ended unexpectedly; shutting down");
                result = Err(ServeError::Ended(name));
                shutdown.cancel();
            }
            Err(e) => {
                tracing::error!(error = %chain(&e), "fatal; shutting down");
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

/// `e` and its sources, one after the other (what `{:#}` of anyhow shows).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}
