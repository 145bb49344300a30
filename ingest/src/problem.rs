//! API errors as RFC 9457 problem documents.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemas::api::Problem;

/// Every error the API returns. Each variant has a stable `type` URI so
/// clients can branch on it without parsing text.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or invalid access token.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Not found, or not yours (never 403, so ids leak nothing).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but unacceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// Body larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The request body did not arrive in time (`http.body_read_timeout_secs`).
    #[error("{0}")]
    RequestTimeout(String),
    /// Body is not UTF-8 text.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// Conflicts with the current state (taken e-mail, job not done yet).
    #[error("{0}")]
    Conflict(String),
    /// A dependency is down; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// Rate limit or active-job cap reached; retry after the given seconds.
    #[error("{detail}")]
    TooMany {
        /// What was limited.
        detail: String,
        /// Seconds to wait (`Retry-After`).
        retry_after: u64,
    },
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Unprocessable request",
            ),
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::RequestTimeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
            ),
            ApiError::UnsupportedMedia(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::TooMany { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl From<runtime::jobs::LedgerError> for ApiError {
    fn from(e: runtime::jobs::LedgerError) -> Self {
        match e {
            runtime::jobs::LedgerError::Conflict => ApiError::Conflict("already exists".into()),
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::Unavailable("the database is unavailable; retry later".into())
            }
        }
    }
}

impl From<runtime::objects::ObjectsError> for ApiError {
    fn from(e: runtime::objects::ObjectsError) -> Self {
        match e {
            runtime::objects::ObjectsError::NotFound(k) => {
                ApiError::NotFound(format!("object {k} is missing"))
            }
            other => {
                tracing::error!(error = %other, "object store error");
                ApiError::Unavailable("the object store is unavailable; retry later".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = self.parts();
        let body = Problem {
            kind: format!("https://c4forge.dev/problems/{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
        };
        let retry_after = match &self {
            ApiError::TooMany { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

impl ApiError {
    /// The error for a request body that could not be read: too large
    /// (`limit` bytes at most), too slow, or broken off.
    pub fn body(error: &(dyn std::error::Error + 'static), limit: usize) -> ApiError {
        if crate::server::is_body_timeout(error) {
            return ApiError::RequestTimeout(
                "the request body did not arrive in time; send it faster or in smaller parts"
                    .into(),
            );
        }
        let mut current = Some(error);
        while let Some(e) = current {
            if e.is::<http_body_util::LengthLimitError>() {
                return ApiError::TooLarge(format!(
                    "the request body is larger than {limit} bytes"
                ));
            }
            current = e.source();
        }
        ApiError::BadRequest(format!("the request body could not be read: {error}"))
    }
}
