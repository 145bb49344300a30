//! The consumer loop every pipeline stage runs, and the typed stage errors.
//!
//! Per delivery: decode (unknown schema version or garbage: dead-letter at
//! once) -> idempotency check on `(job, stage)` (already committed:
//! re-publish the stored output, ack) -> forward-only status update ->
//! the stage's pure work -> commit (stage run + next message recorded) ->
//! publish the next message and the status event with confirms -> ack.
//! Transient errors go to a delay tier with exponential backoff and full
//! jitter until `max_attempts`, then to the dead-letter queue. A committed
//! run whose next message the broker refuses or does not confirm is not a
//! failed attempt: its delivery goes back to the broker unacked and its
//! redelivery publishes the stored output (`publish_committed`).
//!
//! **Crash loops.** A message that kills its stage process every time is
//! caught by its lease: a run that died leaves its lease unreleased, and
//! the next run of the job counts it (`crashes`). A delivery that was in a
//! consumer's hands before (redelivered, or sent round by a stage) runs
//! alone in its process, so the runs that died alongside the culprit once
//! succeed on their own; at `max_attempts` crashes the job is
//! dead-lettered with a reason naming the crash loop.
//!
//! **Leases.** A delivery starts a run only by taking the lease of its
//! `(job, stage)` in the same transaction as the status change (see
//! `jobs`): the run's owner (process and run id) and `lease_until = now +
//! stages.lease_secs`. While the handler works, a heartbeat renews the
//! lease every `stages.heartbeat_secs`; committing the stage releases it,
//! and so does a run that ends without committing. The recovery sweep
//! (`outbox`) skips jobs with a live lease, so a long run is never
//! re-dispatched. A delivery that finds another run's live lease (a broker
//! redelivery after a connection loss, a sweep duplicate) is **deferred,
//! not dropped**: it goes to the retry delay tier that covers the lease's
//! remaining time, with its attempt count unchanged, and is acked. Dropping
//! it would be wrong when the holder is a killed process whose lease has
//! not expired yet: this may be the only copy of the message, and it must
//! take over once the lease expires. When it comes back, the run has either
//! committed (the delivery re-publishes its output), is still alive (it is
//! deferred again, at most until the run's time budget ends it), or died
//! (its lease expired: this delivery takes the lease and redoes the
//! idempotent work). A run whose heartbeat finds its lease taken over (its
//! lease expired, for example while the database was unreachable) stops
//! and acks: the new holder finishes the job.
//!
//! **Time budget.** The handler runs under `stages.run_timeout_secs`. A run
//! over budget fails its job permanently with a reason naming the budget
//! and the key, its delivery is acked (nothing is retried or
//! dead-lettered), its lease is released, and its delivery no longer counts
//! against the prefetch, so the stage takes the next message. The future
//! awaiting the work is dropped; async work stops there. Work on the
//! blocking pool (the generate stage's pure call, the parser) cannot be
//! interrupted: its thread runs on until the call returns and its result
//! is discarded. The blocking pool has room for hundreds of such threads,
//! and the process's shutdown does not wait for them.

use crate::breaker::{Breakers, Dependency};
use crate::bus::{Delivery, Destination, Outgoing, SharedBus, Source, retry_tier};
use crate::jobs::{Ledger, StageRecords, StartOutcome};
use crate::objects::Objects;
use crate::shutdown::{DRAIN_DEADLINE, Shutdown};
use async_trait::async_trait;
use rand::Rng;
use schemas::events::{JobStatus, StatusEvent};
use schemas::messages::{DecodeError, Envelope, Message};
use schemas::model::v1::Diagnostic;
use schemas::{JobId, Stage, UserId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Header carrying the attempt number of a delivery (1 = first try).
pub const ATTEMPT_HEADER: &str = "x-c4forge-attempt";
/// Dead-letter header: why.
pub const REASON_HEADER: &str = "x-c4forge-reason";
/// Dead-letter header: which stage gave up.
pub const STAGE_HEADER: &str = "x-c4forge-stage";
/// Header of a message a stage sent round through a delay tier because of
/// a run it found on the job (a deferral, an isolation): when it comes
/// back, it runs alone in its process (see `Isolation`).
pub const SUSPECT_HEADER: &str = "x-c4forge-suspect";

/// How a stage failed. Decided by type, never from error text.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Retrying cannot help (invalid diagram, unusable model): the job fails
    /// with these diagnostics and the message is acknowledged.
    #[error("permanent failure: {reason}")]
    Permanent {
        /// One-line reason shown to the user.
        reason: String,
        /// Where in the input, when known.
        diagnostics: Vec<Diagnostic>,
    },
    /// A dependency hiccup (database, object store, broker): retried with
    /// backoff, dead-lettered after the attempt limit. `dependency` names the
    /// failing dependency so its circuit breaker counts it; `None` for
    /// failures that are not an outage (an object not visible yet, a crashed
    /// worker task).
    #[error("transient failure: {reason}")]
    Transient {
        /// The dependency that failed, if it was one.
        dependency: Option<Dependency>,
        /// What happened.
        reason: String,
    },
}

impl StageError {
    /// A transient failure of `dependency`.
    pub fn transient(dependency: Option<Dependency>, reason: impl Into<String>) -> Self {
        StageError::Transient {
            dependency,
            reason: reason.into(),
        }
    }

    /// A permanent failure without diagnostics.
    pub fn permanent(reason: impl Into<String>) -> Self {
        StageError::Permanent {
            reason: reason.into(),
            diagnostics: Vec::new(),
        }
    }
}

impl From<crate::jobs::LedgerError> for StageError {
    fn from(e: crate::jobs::LedgerError) -> Self {
        StageError::transient(Some(Dependency::Database), e.to_string())
    }
}

impl From<crate::objects::ObjectsError> for StageError {
    fn from(e: crate::objects::ObjectsError) -> Self {
        match e {
            // The store answered: not an outage. Retried because a freshly
            // written object can lag on eventually consistent stores.
            crate::objects::ObjectsError::NotFound(_) => StageError::transient(None, e.to_string()),
            other => StageError::transient(Some(Dependency::ObjectStore), other.to_string()),
        }
    }
}

/// What a stage hands back after its work.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// The next pipeline message, if any.
    pub next: Option<Message>,
    /// For the last stage: the job is done, with this event detail.
    pub done: Option<serde_json::Value>,
    /// The rows the work produced (objects stored, diagnostics, files),
    /// committed in the same transaction as the stage run: one commit per
    /// stage, and never rows without their run.
    pub records: StageRecords,
}

/// The dependencies a stage adapter may use.
#[derive(Debug, Clone)]
pub struct StageContext {
    /// The job ledger.
    pub ledger: Ledger,
    /// The object store.
    pub objects: Objects,
    /// The bus (stages publish through the loop, not directly).
    pub bus: SharedBus,
    /// The process's circuit breakers.
    pub breakers: Breakers,
}

/// A pipeline stage: a thin adapter from a message to a pure call.
#[async_trait]
pub trait StageHandler: Send + Sync + 'static {
    /// Which stage this is (queue, status, metrics label).
    fn stage(&self) -> Stage;
    /// Does the stage's work for one message. Must be idempotent: it may run
    /// again for the same job after a crash before commit.
    async fn handle(&self, ctx: &StageContext, env: &Envelope) -> Result<StageOutput, StageError>;
}

/// Consumer loop settings.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Unacked deliveries (and so concurrent handlers) per process.
    pub prefetch: u16,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// First retry delay.
    pub retry_base: Duration,
    /// Largest retry delay.
    pub retry_max: Duration,
    /// Time budget of one run of the handler.
    pub run_timeout: Duration,
    /// Lease of a running run, from its start or last heartbeat.
    pub lease: Duration,
    /// Interval of the lease heartbeat (less than `lease`).
    pub heartbeat: Duration,
}

impl From<&crate::config::Config> for LoopSettings {
    fn from(c: &crate::config::Config) -> Self {
        let lease_secs = c.stages.lease_secs.max(2);
        Self {
            prefetch: c.bus.prefetch,
            max_attempts: c.stages.max_attempts.max(1),
            retry_base: Duration::from_millis(c.stages.retry_base_ms),
            retry_max: Duration::from_millis(c.stages.retry_max_ms),
            run_timeout: Duration::from_secs(c.stages.run_timeout_secs.max(1)),
            lease: Duration::from_secs(lease_secs),
            heartbeat: Duration::from_secs(c.stages.heartbeat_secs.clamp(1, lease_secs - 1)),
        }
    }
}

/// This process in lease owners: host (when known) and pid, plus a random
/// tag so a restarted process with a recycled pid is a different owner.
fn process_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        format!(
            "{host}/{}/{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

/// A new lease owner for one run: the process tag and a run id, so two
/// deliveries of one job in the same process are distinct runs.
fn run_owner() -> String {
    format!("{}/{:016x}", process_tag(), rand::random::<u64>())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Full-jitter exponential backoff for attempt `attempt` (1-based).
pub fn backoff(settings: &LoopSettings, attempt: u32) -> Duration {
    let exp = settings
        .retry_base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(settings.retry_max);
    let ms = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

/// Publishes a status event (best effort: the event is already committed in
/// `job_events`, which websocket snapshots read).
pub async fn publish_event(bus: &SharedBus, event: &StatusEvent) {
    let body = serde_json::to_vec(event).unwrap_or_default();
    let msg = Outgoing {
        destination: Destination::Status,
        body,
        headers: BTreeMap::new(),
    };
    if let Err(e) = bus.publish(msg).await {
        tracing::warn!(job_id = %event.job_id, error = %e, "status event not published");
    }
}

/// How often a consuming stage checks its breakers.
const BREAKER_POLL: Duration = Duration::from_millis(250);

/// Runs `handler` on its stage queue until `shutdown`, then drains in-flight
/// work for at most [`DRAIN_DEADLINE`]. While a circuit breaker is open the
/// stage cancels its consumer (held deliveries go back to the broker) and
/// resumes when the breaker lets a probe through. Returns an error if the
/// consumer ended on its own (connection lost for good), so the process can
/// restart.
pub async fn run(
    handler: Arc<dyn StageHandler>,
    ctx: StageContext,
    settings: LoopSettings,
    shutdown: Shutdown,
) -> Result<(), crate::bus::BusError> {
    let stage = handler.stage();
    let mut tasks = JoinSet::new();
    let mut ended_by_broker = false;
    let isolation = Arc::new(tokio::sync::RwLock::new(()));
    'consuming: while !shutdown.is_cancelled() {
        if let Some(dep) = ctx.breakers.blocked() {
            tracing::warn!(stage = %stage, dependency = dep.as_str(), "breaker open; not consuming");
            while ctx.breakers.blocked().is_some() {
                tokio::select! {
                    _ = shutdown.cancelled() => break 'consuming,
                    _ = tokio::time::sleep(BREAKER_POLL) => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
            tracing::info!(stage = %stage, "breakers permit calls; consuming again");
        }
        let mut consumer = match ctx
            .bus
            .consume(Source::Stage(stage), settings.prefetch)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(stage = %stage, error = %e, "cannot consume; retrying");
                ctx.breakers.failed(Dependency::Bus);
                tokio::select! {
                    _ = shutdown.cancelled() => break 'consuming,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'consuming,
                }
            }
        };
        tracing::info!(stage = %stage, prefetch = settings.prefetch, "stage consuming");
        let mut poll = tokio::time::interval(BREAKER_POLL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break 'consuming,
                next = consumer.next() => match next {
                    Some(delivery) => {
                        let (h, c, s) = (handler.clone(), ctx.clone(), settings.clone());
                        let i = isolation.clone();
                        tasks.spawn(async move { process(h.as_ref(), &c, &s, &i, delivery).await });
                    }
                    None => {
                        ended_by_broker = true;
                        break 'consuming;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = poll.tick() => {
                    if ctx.breakers.blocked().is_some() {
                        // Dropping the consumer hands unstarted deliveries back.
                        continue 'consuming;
                    }
                }
            }
        }
    }
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(stage = %stage, "drain deadline passed; unfinished deliveries will be redelivered");
        tasks.abort_all();
    }
    if ended_by_broker && !shutdown.is_cancelled() {
        return Err(crate::bus::BusError::Connection(format!(
            "{stage} consumer ended"
        )));
    }
    Ok(())
}

fn attempt_of(d: &Delivery) -> u32 {
    d.headers
        .get(ATTEMPT_HEADER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Whether a delivery was in the hands of a consumer before (the broker
/// says so, or a stage sent it round because of a run it found on the
/// job): it may be the message that killed that consumer's process, so it
/// runs alone (see [`Isolation`]).
fn suspect(delivery: &Delivery) -> bool {
    delivery.redelivered || delivery.headers.contains_key(SUSPECT_HEADER)
}

/// How a delivery holds its stage's isolation lock: a suspect delivery
/// (see [`suspect`]) runs alone in its process, the others share it. When
/// a message kills the process (a crash loop), the runs that died with it
/// then count one crash each: after it they run alone and succeed, and
/// are not dead-lettered with the culprit.
enum Isolation {
    /// No other delivery of this stage is handled in this process meanwhile.
    Alone {
        /// Held until the delivery is settled.
        _guard: tokio::sync::OwnedRwLockWriteGuard<()>,
    },
    /// Handled alongside other deliveries.
    Shared {
        /// Held until the delivery is settled.
        _guard: tokio::sync::OwnedRwLockReadGuard<()>,
    },
}

async fn process(
    handler: &dyn StageHandler,
    ctx: &StageContext,
    settings: &LoopSettings,
    isolation: &Arc<tokio::sync::RwLock<()>>,
    delivery: Delivery,
) {
    let stage = handler.stage();
    let env = match Envelope::decode(&delivery.body) {
        Ok(env) => env,
        Err(e) => return reject_undecodable(ctx, stage, delivery, e).await,
    };
    // Taken before the run takes its lease: a delivery waiting here holds
    // no lease, so a crash meanwhile does not count against its job.
    let isolation = if suspect(&delivery) {
        match isolation.clone().try_write_owned() {
            Ok(guard) => Isolation::Alone { _guard: guard },
            Err(_) => {
                // Waiting for the lock would hold this delivery, and every
                // one behind it, until the others end: when another run is
                // working on its job right now (a redelivery after a
                // connection loss), defer it at once. (With the lock free,
                // `start_run` reads the lease: no read here.)
                if let Ok(Some(lease)) = ctx.ledger.lease(env.job_id, stage).await
                    && lease.lease_until > crate::now_millis()
                {
                    let span = tracing::info_span!("stage", stage = %stage, job_id = %env.job_id, attempt = attempt_of(&delivery));
                    let outcome = defer(ctx, &env, delivery, &lease.owner, lease.lease_until)
                        .instrument(span)
                        .await;
                    metrics::counter!("c4forge_stage_messages_total", "stage" => stage.as_str(), "outcome" => outcome).increment(1);
                    return;
                }
                Isolation::Alone {
                    _guard: isolation.clone().write_owned().await,
                }
            }
        }
    } else {
        Isolation::Shared {
            _guard: isolation.clone().read_owned().await,
        }
    };
    let span = tracing::info_span!("stage", stage = %stage, job_id = %env.job_id, attempt = attempt_of(&delivery));
    async move {
        metrics::gauge!("c4forge_stage_in_flight", "stage" => stage.as_str()).increment(1.0);
        let started = Instant::now();
        let alone = matches!(isolation, Isolation::Alone { .. });
        let outcome = handle_one(handler, ctx, settings, &env, delivery, alone).await;
        drop(isolation);
        metrics::gauge!("c4forge_stage_in_flight", "stage" => stage.as_str()).decrement(1.0);
        metrics::histogram!("c4forge_stage_duration_seconds", "stage" => stage.as_str())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("c4forge_stage_messages_total", "stage" => stage.as_str(), "outcome" => outcome).increment(1);
        tracing::info!(outcome, elapsed_ms = started.elapsed().as_millis() as u64, "delivery handled");
    }
    .instrument(span)
    .await;
}

/// Publishes a stage's next message. `routing_key` is the message's own
/// when the caller has it (a run that just produced it); a stored output
/// (a redelivery of a committed run) is decoded to find it.
async fn publish_next(
    ctx: &StageContext,
    routing_key: Option<&str>,
    body: &str,
) -> Result<(), StageError> {
    let routing_key = match routing_key {
        Some(key) => key.to_string(),
        None => Envelope::decode(body.as_bytes())
            .map_err(|e| StageError::permanent(format!("recorded output is undecodable: {e}")))?
            .body
            .routing_key()
            .to_string(),
    };
    ctx.bus
        .publish(Outgoing {
            destination: Destination::Work(routing_key),
            body: body.as_bytes().to_vec(),
            headers: BTreeMap::new(),
        })
        .await
        .map_err(|e| StageError::transient(Some(Dependency::Bus), e.to_string()))
}

/// How a delivery whose work ended without an error is settled.
enum Settle {
    /// Acknowledge it; the outcome label.
    Ack(&'static str),
    /// Another run holds a live lease on the job: send the message again
    /// once that lease would have expired.
    Defer {
        /// The run holding the lease.
        holder: String,
        /// Its lease's expiry (ms).
        until: i64,
    },
    /// The stage is committed but the broker refused or did not confirm
    /// its next message (the reason): see [`publish_committed`].
    Unpublished(String),
    /// Earlier runs of the job died with their process this many times and
    /// this delivery shares the process with other runs: send it round to
    /// come back as a suspect and run alone.
    Isolate(i64),
    /// Runs of the job died with their process `max_attempts` times: a
    /// crash loop, dead-lettered with this reason.
    CrashLoop(String),
}

/// Publishes the committed output of a stage run. A refused or unconfirmed
/// publish is `Ok(Err(reason))`, not a failed attempt: the work is done
/// and its output kept in `stage_runs` (the stage's outbox), so the input
/// is not acked but handed back to the broker, whose redelivery publishes
/// the stored output again; the bus breaker counts the failure, so a
/// broker that keeps refusing stops the consumer. Counting it as an
/// attempt would dead-letter finished work while the broker is full.
async fn publish_committed(
    ctx: &StageContext,
    routing_key: Option<&str>,
    body: &str,
) -> Result<Result<(), String>, StageError> {
    match publish_next(ctx, routing_key, body).await {
        Ok(()) => Ok(Ok(())),
        Err(StageError::Transient { reason, .. }) => Ok(Err(reason)),
        Err(permanent) => Err(permanent),
    }
}

/// How a leased run ended.
enum RunEnd {
    /// The handler returned (or ran over its time budget: a permanent error).
    Done(Box<Result<StageOutput, StageError>>),
    /// Another run took the lease over: this one stopped.
    LeaseLost,
}

/// Runs the handler under the time budget while a heartbeat renews the
/// run's lease.
async fn run_leased(
    handler: &dyn StageHandler,
    ctx: &StageContext,
    settings: &LoopSettings,
    env: &Envelope,
    owner: &str,
) -> RunEnd {
    let stage = handler.stage();
    let work = async {
        #[cfg(feature = "failpoints")]
        crate::failpoints::abort_on_job(stage, &env.job_id.to_string());
        #[cfg(feature = "failpoints")]
        crate::failpoints::run_sleep(stage).await;
        handler.handle(ctx, env).await
    };
    let budgeted = tokio::time::timeout(settings.run_timeout, work);
    let lease_ms = millis(settings.lease);
    let heartbeat = async {
        let start = tokio::time::Instant::now() + settings.heartbeat;
        let mut beat = tokio::time::interval_at(start, settings.heartbeat);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            beat.tick().await;
            match ctx
                .ledger
                .renew_lease(env.job_id, stage, owner, lease_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lease not renewed; trying again at the next heartbeat")
                }
            }
        }
    };
    tokio::select! {
        ended = budgeted => match ended {
            Ok(result) => RunEnd::Done(Box::new(result)),
            Err(_) => {
                let secs = settings.run_timeout.as_secs();
                tracing::warn!(budget_secs = secs, "stage run exceeded its time budget; abandoning it");
                RunEnd::Done(Box::new(Err(StageError::permanent(format!(
                    "{stage} stage run exceeded its time budget of {secs} s (stages.run_timeout_secs)"
                )))))
            }
        },
        () = heartbeat => RunEnd::LeaseLost,
    }
}

/// What the start of a run decided for its delivery.
enum Begin {
    /// Run the stage now (the lease is taken), after publishing the event.
    Run(Option<StatusEvent>),
    /// Do not run it: settle the delivery so (this run holds no lease).
    Settle(Settle),
}

/// Maps the outcome of `start_run` to a run or a settlement, in one place:
/// an obsolete or duplicate delivery is acked (a committed run's output
/// re-published first), one whose job another live run holds is deferred,
/// and one whose earlier runs died with their process is run alone, sent
/// round to run alone (its lease handed back), or, at `max_attempts`
/// crashes, dead-lettered as a crash loop (its lease released).
async fn begin(
    ctx: &StageContext,
    settings: &LoopSettings,
    (job, stage): (JobId, Stage),
    owner: &str,
    outcome: StartOutcome,
    alone: bool,
) -> Result<Begin, StageError> {
    let settle = match outcome {
        StartOutcome::Started(event) => return Ok(Begin::Run(event)),
        StartOutcome::StartedAfterCrashes { event, crashes } => {
            let limit = i64::from(settings.max_attempts);
            if crashes < limit && alone {
                tracing::warn!(
                    crashes,
                    "earlier runs of this job died with their process; running it alone"
                );
                return Ok(Begin::Run(event));
            }
            let (settle, released) = if crashes >= limit {
                let reason = format!(
                    "crash loop: the {stage} stage's process died during {crashes} runs of this job (limit stages.max_attempts = {limit})"
                );
                let released = ctx.ledger.release_lease(job, stage, owner).await;
                (Settle::CrashLoop(reason), released)
            } else {
                let returned = ctx.ledger.return_lease(job, stage, owner).await;
                (Settle::Isolate(crashes), returned)
            };
            if let Err(e) = released {
                tracing::warn!(error = %e, "lease not released; it expires");
            }
            settle
        }
        StartOutcome::Missing => {
            tracing::info!("job deleted; dropping message");
            Settle::Ack("duplicate")
        }
        StartOutcome::Terminal(status) => {
            tracing::info!(status = %status, "job already terminal; dropping message");
            Settle::Ack("duplicate")
        }
        StartOutcome::AlreadyDone(output) => match output {
            Some(body) => match publish_committed(ctx, None, &body).await? {
                Ok(()) => Settle::Ack("duplicate"),
                Err(reason) => Settle::Unpublished(reason),
            },
            None => Settle::Ack("duplicate"),
        },
        StartOutcome::Leased {
            owner: holder,
            until,
        } => Settle::Defer { holder, until },
    };
    Ok(Begin::Settle(settle))
}

/// Handles one decoded delivery and returns the outcome label.
async fn handle_one(
    handler: &dyn StageHandler,
    ctx: &StageContext,
    settings: &LoopSettings,
    env: &Envelope,
    delivery: Delivery,
    alone: bool,
) -> &'static str {
    let stage = handler.stage();
    let owner = run_owner();
    let result: Result<Settle, StageError> = async {
        let outcome = ctx
            .ledger
            .start_run(
                env.job_id,
                stage,
                env.body.progress_detail(),
                &owner,
                millis(settings.lease),
            )
            .await?;
        let event = match begin(ctx, settings, (env.job_id, stage), &owner, outcome, alone).await? {
            Begin::Run(event) => event,
            Begin::Settle(settle) => return Ok(settle),
        };
        if let Some(ev) = event {
            publish_event(&ctx.bus, &ev).await;
        }
        let ended = run_leased(handler, ctx, settings, env, &owner).await;
        let out = match ended {
            RunEnd::Done(result) => match *result {
                Ok(out) => out,
                Err(e) => {
                    // Not committed: the retry (or nobody, after a
                    // failure) may start a run at once.
                    if let Err(release) = ctx.ledger.release_lease(env.job_id, stage, &owner).await
                    {
                        tracing::warn!(error = %release, "lease not released; it expires");
                    }
                    return Err(e);
                }
            },
            RunEnd::LeaseLost => {
                tracing::warn!("lease taken over by another run; stopping this one");
                return Ok(Settle::Ack("lease_lost"));
            }
        };
        let next = out.next.map(|m| {
            let key = m.routing_key().to_string();
            let body = Envelope::new(env.job_id, env.user_id, m).encode();
            let body = String::from_utf8(body)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            (key, body)
        });
        let next_body = next.as_ref().map(|(_, body)| body.as_str());
        let done = ctx
            .ledger
            .complete_stage(
                env.job_id,
                env.user_id,
                stage,
                next_body,
                out.done,
                &out.records,
            )
            .await?;
        // Fault tests kill the process here: committed, not yet
        // published or acked (the redelivery must finish the job once).
        #[cfg(feature = "failpoints")]
        crate::failpoints::hit(crate::failpoints::AFTER_COMMIT);
        if let Some((key, body)) = &next
            && let Err(reason) = publish_committed(ctx, Some(key), body).await?
        {
            return Ok(Settle::Unpublished(reason));
        }
        if let Some(ev) = done {
            publish_event(&ctx.bus, &ev).await;
        }
        Ok(Settle::Ack("ok"))
    }
    .await;
    match result {
        Ok(Settle::Ack(label)) => {
            ctx.breakers.succeeded();
            settle_ack(delivery).await;
            label
        }
        Ok(Settle::Unpublished(reason)) => {
            ctx.breakers.failed(Dependency::Bus);
            tracing::warn!(
                reason = %reason,
                "committed, but the next message was not published; handing the delivery back"
            );
            settle_requeue(delivery).await;
            "unpublished"
        }
        Ok(Settle::CrashLoop(reason)) => {
            let attempt = attempt_of(&delivery);
            dead_letter(ctx, stage, env, delivery, &reason, attempt).await
        }
        Ok(Settle::Isolate(crashes)) => {
            tracing::warn!(
                crashes,
                "earlier runs of this job died with their process; sending it round to run alone"
            );
            send_later(ctx, env, delivery, Duration::ZERO, None, true).await;
            "isolated"
        }
        Ok(Settle::Defer { holder, until }) => {
            ctx.breakers.succeeded();
            defer(ctx, env, delivery, &holder, until).await
        }
        Err(StageError::Permanent {
            reason,
            diagnostics,
        }) => {
            tracing::warn!(reason = %reason, diagnostics = diagnostics.len(), "job failed permanently");
            match ctx
                .ledger
                .fail_job(
                    env.job_id,
                    env.user_id,
                    stage,
                    JobStatus::Failed,
                    &reason,
                    &diagnostics,
                )
                .await
            {
                Ok(ev) => {
                    if let Some(ev) = ev {
                        publish_event(&ctx.bus, &ev).await;
                    }
                    settle_ack(delivery).await;
                    "failed"
                }
                Err(e) => {
                    retry_or_dead_letter(ctx, settings, stage, env, delivery, &e.to_string()).await
                }
            }
        }
        Err(StageError::Transient { dependency, reason }) => {
            if let Some(dep) = dependency {
                ctx.breakers.failed(dep);
            }
            retry_or_dead_letter(ctx, settings, stage, env, delivery, &reason).await
        }
    }
}

/// Sends a delivery whose job another live run holds to the retry tier that
/// covers the rest of that run's lease (attempt count unchanged: nothing
/// failed), then acks it. See the module doc for why it is not dropped.
async fn defer(
    ctx: &StageContext,
    env: &Envelope,
    delivery: Delivery,
    holder: &str,
    until: i64,
) -> &'static str {
    let wait_ms = until.saturating_sub(crate::now_millis()).max(0);
    let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
    tracing::info!(
        holder,
        wait_ms,
        "another run holds this job's lease; deferring the delivery"
    );
    send_later(ctx, env, delivery, wait, None, true).await;
    "deferred"
}

/// Sends a delivery to the retry delay tier that covers `delay`, then acks
/// it (requeues it when the publish fails, so it is never lost). With
/// `attempt`, the copy carries that attempt number; without, its headers
/// stay as they were (a deferral: nothing failed). A `suspect` copy
/// carries [`SUSPECT_HEADER`].
async fn send_later(
    ctx: &StageContext,
    env: &Envelope,
    delivery: Delivery,
    delay: Duration,
    attempt: Option<u32>,
    suspect: bool,
) {
    let mut headers = delivery.headers.clone();
    if let Some(attempt) = attempt {
        headers.insert(ATTEMPT_HEADER.into(), attempt.to_string());
    }
    if suspect {
        headers.insert(SUSPECT_HEADER.into(), "true".into());
    }
    let later = Outgoing {
        destination: Destination::Retry {
            tier_ms: retry_tier(delay),
            routing_key: env.body.routing_key().to_string(),
        },
        body: delivery.body.clone(),
        headers,
    };
    match ctx.bus.publish(later).await {
        Ok(()) => settle_ack(delivery).await,
        Err(e) => {
            tracing::warn!(error = %e, "could not send the delivery to a delay tier; requeueing");
            settle_requeue(delivery).await;
        }
    }
}

async fn settle_ack(delivery: Delivery) {
    if let Err(e) = delivery.acker.ack().await {
        // The message will be redelivered; the stage run makes that a no-op.
        tracing::warn!(error = %e, "ack failed");
    }
}

async fn settle_requeue(delivery: Delivery) {
    // Back off a little so a broken dependency is not hammered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Err(e) = delivery.acker.requeue().await {
        tracing::warn!(error = %e, "requeue failed; the broker redelivers on channel close");
    }
}

async fn retry_or_dead_letter(
    ctx: &StageContext,
    settings: &LoopSettings,
    stage: Stage,
    env: &Envelope,
    delivery: Delivery,
    reason: &str,
) -> &'static str {
    let attempt = attempt_of(&delivery);
    if attempt < settings.max_attempts {
        let delay = backoff(settings, attempt);
        tracing::warn!(
            reason,
            attempt,
            delay_ms = delay.as_millis() as u64,
            "transient failure; retrying"
        );
        send_later(ctx, env, delivery, delay, Some(attempt + 1), false).await;
        "retried"
    } else {
        tracing::error!(reason, attempt, "attempts exhausted; dead-lettering");
        dead_letter(ctx, stage, env, delivery, reason, attempt).await
    }
}

/// Publishes the delivery to the dead-letter queue with its reason, records
/// it and dead-letters its job, then acks it (requeues it when the DLQ
/// publish fails).
async fn dead_letter(
    ctx: &StageContext,
    stage: Stage,
    env: &Envelope,
    delivery: Delivery,
    reason: &str,
    attempt: u32,
) -> &'static str {
    {
        let dead = dead_letter_message(&delivery, stage, reason, attempt);
        let payload = String::from_utf8_lossy(&delivery.body).into_owned();
        if ctx.bus.publish(dead).await.is_err() {
            settle_requeue(delivery).await;
            return "retried";
        }
        let recorded = ctx
            .ledger
            .record_dead_letter(env.job_id, stage, reason, attempt, &payload)
            .await;
        let failed = ctx
            .ledger
            .fail_job(
                env.job_id,
                env.user_id,
                stage,
                JobStatus::DeadLettered,
                reason,
                &[],
            )
            .await;
        if let Ok(Some(ev)) = &failed {
            publish_event(&ctx.bus, ev).await;
        }
        if recorded.is_err() || failed.is_err() {
            tracing::error!("dead letter published but not recorded in the database");
        }
        settle_ack(delivery).await;
        "dead_lettered"
    }
}

fn dead_letter_message(delivery: &Delivery, stage: Stage, reason: &str, attempt: u32) -> Outgoing {
    let mut headers = delivery.headers.clone();
    headers.insert(REASON_HEADER.into(), reason.chars().take(1000).collect());
    headers.insert(STAGE_HEADER.into(), stage.as_str().into());
    headers.insert(ATTEMPT_HEADER.into(), attempt.to_string());
    Outgoing {
        destination: Destination::DeadLetter,
        body: delivery.body.clone(),
        headers,
    }
}

/// A message that cannot be decoded can never succeed: dead-letter it at
/// once, and fail its job if the job id is readable.
async fn reject_undecodable(
    ctx: &StageContext,
    stage: Stage,
    delivery: Delivery,
    err: DecodeError,
) {
    let reason = err.to_string();
    tracing::error!(stage = %stage, reason = %reason, "undecodable message; dead-lettering");
    let dead = dead_letter_message(&delivery, stage, &reason, attempt_of(&delivery));
    if ctx.bus.publish(dead).await.is_err() {
        return settle_requeue(delivery).await;
    }
    let ids = serde_json::from_slice::<serde_json::Value>(&delivery.body)
        .ok()
        .and_then(|v| {
            let job: JobId = v.get("job_id")?.as_str()?.parse().ok()?;
            let user: UserId = v.get("user_id")?.as_str()?.parse().ok()?;
            Some((job, user))
        });
    if let Some((job, user)) = ids {
        let payload = String::from_utf8_lossy(&delivery.body).into_owned();
        let _ = ctx
            .ledger
            .record_dead_letter(job, stage, &reason, attempt_of(&delivery), &payload)
            .await;
        if let Ok(Some(ev)) = ctx
            .ledger
            .fail_job(job, user, stage, JobStatus::DeadLettered, &reason, &[])
            .await
        {
            publish_event(&ctx.bus, &ev).await;
        }
    }
    metrics::counter!("c4forge_stage_messages_total", "stage" => stage.as_str(), "outcome" => "dead_lettered").increment(1);
    settle_ack(delivery).await;
}
