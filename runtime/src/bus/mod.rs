//! The message bus: one trait, three backends (in-process, RabbitMQ, and
//! Kafka with the `kafka` feature; `kafka` maps the names below to topics
//! and consumer groups, see its module doc).
//!
//! Topology (names carry the configured prefix, `c4forge` by default):
//! - `{prefix}.work`: topic exchange for pipeline messages; each consuming
//!   stage has one durable queue `{prefix}.{stage}` bound to its routing key,
//!   shared by every process of that stage (competing consumers).
//! - `{prefix}.status`: fanout exchange for status events; every notifier
//!   instance has its own queue, so each instance sees every event.
//! - `{prefix}.retry.{ms}`: delay tiers; a message waits there for its TTL and
//!   is dead-lettered back to the work exchange with its routing key.
//! - `{prefix}.dlq`: the dead-letter queue.
//!
//! Every backend gives the same guarantees to the consumer loop: publish
//! returns only after the broker confirmed the message; a delivery stays
//! unacknowledged until the loop acks it; an unacked delivery (rejected with
//! requeue, or dropped because its task died) is delivered again with
//! `redelivered = true`.

pub mod amqp;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;

use async_trait::async_trait;
use schemas::Stage;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The delay tiers of retries, in milliseconds. A retry waits in the
/// smallest tier at least as long as its computed backoff.
pub const RETRY_TIERS_MS: [u64; 6] = [250, 1_000, 5_000, 15_000, 60_000, 300_000];

/// The stages that consume pipeline messages, each from its own work queue.
pub(crate) const WORK_STAGES: [Stage; 4] =
    [Stage::Parse, Stage::Generate, Stage::Fill, Stage::Store];

/// The stage whose work queue a routing key is bound to, if any.
pub(crate) fn work_stage(routing_key: &str) -> Option<Stage> {
    WORK_STAGES
        .into_iter()
        .find(|s| schemas::messages::routing_key_for(*s) == Some(routing_key))
}

/// Locks a backend's state; a panic while holding it leaves nothing half
/// done, so a poisoned lock is still usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Picks the delay tier for a wanted delay.
pub fn retry_tier(delay: Duration) -> u64 {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    RETRY_TIERS_MS
        .into_iter()
        .find(|t| *t >= ms)
        .unwrap_or(RETRY_TIERS_MS[RETRY_TIERS_MS.len() - 1])
}

/// Where a message is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The work exchange with this routing key.
    Work(String),
    /// The status fanout exchange.
    Status,
    /// A retry delay tier (milliseconds); the message keeps `routing_key`
    /// and returns to the work exchange when the delay has passed.
    Retry {
        /// Tier delay in milliseconds (one of [`RETRY_TIERS_MS`]).
        tier_ms: u64,
        /// Routing key to come back with.
        routing_key: String,
    },
    /// The dead-letter queue.
    DeadLetter,
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Where to.
    pub destination: Destination,
    /// The encoded envelope or event.
    pub body: Vec<u8>,
    /// Headers (attempt count, dead-letter reason, ...).
    pub headers: BTreeMap<String, String>,
}

/// What to consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The work queue of a stage.
    Stage(Stage),
    /// A private queue of this process bound to the status exchange.
    Status,
    /// The dead-letter queue.
    DeadLetter,
}

/// Bus failures; all of them are transient from a stage's point of view.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or the connection was lost.
    #[error("broker connection: {0}")]
    Connection(String),
    /// The broker refused (nacked) a publish.
    #[error("broker did not confirm the publish: {0}")]
    NotConfirmed(String),
    /// A protocol-level failure on a channel.
    #[error("broker channel: {0}")]
    Channel(String),
    /// The bus URL is not usable.
    #[error("invalid bus url `{0}`")]
    InvalidUrl(String),
    /// The URL names a backend this build does not include.
    #[error("bus url `{url}` needs a build with `--features {feature}`")]
    NotBuilt {
        /// The configured URL.
        url: String,
        /// The cargo feature that adds the backend.
        feature: &'static str,
    },
}

/// Settles one delivery. Dropping it without settling requeues the message.
#[async_trait]
pub trait Acker: Send + Sync {
    /// The message is fully processed; the broker forgets it.
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    /// Give the message back to the queue for another attempt.
    async fn requeue(self: Box<Self>) -> Result<(), BusError>;
}

/// One message taken from a queue.
pub struct Delivery {
    /// The message body.
    pub body: Vec<u8>,
    /// Message headers.
    pub headers: BTreeMap<String, String>,
    /// True if the broker delivered it before without an ack.
    pub redelivered: bool,
    /// Settles the delivery.
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("bytes", &self.body.len())
            .field("headers", &self.headers)
            .field("redelivered", &self.redelivered)
            .finish()
    }
}

/// A stream of deliveries from one queue; ends when the consumer is
/// cancelled or the connection is lost.
#[derive(Debug)]
pub struct Consumer {
    rx: mpsc::Receiver<Delivery>,
}

impl Consumer {
    /// Wraps a channel fed by a backend task.
    pub fn new(rx: mpsc::Receiver<Delivery>) -> Self {
        Self { rx }
    }
    /// The next delivery, or `None` when the consumer ended.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

/// The message bus a stage talks to.
#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug + 'static {
    /// Declares exchanges, queues and bindings (idempotent).
    async fn declare_topology(&self) -> Result<(), BusError>;
    /// Publishes and waits for the broker's confirm.
    async fn publish(&self, msg: Outgoing) -> Result<(), BusError>;
    /// Starts consuming `source` with at most `prefetch` unacked deliveries.
    async fn consume(&self, source: Source, prefetch: u16) -> Result<Consumer, BusError>;
    /// Whether the bus is usable right now (for `/readyz`).
    async fn check(&self) -> Result<(), BusError>;
    /// Messages waiting in a queue, when the backend can tell.
    async fn depth(&self, source: Source) -> Result<u64, BusError>;
}

/// A shared bus handle.
pub type SharedBus = Arc<dyn Bus>;

/// Queue and exchange names under one prefix, shared by both backends.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }
    /// The topic exchange of pipeline messages.
    pub fn work_exchange(&self) -> String {
        format!("{}.work", self.prefix)
    }
    /// The fanout exchange of status events.
    pub fn status_exchange(&self) -> String {
        format!("{}.status", self.prefix)
    }
    /// The work queue of a stage.
    pub fn stage_queue(&self, stage: Stage) -> String {
        format!("{}.{}", self.prefix, stage.as_str())
    }
    /// A retry tier exchange and queue.
    pub fn retry(&self, tier_ms: u64) -> String {
        format!("{}.retry.{tier_ms}", self.prefix)
    }
    /// The dead-letter queue.
    pub fn dead_letter(&self) -> String {
        format!("{}.dlq", self.prefix)
    }
}

/// Connects the bus named by `url` (empty: in-process; `amqp://`, `amqps://`;
/// `kafka://host:port[,host:port]` with the `kafka` feature) and declares its
/// topology.
pub async fn connect(url: &str, prefix: &str) -> Result<SharedBus, BusError> {
    let bus: SharedBus = if url.is_empty() {
        Arc::new(memory::MemoryBus::new())
    } else if url.starts_with("amqp://") || url.starts_with("amqps://") {
        Arc::new(amqp::AmqpBus::connect(url, prefix).await?)
    } else if url.starts_with("kafka://") {
        connect_kafka(url, prefix).await?
    } else {
        return Err(BusError::InvalidUrl(url.to_string()));
    };
    bus.declare_topology().await?;
    Ok(bus)
}

#[cfg(feature = "kafka")]
async fn connect_kafka(url: &str, prefix: &str) -> Result<SharedBus, BusError> {
    Ok(Arc::new(kafka::KafkaBus::connect(url, prefix).await?))
}

#[cfg(not(feature = "kafka"))]
async fn connect_kafka(url: &str, _prefix: &str) -> Result<SharedBus, BusError> {
    Err(BusError::NotBuilt {
        url: url.to_string(),
        feature: "kafka",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "kafka"))]
    #[tokio::test]
    async fn kafka_urls_ask_for_the_feature() {
        let err = connect("kafka://127.0.0.1:9092", "t").await.err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("--features kafka")),
            "a kafka url without the feature must say how to get it"
        );
    }

    #[test]
    fn tiers_cover_every_delay() {
        assert_eq!(retry_tier(Duration::from_millis(1)), 250);
        assert_eq!(retry_tier(Duration::from_millis(900)), 1_000);
        assert_eq!(retry_tier(Duration::from_secs(3600)), 300_000);
    }
}
