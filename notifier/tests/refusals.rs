//! The websocket route's refusals, through the notifier's router on a real
//! socket: one user's websockets are capped (the next one gets a 429
//! problem document saying why, while another user still connects, and a
//! closed one gives its place back), and a missing token is a 401 problem
//! document like the rest of the API.

use futures_util::{SinkExt, StreamExt};
use notifier::{Hub, NotifierState, router};
use schemas::UserId;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The per-user cap of these tests.
const CAP: usize = 2;
/// Hang guard for steps that must succeed.
const GUARD: Duration = Duration::from_secs(30);

/// Serves a notifier with users `alice` and `bob` (their tokens are their
/// names); the directory holds its database.
async fn start() -> (tempfile::TempDir, std::net::SocketAddr) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("n.db").display());
    let db = runtime::db::connect(&url, 0).await.expect("sqlite");
    runtime::db::migrate(&db).await.expect("migrate");
    let (alice, bob) = (UserId::new(), UserId::new());
    let app = router(NotifierState {
        hub: Hub::new(),
        ledger: runtime::jobs::Ledger::new(db),
        verify: Arc::new(
            move |t: String,
                  _: notifier::TokenCheck|
                  -> std::pin::Pin<Box<dyn Future<Output = Option<UserId>> + Send>> {
                let user = match t.as_str() {
                    "alice" => Some(alice),
                    "bob" => Some(bob),
                    _ => None,
                };
                Box::pin(std::future::ready(user))
            },
        ),
        max_connections_per_user: CAP,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (dir, addr)
}

async fn connect(addr: std::net::SocketAddr, token: &str) -> Result<Client, tungstenite::Error> {
    let url = format!("ws://{addr}/api/v1/ws?token={token}");
    tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake before the guard")
        .map(|(ws, _)| ws)
}

/// The refused handshake's status, content type and problem document.
fn refusal(err: tungstenite::Error) -> (u16, String, serde_json::Value) {
    let tungstenite::Error::Http(resp) = err else {
        panic!("expected an HTTP refusal, got {err:?}");
    };
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp
        .body()
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    (resp.status().as_u16(), content_type, body)
}

async fn until_snapshot_done(ws: &mut Client) {
    loop {
        let msg = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("a message before the guard")
            .expect("stream open")
            .expect("message");
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
            if v["type"] == "snapshot_done" {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_beyond_the_cap_is_refused_with_the_reason_and_others_still_connect() {
    let (_dir, addr) = start().await;
    let mut open = Vec::new();
    for _ in 0..CAP {
        let mut ws = connect(addr, "alice").await.expect("within the cap");
        until_snapshot_done(&mut ws).await;
        open.push(ws);
    }

    let err = connect(addr, "alice").await.expect_err("over the cap");
    let (status, content_type, body) = refusal(err);
    assert_eq!(status, 429, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(
        body["type"],
        "https://c4forge.dev/problems/too-many-requests"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("{CAP} websockets")),
        "the refusal says why: {detail}"
    );

    // Another user is not affected by alice's cap.
    let mut bob = connect(addr, "bob").await.expect("bob connects");
    until_snapshot_done(&mut bob).await;

    // Closing one of alice's gives its place back (once the server has
    // seen the close).
    let mut first = open.remove(0);
    first.send(Message::Close(None)).await.expect("close");
    while first.next().await.is_some() {}
    let again = tokio::time::timeout(GUARD, async {
        loop {
            match connect(addr, "alice").await {
                Ok(ws) => return ws,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("a place freed by the closed websocket");
    drop((again, open, bob));
}

#[tokio::test]
async fn a_missing_or_bad_token_is_a_401_problem_document() {
    let (_dir, addr) = start().await;
    for token in ["", "nobody"] {
        let err = connect(addr, token).await.expect_err("refused");
        let (status, content_type, body) = refusal(err);
        assert_eq!(status, 401, "{body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["type"], "https://c4forge.dev/problems/unauthorized");
        assert_eq!(body["status"], 401);
    }
}
