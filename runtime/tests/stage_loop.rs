//! The consumer loop (`runtime::stage::run`) in-process: the in-memory
//! bus (behind a recorder of everything published), a temporary SQLite
//! ledger and tokio's paused clock.
//!
//! The clock only moves when a test says so: a blocking task holds it
//! (tokio never auto-advances a paused clock while blocking work runs), so
//! SQLite's worker thread taking its time cannot make a retry delay, the
//! breaker poll or the drain deadline pass early. Real work is waited for
//! with [`settle`], virtual time with [`elapse`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use runtime::breaker::{Breaker, BreakerState, Breakers, Dependency};
use runtime::bus::memory::MemoryBus;
use runtime::bus::{
    Bus, BusError, Consumer, Destination, Outgoing, RETRY_TIERS_MS, SharedBus, Source, retry_tier,
};
use runtime::jobs::{DeadLetterFilter, Ledger, NewJob, ObjectRecord};
use runtime::objects::Objects;
use runtime::shutdown::{DRAIN_DEADLINE, Shutdown};
use runtime::stage::{
    ATTEMPT_HEADER, LoopSettings, REASON_HEADER, StageContext, StageError, StageHandler,
    StageOutput,
};
use schemas::events::JobStatus;
use schemas::messages::{Envelope, JobParsed, JobUploaded, Message};
use schemas::{JobId, ObjectKey, Stage, UserId};

/// The memory bus, recording every message published through it.
#[derive(Debug, Default)]
struct Recorder {
    inner: MemoryBus,
    sent: Mutex<Vec<Outgoing>>,
}

impl Recorder {
    fn sent(&self) -> Vec<Outgoing> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn retries(&self) -> Vec<Outgoing> {
        self.sent()
            .into_iter()
            .filter(|m| matches!(m.destination, Destination::Retry { .. }))
            .collect()
    }

    fn to(&self, destination: &Destination) -> Vec<Outgoing> {
        self.sent()
            .into_iter()
            .filter(|m| &m.destination == destination)
            .collect()
    }
}

#[async_trait]
impl Bus for Recorder {
    async fn declare_topology(&self) -> Result<(), BusError> {
        self.inner.declare_topology().await
    }
    async fn publish(&self, msg: Outgoing) -> Result<(), BusError> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(msg.clone());
        }
        self.inner.publish(msg).await
    }
    async fn consume(&self, source: Source, prefetch: u16) -> Result<Consumer, BusError> {
        self.inner.consume(source, prefetch).await
    }
    async fn check(&self) -> Result<(), BusError> {
        self.inner.check().await
    }
    async fn depth(&self, source: Source) -> Result<u64, BusError> {
        self.inner.depth(source).await
    }
}

/// What the test stage does with each delivery.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Fails transiently (not a dependency outage).
    Fail,
    /// Succeeds at once with a `job.parsed` message.
    Succeed,
    /// Never returns.
    Hang,
    /// Succeeds after this long (virtual time).
    Slow(Duration),
}

/// A parse stage whose work is [`Behaviour`], counting its runs.
struct TestStage {
    behaviour: Behaviour,
    started: AtomicU32,
    finished: AtomicU32,
}

impl TestStage {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(TestStage {
            behaviour,
            started: AtomicU32::new(0),
            finished: AtomicU32::new(0),
        })
    }
    fn started(&self) -> u32 {
        self.started.load(Ordering::SeqCst)
    }
    fn finished(&self) -> u32 {
        self.finished.load(Ordering::SeqCst)
    }
}

fn parsed(job: JobId) -> Message {
    Message::JobParsed(JobParsed {
        model_key: ObjectKey::model(job),
        file_name: "a.puml".into(),
        generator: "python-fastapi".into(),
        parsed: None,
        model: None,
        deploy: Vec::new(),
        fill: None,
    })
}

#[async_trait]
impl StageHandler for TestStage {
    fn stage(&self) -> Stage {
        Stage::Parse
    }
    async fn handle(&self, _: &StageContext, env: &Envelope) -> Result<StageOutput, StageError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let out = match self.behaviour {
            Behaviour::Fail => Err(StageError::transient(None, "the test says no")),
            Behaviour::Succeed => Ok(()),
            Behaviour::Hang => std::future::pending().await,
            Behaviour::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        };
        self.finished.fetch_add(1, Ordering::SeqCst);
        out.map(|()| StageOutput {
            next: Some(parsed(env.job_id)),
            done: None,
            records: Default::default(),
        })
    }
}

/// A breaker the test opens and closes, counting how often it is asked.
#[derive(Default)]
struct Switch {
    open: AtomicBool,
    asked: AtomicUsize,
}

/// The loop's handle on a [`Switch`].
struct SwitchBreaker(Arc<Switch>);

impl Breaker for SwitchBreaker {
    fn permits(&self) -> bool {
        self.0.asked.fetch_add(1, Ordering::SeqCst);
        !self.0.open.load(Ordering::SeqCst)
    }
    fn record(&self, _: bool) {}
    fn state(&self) -> BreakerState {
        if self.0.open.load(Ordering::SeqCst) {
            BreakerState::Open
        } else {
            BreakerState::Closed
        }
    }
}

/// Holds the paused clock still while real work runs (see the module doc).
struct ClockHold(Option<std::sync::mpsc::Sender<()>>);

impl ClockHold {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        ClockHold(Some(tx))
    }
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        self.0.take();
    }
}

/// One job in a fresh ledger, and a stage loop's dependencies.
struct Harness {
    _dir: tempfile::TempDir,
    _hold: ClockHold,
    bus: Arc<Recorder>,
    ctx: StageContext,
    job: JobId,
    user: UserId,
    /// The job's `job.uploaded` message.
    message: Vec<u8>,
}

impl Harness {
    async fn new(breakers: Breakers) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = runtime::db::connect(&url, 0).await.expect("connect");
        runtime::db::migrate(&db).await.expect("migrate");
        let ledger = Ledger::new(db);
        let objects = Objects::open("", dir.path()).expect("objects");
        let user = ledger
            .create_user("stage@example.com", "x", false)
            .await
            .expect("user")
            .id;
        let job = JobId::new();
        let source_key = ObjectKey::source(job, "a.puml");
        let env = Envelope::new(
            job,
            user,
            Message::JobUploaded(JobUploaded {
                source_key: source_key.clone(),
                file_name: "a.puml".into(),
                generator: "python-fastapi".into(),
                source_text: Some("@startuml\n@enduml\n".into()),
                deploy: Vec::new(),
                fill: None,
            }),
        );
        let message = env.encode();
        ledger
            .create_job(&NewJob {
                id: job,
                user_id: user,
                file_name: "a.puml".into(),
                generator: "python-fastapi".into(),
                routing_key: env.body.routing_key().to_string(),
                message: String::from_utf8_lossy(&message).into_owned(),
                source: ObjectRecord {
                    key: source_key.to_string(),
                    kind: "source".into(),
                    sha256: "0".repeat(64),
                    size: 18,
                },
            })
            .await
            .expect("job");
        // every timer from here on is virtual and moves only when told
        tokio::time::pause();
        let hold = ClockHold::new();
        let bus = Arc::new(Recorder::default());
        let ctx = StageContext {
            ledger,
            objects,
            bus: bus.clone() as SharedBus,
            breakers,
        };
        Harness {
            _dir: dir,
            _hold: hold,
            bus,
            ctx,
            job,
            user,
            message,
        }
    }

    /// Starts the loop of `stage`; cancel the token to stop it.
    fn start(
        &self,
        stage: &Arc<TestStage>,
        settings: LoopSettings,
    ) -> (Shutdown, tokio::task::JoinHandle<Result<(), BusError>>) {
        let shutdown = Shutdown::new();
        let run = tokio::spawn(runtime::stage::run(
            stage.clone(),
            self.ctx.clone(),
            settings,
            shutdown.clone(),
        ));
        (shutdown, run)
    }

    /// Delivers the job's `job.uploaded` message to the parse stage.
    async fn deliver(&self) {
        self.bus
            .publish(Outgoing {
                destination: Destination::Work("job.uploaded".into()),
                body: self.message.clone(),
                headers: BTreeMap::new(),
            })
            .await
            .expect("publish");
    }

    async fn status(&self) -> JobStatus {
        self.ctx
            .ledger
            .job(self.job)
            .await
            .expect("read job")
            .expect("job exists")
            .status
    }

    async fn parse_queue(&self) -> u64 {
        self.bus
            .depth(Source::Stage(Stage::Parse))
            .await
            .expect("depth")
    }
}

/// Settings whose timers never fire in a test unless named: a day of run
/// budget and lease.
fn settings() -> LoopSettings {
    LoopSettings {
        prefetch: 4,
        max_attempts: 4,
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(4),
        run_timeout: Duration::from_secs(86_400),
        lease: Duration::from_secs(86_400),
        heartbeat: Duration::from_secs(43_200),
    }
}

/// Lets real work (SQLite's thread, spawned tasks) run until `done` holds,
/// the clock standing still; false if it never does.
async fn settle(mut done: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if done().await {
            return true;
        }
        let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2))).await;
    }
    false
}

/// Lets `d` of virtual time pass, once the tasks that are about to run
/// have registered their timers. One millisecond more: tokio rounds a
/// timer's deadline up to the next millisecond.
async fn elapse(d: Duration) {
    pause_briefly().await;
    tokio::time::advance(d + Duration::from_millis(1)).await;
}

/// Gives the loop a moment of real time to act on what just happened.
async fn pause_briefly() {
    for _ in 0..20 {
        let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2))).await;
    }
}

#[tokio::test]
async fn transient_failures_retry_through_growing_tiers_then_dead_letter_at_the_limit() {
    let h = Harness::new(Breakers::default()).await;
    let stage = TestStage::new(Behaviour::Fail);
    let s = settings();
    let (shutdown, run) = h.start(&stage, s.clone());
    h.deliver().await;
    for attempt in 1..s.max_attempts {
        let n = attempt as usize;
        assert!(
            settle(async || h.bus.retries().len() == n).await,
            "attempt {attempt} was not sent to a retry tier"
        );
        let retry = &h.bus.retries()[n - 1];
        // the attempt number travels with the copy
        assert_eq!(
            retry.headers.get(ATTEMPT_HEADER).map(String::as_str),
            Some((attempt + 1).to_string().as_str())
        );
        // full jitter below the exponential cap: the tier is never above the
        // one covering base * 2^(attempt-1), capped at retry_max
        let Destination::Retry { tier_ms, .. } = retry.destination else {
            unreachable!("filtered on Retry")
        };
        let cap = s
            .retry_base
            .saturating_mul(1u32 << (attempt - 1))
            .min(s.retry_max);
        assert!(RETRY_TIERS_MS.contains(&tier_ms), "{tier_ms} is no tier");
        assert!(
            tier_ms <= retry_tier(cap),
            "attempt {attempt}: tier {tier_ms} ms above the cap {cap:?}"
        );
        assert_eq!(stage.started(), attempt, "a retry ran before its delay");
        // the copy comes back once its tier's delay has passed
        elapse(Duration::from_millis(tier_ms)).await;
    }
    let dlq = Destination::DeadLetter;
    assert!(
        settle(async || !h.bus.to(&dlq).is_empty()).await,
        "never dead-lettered"
    );
    assert!(
        settle(async || h.status().await == JobStatus::DeadLettered).await,
        "job not dead-lettered: {}",
        h.status().await
    );
    assert_eq!(
        stage.started(),
        s.max_attempts,
        "ran past the attempt limit"
    );
    let dead = &h.bus.to(&dlq)[0];
    assert_eq!(
        dead.headers.get(ATTEMPT_HEADER).map(String::as_str),
        Some(s.max_attempts.to_string().as_str())
    );
    assert!(
        dead.headers
            .get(REASON_HEADER)
            .is_some_and(|r| r.contains("the test says no")),
        "{:?}",
        dead.headers
    );
    let recorded = h
        .ctx
        .ledger
        .dead_letters(&DeadLetterFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("dead letters");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].attempts, i64::from(s.max_attempts));
    // nothing more happens: no fifth run, however long the tiers wait
    elapse(Duration::from_secs(10)).await;
    pause_briefly().await;
    assert_eq!(stage.started(), s.max_attempts);
    assert_eq!(h.parse_queue().await, 0);
    shutdown.cancel();
    assert!(run.await.expect("join").is_ok());
}

#[tokio::test]
async fn a_redelivery_after_commit_republishes_the_output_without_running_again() {
    let h = Harness::new(Breakers::default()).await;
    let stage = TestStage::new(Behaviour::Succeed);
    let (shutdown, run) = h.start(&stage, settings());
    let next = Destination::Work("job.parsed".into());
    h.deliver().await;
    assert!(
        settle(async || h.bus.to(&next).len() == 1).await,
        "no job.parsed"
    );
    let events = h.ctx.ledger.events(h.job, h.user).await.expect("events");
    // the broker delivers the same message again (say, the ack was lost)
    h.deliver().await;
    assert!(
        settle(async || h.bus.to(&next).len() == 2).await,
        "the redelivery did not republish the stored output"
    );
    pause_briefly().await;
    assert_eq!(stage.started(), 1, "the work ran twice");
    let sent = h.bus.to(&next);
    assert_eq!(sent[0].body, sent[1].body, "a different output was sent");
    let again = h.ctx.ledger.events(h.job, h.user).await.expect("events");
    assert_eq!(again.len(), events.len(), "the redelivery added events");
    assert_eq!(h.parse_queue().await, 0, "the redelivery was not acked");
    shutdown.cancel();
    assert!(run.await.expect("join").is_ok());
}

#[tokio::test]
async fn an_open_breaker_pauses_consuming_until_it_lets_calls_through() {
    let switch = Arc::new(Switch::default());
    let breakers = Breakers::from_breakers(vec![(
        Dependency::Database,
        Box::new(SwitchBreaker(switch.clone())) as Box<dyn Breaker>,
    )]);
    let h = Harness::new(breakers).await;
    let stage = TestStage::new(Behaviour::Succeed);
    switch.open.store(true, Ordering::SeqCst);
    let (shutdown, run) = h.start(&stage, settings());
    h.deliver().await;
    for _ in 0..8 {
        elapse(Duration::from_millis(250)).await;
        pause_briefly().await;
    }
    assert_eq!(stage.started(), 0, "consumed while the breaker was open");
    assert_eq!(h.parse_queue().await, 1, "the message left the queue");
    switch.open.store(false, Ordering::SeqCst);
    elapse(Duration::from_millis(250)).await;
    assert!(
        settle(async || stage.finished() == 1).await,
        "not consuming after the breaker closed"
    );

    // opening while consuming: the loop notices at its next poll and stops
    switch.open.store(true, Ordering::SeqCst);
    let asked = switch.asked.load(Ordering::SeqCst);
    elapse(Duration::from_millis(250)).await;
    assert!(
        settle(async || switch.asked.load(Ordering::SeqCst) >= asked + 2).await,
        "the loop did not look at the breaker"
    );
    // (the job's parse stage is committed: a second delivery would only
    // republish, which still counts as consuming)
    let next = Destination::Work("job.parsed".into());
    let before = h.bus.to(&next).len();
    h.deliver().await;
    for _ in 0..8 {
        elapse(Duration::from_millis(250)).await;
        pause_briefly().await;
    }
    assert_eq!(h.bus.to(&next).len(), before, "consumed while open");
    assert_eq!(h.parse_queue().await, 1);
    switch.open.store(false, Ordering::SeqCst);
    elapse(Duration::from_millis(250)).await;
    assert!(
        settle(async || h.bus.to(&next).len() == before + 1).await,
        "not consuming after the breaker closed again"
    );
    shutdown.cancel();
    assert!(run.await.expect("join").is_ok());
}

#[tokio::test]
async fn shutdown_waits_for_work_in_flight_up_to_the_drain_deadline() {
    let h = Harness::new(Breakers::default()).await;
    let slow = Duration::from_secs(5);
    assert!(slow < DRAIN_DEADLINE);
    let stage = TestStage::new(Behaviour::Slow(slow));
    let (shutdown, run) = h.start(&stage, settings());
    h.deliver().await;
    assert!(settle(async || stage.started() == 1).await, "never started");
    shutdown.cancel();
    pause_briefly().await;
    assert!(!run.is_finished(), "returned with work in flight");
    elapse(slow).await;
    assert!(
        settle(async || run.is_finished()).await,
        "did not return once the work was done"
    );
    assert!(run.await.expect("join").is_ok());
    // the work finished, committed, published and acked
    assert_eq!(stage.finished(), 1);
    assert_eq!(h.bus.to(&Destination::Work("job.parsed".into())).len(), 1);
    assert_eq!(h.parse_queue().await, 0);
}

#[tokio::test]
async fn work_past_the_drain_deadline_is_abandoned_for_redelivery() {
    let h = Harness::new(Breakers::default()).await;
    let stage = TestStage::new(Behaviour::Hang);
    let (shutdown, run) = h.start(&stage, settings());
    h.deliver().await;
    assert!(settle(async || stage.started() == 1).await, "never started");
    shutdown.cancel();
    elapse(DRAIN_DEADLINE - Duration::from_secs(1)).await;
    pause_briefly().await;
    assert!(!run.is_finished(), "gave up before the drain deadline");
    elapse(Duration::from_secs(2)).await;
    assert!(
        settle(async || run.is_finished()).await,
        "still waiting past the drain deadline"
    );
    assert!(run.await.expect("join").is_ok());
    // never acked: the delivery is back in the queue for the next process
    assert!(
        settle(async || h.parse_queue().await == 1).await,
        "the abandoned delivery was lost"
    );
    assert_eq!(stage.finished(), 0);
    assert_eq!(h.status().await, JobStatus::Parsing, "the job moved on");
}
