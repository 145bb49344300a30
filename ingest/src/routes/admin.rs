//! Admin endpoints: the dead-letter queue (list, show, replay, bulk replay).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runtime::jobs::{DeadLetter, DeadLetterFilter, Replay};
use schemas::api::{
    BulkReplay, DeadLetterDetail, DeadLetterList, DeadLetterView, Problem, ReplayOutcome,
    ReplayStatus,
};
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::extract::{ApiPath, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

/// Bulk replays go out at most this fast, so a replay storm cannot swamp
/// the stages that just recovered.
pub const BULK_REPLAY_PER_SECOND: u64 = 20;

fn require_admin(user: AuthUser) -> Result<(), ApiError> {
    if user.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this endpoint is for administrators".into(),
        ))
    }
}

/// Filters of the dead-letter list and bulk replay.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DlqQuery {
    /// Only this stage (`parse`, `generate`, `store`).
    stage: Option<String>,
    /// Reason contains this text.
    reason: Option<String>,
    /// Failed at or after this time (RFC 3339).
    since: Option<String>,
    /// Also list entries already replayed.
    #[serde(default)]
    include_replayed: bool,
    /// Most entries (default 100, at most 1000).
    limit: Option<u64>,
}

impl DlqQuery {
    fn filter(&self) -> Result<DeadLetterFilter, ApiError> {
        let since_ms = match &self.since {
            None => None,
            Some(t) => Some(
                chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|e| {
                        ApiError::BadRequest(format!(
                            "since must be RFC 3339 (e.g. 2026-01-31T12:00:00Z): {e}"
                        ))
                    })?
                    .timestamp_millis(),
            ),
        };
        Ok(DeadLetterFilter {
            stage: self.stage.clone(),
            reason: self.reason.clone(),
            since_ms,
            include_replayed: self.include_replayed,
            limit: self.limit.unwrap_or(100),
        })
    }
}

fn view(d: &DeadLetter) -> DeadLetterView {
    DeadLetterView {
        id: d.id,
        job_id: d.job_id.clone(),
        stage: d.stage.clone(),
        reason: d.reason.clone(),
        attempts: d.attempts,
        first_failed_at: runtime::from_millis(d.first_failed_at),
        last_failed_at: runtime::from_millis(d.last_failed_at),
        replayed_at: d.replayed_at.map(runtime::from_millis),
    }
}

/// `GET /api/v1/admin/dlq`.
#[utoipa::path(get, path = "/api/v1/admin/dlq", tag = "admin", params(DlqQuery), responses((status = 200, body = DeadLetterList), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<DlqQuery>,
) -> Result<Json<DeadLetterList>, ApiError> {
    require_admin(user)?;
    let items = state
        .ledger
        .dead_letters(&q.filter()?)
        .await?
        .iter()
        .map(view)
        .collect();
    let unreplayed = state.ledger.dead_letter_count().await?;
    Ok(Json(DeadLetterList { items, unreplayed }))
}

/// `GET /api/v1/admin/dlq/{id}`: the entry with its payload.
#[utoipa::path(get, path = "/api/v1/admin/dlq/{id}", tag = "admin", params(("id" = i64, Path, description = "Dead letter id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 200, body = DeadLetterDetail), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DeadLetterDetail>, ApiError> {
    require_admin(user)?;
    let d = state
        .ledger
        .dead_letter(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dead letter {id}")))?;
    let payload =
        serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::String(d.payload.clone()));
    Ok(Json(DeadLetterDetail {
        entry: view(&d),
        payload,
    }))
}

async fn replay_one(state: &AppState, id: i64) -> Result<ReplayStatus, ApiError> {
    match state.ledger.replay_dead_letter(id).await? {
        Replay::Queued(event) => {
            if let Some(ev) = event {
                runtime::stage::publish_event(&state.bus, &ev).await;
            }
            state.relay_wake.notify_one();
            tracing::info!(dead_letter = id, "dead letter replayed");
            Ok(ReplayStatus::Queued)
        }
        Replay::AlreadyReplayed => Ok(ReplayStatus::AlreadyReplayed),
        Replay::NotFound => Err(ApiError::NotFound(format!("no dead letter {id}"))),
    }
}

/// `POST /api/v1/admin/dlq/{id}/replay`: idempotent; a second replay of the
/// same entry answers `already_replayed` and does nothing.
#[utoipa::path(post, path = "/api/v1/admin/dlq/{id}/replay", tag = "admin", params(("id" = i64, Path, description = "Dead letter id")), responses((status = 400, description = "Malformed path or query", body = Problem, content_type = "application/problem+json"), (status = 202, body = ReplayOutcome), (status = 200, description = "Already replayed: nothing done", body = ReplayOutcome), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    require_admin(user)?;
    let status = replay_one(&state, id).await?;
    let code = if status == ReplayStatus::Queued {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(ReplayOutcome { id, status })).into_response())
}

/// `POST /api/v1/admin/dlq/replay`: replays every unreplayed entry matching
/// the filters, at most [`BULK_REPLAY_PER_SECOND`] per second.
#[utoipa::path(post, path = "/api/v1/admin/dlq/replay", tag = "admin", params(DlqQuery), responses((status = 202, body = BulkReplay), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub(crate) async fn replay_bulk(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<DlqQuery>,
) -> Result<Response, ApiError> {
    require_admin(user)?;
    let mut filter = q.filter()?;
    filter.include_replayed = false;
    let entries = state.ledger.dead_letters(&filter).await?;
    let mut replayed = Vec::new();
    for (i, d) in entries.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1000 / BULK_REPLAY_PER_SECOND)).await;
        }
        if replay_one(&state, d.id).await? == ReplayStatus::Queued {
            replayed.push(d.id);
        }
    }
    Ok((StatusCode::ACCEPTED, Json(BulkReplay { replayed })).into_response())
}
