//! Diagram jobs: upload, list, view, delete, retry, and the generators an
//! upload can name (`/api/v1/diagrams`, `/api/v1/models`).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runtime::jobs::{JobRecord, NewJob, ObjectRecord};
use schemas::api::{
    DiagramAccepted, GeneratorList, JobLinks, JobPage, JobSummary, JobView, Problem, RetryAccepted,
};
use schemas::events::{DoneLinks, JobStatus};
use schemas::ids::sanitize_segment;
use schemas::messages::{Envelope, INLINE_COPY_LIMIT, JobUploaded, Message};
use schemas::{JobId, ObjectKey};
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::extract::{ApiPath, ApiQuery, owned_job};
use crate::problem::ApiError;
use crate::state::AppState;

/// Query parameters of an upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// File name of a raw body upload.
    name: Option<String>,
    /// Generator to run.
    generator: Option<String>,
    /// Deployment targets besides the code: `k8s,aws-ecs,azure-aca,gcp-run` or `all` (default: none).
    deploy: Option<String>,
    /// A language model (one of `GET /api/v1/models`' `fill`) to write the `impl/` bodies; kept only when they pass ruff and the project's tests (default: none).
    fill: Option<String>,
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
    let known: Vec<&str> = state.models.iter().map(|m| m.name.as_str()).collect();
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
    let fill = crate::fill::model(q.fill.as_deref(), &state.fill_models).map_err(reject)?;
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
            fill,
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

#[utoipa::path(get, path = "/api/v1/diagrams", tag = "diagrams", params(ListQuery), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = JobPage), (status = 401, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<JobPage>, ApiError> {
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
    let items = jobs
        .iter()
        .map(|j| JobSummary {
            job_id: j.id,
            status: j.status,
            file_name: j.file_name.clone(),
            created_at: runtime::from_millis(j.created_at),
            links: links(j),
        })
        .collect();
    Ok(Json(JobPage { items, next }))
}

/// `GET /api/v1/models`: the registered generators with their versions,
/// and the language models an upload's `fill` may name.
#[utoipa::path(get, path = "/api/v1/models", tag = "diagrams", responses((status = 200, description = "Registered generators with versions", body = GeneratorList)))]
pub(crate) async fn models(State(state): State<AppState>) -> Json<GeneratorList> {
    Json(GeneratorList {
        items: state.models.clone(),
        fill: state.fill_models.clone(),
    })
}

/// `DELETE /api/v1/diagrams/{id}`: removes the job's objects, then its rows.
/// A job still in the pipeline cannot be deleted (409); stages drop any
/// late message of a deleted job.
#[utoipa::path(delete, path = "/api/v1/diagrams/{id}", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 204, description = "Deleted with its objects"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    if !job.status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "the job is `{}`; delete it once it has finished",
            job.status
        )));
    }
    for object in state.ledger.objects_of(job.id).await? {
        state
            .objects
            .delete(&ObjectKey::from_stored(object.key))
            .await?;
    }
    state.ledger.delete_job(job.id).await?;
    tracing::info!(job_id = %job.id, "job deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/diagrams/{id}/retry`: runs a failed or dead-lettered job
/// again from its stored source.
#[utoipa::path(post, path = "/api/v1/diagrams/{id}/retry", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 202, body = RetryAccepted), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    let job_id: JobId = job.id;
    match state.ledger.retry_job(job_id, user.id).await? {
        Some(event) => {
            runtime::stage::publish_event(&state.bus, &event).await;
            state.relay_wake.notify_one();
            Ok((
                StatusCode::ACCEPTED,
                Json(RetryAccepted {
                    job_id,
                    status: JobStatus::Queued,
                }),
            )
                .into_response())
        }
        None => Err(ApiError::Conflict(format!(
            "the job is `{}`; only failed or dead-lettered jobs can be retried",
            job.status
        ))),
    }
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
