//! A client that stops reading is dropped with a close reason, while a
//! client that keeps up on the same notifier gets every event and the hub
//! is never held up. Driven through the public interface: the notifier's
//! router served on a real socket, clients over tokio-tungstenite.

use futures_util::StreamExt;
use notifier::ws::{CLIENT_BUFFER, TOO_SLOW};
use notifier::{Hub, NotifierState, router};
use schemas::events::{EVENT_VERSION, JobStatus, StatusEvent};
use schemas::{JobId, Stage, UserId};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Bytes of padding per event, so that a few hundred events overflow the
/// kernel's socket buffers.
const EVENT_PADDING: usize = 16 * 1024;
/// The slow client's receive buffer (set explicitly, which also turns
/// off the kernel's autotuning that could otherwise grow it to many MB).
const SLOW_RCVBUF: u32 = 64 * 1024;
/// Hang guard for reads that must succeed.
const READ_GUARD: Duration = Duration::from_secs(30);

fn event(user: UserId, job: JobId, seq: i64) -> StatusEvent {
    StatusEvent {
        schema_version: EVENT_VERSION,
        seq,
        job_id: job,
        user_id: user,
        status: JobStatus::Parsing,
        stage: Stage::Parse,
        at: chrono::Utc::now(),
        detail: serde_json::json!({ "padding": "x".repeat(EVENT_PADDING) }),
    }
}

async fn connect(addr: std::net::SocketAddr, rcvbuf: Option<u32>) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    let tcp = socket.connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/api/v1/ws?token=good");
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
        .await
        .expect("websocket handshake");
    ws
}

/// Reads the next server message that is JSON (skipping pings).
async fn next_json(ws: &mut Client) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(READ_GUARD, ws.next())
            .await
            .expect("a message before the guard")
            .expect("stream open")
            .expect("message");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

async fn until_snapshot_done(ws: &mut Client) {
    while next_json(ws).await["type"] != "snapshot_done" {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_the_others_get_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("n.db").display());
    let db = runtime::db::connect(&url, 0).await.expect("sqlite");
    runtime::db::migrate(&db).await.expect("migrate");
    let user = UserId::new();
    let job = JobId::new();
    let hub = Hub::new();
    let app = router(NotifierState {
        hub: hub.clone(),
        ledger: runtime::jobs::Ledger::new(db),
        verify: Arc::new(
            move |t: String,
                  _: notifier::TokenCheck|
                  -> std::pin::Pin<Box<dyn Future<Output = Option<UserId>> + Send>> {
                Box::pin(std::future::ready((t == "good").then_some(user)))
            },
        ),
        max_connections_per_user: notifier::ws::DEFAULT_MAX_CONNECTIONS_PER_USER,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut fast = connect(addr, None).await;
    let mut slow = connect(addr, Some(SLOW_RCVBUF)).await;
    until_snapshot_done(&mut fast).await;
    until_snapshot_done(&mut slow).await;
    assert_eq!(hub.subscribers(), 2);

    // From here on the slow client reads nothing. Publish in step with the
    // fast client until the notifier drops the slow one. The cap is far
    // above what the socket buffers (4 MiB at most for the server's send
    // buffer here, 64 KiB on the client) plus the per-client queue hold.
    let cap: i64 = 4_000;
    let mut published = 0;
    let mut fast_seqs = Vec::new();
    while hub.subscribers() == 2 && published < cap {
        // Synchronous and never waits: the slow client cannot hold it up.
        hub.publish(event(user, job, published));
        published += 1;
        let v = next_json(&mut fast).await;
        fast_seqs.push(v["event"]["seq"].as_i64().expect("seq"));
    }
    assert_eq!(
        hub.subscribers(),
        1,
        "the slow client was still connected after {published} events of {EVENT_PADDING} bytes"
    );
    assert!(
        published > CLIENT_BUFFER as i64,
        "dropped before its queue could fill"
    );
    // The fast client goes on receiving after the drop.
    for _ in 0..10 {
        hub.publish(event(user, job, published));
        published += 1;
        let v = next_json(&mut fast).await;
        fast_seqs.push(v["event"]["seq"].as_i64().expect("seq"));
    }
    assert_eq!(fast_seqs, (0..published).collect::<Vec<_>>());

    // The slow client resumes reading: the events it was sent, in order and
    // without gaps, then a close frame saying why.
    let mut slow_seqs = Vec::new();
    let close = loop {
        let msg = tokio::time::timeout(READ_GUARD, slow.next())
            .await
            .expect("the close frame before the guard");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                slow_seqs.push(v["event"]["seq"].as_i64().expect("seq"));
            }
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!(
                "connection ended without a close frame after {} events: {other:?}",
                slow_seqs.len()
            ),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), TOO_SLOW);
    assert_eq!(slow_seqs, (0..slow_seqs.len() as i64).collect::<Vec<_>>());
    assert!(
        (slow_seqs.len() as i64) < published,
        "the slow client got everything ({published}), it was not dropped for being slow"
    );
}
