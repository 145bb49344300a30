//! The RabbitMQ backend (lapin): durable quorum work queues, persistent
//! messages, publisher confirms, manual acks, per-consumer prefetch.

use super::{
    Acker, Bus, BusError, Consumer, Delivery, Destination, Names, Outgoing, RETRY_TIERS_MS, Source,
    WORK_STAGES,
};
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use schemas::messages::routing_key_for;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a publish waits for the broker's confirm unless the bus URL
/// says otherwise (`?confirm_timeout_ms=N`). A broker that neither confirms
/// nor refuses (a node blocking publishers under a resource alarm, a queue
/// without a leader) must not hold a stage's delivery, and with it a slot
/// of its prefetch window, for ever: past this the publish fails with
/// [`BusError::NotConfirmed`], which the stage treats like a refusal.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// The query parameter of the bus URL that sets the confirm timeout.
const CONFIRM_TIMEOUT_PARAM: &str = "confirm_timeout_ms";

/// A RabbitMQ bus: the current [`Link`] to the broker, replaced by a new
/// one when it is lost (see [`Links`]).
pub struct AmqpBus {
    links: std::sync::Arc<Links>,
    names: Names,
    confirm_timeout: Duration,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus")
            .field("names", &self.names)
            .finish()
    }
}

fn conn_err(e: lapin::Error) -> BusError {
    BusError::Connection(e.to_string())
}

fn chan_err(e: lapin::Error) -> BusError {
    BusError::Channel(e.to_string())
}

fn s(v: &str) -> ShortString {
    ShortString::from(v.to_string())
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// One connection to the broker and its confirm-mode publishing channel.
struct Link {
    conn: Connection,
    publisher: Channel,
    /// Which connection of this bus it is (1, 2, ...), for the logs.
    number: u64,
}

impl Link {
    async fn open(url: &str, number: u64) -> Result<Self, BusError> {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(conn_err)?;
        let publisher = conn.create_channel().await.map_err(conn_err)?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(chan_err)?;
        Ok(Self {
            conn,
            publisher,
            number,
        })
    }

    /// Whether the connection and its publishing channel are usable.
    fn alive(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }
}

/// The bus's link to the broker, and its recovery. lapin's own automatic
/// recovery is not used: after a broker node was SIGKILLed it left a
/// stage process without a connection, with no reconnect attempt after
/// the node was back and no error to its consumers, which waited for
/// ever (`faults_broker::broker_node_killed_and_restarted`, 1 run in 4).
/// Here a lost link (its connection or publishing channel down) is
/// replaced by a new connection, retried with backoff until the broker
/// answers ([`recovery_backoff`]), once for all its users; consumers then
/// consume again on it (see `AmqpBus::consume`), and their unacked
/// deliveries, which the broker requeued with the old connection, come
/// back as redeliveries.
struct Links {
    url: String,
    /// The current link; read by every publish and consumer.
    current: std::sync::RwLock<std::sync::Arc<Link>>,
    /// Held while a new link is opened, so one caller opens it for all.
    relink: tokio::sync::Mutex<()>,
}

impl Links {
    /// The current link, usable or not.
    fn current(&self) -> std::sync::Arc<Link> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A live link: the current one, or a new one when it is lost (the
    /// callers that find it lost meanwhile wait for that one).
    async fn live(&self) -> Result<std::sync::Arc<Link>, BusError> {
        let link = self.current();
        if link.alive() {
            return Ok(link);
        }
        let _one = self.relink.lock().await;
        let link = self.current();
        if link.alive() {
            // Another caller opened it meanwhile.
            return Ok(link);
        }
        let lost = link.number;
        tracing::warn!(
            connection = lost,
            "broker connection lost; connecting again"
        );
        let started = std::time::Instant::now();
        let next = (|| Link::open(&self.url, lost + 1))
            .retry(recovery_backoff())
            .notify(|e: &BusError, delay: Duration| {
                tracing::warn!(
                    connection = lost + 1,
                    error = %e,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    retry_in_ms = delay.as_millis() as u64,
                    "broker not reachable yet; retrying"
                );
            })
            .await?;
        tracing::info!(
            connection = next.number,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "connected to the broker again"
        );
        let next = std::sync::Arc::new(next);
        let old = std::mem::replace(
            &mut *self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            next.clone(),
        );
        if old.conn.status().connected() {
            // Only its publishing channel was lost: close the connection so
            // its consumers move to the new one.
            tokio::spawn(async move {
                let _ = old.conn.close(200, "replaced".into()).await;
            });
        }
        Ok(next)
    }

    /// Whether the current link is usable, without waiting for a recovery.
    fn connected(&self) -> bool {
        self.current().alive()
    }
}

impl AmqpBus {
    /// Connects to `url` and opens the publishing channel.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        let confirm_timeout = confirm_timeout(url)?;
        let link = Link::open(url, 1).await?;
        Ok(Self {
            links: std::sync::Arc::new(Links {
                url: url.to_string(),
                current: std::sync::RwLock::new(std::sync::Arc::new(link)),
                relink: tokio::sync::Mutex::new(()),
            }),
            names: Names::new(prefix),
            confirm_timeout,
        })
    }

    fn queue_name(&self, source: Source) -> String {
        match source {
            Source::Stage(stage) => self.names.stage_queue(stage),
            Source::DeadLetter => self.names.dead_letter(),
            Source::Status => String::new(),
        }
    }
}

/// The confirm timeout of a bus URL: its `confirm_timeout_ms` query
/// parameter, or [`DEFAULT_CONFIRM_TIMEOUT`]. (lapin ignores parameters it
/// does not know.)
fn confirm_timeout(url: &str) -> Result<Duration, BusError> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        if let Some(v) = pair
            .strip_prefix(CONFIRM_TIMEOUT_PARAM)
            .and_then(|r| r.strip_prefix('='))
        {
            let ms: u64 = v
                .parse()
                .map_err(|_| BusError::InvalidUrl(format!("{CONFIRM_TIMEOUT_PARAM}={v}")))?;
            return Ok(Duration::from_millis(ms.max(1)));
        }
    }
    Ok(DEFAULT_CONFIRM_TIMEOUT)
}

/// How the bus retries a lost connection ([`Links::live`]) and a consumer
/// its new channel ([`reconsume`]): exponential from 250 ms to 10 s between
/// attempts, with jitter, for at most [`RECOVER_FOR`] in all. Right after
/// the broker closed a channel lapin may still be finishing that close and
/// refuse a new one for a moment; a node that is restarting refuses for as
/// long as it takes to come back.
fn recovery_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .with_total_delay(Some(RECOVER_FOR))
}

/// How long the bus keeps trying to reach the broker again before it gives
/// up: its consumers end (and the stage process with them, for its
/// supervisor to restart) and its publishes fail. Longer than a broker
/// node takes to restart, so a restart never costs a process.
pub const RECOVER_FOR: Duration = Duration::from_secs(300);

/// How often a consumer checks that its connection is still up, besides
/// the errors its channel reports.
const LINK_CHECK: Duration = Duration::from_secs(1);

/// A consumer of `source` on a new channel of a live link (a new
/// connection when the last one was lost), retrying with
/// [`recovery_backoff`] until the broker accepts; each failed attempt is
/// logged with the queue, attempt number and next delay.
async fn reconsume(
    links: &Links,
    names: &Names,
    source: Source,
    prefetch: u16,
) -> Result<Consuming, BusError> {
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let started = std::time::Instant::now();
    let what = source_label(names, source);
    let consuming = (|| async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let link = links.live().await?;
        open_consumer(link, names, source, prefetch).await
    })
    .retry(recovery_backoff())
    .notify(|e: &BusError, delay: Duration| {
        tracing::warn!(
            queue = %what,
            attempt = attempts.load(std::sync::atomic::Ordering::Relaxed),
            error = %e,
            elapsed_ms = started.elapsed().as_millis() as u64,
            retry_in_ms = delay.as_millis() as u64,
            "cannot consume on a new channel yet; retrying"
        );
    })
    .await?;
    tracing::info!(
        queue = %consuming.queue,
        connection = consuming.link.number,
        attempts = attempts.load(std::sync::atomic::Ordering::Relaxed),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "consuming again on a new channel"
    );
    Ok(consuming)
}

/// What a consumer of `source` is called in the logs.
fn source_label(names: &Names, source: Source) -> String {
    match source {
        Source::Stage(stage) => names.stage_queue(stage),
        Source::DeadLetter => names.dead_letter(),
        Source::Status => names.status_exchange(),
    }
}

/// A consumer on its own channel of a link.
struct Consuming {
    link: std::sync::Arc<Link>,
    channel: Channel,
    inner: lapin::Consumer,
    queue: String,
}

/// Opens a channel on `link` and consumes `source` on it with `prefetch`.
/// A status subscription gets a queue of its own, declared here.
async fn open_consumer(
    link: std::sync::Arc<Link>,
    names: &Names,
    source: Source,
    prefetch: u16,
) -> Result<Consuming, BusError> {
    let ch = link.conn.create_channel().await.map_err(conn_err)?;
    ch.basic_qos(prefetch.max(1), BasicQosOptions::default())
        .await
        .map_err(chan_err)?;
    let queue = if source == Source::Status {
        let name = format!(
            "{}.{}",
            names.status_exchange(),
            uuid::Uuid::new_v4().simple()
        );
        ch.queue_declare(
            s(&name),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(chan_err)?;
        ch.queue_bind(
            s(&name),
            s(&names.status_exchange()),
            s(""),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(chan_err)?;
        name
    } else {
        source_label(names, source)
    };
    let inner = ch
        .basic_consume(
            s(&queue),
            s(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(chan_err)?;
    Ok(Consuming {
        link,
        channel: ch,
        inner,
        queue,
    })
}

fn to_field_table(headers: &BTreeMap<String, String>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in headers {
        t.insert(s(k), AMQPValue::LongString(LongString::from(v.clone())));
    }
    t
}

fn from_field_table(props: &BasicProperties) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(t) = props.headers() {
        for (k, v) in t.inner() {
            let text = match v {
                AMQPValue::LongString(ls) => String::from_utf8_lossy(ls.as_bytes()).into_owned(),
                AMQPValue::ShortString(ss) => ss.as_str().to_string(),
                other => format!("{other:?}"),
            };
            out.insert(k.as_str().to_string(), text);
        }
    }
    out
}

struct AmqpAcker {
    acker: Option<lapin::Acker>,
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        if let Some(a) = self.acker.take() {
            a.ack(BasicAckOptions::default()).await.map_err(chan_err)?;
        }
        Ok(())
    }
    async fn requeue(mut self: Box<Self>) -> Result<(), BusError> {
        if let Some(a) = self.acker.take() {
            a.nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .map_err(chan_err)?;
        }
        Ok(())
    }
}

impl Drop for AmqpAcker {
    fn drop(&mut self) {
        // Never settled (the task died): hand the message back right away
        // instead of waiting for the channel to close.
        if let Some(a) = self.acker.take() {
            tokio::spawn(async move {
                let _ = a
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await;
            });
        }
    }
}

#[async_trait]
impl Bus for AmqpBus {
    async fn declare_topology(&self) -> Result<(), BusError> {
        let link = self.links.live().await?;
        let ch = link.conn.create_channel().await.map_err(conn_err)?;
        let durable_exchange = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let work = self.names.work_exchange();
        ch.exchange_declare(
            s(&work),
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await
        .map_err(chan_err)?;
        ch.exchange_declare(
            s(&self.names.status_exchange()),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await
        .map_err(chan_err)?;
        for stage in WORK_STAGES {
            let queue = self.names.stage_queue(stage);
            let mut args = FieldTable::default();
            args.insert(s("x-queue-type"), AMQPValue::LongString("quorum".into()));
            ch.queue_declare(s(&queue), durable_queue(), args)
                .await
                .map_err(chan_err)?;
            if let Some(key) = routing_key_for(stage) {
                ch.queue_bind(
                    s(&queue),
                    s(&work),
                    s(key),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(chan_err)?;
            }
        }
        for tier in RETRY_TIERS_MS {
            let name = self.names.retry(tier);
            ch.exchange_declare(
                s(&name),
                ExchangeKind::Fanout,
                durable_exchange,
                FieldTable::default(),
            )
            .await
            .map_err(chan_err)?;
            // A quorum queue that dead-letters at least once: a message
            // that comes due while its work queue refuses it (at its
            // `max-length` with `reject-publish`) stays here and is offered
            // again, instead of being dropped (RabbitMQ's at-most-once
            // dead-lettering, the only one of classic queues). RabbitMQ
            // requires `reject-publish` on the source for that.
            let mut args = FieldTable::default();
            args.insert(s("x-queue-type"), AMQPValue::LongString("quorum".into()));
            args.insert(s("x-message-ttl"), AMQPValue::LongLongInt(tier as i64));
            args.insert(
                s("x-overflow"),
                AMQPValue::LongString("reject-publish".into()),
            );
            args.insert(
                s("x-dead-letter-strategy"),
                AMQPValue::LongString("at-least-once".into()),
            );
            args.insert(
                s("x-dead-letter-exchange"),
                AMQPValue::LongString(work.clone().into()),
            );
            ch.queue_declare(s(&name), durable_queue(), args)
                .await
                .map_err(chan_err)?;
            ch.queue_bind(
                s(&name),
                s(&name),
                s(""),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(chan_err)?;
        }
        let mut args = FieldTable::default();
        args.insert(s("x-queue-type"), AMQPValue::LongString("quorum".into()));
        ch.queue_declare(s(&self.names.dead_letter()), durable_queue(), args)
            .await
            .map_err(chan_err)?;
        let _ = ch.close(200, "topology declared".into()).await;
        Ok(())
    }

    async fn publish(&self, msg: Outgoing) -> Result<(), BusError> {
        let (exchange, key) = match &msg.destination {
            Destination::Work(key) => (self.names.work_exchange(), key.clone()),
            Destination::Status => (self.names.status_exchange(), String::new()),
            Destination::Retry {
                tier_ms,
                routing_key,
            } => (self.names.retry(*tier_ms), routing_key.clone()),
            Destination::DeadLetter => (String::new(), self.names.dead_letter()),
        };
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(s("application/json"))
            .with_headers(to_field_table(&msg.headers));
        let publish_on = |link: std::sync::Arc<Link>| {
            let (exchange, key, props) = (s(&exchange), s(&key), props.clone());
            let body = &msg.body;
            async move {
                link.publisher
                    .basic_publish(exchange, key, BasicPublishOptions::default(), body, props)
                    .await?
                    .await
            }
        };
        let confirmed = async {
            let link = self.links.live().await?;
            match publish_on(link).await {
                Ok(c) => Ok(c),
                Err(e) => {
                    // The link broke under this publish: once more on a
                    // live one (a new connection when it was lost).
                    tracing::debug!(error = %e, "publish failed; trying once more on a live connection");
                    let link = self.links.live().await?;
                    publish_on(link).await.map_err(chan_err)
                }
            }
        };
        let confirmation = tokio::time::timeout(self.confirm_timeout, confirmed)
            .await
            .map_err(|_| {
                BusError::NotConfirmed(format!(
                    "{exchange}/{key}: no confirm within {} ms",
                    self.confirm_timeout.as_millis()
                ))
            })??;
        match confirmation {
            Confirmation::Ack(_) => Ok(()),
            Confirmation::Nack(_) => Err(BusError::NotConfirmed(format!("{exchange}/{key}"))),
            Confirmation::NotRequested => Err(BusError::NotConfirmed("confirms disabled".into())),
        }
    }

    async fn consume(&self, source: Source, prefetch: u16) -> Result<Consumer, BusError> {
        let link = self.links.live().await?;
        let mut consuming = open_consumer(link, &self.names, source, prefetch).await?;
        let (tx, rx) = mpsc::channel(usize::from(prefetch.max(1)));
        let (links, names) = (self.links.clone(), self.names.clone());
        tokio::spawn(async move {
            let mut watch = tokio::time::interval(LINK_CHECK);
            loop {
                let next = tokio::select! {
                    next = consuming.inner.next() => Some(next),
                    // The stage let go of the consumer (shutdown, open breaker).
                    _ = tx.closed() => break,
                    _ = watch.tick() => None,
                };
                let next = match next {
                    Some(next) => next,
                    None if consuming.link.conn.status().connected() => continue,
                    None => None,
                };
                let d = match next {
                    Some(Ok(d)) => d,
                    broken => {
                        // The channel or its connection is gone (the broker
                        // closed the channel of a consumer past its
                        // acknowledgement timeout, or cancelled the
                        // consumer; the connection was lost): consume again
                        // on a new channel, of a new connection if need be.
                        // The deliveries it held go back to the queue.
                        let error = match broken {
                            Some(Err(e)) => e.to_string(),
                            _ => "consumer cancelled or connection down".to_string(),
                        };
                        tracing::warn!(
                            queue = %consuming.queue,
                            connection = consuming.link.number,
                            error = %error,
                            "consumer lost its channel; consuming again"
                        );
                        let again = tokio::select! {
                            again = reconsume(&links, &names, source, prefetch) => again,
                            _ = tx.closed() => break,
                        };
                        match again {
                            Ok(c) => {
                                let old = std::mem::replace(&mut consuming, c);
                                tokio::spawn(async move {
                                    let _ = old.channel.close(200, "replaced".into()).await;
                                });
                                continue;
                            }
                            Err(e) => {
                                tracing::error!(
                                    queue = %consuming.queue,
                                    error = %e,
                                    "cannot consume on a new channel; giving up"
                                );
                                break;
                            }
                        }
                    }
                };
                let delivery = Delivery {
                    headers: from_field_table(&d.properties),
                    redelivered: d.redelivered,
                    body: d.data,
                    acker: Box::new(AmqpAcker {
                        acker: Some(d.acker),
                    }),
                };
                if tx.send(delivery).await.is_err() {
                    break;
                }
            }
            // Unacked deliveries of this channel go back to the queue.
            let _ = consuming.channel.close(200, "consumer done".into()).await;
        });
        Ok(Consumer::new(rx))
    }

    async fn check(&self) -> Result<(), BusError> {
        if self.links.connected() {
            Ok(())
        } else {
            Err(BusError::Connection("not connected".into()))
        }
    }

    async fn depth(&self, source: Source) -> Result<u64, BusError> {
        if source == Source::Status {
            return Ok(0);
        }
        let link = self.links.live().await?;
        let ch = link.conn.create_channel().await.map_err(conn_err)?;
        let q = ch
            .queue_declare(
                s(&self.queue_name(source)),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(chan_err)?;
        let _ = ch.close(200, "depth".into()).await;
        Ok(u64::from(q.message_count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confirm_timeout_comes_from_the_url() {
        let cases = [
            ("amqp://h/%2f", Some(DEFAULT_CONFIRM_TIMEOUT)),
            ("amqp://h/v?heartbeat=10", Some(DEFAULT_CONFIRM_TIMEOUT)),
            (
                "amqp://h/v?heartbeat=10&confirm_timeout_ms=1500",
                Some(Duration::from_millis(1500)),
            ),
            ("amqp://h/v?confirm_timeout_ms=soon", None),
        ];
        for (url, want) in cases {
            assert_eq!(confirm_timeout(url).ok(), want, "{url}");
        }
    }
}
