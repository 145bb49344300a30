//! Bus conformance: the behaviour every stage relies on, written once and
//! run against each backend: the in-process bus, RabbitMQ (a vhost of its
//! own per test), Kafka on librdkafka's mock cluster (feature `kafka`), and
//! Kafka on a real Kafka-protocol broker when `C4FORGE_TEST_KAFKA=host:port`
//! is set (tansu in `scripts/test.sh`).
//!
//! A bounded wait guards every receive so a broken backend fails with a
//! message instead of hanging; no check depends on how fast a backend is,
//! only the retry check asserts a lower bound (a retry cannot come back
//! before its delay).

use runtime::bus::{self, Delivery, Destination, Outgoing, SharedBus, Source};
use schemas::Stage;
use schemas::messages::routing_key_for;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Upper bound for one expected delivery (group joins take seconds on Kafka).
const PATIENCE: Duration = Duration::from_secs(60);

/// A bus under test and whatever must live as long as it.
struct Backend {
    bus: SharedBus,
    _keep: Box<dyn std::any::Any>,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

async fn memory() -> Backend {
    Backend {
        bus: bus::connect("", "unused").await.expect("in-process bus"),
        _keep: Box::new(()),
    }
}

/// Deletes the test's vhost at the end.
struct Vhost(String);

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let ok = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "rabbitmqctl {args:?} failed: is RabbitMQ running?");
}

async fn rabbitmq() -> Backend {
    let vhost = Vhost(unique("c4bus-"));
    rabbitmqctl(&["add_vhost", &vhost.0]);
    rabbitmqctl(&["set_permissions", "-p", &vhost.0, "guest", ".*", ".*", ".*"]);
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{}", vhost.0);
    Backend {
        bus: bus::connect(&url, "c4t").await.expect("RabbitMQ bus"),
        _keep: Box::new(vhost),
    }
}

/// Kafka client options for tests: quick group joins and failure detection.
#[cfg(feature = "kafka")]
const KAFKA_TEST_OPTIONS: &str = "session.timeout.ms=6000&heartbeat.interval.ms=500";

#[cfg(feature = "kafka")]
async fn kafka_mock() -> Backend {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    let url = format!(
        "kafka://{}?{KAFKA_TEST_OPTIONS}",
        cluster.bootstrap_servers()
    );
    let backend = Backend {
        bus: bus::connect(&url, &unique("c4t-"))
            .await
            .expect("Kafka bus on the mock cluster"),
        _keep: Box::new(()),
    };
    // The brokers must outlive the consumers, which leave their groups on
    // threads of their own after the test: keep them up until the process ends.
    std::mem::forget(cluster);
    backend
}

/// The broker named by `C4FORGE_TEST_KAFKA`, or `None` when it is not set.
#[cfg(feature = "kafka")]
async fn kafka_broker() -> Option<Backend> {
    let addr = std::env::var("C4FORGE_TEST_KAFKA").ok()?;
    if tokio::net::TcpStream::connect(&addr).await.is_err() {
        panic!("C4FORGE_TEST_KAFKA={addr} is set but nothing listens there");
    }
    let url = format!("kafka://{addr}?{KAFKA_TEST_OPTIONS}");
    Some(Backend {
        bus: bus::connect(&url, &unique("c4t-"))
            .await
            .expect("Kafka bus on C4FORGE_TEST_KAFKA"),
        _keep: Box::new(()),
    })
}

fn body(job: &str, seq: u32) -> Vec<u8> {
    serde_json::json!({ "job_id": job, "seq": seq })
        .to_string()
        .into_bytes()
}

fn seq_of(d: &Delivery) -> (String, u64) {
    let v: serde_json::Value = serde_json::from_slice(&d.body).expect("json body");
    (
        v["job_id"].as_str().unwrap_or_default().to_string(),
        v["seq"].as_u64().unwrap_or(u64::MAX),
    )
}

fn work(stage: Stage, body: Vec<u8>, headers: &[(&str, &str)]) -> Outgoing {
    Outgoing {
        destination: Destination::Work(routing_key_for(stage).expect("routing key").to_string()),
        body,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

async fn next(c: &mut bus::Consumer, what: &str) -> Delivery {
    tokio::time::timeout(PATIENCE, c.next())
        .await
        .unwrap_or_else(|_| panic!("no delivery within {PATIENCE:?}: {what}"))
        .unwrap_or_else(|| panic!("consumer ended: {what}"))
}

/// The checks, one per guarantee.
mod checks {
    use super::*;

    pub async fn delivery_with_headers(bus: &SharedBus) {
        let mut c = bus
            .consume(Source::Stage(Stage::Parse), 4)
            .await
            .expect("consume");
        let job = unique("job-");
        bus.publish(work(
            Stage::Parse,
            body(&job, 1),
            &[("attempt", "2"), ("x-trace", "abc")],
        ))
        .await
        .expect("publish");
        let d = next(&mut c, "the published message").await;
        assert_eq!(d.body, body(&job, 1));
        let expected: BTreeMap<String, String> = [("attempt", "2"), ("x-trace", "abc")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(d.headers, expected, "headers travel unchanged");
        assert!(!d.redelivered, "a first delivery is not marked redelivered");
        d.acker.ack().await.expect("ack");
    }

    pub async fn dropped_delivery_is_redelivered(bus: &SharedBus) {
        let mut c = bus
            .consume(Source::Stage(Stage::Generate), 4)
            .await
            .expect("consume");
        let job = unique("job-");
        bus.publish(work(Stage::Generate, body(&job, 1), &[("h", "v")]))
            .await
            .expect("publish");
        let first = next(&mut c, "first delivery").await;
        drop(first); // the worker died mid-message
        let again = next(&mut c, "redelivery after drop").await;
        assert_eq!(again.body, body(&job, 1));
        assert_eq!(again.headers.get("h").map(String::as_str), Some("v"));
        assert!(again.redelivered, "a redelivery is marked");
        again.acker.ack().await.expect("ack");
    }

    pub async fn a_dead_consumers_delivery_comes_back(bus: &SharedBus) {
        let job = unique("job-");
        let mut c = bus
            .consume(Source::Stage(Stage::Parse), 4)
            .await
            .expect("consume");
        bus.publish(work(Stage::Parse, body(&job, 1), &[]))
            .await
            .expect("publish");
        let held = next(&mut c, "first delivery").await;
        // The process dies: its consumer and its unsettled delivery go away.
        drop(c);
        drop(held);
        let mut successor = bus
            .consume(Source::Stage(Stage::Parse), 4)
            .await
            .expect("consume again");
        let again = next(&mut successor, "the dead consumer's message").await;
        assert_eq!(again.body, body(&job, 1));
        again.acker.ack().await.expect("ack");
    }

    pub async fn requeue_redelivers(bus: &SharedBus) {
        let mut c = bus
            .consume(Source::Stage(Stage::Store), 4)
            .await
            .expect("consume");
        let job = unique("job-");
        bus.publish(work(Stage::Store, body(&job, 1), &[]))
            .await
            .expect("publish");
        let first = next(&mut c, "first delivery").await;
        first.acker.requeue().await.expect("requeue");
        let again = next(&mut c, "redelivery after requeue").await;
        assert_eq!(again.body, body(&job, 1));
        assert!(again.redelivered, "a requeued message comes back marked");
        again.acker.ack().await.expect("ack");
    }

    pub async fn retry_returns_after_its_delay(bus: &SharedBus) {
        let mut c = bus
            .consume(Source::Stage(Stage::Generate), 4)
            .await
            .expect("consume");
        let job = unique("job-");
        let started = Instant::now();
        bus.publish(Outgoing {
            destination: Destination::Retry {
                tier_ms: 250,
                routing_key: routing_key_for(Stage::Generate).expect("key").to_string(),
            },
            body: body(&job, 1),
            headers: [("attempt".to_string(), "2".to_string())].into(),
        })
        .await
        .expect("publish retry");
        let d = next(&mut c, "the retried message back on the work queue").await;
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "the retry came back after {:?}, before its 250 ms tier",
            started.elapsed()
        );
        assert_eq!(d.body, body(&job, 1));
        // RabbitMQ adds its own `x-death` headers on the way; ours must survive.
        assert_eq!(
            d.headers.get("attempt").map(String::as_str),
            Some("2"),
            "headers survive the retry tier"
        );
        d.acker.ack().await.expect("ack");
    }

    pub async fn dead_letters_are_consumable(bus: &SharedBus) {
        let mut c = bus.consume(Source::DeadLetter, 4).await.expect("consume");
        let job = unique("job-");
        bus.publish(Outgoing {
            destination: Destination::DeadLetter,
            body: body(&job, 1),
            headers: [("reason".to_string(), "poison".to_string())].into(),
        })
        .await
        .expect("publish dead letter");
        let d = next(&mut c, "the dead letter").await;
        assert_eq!(d.body, body(&job, 1));
        assert_eq!(d.headers.get("reason").map(String::as_str), Some("poison"));
        d.acker.ack().await.expect("ack");
    }

    pub async fn depth_counts_waiting_messages(bus: &SharedBus) {
        assert_eq!(bus.depth(Source::DeadLetter).await.expect("depth"), 0);
        for seq in 0..2 {
            bus.publish(Outgoing {
                destination: Destination::DeadLetter,
                body: body(&unique("job-"), seq),
                headers: BTreeMap::new(),
            })
            .await
            .expect("publish dead letter");
        }
        assert_eq!(bus.depth(Source::DeadLetter).await.expect("depth"), 2);
    }

    pub async fn one_jobs_messages_stay_in_order(bus: &SharedBus) {
        let mut c = bus
            .consume(Source::Stage(Stage::Parse), 1)
            .await
            .expect("consume");
        let (a, b) = (unique("job-a-"), unique("job-b-"));
        for seq in 0..8 {
            for job in [&a, &b] {
                bus.publish(work(Stage::Parse, body(job, seq), &[]))
                    .await
                    .expect("publish");
            }
        }
        let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for _ in 0..16 {
            let d = next(&mut c, "ordered messages").await;
            let (job, seq) = seq_of(&d);
            seen.entry(job).or_default().push(seq);
            d.acker.ack().await.expect("ack");
        }
        let in_order: Vec<u64> = (0..8).collect();
        assert_eq!(seen.get(&a), Some(&in_order), "job a out of order");
        assert_eq!(seen.get(&b), Some(&in_order), "job b out of order");
    }

    pub async fn every_status_subscriber_gets_every_event(bus: &SharedBus) {
        let mut one = bus
            .consume(Source::Status, 16)
            .await
            .expect("subscriber one");
        let mut two = bus
            .consume(Source::Status, 16)
            .await
            .expect("subscriber two");
        let job = unique("job-");
        for seq in 0..3 {
            bus.publish(Outgoing {
                destination: Destination::Status,
                body: body(&job, seq),
                headers: BTreeMap::new(),
            })
            .await
            .expect("publish event");
        }
        for sub in [&mut one, &mut two] {
            for seq in 0..3 {
                let d = next(sub, "a status event").await;
                assert_eq!(
                    d.body,
                    body(&job, seq),
                    "every subscriber sees every event in order"
                );
                d.acker.ack().await.expect("ack");
            }
        }
    }

    pub async fn prefetch_bounds_unacked_deliveries(bus: &SharedBus) {
        let job = unique("job-");
        for seq in 0..3 {
            bus.publish(work(Stage::Store, body(&job, seq), &[]))
                .await
                .expect("publish");
        }
        let mut c = bus
            .consume(Source::Stage(Stage::Store), 2)
            .await
            .expect("consume");
        let first = next(&mut c, "first").await;
        let _second = next(&mut c, "second").await;
        // Can only pass wrongly (if the third were slow), never fail wrongly.
        let third = tokio::time::timeout(Duration::from_millis(500), c.next()).await;
        assert!(third.is_err(), "a third delivery arrived beyond prefetch 2");
        first.acker.ack().await.expect("ack");
        let third = next(&mut c, "third after an ack").await;
        assert_eq!(seq_of(&third).1, 2);
    }
}

macro_rules! conformance {
    ($backend:ident, $setup:expr) => {
        mod $backend {
            use super::*;

            macro_rules! check {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let Some(backend): Option<Backend> = $setup else {
                            eprintln!("C4FORGE_TEST_KAFKA not set; nothing to check");
                            return;
                        };
                        checks::$name(&backend.bus).await;
                    }
                };
            }

            check!(delivery_with_headers);
            check!(dropped_delivery_is_redelivered);
            check!(a_dead_consumers_delivery_comes_back);
            check!(requeue_redelivers);
            check!(retry_returns_after_its_delay);
            check!(dead_letters_are_consumable);
            check!(depth_counts_waiting_messages);
            check!(one_jobs_messages_stay_in_order);
            check!(every_status_subscriber_gets_every_event);
            check!(prefetch_bounds_unacked_deliveries);
        }
    };
}

conformance!(in_process, Some(memory().await));
conformance!(rabbitmq, Some(rabbitmq().await));
#[cfg(feature = "kafka")]
conformance!(kafka_mock_cluster, Some(kafka_mock().await));
#[cfg(feature = "kafka")]
conformance!(kafka_broker, kafka_broker().await);
