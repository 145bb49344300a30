//! Accounts: registration, sign-in and refresh-token rotation
//! (`/api/v1/auth/*`). The password, e-mail and token machinery is
//! [`crate::auth`]; this is its HTTP face.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runtime::jobs::{RefreshUse, UserRecord};
use schemas::api::{Credentials, Problem, TokenResponse, UserView};
use serde::Deserialize;

use crate::auth::hash_password;
use crate::extract::{ApiBytes, ClientIp};
use crate::problem::ApiError;
use crate::state::AppState;

/// Largest body of the auth endpoints (credentials or a refresh token: a
/// few hundred bytes); larger ones get a 413 problem document.
pub const AUTH_BODY_LIMIT: usize = 16 * 1024;

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
