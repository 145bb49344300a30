//! The in-memory fan-out of status events inside one notifier process.
//!
//! Events are routed, not broadcast to every connection: a connection
//! subscribes to one [`Topic`] (all of a user's jobs, or one job), and an
//! event wakes only the connections of its user and of its job. With a
//! single process-wide broadcast every event would wake every connection
//! (10,000 connections x every event of every user), which is what limited
//! the first fan-out benchmark.

use runtime::bus::{SharedBus, Source};
use runtime::shutdown::Shutdown;
use schemas::events::StatusEvent;
use schemas::{JobId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events buffered per user topic; a connection whose task falls further
/// behind than this is closed like a slow client. Each connection's
/// reading task moves events from here into its own bounded queue without
/// waiting for the socket, so only a task starved of CPU falls behind.
pub const HUB_CAPACITY: usize = 256;
/// Events buffered per job topic (a job has about six events in all).
pub const JOB_TOPIC_CAPACITY: usize = 16;

/// What a connection follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every job of this user.
    User(UserId),
    /// One job of this user: a job id followed by anyone else gets none of
    /// its events.
    Job(UserId, JobId),
}

type Topics = HashMap<Topic, broadcast::Sender<Arc<StatusEvent>>>;

/// Routes status events to the connections of this process that follow
/// their user or their job.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    topics: Arc<Mutex<Topics>>,
    /// Open websocket connections per user (see [`Hub::admit`]).
    connections: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One admitted websocket connection of a user; gives its place back when
/// dropped (also when the upgrade never completes).
#[derive(Debug)]
pub struct Admission {
    user: UserId,
    connections: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

/// A connection's subscription; leaving the topic when dropped (the topic
/// is removed with its last subscriber).
#[derive(Debug)]
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<StatusEvent>>>,
    topic: Topic,
    hub: Hub,
}

impl Subscription {
    /// The next event of the topic (see [`broadcast::Receiver::recv`]).
    pub async fn recv(&mut self) -> Result<Arc<StatusEvent>, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut topics = self.hub.lock();
        if topics
            .get(&self.topic)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            topics.remove(&self.topic);
        }
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Topics> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (single inserts and removes), so a poisoned lock is still usable.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits one more websocket connection of `user` if the user has
    /// fewer than `max` open in this process; `None` when at the cap. The
    /// connection counts until the returned [`Admission`] is dropped.
    pub fn admit(&self, user: UserId, max: usize) -> Option<Admission> {
        let mut counts = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(user).or_insert(0);
        if *n >= max {
            if *n == 0 {
                counts.remove(&user);
            }
            return None;
        }
        *n += 1;
        Some(Admission {
            user,
            connections: self.connections.clone(),
        })
    }

    /// Receives every event of `topic` published from now on.
    pub fn subscribe(&self, topic: Topic) -> Subscription {
        let mut topics = self.lock();
        let tx = topics.entry(topic).or_insert_with(|| {
            let capacity = match topic {
                Topic::User(_) => HUB_CAPACITY,
                Topic::Job(..) => JOB_TOPIC_CAPACITY,
            };
            broadcast::channel(capacity).0
        });
        Subscription {
            rx: Some(tx.subscribe()),
            topic,
            hub: self.clone(),
        }
    }

    /// Connections currently subscribed in this process (each websocket
    /// holds one subscription until it is closed).
    pub fn subscribers(&self) -> usize {
        self.lock()
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }

    /// Delivers one event to the subscribers of its user and of its job
    /// (never blocks).
    pub fn publish(&self, event: StatusEvent) {
        let event = Arc::new(event);
        let topics = self.lock();
        for topic in [
            Topic::User(event.user_id),
            Topic::Job(event.user_id, event.job_id),
        ] {
            if let Some(tx) = topics.get(&topic) {
                let _ = tx.send(event.clone());
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::Stage;
    use schemas::events::{EVENT_VERSION, JobStatus};

    fn event(user: UserId, job: JobId) -> StatusEvent {
        StatusEvent {
            schema_version: EVENT_VERSION,
            seq: 1,
            job_id: job,
            user_id: user,
            status: JobStatus::Queued,
            stage: Stage::Ingest,
            at: chrono::Utc::now(),
            detail: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn events_reach_their_user_and_job_topics_only() {
        let hub = Hub::new();
        let (alice, bob, job) = (UserId::new(), UserId::new(), JobId::new());
        let mut all = hub.subscribe(Topic::User(alice));
        let mut one = hub.subscribe(Topic::Job(alice, job));
        let mut other = hub.subscribe(Topic::User(bob));
        // Bob follows Alice's job id: he is not routed its events.
        let mut foreign = hub.subscribe(Topic::Job(bob, job));
        hub.publish(event(alice, job));
        assert_eq!(all.recv().await.map(|e| e.job_id).ok(), Some(job));
        assert_eq!(one.recv().await.map(|e| e.job_id).ok(), Some(job));
        for sub in [&mut other, &mut foreign] {
            assert!(matches!(
                sub.rx.as_mut().map(broadcast::Receiver::try_recv),
                Some(Err(broadcast::error::TryRecvError::Empty))
            ));
        }
        assert_eq!(hub.subscribers(), 4);
        drop((all, one, other, foreign));
        assert_eq!(hub.subscribers(), 0);
        assert!(
            hub.lock().is_empty(),
            "topics without subscribers are removed"
        );
    }

    #[test]
    fn admissions_are_capped_per_user_and_given_back_on_drop() {
        let hub = Hub::new();
        let (alice, bob) = (UserId::new(), UserId::new());
        let first = hub.admit(alice, 2).expect("first");
        let second = hub.admit(alice, 2).expect("second");
        assert!(hub.admit(alice, 2).is_none(), "third of alice refused");
        assert!(hub.admit(bob, 2).is_some(), "bob has his own count");
        drop(first);
        let third = hub.admit(alice, 2).expect("a place was given back");
        drop((second, third));
        assert!(
            hub.connections
                .lock()
                .map(|c| c.is_empty())
                .unwrap_or(false),
            "users without connections are removed"
        );
    }
}
