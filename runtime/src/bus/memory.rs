//! The in-process bus of the embedded mode.
//!
//! Not a mock: it is what `c4forge serve` uses with no broker configured,
//! with the same semantics as RabbitMQ for the consumer loop (prefetch,
//! ack, requeue on reject or on a dropped delivery, `redelivered`, delay
//! tiers, dead-letter queue, fanout of status events to every subscriber).
//! Messages live in memory only; after a crash the embedded mode's recovery
//! sweep re-enqueues every unfinished job from the database.

use super::{
    Acker, Bus, BusError, Consumer, Delivery, Destination, Outgoing, Source, lock, work_stage,
};
use async_trait::async_trait;
use schemas::Stage;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

#[derive(Debug, Clone)]
struct Item {
    body: Vec<u8>,
    headers: BTreeMap<String, String>,
    redelivered: bool,
}

#[derive(Debug, Default)]
struct MemQueue {
    items: Mutex<VecDeque<Item>>,
    notify: Notify,
}

impl MemQueue {
    fn push_back(&self, item: Item) {
        lock(&self.items).push_back(item);
        self.notify.notify_one();
    }
    fn push_front(&self, item: Item) {
        lock(&self.items).push_front(item);
        self.notify.notify_one();
    }
    fn pop(&self) -> Option<Item> {
        lock(&self.items).pop_front()
    }
    fn len(&self) -> usize {
        lock(&self.items).len()
    }
}

/// The in-process bus. Cloning shares the same queues.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    queues: Arc<Mutex<HashMap<String, Arc<MemQueue>>>>,
    status_subscribers: Arc<Mutex<Vec<Weak<MemQueue>>>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    fn queue(&self, name: &str) -> Arc<MemQueue> {
        lock(&self.queues)
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    fn stage_queue(stage: Stage) -> String {
        format!("stage.{stage}")
    }

    fn route(&self, routing_key: &str) -> Option<Arc<MemQueue>> {
        work_stage(routing_key).map(|s| self.queue(&Self::stage_queue(s)))
    }
}

struct MemAcker {
    queue: Arc<MemQueue>,
    item: Option<Item>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for MemAcker {
    fn drop(&mut self) {
        // Never settled: behave like a closed channel and redeliver.
        if let Some(mut item) = self.item.take() {
            item.redelivered = true;
            self.queue.push_front(item);
        }
    }
}

#[async_trait]
impl Acker for MemAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        self.item = None;
        Ok(())
    }
    async fn requeue(mut self: Box<Self>) -> Result<(), BusError> {
        if let Some(mut item) = self.item.take() {
            item.redelivered = true;
            self.queue.push_back(item);
        }
        Ok(())
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn declare_topology(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn publish(&self, msg: Outgoing) -> Result<(), BusError> {
        let item = Item {
            body: msg.body,
            headers: msg.headers,
            redelivered: false,
        };
        match msg.destination {
            Destination::Work(key) => {
                // Like a topic exchange: a key nobody is bound to is dropped.
                if let Some(q) = self.route(&key) {
                    q.push_back(item);
                }
            }
            Destination::Status => {
                let mut subs = lock(&self.status_subscribers);
                subs.retain(|w| w.strong_count() > 0);
                for q in subs.iter().filter_map(Weak::upgrade) {
                    q.push_back(item.clone());
                }
            }
            Destination::Retry {
                tier_ms,
                routing_key,
            } => {
                let bus = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(tier_ms)).await;
                    if let Some(q) = bus.route(&routing_key) {
                        q.push_back(item);
                    }
                });
            }
            Destination::DeadLetter => self.queue("dlq").push_back(item),
        }
        Ok(())
    }

    async fn consume(&self, source: Source, prefetch: u16) -> Result<Consumer, BusError> {
        let queue = match source {
            Source::Stage(stage) => self.queue(&Self::stage_queue(stage)),
            Source::DeadLetter => self.queue("dlq"),
            Source::Status => {
                let q = Arc::new(MemQueue::default());
                lock(&self.status_subscribers).push(Arc::downgrade(&q));
                q
            }
        };
        let prefetch = usize::from(prefetch.max(1));
        let (tx, rx) = mpsc::channel(prefetch);
        let permits = Arc::new(Semaphore::new(prefetch));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let item = loop {
                    let notified = queue.notify.notified();
                    if let Some(item) = queue.pop() {
                        break item;
                    }
                    tokio::select! {
                        _ = notified => {}
                        _ = tx.closed() => return,
                    }
                };
                let delivery = Delivery {
                    body: item.body.clone(),
                    headers: item.headers.clone(),
                    redelivered: item.redelivered,
                    acker: Box::new(MemAcker {
                        queue: queue.clone(),
                        item: Some(item),
                        _permit: permit,
                    }),
                };
                if tx.send(delivery).await.is_err() {
                    // The consumer is gone; the dropped acker requeued the item.
                    return;
                }
            }
        });
        Ok(Consumer::new(rx))
    }

    async fn check(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn depth(&self, source: Source) -> Result<u64, BusError> {
        let n = match source {
            Source::Stage(stage) => self.queue(&Self::stage_queue(stage)).len(),
            Source::DeadLetter => self.queue("dlq").len(),
            Source::Status => 0,
        };
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(key: &str, body: &str) -> Outgoing {
        Outgoing {
            destination: Destination::Work(key.into()),
            body: body.as_bytes().to_vec(),
            headers: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn unacked_delivery_is_redelivered() {
        let bus = MemoryBus::new();
        let mut c = bus
            .consume(Source::Stage(Stage::Parse), 1)
            .await
            .expect("consume");
        bus.publish(work("job.uploaded", "m1"))
            .await
            .expect("publish");
        let d = c.next().await.expect("delivery");
        assert!(!d.redelivered);
        drop(d); // the worker died mid-message
        let again = c.next().await.expect("redelivery");
        assert_eq!(again.body, b"m1");
        assert!(again.redelivered);
        again.acker.ack().await.expect("ack");
        assert_eq!(bus.depth(Source::Stage(Stage::Parse)).await.ok(), Some(0));
    }

    #[tokio::test]
    async fn prefetch_bounds_unacked_deliveries() {
        let bus = MemoryBus::new();
        for i in 0..3 {
            bus.publish(work("job.parsed", &i.to_string()))
                .await
                .expect("publish");
        }
        let mut c = bus
            .consume(Source::Stage(Stage::Generate), 2)
            .await
            .expect("consume");
        let a = c.next().await.expect("a");
        let _b = c.next().await.expect("b");
        let third = tokio::time::timeout(Duration::from_millis(100), c.next()).await;
        assert!(third.is_err(), "a third delivery arrived beyond prefetch 2");
        a.acker.ack().await.expect("ack");
        assert!(c.next().await.is_some());
    }

    #[tokio::test]
    async fn status_events_reach_every_subscriber() {
        let bus = MemoryBus::new();
        let mut one = bus.consume(Source::Status, 4).await.expect("one");
        let mut two = bus.consume(Source::Status, 4).await.expect("two");
        bus.publish(Outgoing {
            destination: Destination::Status,
            body: b"e".to_vec(),
            headers: BTreeMap::new(),
        })
        .await
        .expect("publish");
        assert_eq!(one.next().await.map(|d| d.body), Some(b"e".to_vec()));
        assert_eq!(two.next().await.map(|d| d.body), Some(b"e".to_vec()));
    }
}
