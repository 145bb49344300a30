//! `GET /api/v1/ws`: authenticated websocket of job status events.
//!
//! Authentication: `Authorization: Bearer <token>` or `?token=<token>`
//! (browsers cannot set headers on websockets). `?job=<id>` limits the
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

use crate::hub::{Hub, Subscription, Topic};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use runtime::jobs::Ledger;
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
/// Policy violation: used for clients that cannot keep up.
const CLOSE_POLICY: u16 = 1008;
/// Going away: idle timeout, shutdown.
const CLOSE_GOING_AWAY: u16 = 1001;
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
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state, user, job))
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

async fn serve(socket: WebSocket, state: NotifierState, user: UserId, job: Option<JobId>) {
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
        pump(&mut stream, &mut out, live, &state.ledger, user, &mut seen).await;
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
/// Never waits for the socket: a full outbox closes the connection.
async fn pump(
    stream: &mut SplitStream<WebSocket>,
    out: &mut Outbox,
    mut live: Subscription,
    ledger: &Ledger,
    user: UserId,
    seen: &mut HashMap<JobId, i64>,
) {
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
