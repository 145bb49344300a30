//! The HTTP server's connection limits and small API conventions, through
//! real sockets against an embedded-mode server started with small limits:
//! idle connections and half-sent headers are closed, a trickled body gets
//! a 408, connections over the cap are refused while the first ones are
//! held, refusals are problem documents, unknown generators are refused at
//! upload, links never echo the client's `Host` header, and start-up logs
//! no breaker warning.

use crate::common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every wait of these tests is bounded by this (a limit of a few seconds
/// plus a generous margin for a loaded machine); none measures speed.
const GUARD: Duration = Duration::from_secs(30);

fn env(dir: &std::path::Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    with(
        vec![
            ("C4FORGE_DATA_DIR".to_string(), dir.display().to_string()),
            ("C4FORGE_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ],
        extra,
    )
}

fn addr(server: &Server) -> String {
    server
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_string()
}

/// Reads until the server closes the connection (EOF or reset) and returns
/// what it sent; panics if it is still open after [`GUARD`].
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open; it sent {:?}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

/// One `GET /healthz` over an open keep-alive connection; the response head.
async fn healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(GUARD, async {
        while !String::from_utf8_lossy(&got).ends_with("ok") {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before the response");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a response before the guard");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn idle_connections_and_half_sent_headers_are_closed_by_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        &[],
        &env(
            dir.path(),
            &[
                ("C4FORGE_HEADER_READ_TIMEOUT_SECS", "1"),
                ("C4FORGE_IDLE_TIMEOUT_SECS", "2"),
            ],
        ),
    );
    let addr = addr(&server);
    // Connected, never a byte.
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    // Half a request head, then nothing.
    let mut half = TcpStream::connect(&addr).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .expect("write");
    // One complete request, then an idle keep-alive connection.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    assert!(healthz(&mut idle).await.starts_with("HTTP/1.1 200"));

    assert_eq!(read_until_closed(&mut silent).await, "");
    assert_eq!(read_until_closed(&mut half).await, "");
    assert_eq!(read_until_closed(&mut idle).await, "");
}

#[tokio::test]
async fn a_body_trickling_past_the_body_timeout_gets_a_408_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        &[],
        &env(dir.path(), &[("C4FORGE_BODY_READ_TIMEOUT_SECS", "2")]),
    );
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "trickle@example.com").await;
    let addr = addr(&server);
    let requests = [
        format!(
            "POST /api/v1/diagrams?name=a.puml HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\ncontent-length: 1000\r\n\r\n"
        ),
        "POST /api/v1/auth/token HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
            .to_string(),
    ];
    for head in requests {
        let stream = TcpStream::connect(&addr).await.expect("connect");
        let (mut rd, mut wr) = stream.into_split();
        wr.write_all(head.as_bytes()).await.expect("head");
        // One byte every 300 ms: 1000 bytes would take 5 minutes.
        let trickle = tokio::spawn(async move {
            for _ in 0..1000 {
                if wr.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let answered = tokio::time::timeout(GUARD, async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                if String::from_utf8_lossy(&got).contains("\"status\":408") {
                    return;
                }
            }
        })
        .await;
        trickle.abort();
        let text = String::from_utf8_lossy(&got);
        assert!(answered.is_ok(), "no answer before the guard: {text:?}");
        assert!(text.starts_with("HTTP/1.1 408"), "{head}\n{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_while_the_first_are_held() {
    const CAP: usize = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        &[],
        &env(
            dir.path(),
            &[
                ("C4FORGE_MAX_CONNECTIONS", "3"),
                ("C4FORGE_IDLE_TIMEOUT_SECS", "600"),
            ],
        ),
    );
    let addr = addr(&server);
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut c = TcpStream::connect(&addr).await.expect("connect");
        assert!(healthz(&mut c).await.starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    // The kernel accepts the TCP connection; the server answers 503 and
    // closes it at once (or resets it).
    let mut over = TcpStream::connect(&addr).await.expect("connect");
    let refused = read_until_closed(&mut over).await;
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 503"),
        "{refused}"
    );
    // The held connections still work.
    for c in &mut held {
        assert!(healthz(c).await.starts_with("HTTP/1.1 200"));
    }
    // Closing one frees a place (once the server has seen the close).
    drop(held.pop());
    let served = tokio::time::timeout(GUARD, async {
        loop {
            let mut c = TcpStream::connect(&addr).await.expect("connect");
            if c.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
                .await
                .is_ok()
            {
                let mut buf = [0u8; 1024];
                if let Ok(n) = c.read(&mut buf).await
                    && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200")
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "no place freed by the closed connection");
}

#[tokio::test]
async fn refusals_are_problem_documents_and_links_ignore_the_host_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path(), &[]));
    let http = reqwest::Client::new();

    // The auth endpoints' body limit.
    let r = http
        .post(format!("{}/api/v1/auth/token", server.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 32 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        body["type"],
        "https://c4forge.dev/problems/payload-too-large"
    );

    // The websocket without a token.
    let r = http
        .get(format!("{}/api/v1/ws", server.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );

    // An unknown generator is refused at upload, naming the known ones.
    let token = login(&http, &server.base, "gen@example.com").await;
    let r = http
        .post(format!(
            "{}/api/v1/diagrams?name=a.puml&generator=foo",
            server.base
        ))
        .bearer_auth(&token)
        .body(BIGBANK)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("foo") && detail.contains("python-fastapi"),
        "{detail}"
    );

    // A forged Host header does not end up in the links.
    let r = http
        .post(format!("{}/api/v1/diagrams?name=a.puml", server.base))
        .header("host", "evil.example")
        .bearer_auth(&token)
        .body(BIGBANK)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.expect("json");
    let ws_base = server.base.replacen("http", "ws", 1);
    for (field, base) in [("location", &server.base), ("websocket", &ws_base)] {
        let link = body[field].as_str().unwrap_or_default();
        assert!(!link.contains("evil.example"), "{field}: {link}");
        assert!(link.starts_with(base.as_str()), "{field}: {link}");
    }
}

#[tokio::test]
async fn start_up_logs_no_warning_for_breakers_in_their_initial_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(&[], &env(dir.path(), &[]));
    // The stderr reader may lag behind the stdout line `spawn` waited for.
    tokio::time::timeout(GUARD, async {
        while !server.log_text().contains("http listening") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the start-up log");
    let log = server.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("breaker"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
