//! `GET /api/v1/ws`: authenticated websocket of job status events.
//!
//! Authentication: `Authorization: Bearer <token>` or `?token=<token>`
//! (browsers cannot set headers on websockets), checked at connect and
//! again at every heartbeat through the API's [`TokenVerifier`]: a
//! deactivated user or revoked session is closed with 1008 and
//! [`ACCESS_REVOKED`]. `?job=<id>` limits the
//! stream to one job. Protocol: JSON [`WsServerMessage`]s; first the
//! snapshot events (`snapshot: true`), then `snapshot_done`, then live
//! events. Pings every [`HEARTBEAT`]; a client silent for [`IDLE_TIMEOUT`]
//! is closed with a reason.
//!
//! Back-pressure: each connection has a reading task (hub events in,
//! client frames in) and a writing task joined by a queue of
//! [`CLIENT_BUFFER`] messages. The reading task never waits for the
//! socket; when the queue is full (the client stopped reading and the
//! kernel's socket buffers are full too) the connection is closed with
//! code 1008 and [`TOO_SLOW`]. So a connection holds at most
//! `CLIENT_BUFFER` messages plus one in tungstenite's buffer, and the hub
//! and the pipeline never wait for any client.
//!
//! Caps: one user may hold at most
//! [`NotifierState::max_connections_per_user`] websockets on this process;
//! one more is answered `429` with a problem document before the upgrade
//! (so the client sees the reason in the handshake response). Every
//! refusal of this route (401, 400, 429) is `application/problem+json`
//! like the rest of the API.

use crate::hub::{Hub, Subscription, Topic};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use runtime::jobs::Ledger;
use schemas::api::Problem;
use schemas::events::{JobStatus, StatusEvent, WsServerMessage};
use schemas::{JobId, UserId};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};

/// How often the server pings.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A client that sends nothing (not even a pong) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A single write slower than this drops the client (it stopped reading).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages queued per client behind the one being written. This bounds a
/// connection's memory (with the socket buffers below); a client whose
/// queue is full when the next event arrives is closed with [`TOO_SLOW`],
/// so publishing never waits for a client.
pub const CLIENT_BUFFER: usize = 64;
/// How long the server keeps trying to deliver its close frame to a
/// client that is not reading before it drops the TCP connection.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Close reason sent to a client that cannot keep up (code 1008).
pub const TOO_SLOW: &str = "too slow: reconnect to get a fresh snapshot";
/// Websocket read buffer per connection. Clients only send pongs and
/// close frames; tungstenite's default (128 KiB allocated up front per
/// connection) would dominate the memory of idle connections.
pub const READ_BUFFER: usize = 4 * 1024;
/// Largest message accepted from a client (they send no data messages).
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// Bytes tungstenite may hold for one connection's writes beyond the
/// kernel's socket buffer: one event plus the close frame, never a backlog.
pub const MAX_WRITE_BUFFER: usize = 256 * 1024;
/// Policy violation: used for clients that cannot keep up, and when the
/// user's access was revoked.
const CLOSE_POLICY: u16 = 1008;
/// Going away: idle timeout, shutdown.
const CLOSE_GOING_AWAY: u16 = 1001;
/// Default of [`NotifierState::max_connections_per_user`].
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: usize = 32;
/// Seconds a refused client is told to wait (`Retry-After`).
const RETRY_AFTER_SECS: u32 = 5;
/// Finished jobs younger than this are part of the snapshot.
pub const SNAPSHOT_RECENT_MS: i64 = 10 * 60 * 1000;

/// Close reason sent when the user was deactivated or the session revoked
/// since the connection opened (code 1008, at the next heartbeat).
pub const ACCESS_REVOKED: &str =
    "access revoked: the account was deactivated or the session revoked";

/// When a token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// At connect: signature, expiry, user active, session not revoked.
    Connect,
    /// At each heartbeat of an open connection: the same without the
    /// expiry (a connection may outlive its token, not its user's access).
    Recheck,
}

/// Checks an access token and returns its user, or `None` to refuse.
/// Supplied by the API's auth module so that the notifier and the API
/// accept the same tokens and revoke them the same way.
pub type TokenVerifier = Arc<
    dyn Fn(String, TokenCheck) -> std::pin::Pin<Box<dyn Future<Output = Option<UserId>> + Send>>
        + Send
        + Sync,
>;

/// Shared state of the websocket route.
#[derive(Clone)]
pub struct NotifierState {
    /// Live events of this process.
    pub hub: Hub,
    /// History for snapshots.
    pub ledger: Ledger,
    /// Token check.
    pub verify: TokenVerifier,
    /// Websockets one user may have open on this process at once
    /// (`http.max_websockets_per_user`); one more gets a 429.
    pub max_connections_per_user: usize,
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

/// A refusal as an RFC 9457 problem document, with the same `type` URIs as
/// the API's errors.
fn problem(status: StatusCode, kind: &str, title: &str, detail: String) -> Response {
    let body = Problem {
        kind: format!("https://c4forge.dev/problems/{kind}"),
        title: title.to_string(),
        status: status.as_u16(),
        detail,
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

async fn upgrade(
    State(state): State<NotifierState>,
    query: Result<Query<WsQuery>, QueryRejection>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                e.body_text(),
            );
        }
    };
    let unauthorized = || {
        problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "missing or invalid token (`Authorization: Bearer` or `?token=`)".into(),
        )
    };
    // The scheme is case-insensitive (RFC 7235).
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let Some(token) = bearer.or(q.token) else {
        return unauthorized();
    };
    let Some(user) = (state.verify)(token.clone(), TokenCheck::Connect).await else {
        return unauthorized();
    };
    let job = match q.job.as_deref().map(str::parse::<JobId>) {
        None => None,
        Some(Ok(j)) => Some(j),
        Some(Err(_)) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                "`job` is not a job id".into(),
            );
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return problem(e.status(), "bad-request", "Bad request", e.body_text());
        }
    };
    let max = state.max_connections_per_user;
    let Some(admission) = state.hub.admit(user, max) else {
        tracing::info!(%user, max_connections_per_user = max, "websocket refused: user at the cap");
        metrics::counter!("c4forge_ws_refused_total", "reason" => "per_user_cap").increment(1);
        let mut resp = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            format!(
                "you have {max} websockets open on this server, the limit per user; close one (one websocket without `job` follows all your jobs)"
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        return resp;
    };
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            serve(socket, state, user, job, token).await;
            drop(admission);
        })
}

fn encode(msg: &WsServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(msg).unwrap_or_default(),
    ))
}

fn frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}

/// The sending half of one connection, as seen by its reading task.
struct Outbox {
    /// Bounded queue of messages for the writer task.
    queue: mpsc::Sender<Message>,
    /// Tells the writer to close, overtaking whatever is queued.
    close: Option<oneshot::Sender<CloseFrame>>,
}

impl Outbox {
    /// Queues `msg` without waiting. `false` when the client is too far
    /// behind (queue full) or gone; the caller then closes the connection.
    fn push(&mut self, msg: Message) -> bool {
        match self.queue.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(CLOSE_POLICY, TOO_SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the writer to send a close frame and end.
    fn close_with(&mut self, code: u16, reason: &'static str) {
        if let Some(tx) = self.close.take() {
            let _ = tx.send(frame(code, reason));
        }
    }
}

/// Writes queued messages to the socket, one at a time. Ends when the
/// reading task asks it to close (the close frame then overtakes queued
/// messages and interrupts a blocked write), when one write takes longer
/// than [`SEND_TIMEOUT`], or when the connection fails.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut close: oneshot::Receiver<CloseFrame>,
) {
    let closing = loop {
        let msg = tokio::select! {
            biased;
            c = &mut close => break c.ok(),
            m = queue.recv() => match m {
                Some(m) => m,
                None => break None,
            },
        };
        tokio::select! {
            biased;
            c = &mut close => break c.ok(),
            sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(msg)) => match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => break Some(frame(CLOSE_POLICY, TOO_SLOW)),
            },
        }
    };
    if let Some(frame) = closing {
        // A write interrupted above stays buffered (one message at most), so
        // the close frame follows complete frames. A client that resumes
        // reading within the grace period sees it; otherwise the TCP
        // connection is dropped.
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
}

async fn serve(
    socket: WebSocket,
    state: NotifierState,
    user: UserId,
    job: Option<JobId>,
    token: String,
) {
    metrics::gauge!("c4forge_ws_clients").increment(1.0);
    // Subscribe before reading history: an event committed meanwhile is then
    // in the live stream and possibly the snapshot; `seq` removes the duplicate.
    let live = state.hub.subscribe(match job {
        Some(j) => Topic::Job(user, j),
        None => Topic::User(user),
    });
    let (sink, mut stream) = socket.split();
    let (queue_tx, queue_rx) = mpsc::channel(CLIENT_BUFFER);
    let (close_tx, close_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(sink, queue_rx, close_rx));
    let mut out = Outbox {
        queue: queue_tx,
        close: Some(close_tx),
    };
    let snapshot = match job {
        Some(j) => match state.ledger.job(j).await {
            Ok(Some(rec)) if rec.user_id == user => state.ledger.events(j, user).await,
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(e),
        },
        None => state.ledger.snapshot_events(user, SNAPSHOT_RECENT_MS).await,
    };
    let mut seen: HashMap<JobId, i64> = HashMap::new();
    let mut ok = true;
    match snapshot {
        Ok(events) => {
            for event in events {
                seen.insert(event.job_id, event.seq);
                let msg = encode(&WsServerMessage::Event {
                    event,
                    snapshot: true,
                });
                // The snapshot waits for the writer (bounded by the queue
                // and SEND_TIMEOUT) instead of dropping a client that just
                // connected with a long history.
                if out.queue.send(msg).await.is_err() {
                    ok = false;
                    break;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "snapshot failed");
            ok = out
                .queue
                .send(encode(&WsServerMessage::Error {
                    message: "snapshot unavailable".into(),
                }))
                .await
                .is_ok();
        }
    }
    if ok
        && out
            .queue
            .send(encode(&WsServerMessage::SnapshotDone))
            .await
            .is_ok()
    {
        let verify = state.verify.clone();
        let still_allowed = move || verify(token.clone(), TokenCheck::Recheck);
        pump(
            &mut stream,
            &mut out,
            live,
            &state.ledger,
            user,
            &mut seen,
            still_allowed,
        )
        .await;
    }
    // The live receiver is gone now; the writer may still be delivering
    // the close frame (at most CLOSE_GRACE).
    drop(out);
    let _ = writer.await;
    metrics::gauge!("c4forge_ws_clients").decrement(1.0);
}

/// Whether a live event is new to this client (the snapshot or an earlier
/// delivery may have had it). The hub routes only the events of the
/// connection's own topic, so they are the user's and, with `?job=`, that
/// job's.
fn wanted(event: &StatusEvent, seen: &mut HashMap<JobId, i64>) -> bool {
    let last = seen.entry(event.job_id).or_insert(i64::MIN);
    if event.seq <= *last {
        return false;
    }
    *last = event.seq;
    true
}

/// The events of `first`'s job that a connection meeting the job for the
/// first time with `first` missed: those of the current run (from its
/// `queued`, never across a finished run) committed before `first`.
/// `queued` is published by ingest best effort and can arrive after the
/// parse stage's `parsing`, or not at all; `history` (the job's events from
/// the ledger) fills the gap, so a client sees every status in order.
fn missed(history: &[StatusEvent], first: &StatusEvent) -> Vec<StatusEvent> {
    let mut out = Vec::new();
    for e in history.iter().rev().filter(|e| e.seq < first.seq) {
        if e.status.is_terminal() {
            break;
        }
        out.push(e.clone());
        if e.status == JobStatus::Queued {
            break;
        }
    }
    out.reverse();
    out
}

/// Forwards live events to the outbox and reads what the client sends.
/// Never waits for the socket: a full outbox closes the connection. At each
/// heartbeat `still_allowed` re-checks the token's user and session; a
/// refusal closes the connection with [`ACCESS_REVOKED`].
async fn pump<F>(
    stream: &mut SplitStream<WebSocket>,
    out: &mut Outbox,
    mut live: Subscription,
    ledger: &Ledger,
    user: UserId,
    seen: &mut HashMap<JobId, i64>,
    still_allowed: impl Fn() -> F,
) where
    F: Future<Output = Option<UserId>>,
{
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            ev = live.recv() => match ev {
                Ok(event) => {
                    let mut events = Vec::new();
                    if event.status != JobStatus::Queued && !seen.contains_key(&event.job_id) {
                        // a job new to this connection that does not start
                        // with `queued`: fetch what was missed (rare: ingest
                        // publishes `queued` before the job's first message)
                        match ledger.events(event.job_id, user).await {
                            Ok(history) => events = missed(&history, &event),
                            Err(e) => tracing::warn!(job_id = %event.job_id, error = %e, "history of a new job unavailable"),
                        }
                    }
                    events.push((*event).clone());
                    for event in events {
                        if wanted(&event, seen)
                            && !out.push(encode(&WsServerMessage::Event { event, snapshot: false }))
                        {
                            tracing::info!(%user, "websocket client too slow; closing");
                            metrics::counter!("c4forge_ws_dropped_total", "reason" => "too_slow").increment(1);
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::info!(%user, missed = n, "websocket connection lagged behind the hub; closing");
                    metrics::counter!("c4forge_ws_dropped_total", "reason" => "lagged").increment(1);
                    out.close_with(CLOSE_POLICY, TOO_SLOW);
                    return;
                }
                Err(RecvError::Closed) => {
                    out.close_with(CLOSE_GOING_AWAY, "server shutting down");
                    return;
                }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
            _ = heartbeat.tick() => {
                if still_allowed().await.is_none() {
                    tracing::info!(%user, "websocket access revoked; closing");
                    out.close_with(CLOSE_POLICY, ACCESS_REVOKED);
                    return;
                }
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    out.close_with(CLOSE_GOING_AWAY, "idle timeout");
                    return;
                }
                if !out.push(Message::Ping(Default::default())) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::Stage;
    use schemas::events::EVENT_VERSION;

    fn run(job: JobId, user: UserId, statuses: &[(i64, JobStatus)]) -> Vec<StatusEvent> {
        statuses
            .iter()
            .map(|&(seq, status)| StatusEvent {
                schema_version: EVENT_VERSION,
                seq,
                job_id: job,
                user_id: user,
                status,
                stage: Stage::Ingest,
                at: chrono::Utc::now(),
                detail: serde_json::Value::Null,
            })
            .collect()
    }

    fn statuses(events: &[StatusEvent]) -> Vec<(i64, JobStatus)> {
        events.iter().map(|e| (e.seq, e.status)).collect()
    }

    #[test]
    fn a_new_job_met_after_its_queued_gets_its_run_so_far() {
        use JobStatus::*;
        let (job, user) = (JobId::new(), UserId::new());
        let history = run(job, user, &[(3, Queued), (7, Parsing), (9, Generating)]);
        // `parsing` arrived first: `queued` is sent before it
        assert_eq!(statuses(&missed(&history, &history[1])), [(3, Queued)]);
        // `generating` arrived first: both earlier statuses, in order
        assert_eq!(
            statuses(&missed(&history, &history[2])),
            [(3, Queued), (7, Parsing)]
        );
    }

    #[test]
    fn a_finished_run_is_not_replayed() {
        use JobStatus::*;
        let (job, user) = (JobId::new(), UserId::new());
        // a dead-lettered job replayed from the generate stage: its first
        // live event is `parsing`; the old run stays in the past
        let history = run(
            job,
            user,
            &[(1, Queued), (2, Parsing), (3, DeadLettered), (8, Parsing)],
        );
        assert!(missed(&history, &history[3]).is_empty());
    }
}
