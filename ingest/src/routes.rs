//! The `/api/v1` handlers and the router.

use crate::auth::{AuthUser, hash_password};
use crate::limits::ClientIp;
use crate::problem::{ApiBytes, ApiError, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use runtime::jobs::{JobRecord, NewJob, ObjectRecord, RefreshUse, UserRecord};
use schemas::api::{
    Credentials, DiagramAccepted, JobLinks, JobView, Problem, TokenResponse, UserView,
};
use schemas::events::{DoneLinks, JobStatus};
use schemas::ids::sanitize_segment;
use schemas::messages::{Envelope, INLINE_COPY_LIMIT, JobUploaded, Message};
use schemas::{JobId, ObjectKey};
use serde::Deserialize;

/// Largest body of the auth endpoints (credentials or a refresh token: a
/// few hundred bytes); larger ones get a 413 problem document.
pub const AUTH_BODY_LIMIT: usize = 16 * 1024;

/// What the health, readiness and metrics endpoints look at.
#[derive(Clone)]
pub struct Probes {
    /// Database to ping.
    pub ledger: runtime::jobs::Ledger,
    /// Object store to check.
    pub objects: runtime::objects::Objects,
    /// Bus to check.
    pub bus: runtime::bus::SharedBus,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Circuit breakers: an open breaker makes the process not ready.
    pub breakers: runtime::breaker::Breakers,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes").finish_non_exhaustive()
    }
}

/// `/healthz`, `/readyz` and `/metrics`: served with the API, and alone on
/// the admin port of processes that run no HTTP stage.
pub fn probes_router(probes: Probes) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(probes)
}

/// The API router (everything but the websocket, which the notifier serves),
/// including the probes.
pub fn router(state: AppState) -> Router {
    let probes = Probes {
        ledger: state.ledger.clone(),
        objects: state.objects.clone(),
        bus: state.bus.clone(),
        metrics: state.metrics.clone(),
        breakers: state.breakers.clone(),
    };
    let auth_limit = || DefaultBodyLimit::max(AUTH_BODY_LIMIT);
    Router::new()
        .route("/api/v1/auth/register", post(register).layer(auth_limit()))
        .route("/api/v1/auth/token", post(token).layer(auth_limit()))
        .route("/api/v1/auth/refresh", post(refresh).layer(auth_limit()))
        .route("/api/v1/models", get(crate::manage::models))
        .route("/api/v1/diagrams", post(upload).get(list))
        .route(
            "/api/v1/diagrams/{id}",
            get(get_job).delete(crate::manage::delete),
        )
        .route("/api/v1/diagrams/{id}/retry", post(crate::manage::retry))
        .route("/api/v1/diagrams/{id}/source", get(crate::manage::source))
        .route(
            "/api/v1/diagrams/{id}/code",
            get(crate::manage::code_manifest),
        )
        .route("/api/v1/diagrams/{id}/code.zip", get(code_zip))
        .route("/api/v1/diagrams/{id}/model", get(model))
        .route("/api/v1/diagrams/{id}/code/{*path}", get(code_file))
        .route("/api/v1/admin/dlq", get(crate::admin::list))
        .route("/api/v1/admin/dlq/replay", post(crate::admin::replay_bulk))
        .route("/api/v1/admin/dlq/{id}", get(crate::admin::show))
        .route("/api/v1/admin/dlq/{id}/replay", post(crate::admin::replay))
        .with_state(state)
        .merge(probes_router(probes))
        .merge(crate::openapi::router())
        .merge(crate::web::router())
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is alive", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Database, bus and object store answer; no breaker open", body = Object), (status = 503, description = "A dependency is unavailable", body = Object)))]
pub(crate) async fn readyz(State(state): State<Probes>) -> Response {
    let db = runtime::db::ping(state.ledger.db())
        .await
        .map_err(|e| e.to_string());
    let bus = state.bus.check().await.map_err(|e| e.to_string());
    let objects = state.objects.check().await.map_err(|e| e.to_string());
    let states = state.breakers.states();
    let open = states.iter().any(|(_, s)| *s == "open");
    let breakers: serde_json::Map<String, serde_json::Value> = states
        .into_iter()
        .map(|(d, s)| (d.to_string(), s.into()))
        .collect();
    let ok = db.is_ok() && bus.is_ok() && objects.is_ok() && !open;
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let body = serde_json::json!({
        "database": show(&db), "bus": show(&bus), "objects": show(&objects), "breakers": breakers,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics_text(State(state): State<Probes>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

fn credentials(body: &[u8]) -> Result<Credentials, ApiError> {
    let c: Credentials = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!("expected JSON {{\"email\", \"password\"}}: {e}"))
    })?;
    let email = crate::auth::valid_email(&c.email)?;
    crate::auth::check_password_policy(&c.password, &email)?;
    Ok(Credentials { email, ..c })
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Credentials, responses((status = 201, body = UserView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 16 KiB", body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiBytes(body): ApiBytes,
) -> Result<Response, ApiError> {
    state.limits.auth(&ip)?;
    if !state.allow_register {
        return Err(ApiError::Forbidden(
            "self-registration is disabled on this server".into(),
        ));
    }
    let c = credentials(&body)?;
    let hash = hash_password(&c.password)?;
    let user = state
        .ledger
        .create_user(&c.email, &hash, false)
        .await
        .map_err(|e| match e {
            // Never names the account (README "Accounts").
            runtime::jobs::LedgerError::Conflict => {
                ApiError::Conflict(crate::auth::REGISTER_REFUSED.into())
            }
            other => other.into(),
        })?;
    let view = UserView {
        id: user.id.to_string(),
        email: user.email,
        is_admin: user.is_admin,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Issues an access token and a new refresh token in `family`.
async fn issue_pair(
    state: &AppState,
    user: &UserRecord,
    family: &str,
) -> Result<TokenResponse, ApiError> {
    let refresh = hex::encode(rand::random::<[u8; 32]>());
    let expires = runtime::now_millis()
        + i64::try_from(state.refresh_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    state
        .ledger
        .store_refresh_token(
            user.id,
            family,
            &runtime::objects::sha256_hex(refresh.as_bytes()),
            expires,
        )
        .await?;
    Ok(TokenResponse {
        access_token: state.keys.issue(user.id, user.is_admin, family)?,
        token_type: "Bearer".into(),
        expires_in: state.keys.ttl_secs(),
        refresh_token: Some(refresh),
    })
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = Credentials, responses((status = 200, body = TokenResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 16 KiB", body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiBytes(body): ApiBytes,
) -> Result<Json<TokenResponse>, ApiError> {
    state.limits.auth(&ip)?;
    let c: Credentials = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("expected JSON {{\"email\", \"password\"}}: {e}"))
    })?;
    let typed = c.email.trim();
    let user = state
        .ledger
        .user_for_login(typed, &crate::auth::fold_email(typed))
        .await?;
    // The same argon2 work and answer whether or not the e-mail exists.
    let signed_in = crate::auth::check_login(&c.password, user.as_ref());
    let Some(user) = user.filter(|_| signed_in) else {
        return Err(ApiError::Unauthorized(crate::auth::LOGIN_FAILED.into()));
    };
    if !user.is_active {
        return Err(ApiError::Unauthorized("this account is deactivated".into()));
    }
    let family = uuid::Uuid::new_v4().to_string();
    Ok(Json(issue_pair(&state, &user, &family).await?))
}

/// `POST /auth/refresh` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last token response.
    refresh_token: String,
}

/// Rotates a refresh token: each works once; presenting a used one revokes
/// its whole family (a stolen token is useless after the owner's next refresh).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses((status = 200, body = TokenResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 16 KiB", body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiBytes(body): ApiBytes,
) -> Result<Json<TokenResponse>, ApiError> {
    state.limits.auth(&ip)?;
    let req: RefreshRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected JSON {{\"refresh_token\"}}: {e}")))?;
    let hash = runtime::objects::sha256_hex(req.refresh_token.as_bytes());
    match state.ledger.use_refresh_token(&hash).await? {
        RefreshUse::Valid { user, family } => {
            let user = state
                .ledger
                .user_by_id(user)
                .await?
                .filter(|u| u.is_active)
                .ok_or_else(|| ApiError::Unauthorized("this account is deactivated".into()))?;
            Ok(Json(issue_pair(&state, &user, &family).await?))
        }
        RefreshUse::Reused => {
            tracing::warn!("refresh token reused; its family is revoked");
            Err(ApiError::Unauthorized(
                "refresh token already used; sign in again".into(),
            ))
        }
        RefreshUse::Unknown => Err(ApiError::Unauthorized(
            "unknown or expired refresh token".into(),
        )),
    }
}

/// Query parameters of an upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// File name of a raw body upload.
    name: Option<String>,
    /// Generator to run.
    generator: Option<String>,
    /// Deployment targets besides the code: `k8s,aws-ecs,azure-aca,gcp-run` or `all` (default: none).
    deploy: Option<String>,
}

/// The base of absolute links: the configured public URL, else the local
/// address the request arrived on. Never the `Host` header, which the
/// client chooses (a forged one would put its host into the links).
fn base_url(state: &AppState, local: Option<crate::server::LocalAddr>) -> String {
    if !state.public_url.is_empty() {
        return state.public_url.trim_end_matches('/').to_string();
    }
    match local {
        Some(crate::server::LocalAddr(addr)) => format!("http://{addr}"),
        None => "http://localhost".to_string(),
    }
}

/// Checks the `generator` of an upload against the registered ones.
fn known_generator(state: &AppState, generator: &str) -> Result<(), ApiError> {
    let known: Vec<&str> = state
        .models
        .iter()
        .filter_map(|m| m.get("name")?.as_str())
        .collect();
    if known.contains(&generator) {
        return Ok(());
    }
    let shown: String = generator.chars().take(64).collect();
    Err(ApiError::BadRequest(format!(
        "unknown generator `{shown}`; known generators: {}",
        known.join(", ")
    )))
}

async fn read_upload(req: Request, limit: usize) -> Result<(Option<String>, Bytes), ApiError> {
    let too_large = || ApiError::TooLarge(format!("the upload is larger than {limit} bytes"));
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::body(&e, limit))?;
    if !is_multipart {
        return Ok((None, bytes));
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
    {
        let name = field.file_name().map(str::to_string);
        if field.name() == Some("file") || name.is_some() {
            let data = field
                .bytes()
                .await
                .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
            return Ok((name, data));
        }
    }
    Err(ApiError::BadRequest(
        "the multipart body has no `file` field".into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/diagrams", tag = "diagrams", params(UploadQuery), request_body(content = String, content_type = "text/plain", description = "The .puml text (or multipart/form-data with a `file` field)"), responses((status = 202, body = DiagramAccepted, headers(("location" = String, description = "The job resource"))), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 408, description = "The body did not arrive within the body read timeout", body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<UploadQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    state.limits.upload(&user.id.to_string())?;
    let reject = |e: ApiError| {
        metrics::counter!("c4forge_uploads_total", "outcome" => "rejected").increment(1);
        e
    };
    // Checked before the body is read: an unknown generator would only
    // fail later, in the pipeline.
    let generator = q
        .generator
        .unwrap_or_else(|| state.default_generator.clone());
    known_generator(&state, &generator).map_err(reject)?;
    let deploy = crate::deploy::targets(q.deploy.as_deref()).map_err(reject)?;
    let local = req.extensions().get::<crate::server::LocalAddr>().copied();
    let (part_name, bytes) = read_upload(req, state.max_upload_bytes).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(reject(ApiError::BadRequest("the diagram is empty".into())));
    }
    let named = part_name
        .as_deref()
        .or(q.name.as_deref())
        .unwrap_or("diagram.puml");
    let is_bundle =
        bytes.starts_with(b"PK\x03\x04") || named.to_ascii_lowercase().ends_with(".zip");
    let file_name = if is_bundle {
        // A bundle of diagrams and their relative includes: checked now
        // (paths, file count, unpacked size, text) so a bad one is a 400.
        preprocess::bundle::read_bundle(&bytes, preprocess::bundle::BundleLimits::default())
            .map_err(|e| reject(ApiError::BadRequest(format!("invalid bundle: {e}"))))?;
        let name = sanitize_segment(named);
        if name.to_ascii_lowercase().ends_with(".zip") {
            name
        } else {
            format!("{name}.zip")
        }
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            reject(ApiError::UnsupportedMedia(format!(
                "the diagram is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            )))
        })?;
        if text.contains('\0') {
            return Err(reject(ApiError::UnsupportedMedia(
                "the diagram contains NUL bytes; expected PlantUML text".into(),
            )));
        }
        sanitize_segment(named)
    };

    let active = state.ledger.active_jobs_of(user.id).await?;
    if active >= state.limits.max_active_jobs {
        return Err(reject(ApiError::TooMany {
            detail: format!(
                "you have {active} unfinished jobs (the limit is {}); wait for some to finish",
                state.limits.max_active_jobs
            ),
            retry_after: 5,
        }));
    }
    let job_id = JobId::new();
    let source_key = ObjectKey::source(job_id, &file_name);
    let stored = state.objects.put(&source_key, bytes.clone()).await?;
    let envelope = Envelope::new(
        job_id,
        user.id,
        Message::JobUploaded(JobUploaded {
            source_key: source_key.clone(),
            file_name: file_name.clone(),
            generator: generator.clone(),
            source_text: inline_source(&file_name, &bytes),
            deploy,
        }),
    );
    let routing_key = envelope.body.routing_key().to_string();
    let message = String::from_utf8_lossy(&envelope.encode()).into_owned();
    let queued = state
        .ledger
        .create_job(&NewJob {
            id: job_id,
            user_id: user.id,
            file_name: file_name.clone(),
            generator,
            routing_key,
            message,
            source: ObjectRecord {
                key: source_key.to_string(),
                kind: "source".into(),
                sha256: stored.sha256,
                size: stored.size as i64,
            },
        })
        .await?;
    // `queued` goes on the status bus before the relay is woken, so a
    // websocket following the user's jobs gets it before the stages'
    // events; in a task, as the answer must not wait for the bus (the job
    // is committed; the relay also polls).
    let (bus, wake) = (state.bus.clone(), state.relay_wake.clone());
    tokio::spawn(async move {
        runtime::stage::publish_event(&bus, &queued).await;
        wake.notify_one();
    });
    metrics::counter!("c4forge_uploads_total", "outcome" => "accepted").increment(1);
    tracing::info!(job_id = %job_id, file = %file_name, bytes = bytes.len(), "diagram accepted");

    let base = base_url(&state, local);
    let location = format!("/api/v1/diagrams/{job_id}");
    let ws_base = base.replacen("http", "ws", 1);
    let body = DiagramAccepted {
        job_id,
        status: JobStatus::Queued,
        location: format!("{base}{location}"),
        websocket: format!("{ws_base}/api/v1/ws?job={job_id}"),
    };
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The copy of a small text upload that rides in its `job.uploaded`
/// message (see [`INLINE_COPY_LIMIT`]); bundles and large files are read
/// back from the object store by the parse stage.
fn inline_source(file_name: &str, bytes: &[u8]) -> Option<String> {
    if bytes.len() > INLINE_COPY_LIMIT || file_name.to_ascii_lowercase().ends_with(".zip") {
        return None;
    }
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// Loads a job the caller owns; someone else's job is "not found".
pub(crate) async fn owned_job(
    state: &AppState,
    user: AuthUser,
    id: &str,
) -> Result<JobRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no diagram job `{id}`"));
    let id: JobId = id.parse().map_err(|_| not_found())?;
    match state.ledger.job(id).await? {
        Some(job) if job.user_id == user.id => Ok(job),
        _ => Err(not_found()),
    }
}

fn links(job: &JobRecord) -> JobLinks {
    let paths = DoneLinks::of(job.id);
    JobLinks {
        this: paths.job,
        code_zip: (job.status == JobStatus::Done).then_some(paths.code_zip),
    }
}

async fn view(state: &AppState, job: JobRecord) -> Result<JobView, ApiError> {
    let history = state.ledger.events(job.id, job.user_id).await?;
    Ok(JobView {
        links: links(&job),
        job_id: job.id,
        status: job.status,
        file_name: job.file_name,
        generator: job.generator,
        generator_version: job.generator_version,
        created_at: runtime::from_millis(job.created_at),
        updated_at: runtime::from_millis(job.updated_at),
        diagnostics: job.diagnostics,
        history,
    })
}

#[utoipa::path(get, path = "/api/v1/diagrams/{id}", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = JobView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    Ok(Json(view(&state, job).await?))
}

/// Query parameters of the job list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Page size (1..=200, default 50).
    limit: Option<u64>,
    /// Only jobs with this status (`queued`, `parsing`, ..., `done`, `failed`, `dead_lettered`).
    status: Option<String>,
    /// Only jobs older than this job id: the `next` link of the previous page.
    before: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/diagrams", tag = "diagrams", params(ListQuery), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = Object), (status = 401, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let status = q
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let before = q
        .before
        .as_deref()
        .map(str::parse::<JobId>)
        .transpose()
        .map_err(|_| ApiError::BadRequest("before must be a job id".into()))?;
    let jobs = state.ledger.jobs_of(user.id, status, before, limit).await?;
    let next = (jobs.len() as u64 == limit).then(|| {
        let last = jobs.last().map(|j| j.id.to_string()).unwrap_or_default();
        let filter = q
            .status
            .as_deref()
            .map(|s| format!("&status={s}"))
            .unwrap_or_default();
        format!("/api/v1/diagrams?limit={limit}&before={last}{filter}")
    });
    let items: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| {
            serde_json::json!({
                "job_id": j.id, "status": j.status, "file_name": j.file_name,
                "created_at": runtime::from_millis(j.created_at), "links": links(j),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "items": items, "next": next })).into_response())
}

pub(crate) fn require_done(job: &JobRecord) -> Result<(), ApiError> {
    if job.status == JobStatus::Done {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "the job is `{}`; its code is available once it is `done`",
            job.status
        )))
    }
}

#[utoipa::path(get, path = "/api/v1/diagrams/{id}/code.zip", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, description = "The generated project", content_type = "application/zip", body = Vec<u8>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn code_zip(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    require_done(&job)?;
    let bytes = state.objects.get(&ObjectKey::code_zip(job.id)).await?;
    let stem = job
        .file_name
        .rsplit_once('.')
        .map_or(job.file_name.as_str(), |(s, _)| s)
        .to_string();
    let disposition = format!("attachment; filename=\"{}.zip\"", sanitize_segment(&stem));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/diagrams/{id}/model", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, description = "The model IR (model::v1)", body = Object), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn model(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    let bytes = state
        .objects
        .get(&ObjectKey::model(job.id))
        .await
        .map_err(|_| ApiError::Conflict("the diagram has not been parsed yet".into()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

#[utoipa::path(get, path = "/api/v1/diagrams/{id}/code/{path}", tag = "diagrams", params(("id" = String, Path, description = "Job id"), ("path" = String, Path, description = "File path inside the project")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = String, content_type = "text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn code_file(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, path)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    require_done(&job)?;
    let files = state.ledger.generated_files_of(job.id).await?;
    let file = files
        .iter()
        .find(|f| f.path == path)
        .ok_or_else(|| ApiError::NotFound(format!("no generated file `{path}`")))?;
    let bytes = storage::read_file(&state.objects, file).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::ETAG, format!("\"{}\"", file.sha256)),
        ],
        bytes,
    )
        .into_response())
}

/// Adds the security headers every response carries and, when origins are
/// configured, CORS for them. Applied to the whole HTTP app of a process.
pub fn harden(app: Router, cors_origins: &[String]) -> Router {
    use tower_http::set_header::SetResponseHeaderLayer;
    let mut app = app
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let origins: Vec<HeaderValue> = cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if !origins.is_empty() {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    axum::http::Method::GET,
                    axum::http::Method::POST,
                    axum::http::Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app
}

#[cfg(test)]
mod inline_tests {
    use super::*;

    #[test]
    fn small_text_uploads_ride_in_the_message_and_bundles_do_not() {
        let text = "@startuml\nSystem(a, \"A\")\n@enduml\n";
        assert_eq!(
            inline_source("a.puml", text.as_bytes()).as_deref(),
            Some(text)
        );
        assert_eq!(inline_source("a.ZIP", text.as_bytes()), None);
        assert_eq!(inline_source("a.puml", b"\xff\xfe"), None);
        let big = "x".repeat(INLINE_COPY_LIMIT + 1);
        assert_eq!(inline_source("a.puml", big.as_bytes()), None);
    }
}
