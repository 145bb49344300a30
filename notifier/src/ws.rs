//! `GET /api/v1/ws`: authenticated websocket of job status events.
//!
//! Authentication: `Authorization: Bearer <token>` or `?token=<token>`
//! (browsers cannot set headers on websockets). `?job=<id>` limits the
//! stream to one job. Protocol: JSON [`WsServerMessage`]s; first the
//! snapshot events (`snapshot: true`), then `snapshot_done`, then live
//! events. Pings every [`HEARTBEAT`]; a client silent for [`IDLE_TIMEOUT`]
//! or lagging more than the hub's buffer is closed with a reason.

use crate::hub::Hub;
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use runtime::jobs::Ledger;
use schemas::events::{StatusEvent, WsServerMessage};
use schemas::{JobId, UserId};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often the server pings.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A client that sends nothing (not even a pong) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A single send slower than this drops the client.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Finished jobs younger than this are part of the snapshot.
pub const SNAPSHOT_RECENT_MS: i64 = 10 * 60 * 1000;

/// Verifies an access token and returns its user. Supplied by the API's
/// auth module so that the notifier and the API accept the same tokens.
pub type TokenVerifier = Arc<dyn Fn(&str) -> Option<UserId> + Send + Sync>;

/// Shared state of the websocket route.
#[derive(Clone)]
pub struct NotifierState {
    /// Live events of this process.
    pub hub: Hub,
    /// History for snapshots.
    pub ledger: Ledger,
    /// Token check.
    pub verify: TokenVerifier,
}

impl std::fmt::Debug for NotifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierState").finish_non_exhaustive()
    }
}

/// The notifier's routes (`/api/v1/ws`).
pub fn router(state: NotifierState) -> Router {
    Router::new()
        .route("/api/v1/ws", get(upgrade))
        .with_state(state)
}

/// Query parameters of the websocket route.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    job: Option<String>,
}

async fn upgrade(
    State(state): State<NotifierState>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some(user) = bearer.or(q.token).and_then(|t| (state.verify)(&t)) else {
        return (StatusCode::UNAUTHORIZED, "missing or invalid token").into_response();
    };
    let job = match q.job.as_deref().map(str::parse::<JobId>) {
        None => None,
        Some(Ok(j)) => Some(j),
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "job is not a job id").into_response(),
    };
    ws.on_upgrade(move |socket| serve(socket, state, user, job))
}

fn encode(msg: &WsServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(msg).unwrap_or_default(),
    ))
}

async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_string()),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

async fn serve(mut socket: WebSocket, state: NotifierState, user: UserId, job: Option<JobId>) {
    metrics::gauge!("c4forge_ws_clients").increment(1.0);
    // Subscribe before reading history: an event committed meanwhile is then
    // in the live stream and possibly the snapshot; `seq` removes the duplicate.
    let mut live = state.hub.subscribe();
    let snapshot = match job {
        Some(j) => match state.ledger.job(j).await {
            Ok(Some(rec)) if rec.user_id == user => state.ledger.events(j, user).await,
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(e),
        },
        None => state.ledger.snapshot_events(user, SNAPSHOT_RECENT_MS).await,
    };
    let mut seen: HashMap<JobId, i64> = HashMap::new();
    match snapshot {
        Ok(events) => {
            for event in events {
                seen.insert(event.job_id, event.seq);
                if !send(
                    &mut socket,
                    encode(&WsServerMessage::Event {
                        event,
                        snapshot: true,
                    }),
                )
                .await
                {
                    metrics::gauge!("c4forge_ws_clients").decrement(1.0);
                    return;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "snapshot failed");
            let _ = send(
                &mut socket,
                encode(&WsServerMessage::Error {
                    message: "snapshot unavailable".into(),
                }),
            )
            .await;
        }
    }
    if send(&mut socket, encode(&WsServerMessage::SnapshotDone)).await {
        pump(&mut socket, &mut live, user, job, &mut seen).await;
    }
    metrics::gauge!("c4forge_ws_clients").decrement(1.0);
}

fn wanted(
    event: &StatusEvent,
    user: UserId,
    job: Option<JobId>,
    seen: &mut HashMap<JobId, i64>,
) -> bool {
    if event.user_id != user || job.is_some_and(|j| j != event.job_id) {
        return false;
    }
    let last = seen.entry(event.job_id).or_insert(i64::MIN);
    if event.seq <= *last {
        return false;
    }
    *last = event.seq;
    true
}

async fn pump(
    socket: &mut WebSocket,
    live: &mut tokio::sync::broadcast::Receiver<Arc<StatusEvent>>,
    user: UserId,
    job: Option<JobId>,
    seen: &mut HashMap<JobId, i64>,
) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            ev = live.recv() => match ev {
                Ok(event) => {
                    if wanted(&event, user, job, seen)
                        && !send(socket, encode(&WsServerMessage::Event { event: (*event).clone(), snapshot: false })).await
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::info!(missed = n, "websocket client too slow; closing");
                    close(socket, 1008, "too slow: reconnect to get a fresh snapshot").await;
                    return;
                }
                Err(RecvError::Closed) => {
                    close(socket, 1001, "server shutting down").await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    close(socket, 1001, "idle timeout").await;
                    return;
                }
                if !send(socket, Message::Ping(Default::default())).await {
                    return;
                }
            }
        }
    }
}
