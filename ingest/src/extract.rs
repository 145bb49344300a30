//! The extractors every handler shares, in one place: the caller
//! ([`AuthUser`], [`ClientIp`]), the body, query and path whose rejections
//! are problem documents ([`ApiBytes`], [`ApiQuery`], [`ApiPath`]), and the
//! job the caller owns ([`owned_job`]).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use runtime::jobs::JobRecord;
use schemas::JobId;
use schemas::events::JobStatus;

use crate::auth::{AuthUser, bearer_token};
use crate::problem::ApiError;
use crate::state::AppState;

/// The caller, from `Authorization: Bearer`, checked against the
/// user's current standing (see [`TokenKeys::authorize`](crate::auth::TokenKeys::authorize)).
impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(|| {
                ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
            })?;
        state.keys.authorize(&state.ledger, token, true).await
    }
}

/// The body as bytes, like axum's `Bytes` extractor (within the route's
/// `DefaultBodyLimit`), but rejected with a problem document: 413 when too
/// large, 408 when too slow, 400 otherwise.
#[derive(Debug, Clone, Default)]
pub struct ApiBytes(pub axum::body::Bytes);

impl<S> axum::extract::FromRequest<S> for ApiBytes
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        <axum::body::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map(ApiBytes)
            .map_err(|e| {
                if crate::server::is_body_timeout(&e) {
                    ApiError::body(&e, 0)
                } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(
                        "the request body is larger than this endpoint accepts".into(),
                    )
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })
    }
}

/// `Query<T>` whose rejection is a problem document (400), not axum's text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// `Path<T>` whose rejection is a problem document (400), not axum's text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The caller's IP address (from the connection; "unknown" when the server
/// runs without connection info, as in router-level tests).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        Ok(ClientIp(ip))
    }
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

/// Refuses a job whose code is not there yet (409).
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
