//! Process shutdown: one cancellation token shared by every task.
//!
//! On SIGTERM or Ctrl-C the token is cancelled; consumers stop taking new
//! deliveries, finish what they hold within a deadline, and return, leaving
//! anything unfinished unacknowledged so the broker redelivers it.

use std::time::Duration;
pub use tokio_util::sync::CancellationToken as Shutdown;

/// How long in-flight work may take after shutdown starts.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// A token cancelled on SIGTERM or Ctrl-C.
pub fn on_signals() -> Shutdown {
    let token = Shutdown::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; draining");
        t.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
