//! The service as a library: started in embedded mode in this process on
//! a free port, it serves, and it stops when the caller's token is
//! cancelled (no signal involved).

use std::collections::BTreeSet;

use runtime::shutdown::Shutdown;
use schemas::Stage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on `addr` over a raw socket; the whole response.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_token_stops_the_service() {
    runtime::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = runtime::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    cfg.http.listen = "127.0.0.1:0".into();
    let stages: BTreeSet<Stage> = Stage::ALL.into_iter().collect();
    let shutdown = Shutdown::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let service = tokio::spawn(server::run(cfg, stages, shutdown.clone(), move |at| {
        let _ = tx.send(at);
    }));
    let at = rx.await.expect("the service never listened");
    assert!(at.api, "every stage runs: the API is served");
    let health = get(at.addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = get(at.addr, "/readyz").await;
    assert!(ready.contains("\"database\":\"ok\""), "{ready}");

    shutdown.cancel();
    let stopped = service.await.expect("the service panicked");
    assert!(stopped.is_ok(), "{stopped:?}");
    assert!(
        tokio::net::TcpStream::connect(at.addr).await.is_err(),
        "still accepting connections after it returned"
    );
}

#[tokio::test]
async fn a_placeholder_secret_is_an_error_not_an_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = runtime::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.auth.jwt_secret = server::PLACEHOLDER_JWT_SECRETS[0].into();
    let stages: BTreeSet<Stage> = [Stage::Ingest].into_iter().collect();
    let err = server::run(cfg, stages, Shutdown::new(), |_| {})
        .await
        .expect_err("started with a placeholder secret");
    assert!(matches!(err, server::ServeError::JwtSecret(_)), "{err:?}");
}
