//! Downloads of a job's resources: the uploaded source, the model, the code
//! manifest, the project zip and single generated files.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use schemas::ObjectKey;
use schemas::api::{CodeFile, CodeManifest, Problem};
use schemas::events::DoneLinks;
use schemas::ids::sanitize_segment;

use crate::auth::AuthUser;
use crate::extract::{ApiPath, owned_job, require_done};
use crate::problem::ApiError;
use crate::state::AppState;

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
#[utoipa::path(get, path = "/api/v1/diagrams/{id}/code", tag = "diagrams", params(("id" = String, Path, description = "Job id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = CodeManifest), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn code_manifest(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CodeManifest>, ApiError> {
    let job = owned_job(&state, user, &id).await?;
    require_done(&job)?;
    let links = DoneLinks::of(job.id);
    let files = state
        .ledger
        .generated_files_of(job.id)
        .await?
        .into_iter()
        .map(|f| CodeFile {
            link: format!("{}{}", links.code_files, f.path),
            path: f.path,
            sha256: f.sha256,
            size: f.size,
            owner: f.owner,
        })
        .collect();
    Ok(Json(CodeManifest {
        job_id: job.id,
        generator: job.generator,
        generator_version: job.generator_version,
        code_zip: links.code_zip,
        files,
    }))
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
