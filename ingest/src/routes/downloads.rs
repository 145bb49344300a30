//! Job management endpoints beyond upload and status: source, code
//! manifest, delete, retry, and the generator list.

use crate::auth::AuthUser;
use crate::problem::{ApiError, ApiPath};
use crate::routes::owned_job;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemas::api::Problem;
use schemas::events::DoneLinks;
use schemas::{JobId, ObjectKey};

/// `GET /api/v1/models`: the registered generators with their versions.
#[utoipa::path(get, path = "/api/v1/models", tag = "diagrams", responses((status = 200, description = "Registered generators with versions", body = Object)))]
pub(crate) async fn models(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "items": state.models }))
}

/// `GET /api/v1/diagrams/{id}/source`: the uploaded diagram as stored.
#[utoipa::path(get, path = "/api/v1/diagrams/{id}/source", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = String, content_type = "text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn source(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    let bytes = state
        .objects
        .get(&ObjectKey::source(job.id, &job.file_name))
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response())
}

/// `GET /api/v1/diagrams/{id}/code`: the manifest of generated files with
/// a download link, hash, size and owner per file.
#[utoipa::path(get, path = "/api/v1/diagrams/{id}/code", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = Object), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn code_manifest(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    crate::routes::require_done(&job)?;
    let links = DoneLinks::of(job.id);
    let files: Vec<serde_json::Value> = state
        .ledger
        .generated_files_of(job.id)
        .await?
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path, "sha256": f.sha256, "size": f.size, "owner": f.owner,
                "link": format!("{}{}", links.code_files, f.path),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "job_id": job.id,
        "generator": job.generator,
        "generator_version": job.generator_version,
        "code_zip": links.code_zip,
        "files": files,
    }))
    .into_response())
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
#[utoipa::path(post, path = "/api/v1/diagrams/{id}/retry", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 202, body = Object), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
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
                Json(serde_json::json!({"job_id": job_id, "status": "queued"})),
            )
                .into_response())
        }
        None => Err(ApiError::Conflict(format!(
            "the job is `{}`; only failed or dead-lettered jobs can be retried",
            job.status
        ))),
    }
}
