//! The HTTP server of a c4forge process: hyper connections over our own
//! accept loop, so that no client can hold a connection (and its file
//! descriptor and memory) for as long as it likes.
//!
//! `axum::serve` has no timeouts and no connection cap: an idle TCP
//! connection, a request whose headers never finish and a body sent at one
//! byte every two seconds all stay open forever. Here:
//!
//! - **Connection cap** ([`ServerLimits::max_connections`]): a semaphore
//!   permit per connection, held by the connection's socket itself, so an
//!   upgraded websocket keeps its permit until it closes. Over the cap a
//!   new connection is accepted and closed at once, after a best-effort
//!   `503` problem document (`Retry-After: 1`): the client learns at once
//!   instead of waiting in the kernel's backlog, and the process never runs
//!   out of file descriptors.
//! - **Header read timeout**: a connection's request head (the first one
//!   from the moment the connection is accepted, later ones from their
//!   first byte) must arrive within [`ServerLimits::header_read_timeout`];
//!   otherwise the connection is closed.
//! - **Idle timeout**: a keep-alive connection with no request in flight
//!   and no byte read or written for [`ServerLimits::idle_timeout`] is
//!   closed.
//! - **Body read timeout**: a request body must arrive completely within
//!   [`ServerLimits::body_read_timeout`] of the first time the handler
//!   waits for it (a total deadline, not a gap between reads, so trickling
//!   bytes does not keep it alive); the handler then fails with [`BodyTimeout`], which
//!   the API answers with `408`.
//!
//! The timeouts are enforced by a small watchdog per connection fed by the
//! socket wrapper ([`Watched`]) and the request counter, not by hyper's own
//! `header_read_timeout`, because hyper starts that timer whenever the
//! connection waits for a request, which makes an idle keep-alive
//! connection and a half-sent header the same thing.
//!
//! Shutdown: on cancellation the accept loop stops, connections without a
//! request in flight are closed, the others finish their request and close
//! (hyper's graceful shutdown), and [`serve`] returns when all of them are gone or after
//! [`runtime::shutdown::DRAIN_DEADLINE`]. Upgraded websockets are not
//! waited for (they close with the process, as with `axum::serve`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use runtime::shutdown::Shutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// Default time allowed for a request head (see the module doc).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time an idle keep-alive connection stays open.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on open connections (websockets included).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Pause after a failed `accept` (typically out of file descriptors), so
/// the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The limits of [`serve`]; every field is configurable (`http.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time allowed to receive a request head.
    pub header_read_timeout: Duration,
    /// Time allowed to receive a whole request body, from the first read.
    pub body_read_timeout: Duration,
    /// Time a connection with no request in flight and no traffic stays open.
    pub idle_timeout: Duration,
    /// Open connections at most; more are refused.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The local address a request arrived on, as a request extension. The
/// API uses it for absolute links when no public URL is configured,
/// instead of the client-controlled `Host` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddr(pub SocketAddr);

/// The error a request body yields when it did not arrive within the body
/// read timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {} seconds", .0.as_secs_f64())]
pub struct BodyTimeout(pub Duration);

/// Serves `app` on `listener` with `limits` until `shutdown` is cancelled,
/// then drains (see the module doc). Errors of single connections are
/// logged at debug level, never returned.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Our watchdog enforces the header timeout; hyper's would also close
    // idle keep-alive connections (and warns without a timer).
    builder.http1().header_read_timeout(None);
    let builder = Arc::new(builder);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
        let (stream, remote) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(stream, remote, max);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        connections.spawn(serve_connection(
            Watched::new(stream, permit),
            remote,
            local,
            app.clone(),
            builder.clone(),
            limits,
            shutdown.clone(),
        ));
    }
    drop(listener);
    // Upgraded websockets are not waited for: they are no longer HTTP
    // connections, and end with the process.
    let drained = tokio::time::timeout(runtime::shutdown::DRAIN_DEADLINE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain deadline; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}

/// Answers a connection over the cap with a `503` (best effort: only what
/// fits in the socket buffer without waiting) and closes it.
fn refuse(stream: TcpStream, remote: SocketAddr, max: usize) {
    metrics::counter!("c4forge_http_connections_closed_total", "reason" => "over_capacity")
        .increment(1);
    tracing::debug!(%remote, max_connections = max, "connection refused: at the connection cap");
    let body = format!(
        r#"{{"type":"https://c4forge.dev/problems/unavailable","title":"Service unavailable","status":503,"detail":"the server has {max} open connections, its limit; retry later"}}"#
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    io: Watched,
    remote: SocketAddr,
    local: Option<SocketAddr>,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ServerLimits,
    shutdown: Shutdown,
) {
    let activity = io.activity.clone();
    let body_timeout = limits.body_read_timeout;
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let guard = requests.begin_request();
        req.extensions_mut().insert(ConnectInfo(remote));
        if let Some(local) = local {
            req.extensions_mut().insert(LocalAddr(local));
        }
        let req = req.map(|body| DeadlineBody::new(body, body_timeout));
        let mut app = app.clone();
        let response = app.call(req);
        async move {
            let response = response.await;
            drop(guard);
            response
        }
    });
    metrics::gauge!("c4forge_http_connections").increment(1.0);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let (deadline, _) = activity.deadline(&limits);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = shutdown.cancelled(), if !draining => {
                // No request being served (idle, or a head still arriving):
                // nothing to finish. Otherwise finish it, then close.
                if activity.in_flight.load(Ordering::Acquire) == 0 {
                    break;
                }
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(deadline) => {
                // Still expired after the wake-up? A read or a request may
                // have moved the deadline meanwhile.
                let (again, reason) = activity.deadline(&limits);
                if let Some(reason) = reason
                    && again <= Instant::now()
                {
                    metrics::counter!("c4forge_http_connections_closed_total", "reason" => reason)
                        .increment(1);
                    tracing::debug!(%remote, reason, "closing connection");
                    break;
                }
            }
        }
    }
    metrics::gauge!("c4forge_http_connections").decrement(1.0);
}

/// Sentinel of [`Activity::head_since`]: no request head being read.
const NO_HEAD: u64 = u64::MAX;

/// What the watchdog of one connection looks at. Times are milliseconds
/// since the connection was accepted.
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// Last byte read or written (or request finished).
    last_io: AtomicU64,
    /// When the head of the next request started arriving ([`NO_HEAD`]:
    /// not yet). A new connection starts at 0: its first request is due
    /// within the header timeout of the accept.
    head_since: AtomicU64,
    /// Requests whose response has not been produced yet.
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(NO_HEAD, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NO_HEAD, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// When the connection expires if nothing happens, and why (`None`:
    /// a request is in flight; look again later).
    fn deadline(&self, limits: &ServerLimits) -> (Instant, Option<&'static str>) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return (Instant::now() + limits.idle_timeout, None);
        }
        let at = |ms: u64, after: Duration| self.start + Duration::from_millis(ms) + after;
        match self.head_since.load(Ordering::Acquire) {
            NO_HEAD => (
                at(self.last_io.load(Ordering::Relaxed), limits.idle_timeout),
                Some("idle_timeout"),
            ),
            since => (
                at(since, limits.header_read_timeout),
                Some("header_timeout"),
            ),
        }
    }
}

/// Counts one request as in flight until dropped.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.last_io.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's socket: reports traffic to the watchdog and holds the
/// connection's permit until it is dropped (also after an upgrade).
#[derive(Debug)]
pub struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl Watched {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        Self {
            inner,
            activity: Arc::new(Activity::new()),
            _permit: permit,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body with a total deadline, started the first time the
/// handler waits for it; past it the body yields [`BodyTimeout`].
#[derive(Debug)]
pub struct DeadlineBody<B> {
    inner: B,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    /// Wraps `inner`; the clock starts the first time a read has to wait.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: None,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (or any error in its source chain) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}
