//! The Kafka backend (rdkafka over a statically built librdkafka), for teams
//! that run Kafka instead of RabbitMQ. Selected by
//! `C4FORGE_BUS=kafka://host:port[,host:port][?key=value&...]`.
//!
//! Topics (created if missing, with `partitions` partitions and
//! `replication` replicas from the URL's query, 4 and 1 by default; a broker
//! that does not answer topic creation, like librdkafka's mock cluster, gets
//! them auto-created by a metadata request):
//! - `{prefix}.{stage}` per consuming stage; a [`Destination::Work`] routing
//!   key is mapped to its stage's topic (a key nobody consumes is dropped, as
//!   by RabbitMQ's topic exchange). One consumer group `{prefix}.{stage}` per
//!   stage: the processes of a stage compete for partitions.
//! - `{prefix}.status`: every [`Source::Status`] subscription has its own
//!   group id and is *assigned* every partition at the high watermark read
//!   before `consume` returns, so it sees every event published afterwards
//!   (a group subscription would only start at "latest" after its join, and
//!   miss what came in between). Status deliveries are never committed.
//! - `{prefix}.retry.{ms}` per delay tier: one forwarding task per tier (in
//!   every process that consumes a stage queue, group `{prefix}.retry.{ms}`)
//!   waits until the message's timestamp plus the tier, republishes it to the
//!   work topic of the routing key it carries in a header, and commits only
//!   after that publish was acknowledged by the broker.
//! - `{prefix}.dlq`: the dead-letter topic, consumed like a stage queue.
//!
//! Messages are keyed by the `job_id` of their JSON body when it has one, so
//! one job's messages land on one partition and stay in order. The producer
//! is idempotent with `acks=all`; `publish` returns only after the delivery
//! report. Headers travel as Kafka record headers.
//!
//! Offsets are committed only after [`Acker::ack`], per partition up to the
//! lowest offset still unsettled: with several deliveries in flight, a later
//! ack never commits past an earlier unacked message. A requeued (or dropped,
//! never settled) delivery is **republished** to its topic with a
//! redelivery marker and then settled like an ack. Seeking back instead would
//! re-fetch every later message of the partition too, in flight or not, and
//! duplicate them; the republished copy goes to the end of the partition,
//! which RabbitMQ's requeue allows as well, and comes back with
//! `redelivered = true`. A message re-fetched after a crash or a rebalance
//! cannot be told apart and arrives with `redelivered = false`; the stages
//! are idempotent either way. Delivery is at least once: a requeue racing
//! with its consumer's close can leave both the original and the copy to
//! be delivered.
//!
//! Rebalances: when partitions are revoked, the offsets already acked are
//! committed synchronously, and the deliveries of those partitions still in
//! flight become stale: their later ack or requeue commits and republishes
//! nothing, so the new owner redoes them from the committed offset. When a
//! [`Consumer`] is dropped its Kafka consumer leaves the group the same way.
//! While all `prefetch` deliveries are unsettled the consumer does not poll,
//! so a rebalance waits for one of them (up to `max.poll.interval.ms`).
//!
//! Query keys containing a `.` are passed to librdkafka as they are (for
//! example `session.timeout.ms=6000`), to every client the bus creates.

use super::{
    Acker, Bus, BusError, Consumer, Delivery, Destination, Names, Outgoing, RETRY_TIERS_MS, Source,
    WORK_STAGES, lock, work_stage,
};
use async_trait::async_trait;
use backon::{BlockingRetryable, ConstantBuilder, ExponentialBuilder, Retryable};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// Internal header: the copy of a requeued delivery.
const REDELIVERED_HEADER: &str = "c4forge-bus-redelivered";
/// Internal header: the routing key a retry returns with.
const ROUTING_KEY_HEADER: &str = "c4forge-bus-routing-key";
/// How long a blocking metadata, watermark or commit call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a produced message may wait for its delivery report.
const MESSAGE_TIMEOUT_MS: &str = "15000";

fn kafka_err(e: KafkaError) -> BusError {
    BusError::Connection(e.to_string())
}

fn join_err(e: tokio::task::JoinError) -> BusError {
    BusError::Connection(format!("blocking broker call: {e}"))
}

/// What a `kafka://` URL configures.
#[derive(Debug, Clone)]
struct Settings {
    brokers: String,
    partitions: i32,
    replication: i32,
    client: Vec<(String, String)>,
}

impl Settings {
    fn parse(url: &str) -> Result<Self, BusError> {
        let invalid = || BusError::InvalidUrl(url.to_string());
        let rest = url.strip_prefix("kafka://").ok_or_else(invalid)?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.trim_end_matches('/');
        if hosts.is_empty() || hosts.split(',').any(|h| h.trim().is_empty()) {
            return Err(invalid());
        }
        let mut me = Self {
            brokers: hosts.to_string(),
            partitions: 4,
            replication: 1,
            client: Vec::new(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(invalid)?;
            match k {
                "partitions" => me.partitions = v.parse().map_err(|_| invalid())?,
                "replication" => me.replication = v.parse().map_err(|_| invalid())?,
                k if k.contains('.') => me.client.push((k.to_string(), v.to_string())),
                _ => return Err(invalid()),
            }
        }
        if me.partitions < 1 || me.replication < 1 {
            return Err(invalid());
        }
        Ok(me)
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }

    fn consumer_config(&self, group: &str, reset: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", reset)
            .set("allow.auto.create.topics", "true");
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }
}

/// A Kafka cluster connection: one idempotent producer shared by every
/// publish, consumers created per [`Bus::consume`].
pub struct KafkaBus {
    settings: Settings,
    names: Names,
    producer: FutureProducer,
    forwarders: Mutex<Option<CancellationToken>>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus")
            .field("brokers", &self.settings.brokers)
            .field("names", &self.names)
            .finish()
    }
}

impl Drop for KafkaBus {
    fn drop(&mut self) {
        if let Some(token) = lock(&self.forwarders).take() {
            token.cancel();
        }
    }
}

/// The JSON body's `job_id`, the key that keeps one job on one partition.
fn job_key(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        job_id: Option<String>,
    }
    serde_json::from_slice::<Probe>(body).ok()?.job_id
}

fn to_headers(headers: &BTreeMap<String, String>, extra: &[(&str, &str)]) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(headers.len() + extra.len());
    for (k, v) in headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
    {
        out = out.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    out
}

/// The user headers of a record and whether it is a requeued copy.
fn from_headers(msg: &OwnedMessage) -> (BTreeMap<String, String>, bool, Option<String>) {
    let mut out = BTreeMap::new();
    let mut redelivered = false;
    let mut routing_key = None;
    if let Some(h) = msg.headers() {
        for header in h.iter() {
            let value = header
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            match header.key {
                REDELIVERED_HEADER => redelivered = true,
                ROUTING_KEY_HEADER => routing_key = Some(value),
                key => {
                    out.insert(key.to_string(), value);
                }
            }
        }
    }
    (out, redelivered, routing_key)
}

/// Produces one record and waits for its delivery report.
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: Option<&[u8]>,
    body: &[u8],
    headers: OwnedHeaders,
) -> Result<(), BusError> {
    let mut record = FutureRecord::to(topic).payload(body).headers(headers);
    if let Some(k) = key {
        record = record.key(k);
    }
    match producer.send(record, Duration::from_secs(5)).await {
        Ok(_) => Ok(()),
        Err((e, _)) => {
            tracing::warn!(topic, error = %e, "kafka publish not acknowledged");
            Err(BusError::NotConfirmed(format!("{topic}: {e}")))
        }
    }
}

impl KafkaBus {
    /// Creates the producer for `url` (`kafka://host:port[,host:port]`).
    /// librdkafka connects lazily; [`Bus::declare_topology`] (called by
    /// [`super::connect`]) is the first call that needs the cluster.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        let settings = Settings::parse(url)?;
        let producer: FutureProducer = settings
            .config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
            .create()
            .map_err(kafka_err)?;
        Ok(Self {
            settings,
            names: Names::new(prefix),
            producer,
            forwarders: Mutex::new(None),
        })
    }

    fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = WORK_STAGES
            .into_iter()
            .map(|s| self.names.stage_queue(s))
            .collect();
        t.push(self.names.status_exchange());
        t.extend(RETRY_TIERS_MS.into_iter().map(|ms| self.names.retry(ms)));
        t.push(self.names.dead_letter());
        t
    }

    /// The topic (and consumer group) of a stage or the DLQ.
    fn topic_of(&self, source: Source) -> String {
        match source {
            Source::Stage(stage) => self.names.stage_queue(stage),
            Source::DeadLetter => self.names.dead_letter(),
            Source::Status => self.names.status_exchange(),
        }
    }

    fn work_topic(names: &Names, routing_key: &str) -> Option<String> {
        work_stage(routing_key).map(|s| names.stage_queue(s))
    }

    /// Partition ids of `topic` from the cluster's metadata (blocking).
    fn partitions(producer: &FutureProducer, topic: &str) -> Result<Vec<i32>, BusError> {
        let md = producer
            .client()
            .fetch_metadata(Some(topic), CALL_TIMEOUT)
            .map_err(kafka_err)?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| BusError::Channel(format!("topic {topic} missing from metadata")))?;
        if let Some(e) = t.error() {
            return Err(BusError::Channel(format!(
                "topic {topic}: {}",
                RDKafkaErrorCode::from(e)
            )));
        }
        Ok(t.partitions().iter().map(|p| p.id()).collect())
    }

    /// Starts the retry forwarders once per bus.
    fn start_forwarders(&self) -> Result<(), BusError> {
        let mut slot = lock(&self.forwarders);
        if slot.is_some() {
            return Ok(());
        }
        let token = CancellationToken::new();
        for tier in RETRY_TIERS_MS {
            let topic = self.names.retry(tier);
            let consumer: StreamConsumer<Ctx> = self
                .settings
                .consumer_config(&topic, "earliest")
                .create_with_context(Ctx::default())
                .map_err(kafka_err)?;
            consumer.subscribe(&[&topic]).map_err(kafka_err)?;
            tokio::spawn(forward_retries(
                consumer,
                self.producer.clone(),
                self.names.clone(),
                tier,
                token.clone(),
            ));
        }
        *slot = Some(token);
        Ok(())
    }
}

/// Moves the messages of one retry tier back to their work topics when due.
async fn forward_retries(
    consumer: StreamConsumer<Ctx>,
    producer: FutureProducer,
    names: Names,
    tier: u64,
    stop: CancellationToken,
) {
    let consumer = Arc::new(consumer);
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            m = consumer.recv() => m,
        };
        let msg = match msg {
            Ok(m) => m.detach(),
            Err(e) => {
                tracing::warn!(tier, error = %e, "retry tier consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let now = chrono::Utc::now().timestamp_millis();
        let due = msg.timestamp().to_millis().unwrap_or(now) + tier as i64;
        let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        let (headers, _, routing_key) = from_headers(&msg);
        let target = routing_key
            .as_deref()
            .and_then(|k| KafkaBus::work_topic(&names, k));
        if let Some(topic) = target {
            let body = msg.payload().unwrap_or_default();
            // Until the broker takes it: the offset is committed only after.
            let forward = (|| {
                produce(
                    &producer,
                    &topic,
                    msg.key(),
                    body,
                    to_headers(&headers, &[]),
                )
            })
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .without_max_times(),
            );
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = forward => {}
            }
        } else {
            tracing::warn!(tier, routing_key = ?routing_key, "retry without a known routing key; dropped");
        }
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(
                msg.topic(),
                msg.partition(),
                Offset::Offset(msg.offset() + 1),
            )
            .is_ok()
            && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!(tier, error = %e, "retry offset not committed; the retry may repeat");
        }
    }
    close_consumer(consumer).await;
}

/// Closes a consumer (leaving its group) on a thread of its own: rdkafka's
/// drop blocks until the group is left, which must neither stall an async
/// worker nor hold up the runtime's shutdown when the broker is gone.
async fn close_consumer<T: Send + Sync + 'static>(consumer: Arc<T>) {
    let spawned = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || drop(consumer));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread to close a kafka consumer");
    }
}

/// Unsettled offsets of one assigned partition.
#[derive(Debug)]
struct PartitionState {
    generation: u64,
    /// Delivered offsets, `true` once settled.
    pending: BTreeMap<i64, bool>,
    /// The last offset handed to a commit.
    committed: Option<i64>,
}

/// The offsets in flight of one consumer, shared by its ackers and its
/// rebalance callback.
#[derive(Debug, Default)]
struct Tracker {
    next_generation: u64,
    parts: HashMap<(String, i32), PartitionState>,
    closed: bool,
}

impl Tracker {
    /// Records a delivery; returns the generation its settlement must match.
    fn delivered(&mut self, topic: &str, partition: i32, offset: i64) -> u64 {
        let next = &mut self.next_generation;
        let state = self
            .parts
            .entry((topic.to_string(), partition))
            .or_insert_with(|| {
                *next += 1;
                PartitionState {
                    generation: *next,
                    pending: BTreeMap::new(),
                    committed: None,
                }
            });
        state.pending.insert(offset, false);
        state.generation
    }

    /// The partition state a delivery of `generation` settles in; `None`
    /// when the delivery is stale (consumer closed, partition revoked).
    fn current(
        &mut self,
        topic: &str,
        partition: i32,
        generation: u64,
    ) -> Option<&mut PartitionState> {
        if self.closed {
            return None;
        }
        self.parts
            .get_mut(&(topic.to_string(), partition))
            .filter(|s| s.generation == generation)
    }

    /// Settles one offset; returns the offset to commit when the contiguous
    /// settled prefix grew. Stale (revoked) deliveries return `None`.
    fn settle(&mut self, topic: &str, partition: i32, generation: u64, offset: i64) -> Option<i64> {
        let state = self.current(topic, partition, generation)?;
        *state.pending.get_mut(&offset)? = true;
        let mut commit = None;
        while let Some(entry) = state.pending.first_entry() {
            if !*entry.get() {
                break;
            }
            commit = Some(*entry.key() + 1);
            entry.remove();
        }
        if commit.is_some() {
            state.committed = commit;
        }
        commit
    }

    /// Forgets revoked partitions; returns their last commits to confirm.
    fn revoke(&mut self, tpl: &TopicPartitionList) -> Vec<(String, i32, i64)> {
        let mut out = Vec::new();
        for e in tpl.elements() {
            let key = (e.topic().to_string(), e.partition());
            if let Some(state) = self.parts.remove(&key)
                && let Some(offset) = state.committed
            {
                out.push((key.0, key.1, offset));
            }
        }
        out
    }
}

/// The consumer context: commits acked offsets of revoked partitions and
/// makes their unsettled deliveries stale.
#[derive(Debug, Default, Clone)]
struct Ctx {
    tracker: Arc<Mutex<Tracker>>,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let commits = lock(&self.tracker).revoke(tpl);
            if commits.is_empty() {
                return;
            }
            let mut list = TopicPartitionList::new();
            for (topic, partition, offset) in &commits {
                let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
            }
            if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
                tracing::warn!(error = %e, "commit on revoke failed; the new owner may redo acked messages");
            }
            tracing::info!(partitions = tpl.count(), "kafka partitions revoked");
        }
    }
}

/// What a delivery's settlement does.
#[derive(Clone)]
enum Kind {
    /// Stage or DLQ: commit on ack, republish on requeue.
    Queue {
        consumer: Weak<StreamConsumer<Ctx>>,
        producer: FutureProducer,
    },
    /// Status: nothing to commit or requeue.
    Status,
}

struct KafkaAcker {
    tracker: Arc<Mutex<Tracker>>,
    kind: Kind,
    msg: Option<OwnedMessage>,
    generation: u64,
    /// Released when the delivery is settled (prefetch).
    permit: Option<OwnedSemaphorePermit>,
}

impl KafkaAcker {
    /// Marks `msg` settled and commits what that allows.
    fn settle(tracker: &Mutex<Tracker>, kind: &Kind, generation: u64, msg: &OwnedMessage) {
        let Kind::Queue { consumer, .. } = kind else {
            return;
        };
        let mut tracker = lock(tracker);
        let Some(offset) = tracker.settle(msg.topic(), msg.partition(), generation, msg.offset())
        else {
            return;
        };
        // Under the lock: the consumer task marks the tracker closed before
        // it drops its handle, so this is never the last one.
        if let Some(c) = consumer.upgrade() {
            let mut tpl = TopicPartitionList::new();
            if tpl
                .add_partition_offset(msg.topic(), msg.partition(), Offset::Offset(offset))
                .is_ok()
                && let Err(e) = c.commit(&tpl, CommitMode::Async)
            {
                tracing::warn!(topic = msg.topic(), partition = msg.partition(), error = %e, "offset commit failed");
            }
        }
    }

    /// Republishes a copy marked redelivered, then settles the original;
    /// the prefetch permit is released when both are done.
    async fn requeue_msg(
        tracker: Arc<Mutex<Tracker>>,
        kind: Kind,
        generation: u64,
        msg: OwnedMessage,
        _permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), BusError> {
        let Kind::Queue { producer, .. } = &kind else {
            return Ok(());
        };
        let stale = lock(&tracker)
            .current(msg.topic(), msg.partition(), generation)
            .is_none();
        if stale {
            // Revoked: the next owner re-reads it from the committed offset.
            return Ok(());
        }
        // The record as it was (key and headers), marked once.
        let mut headers = msg.headers().cloned().unwrap_or_default();
        if !headers.iter().any(|h| h.key == REDELIVERED_HEADER) {
            headers = headers.insert(Header {
                key: REDELIVERED_HEADER,
                value: Some("1"),
            });
        }
        produce(
            producer,
            msg.topic(),
            msg.key(),
            msg.payload().unwrap_or_default(),
            headers,
        )
        .await?;
        Self::settle(&tracker, &kind, generation, &msg);
        Ok(())
    }
}

#[async_trait]
impl Acker for KafkaAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        if let Some(msg) = self.msg.take() {
            Self::settle(&self.tracker, &self.kind, self.generation, &msg);
        }
        Ok(())
    }

    async fn requeue(mut self: Box<Self>) -> Result<(), BusError> {
        let Some(msg) = self.msg.take() else {
            return Ok(());
        };
        let permit = self.permit.take();
        Self::requeue_msg(
            self.tracker.clone(),
            self.kind.clone(),
            self.generation,
            msg,
            permit,
        )
        .await
    }
}

impl Drop for KafkaAcker {
    fn drop(&mut self) {
        // Never settled (the task died): hand the message back right away.
        let Some(msg) = self.msg.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let permit = self.permit.take();
        let (tracker, kind, generation) =
            (self.tracker.clone(), self.kind.clone(), self.generation);
        rt.spawn(async move {
            if let Err(e) = Self::requeue_msg(tracker, kind, generation, msg, permit).await {
                tracing::warn!(error = %e, "dropped delivery not republished; redelivered after the next rebalance");
            }
        });
    }
}

/// Feeds `tx` from `consumer` with at most `prefetch` unsettled deliveries.
async fn pump(
    consumer: Arc<StreamConsumer<Ctx>>,
    tracker: Arc<Mutex<Tracker>>,
    kind: Kind,
    tx: mpsc::Sender<Delivery>,
    prefetch: usize,
    source: &'static str,
) {
    let permits = Arc::new(Semaphore::new(prefetch));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = tx.closed() => break,
        };
        let msg = tokio::select! {
            m = consumer.recv() => m,
            _ = tx.closed() => break,
        };
        let msg = match msg {
            Ok(m) => m.detach(),
            Err(e) => {
                tracing::warn!(source, error = %e, "kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Status deliveries are never committed: nothing to track.
        let generation = match kind {
            Kind::Queue { .. } => {
                lock(&tracker).delivered(msg.topic(), msg.partition(), msg.offset())
            }
            Kind::Status => 0,
        };
        let (headers, redelivered, _) = from_headers(&msg);
        let delivery = Delivery {
            body: msg.payload().unwrap_or_default().to_vec(),
            headers,
            redelivered,
            acker: Box::new(KafkaAcker {
                tracker: tracker.clone(),
                kind: kind.clone(),
                msg: Some(msg),
                generation,
                permit: Some(permit),
            }),
        };
        if let Err(unsent) = tx.send(delivery).await {
            // Closed first, so the dropped delivery is left to the next
            // owner instead of being republished.
            lock(&tracker).closed = true;
            drop(unsent);
            break;
        }
    }
    // Deliveries still in flight become stale: nothing of them is committed
    // after this, and the next owner of their partitions redoes them.
    lock(&tracker).closed = true;
    close_consumer(consumer).await;
}

#[async_trait]
impl Bus for KafkaBus {
    async fn declare_topology(&self) -> Result<(), BusError> {
        let topics = self.topics();
        let admin: AdminClient<DefaultClientContext> =
            self.settings.config().create().map_err(kafka_err)?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.settings.partitions,
                    TopicReplication::Fixed(self.settings.replication),
                )
            })
            .collect();
        let opts = AdminOptions::new().request_timeout(Some(CALL_TIMEOUT));
        match admin.create_topics(&new, &opts).await {
            Ok(results) => {
                for r in results {
                    if let Err((topic, code)) = r
                        && code != RDKafkaErrorCode::TopicAlreadyExists
                    {
                        tracing::info!(topic, error = %code, "topic not created; relying on auto-creation");
                    }
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "CreateTopics not answered; relying on auto-creation")
            }
        }
        // Confirms every topic exists, creating it through a metadata
        // request where the broker auto-creates topics.
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            for topic in &topics {
                (|| match Self::partitions(&producer, topic) {
                    Ok(p) if p.is_empty() => {
                        Err(BusError::Channel(format!("{topic} has no partitions")))
                    }
                    other => other.map(drop),
                })
                .retry(
                    ConstantBuilder::default()
                        .with_delay(Duration::from_millis(250))
                        .with_max_times(19),
                )
                .sleep(std::thread::sleep)
                .call()?;
            }
            Ok(())
        })
        .await
        .map_err(join_err)?
    }

    async fn publish(&self, msg: Outgoing) -> Result<(), BusError> {
        let key = job_key(&msg.body);
        let (topic, extra) = match &msg.destination {
            Destination::Work(routing_key) => {
                match Self::work_topic(&self.names, routing_key) {
                    Some(t) => (t, None),
                    // Like a topic exchange: a key nobody is bound to is dropped.
                    None => return Ok(()),
                }
            }
            Destination::Status => (self.names.status_exchange(), None),
            Destination::Retry {
                tier_ms,
                routing_key,
            } => (self.names.retry(*tier_ms), Some(routing_key.as_str())),
            Destination::DeadLetter => (self.names.dead_letter(), None),
        };
        let extra: Vec<(&str, &str)> = extra.map(|k| (ROUTING_KEY_HEADER, k)).into_iter().collect();
        produce(
            &self.producer,
            &topic,
            key.as_deref().map(str::as_bytes),
            &msg.body,
            to_headers(&msg.headers, &extra),
        )
        .await
    }

    async fn consume(&self, source: Source, prefetch: u16) -> Result<Consumer, BusError> {
        let prefetch = usize::from(prefetch.max(1));
        let topic = self.topic_of(source);
        let ctx = Ctx::default();
        let tracker = ctx.tracker.clone();
        let (consumer, kind, label) = match source {
            Source::Status => {
                let group = format!("{topic}.{}", uuid::Uuid::new_v4().simple());
                let consumer: StreamConsumer<Ctx> = self
                    .settings
                    .consumer_config(&group, "latest")
                    .create_with_context(ctx)
                    .map_err(kafka_err)?;
                let consumer = Arc::new(consumer);
                let c = consumer.clone();
                let t = topic.clone();
                let producer = self.producer.clone();
                // The high watermarks now: every later event is seen.
                tokio::task::spawn_blocking(move || {
                    let mut tpl = TopicPartitionList::new();
                    for p in Self::partitions(&producer, &t)? {
                        let (_, high) =
                            c.fetch_watermarks(&t, p, CALL_TIMEOUT).map_err(kafka_err)?;
                        tpl.add_partition_offset(&t, p, Offset::Offset(high))
                            .map_err(kafka_err)?;
                    }
                    c.assign(&tpl).map_err(kafka_err)
                })
                .await
                .map_err(join_err)??;
                (consumer, Kind::Status, "status")
            }
            Source::Stage(_) | Source::DeadLetter => {
                if matches!(source, Source::Stage(_)) {
                    self.start_forwarders()?;
                }
                let consumer: StreamConsumer<Ctx> = self
                    .settings
                    .consumer_config(&topic, "earliest")
                    .create_with_context(ctx)
                    .map_err(kafka_err)?;
                consumer.subscribe(&[&topic]).map_err(kafka_err)?;
                let consumer = Arc::new(consumer);
                let kind = Kind::Queue {
                    consumer: Arc::downgrade(&consumer),
                    producer: self.producer.clone(),
                };
                let label = if source == Source::DeadLetter {
                    "dlq"
                } else {
                    "stage"
                };
                (consumer, kind, label)
            }
        };
        let (tx, rx) = mpsc::channel(prefetch);
        tokio::spawn(pump(consumer, tracker, kind, tx, prefetch, label));
        Ok(Consumer::new(rx))
    }

    async fn check(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, CALL_TIMEOUT)
                .map(|_| ())
                .map_err(kafka_err)
        })
        .await
        .map_err(join_err)?
    }

    async fn depth(&self, source: Source) -> Result<u64, BusError> {
        if source == Source::Status {
            return Ok(0);
        }
        let topic = self.topic_of(source);
        let producer = self.producer.clone();
        let config = self.settings.consumer_config(&topic, "earliest");
        tokio::task::spawn_blocking(move || {
            // Not subscribed: only reads the group's committed offsets.
            let group: BaseConsumer = config.create().map_err(kafka_err)?;
            let mut tpl = TopicPartitionList::new();
            let parts = Self::partitions(&producer, &topic)?;
            for p in &parts {
                tpl.add_partition(&topic, *p);
            }
            let committed = group
                .committed_offsets(tpl, CALL_TIMEOUT)
                .map_err(kafka_err)?;
            let mut total = 0u64;
            for p in parts {
                let (low, high) = producer
                    .client()
                    .fetch_watermarks(&topic, p, CALL_TIMEOUT)
                    .map_err(kafka_err)?;
                let from = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o.max(low),
                    _ => low,
                };
                total += u64::try_from(high - from).unwrap_or(0);
            }
            Ok(total)
        })
        .await
        .map_err(join_err)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_hosts_and_options() {
        let s = Settings::parse("kafka://a:9092,b:9092?partitions=2&session.timeout.ms=6000")
            .expect("valid");
        assert_eq!(s.brokers, "a:9092,b:9092");
        assert_eq!(s.partitions, 2);
        assert_eq!(s.client, vec![("session.timeout.ms".into(), "6000".into())]);
        assert!(Settings::parse("kafka://").is_err());
        assert!(Settings::parse("kafka://a:1?bogus=1").is_err());
        assert!(Settings::parse("kafka://a:1?partitions=0").is_err());
    }

    #[test]
    fn commits_stop_at_the_lowest_unsettled_offset() {
        let mut t = Tracker::default();
        let g = t.delivered("t", 0, 5);
        t.delivered("t", 0, 6);
        t.delivered("t", 0, 7);
        assert_eq!(t.settle("t", 0, g, 6), None, "5 is still in flight");
        assert_eq!(t.settle("t", 0, g, 5), Some(7));
        assert_eq!(t.settle("t", 0, g, 7), Some(8));
    }

    #[test]
    fn revoked_deliveries_are_never_committed() {
        let mut t = Tracker::default();
        let g = t.delivered("t", 1, 10);
        t.delivered("t", 1, 11);
        assert_eq!(t.settle("t", 1, g, 10), Some(11));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 1);
        assert_eq!(t.revoke(&tpl), vec![("t".to_string(), 1, 11)]);
        let again = t.delivered("t", 1, 11);
        assert_ne!(again, g);
        assert_eq!(t.settle("t", 1, g, 11), None, "stale generation");
        assert_eq!(t.settle("t", 1, again, 11), Some(12));
    }

    #[test]
    fn job_id_is_the_key() {
        assert_eq!(job_key(br#"{"job_id":"j1","x":1}"#).as_deref(), Some("j1"));
        assert_eq!(job_key(b"not json"), None);
    }
}
