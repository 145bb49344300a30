//! The in-memory fan-out of status events inside one notifier process.

use runtime::bus::{SharedBus, Source};
use runtime::shutdown::Shutdown;
use schemas::events::StatusEvent;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events buffered per process. Each connection's reading task moves
/// events from here into its own bounded queue without waiting for the
/// socket, so only a connection whose task is starved of CPU for this many
/// events falls behind (it is then closed like a slow client).
pub const HUB_CAPACITY: usize = 1024;

/// Broadcasts status events to every connected client of this process.
#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<StatusEvent>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(HUB_CAPACITY);
        Self { tx }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StatusEvent>> {
        self.tx.subscribe()
    }

    /// Connections currently subscribed in this process (each websocket
    /// holds one subscription until it is closed). Exposed for the
    /// `c4forge_ws_clients` view of tests and operators.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Delivers one event to every subscriber (never blocks).
    pub fn publish(&self, event: StatusEvent) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// Feeds the hub from the bus's status fanout until `shutdown`. If the
    /// consumer ends (connection lost beyond recovery) it consumes again
    /// with a pause; clients reconnecting get a fresh snapshot anyway.
    pub async fn run(
        &self,
        bus: SharedBus,
        shutdown: Shutdown,
    ) -> Result<(), runtime::bus::BusError> {
        while !shutdown.is_cancelled() {
            match bus.consume(Source::Status, 256).await {
                Ok(mut consumer) => loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        next = consumer.next() => {
                            let Some(delivery) = next else {
                                tracing::warn!("status consumer ended; consuming again");
                                break;
                            };
                            match serde_json::from_slice::<StatusEvent>(&delivery.body) {
                                Ok(event) => self.publish(event),
                                Err(e) => tracing::warn!(error = %e, "undecodable status event dropped"),
                            }
                            let _ = delivery.acker.ack().await;
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot consume status events; retrying"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
        Ok(())
    }
}
