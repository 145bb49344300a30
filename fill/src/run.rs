//! One fill: every `impl/` module of a project asked of the model, each
//! answer through the gate, within the job's budgets (requests, tokens,
//! seconds) and the process's concurrency, behind the endpoint's breaker.
//!
//! A fill never fails a job: whatever goes wrong (endpoint down, budget
//! spent, gate unavailable) leaves stubs and reasons in `c4forge.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use runtime::breaker::{Breaker, BreakerState, Dependency, FailsafeBreaker};
use runtime::config::FillConfig;
use schemas::JobId;
use schemas::files::FileSet;
use schemas::model::v1::Model;
use tokio::sync::{Mutex, Semaphore};

use crate::client::{CallError, ChatAnswer, ChatClient, ChatMessage, ClientError, excerpt};
use crate::gate::{Gate, python};
use crate::prompt::{self, Target};
use crate::record::{self, FillRecord, ManifestError, ModuleRecord, Outcome};

/// The fill step of one process: the endpoint's client and breaker and the
/// bound on requests in flight, shared by every job it fills.
pub struct Filler {
    cfg: FillConfig,
    client: ChatClient,
    permits: Arc<Semaphore>,
    breaker: Arc<dyn Breaker>,
    python: PathBuf,
}

impl std::fmt::Debug for Filler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filler")
            .field("client", &self.client)
            .field("breaker", &self.breaker.state())
            .finish()
    }
}

/// One job's fill request.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The job, for the logs (absent for `convert`).
    pub job_id: Option<JobId>,
    /// The model name sent to the endpoint.
    pub model_name: &'a str,
    /// The model IR the project was generated from.
    pub model: &'a Model,
    /// The generated project (with its `c4forge.json`).
    pub files: &'a FileSet,
    /// Modules not to write, with the reason (edited by the user).
    pub off_limits: &'a BTreeMap<String, String>,
}

/// The result of a fill.
#[derive(Debug, Clone)]
pub struct Filled {
    /// The project with the accepted bodies and the fill recorded in
    /// `c4forge.json`.
    pub files: FileSet,
    /// What happened to each module.
    pub record: FillRecord,
}

/// Why a request was not made or brought nothing.
#[derive(Debug)]
enum AskError {
    Call(CallError),
    Budget(String),
    /// The breaker refused the request; the transport error before, if any.
    BreakerOpen(Option<CallError>),
}

/// The budgets of one job.
struct Budget {
    max_requests: u32,
    max_tokens: u64,
    deadline: Instant,
    requests: AtomicU32,
    tokens: AtomicU64,
}

impl Budget {
    fn new(cfg: &FillConfig) -> Self {
        Self {
            max_requests: cfg.max_requests,
            max_tokens: cfg.max_tokens,
            deadline: Instant::now() + Duration::from_secs(cfg.max_seconds),
            requests: AtomicU32::new(0),
            tokens: AtomicU64::new(0),
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Takes one request from the budget, or says which budget is spent.
    fn take_request(&self) -> Result<(), String> {
        if self.remaining().is_zero() {
            return Err("time budget of the job spent (fill.max_seconds)".into());
        }
        if self.tokens.load(Ordering::SeqCst) >= self.max_tokens {
            return Err(format!(
                "token budget of the job spent ({} tokens, fill.max_tokens)",
                self.max_tokens
            ));
        }
        let before = self.requests.fetch_add(1, Ordering::SeqCst);
        if before >= self.max_requests {
            return Err(format!(
                "request budget of the job spent ({} requests, fill.max_requests)",
                self.max_requests
            ));
        }
        Ok(())
    }
}

impl Filler {
    /// The fill step configured by `cfg` (endpoint, budgets, concurrency),
    /// with its own circuit breaker on the endpoint.
    pub fn new(cfg: &FillConfig) -> Result<Self, ClientError> {
        let breaker = Arc::new(FailsafeBreaker::new(
            Dependency::FillEndpoint,
            Duration::from_secs(5),
            Duration::from_secs(120),
        ));
        Ok(Self {
            cfg: cfg.clone(),
            client: ChatClient::new(cfg)?,
            permits: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            breaker,
            python: python(&cfg.python),
        })
    }

    /// The endpoint's breaker state (for `/readyz`-style reporting).
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Fills the `impl/` modules of `job.files`. Never fails the job:
    /// `Err` only when the generator's manifest cannot be updated (a bug).
    pub async fn fill(&self, job: Job<'_>) -> Result<Filled, ManifestError> {
        let targets = prompt::targets(job.files);
        let budget = Budget::new(&self.cfg);
        let asked: Vec<&Target> = targets
            .iter()
            .filter(|t| !job.off_limits.contains_key(&t.path))
            .collect();
        tracing::info!(job_id = ?job.job_id, model = job.model_name, modules = asked.len(), "filling impl modules");
        let gate = if asked.is_empty() {
            Err(String::new())
        } else {
            Gate::new(self.python.clone(), job.files, budget.remaining())
                .await
                .map(Mutex::new)
                .map_err(|e| e.to_string())
        };
        let mut records: BTreeMap<String, (ModuleRecord, Option<String>)> = BTreeMap::new();
        for t in &targets {
            if let Some(reason) = job.off_limits.get(&t.path) {
                records.insert(t.path.clone(), (skipped(&t.path, reason.clone()), None));
            }
        }
        match &gate {
            Err(reason) => {
                if !asked.is_empty() {
                    tracing::warn!(job_id = ?job.job_id, reason = %reason, "fill gate unavailable; stubs stay");
                }
                for t in &asked {
                    records.insert(t.path.clone(), (skipped(&t.path, reason.clone()), None));
                }
            }
            Ok(gate) => {
                let done = futures_util::future::join_all(
                    asked.iter().map(|t| self.module(job, t, gate, &budget)),
                )
                .await;
                for (rec, text) in done {
                    tracing::info!(
                        job_id = ?job.job_id,
                        path = %rec.path,
                        outcome = ?rec.outcome,
                        answers = rec.answers,
                        reason = rec.reason.as_deref().unwrap_or(""),
                        "module filled"
                    );
                    records.insert(rec.path.clone(), (rec, text));
                }
            }
        }
        let mut accepted = BTreeMap::new();
        let mut modules = Vec::new();
        for (path, (rec, text)) in records {
            if let Some(text) = text {
                accepted.insert(path, text);
            }
            modules.push(rec);
        }
        let fill = FillRecord {
            model: job.model_name.to_string(),
            modules,
        };
        let mut files = job.files.clone();
        for f in &mut files.files {
            if let Some(text) = accepted.get(&f.path) {
                f.contents.clone_from(text);
            }
        }
        if let Some(m) = files
            .files
            .iter_mut()
            .find(|f| f.path == infer::regen::MANIFEST)
        {
            m.contents = record::record(&m.contents, &accepted, &fill)?;
        }
        Ok(Filled {
            files,
            record: fill,
        })
    }

    /// One module: answers until one passes the gate or the module's
    /// answers (or the job's budgets) run out.
    async fn module(
        &self,
        job: Job<'_>,
        target: &Target,
        gate: &Mutex<Gate>,
        budget: &Budget,
    ) -> (ModuleRecord, Option<String>) {
        let prompt = prompt::build(target, job.files, job.model);
        let mut rec = ModuleRecord {
            path: target.path.clone(),
            outcome: Outcome::Rejected,
            prompt_sha256: Some(prompt.sha256()),
            answers: 0,
            retries: None,
            reason: None,
        };
        let mut messages = prompt.messages;
        while rec.answers < self.cfg.max_answers {
            let answer = match self.ask(job.model_name, &messages, budget).await {
                Ok(a) => a,
                Err(AskError::Call(CallError::Malformed(m))) => {
                    rec.answers += 1;
                    rec.reason = Some(format!("malformed answer: {m}"));
                    continue;
                }
                Err(AskError::Call(e)) => {
                    rec.outcome = Outcome::Failed;
                    rec.reason = Some(e.to_string());
                    return (rec, None);
                }
                Err(stop) => {
                    let (why, failed) = match stop {
                        AskError::Budget(b) => (b, None),
                        AskError::BreakerOpen(before) => (
                            "the model endpoint's circuit breaker is open".to_string(),
                            before,
                        ),
                        AskError::Call(e) => (e.to_string(), None),
                    };
                    rec.outcome = if rec.answers > 0 {
                        Outcome::Rejected
                    } else if failed.is_some() {
                        Outcome::Failed
                    } else {
                        Outcome::Skipped
                    };
                    if let Some(e) = failed {
                        rec.reason = Some(e.to_string());
                    }
                    rec.reason = Some(match rec.reason.take() {
                        Some(last) => format!("{last}; then {why}"),
                        None => why,
                    });
                    return (rec, None);
                }
            };
            rec.answers += 1;
            let code = match prompt::extract_code(&answer.content) {
                Ok(code) => code,
                Err(e) => {
                    rec.reason = Some(format!("malformed answer: {e}"));
                    continue;
                }
            };
            let text = prompt::module_text(target, &code);
            // The checks run within the job's time budget too: a project
            // whose pytest is slow must not carry the fill past it (and the
            // stage run past `stages.run_timeout_secs`). A check cut short
            // kills its process (`kill_on_drop`) and keeps the stub.
            let checked = tokio::time::timeout(budget.remaining(), async {
                gate.lock()
                    .await
                    .check(&target.path, &text, &target.stub)
                    .await
            })
            .await;
            let Ok(verdict) = checked else {
                rec.outcome = Outcome::Rejected;
                rec.reason = Some(
                    "time budget of the job spent during the checks (fill.max_seconds)".into(),
                );
                return (rec, None);
            };
            match verdict {
                Ok(()) => {
                    rec.outcome = Outcome::Accepted;
                    rec.retries = Some(rec.answers - 1);
                    rec.reason = None;
                    return (rec, Some(text));
                }
                Err(rejection) => {
                    let reason = rejection.to_string();
                    messages.push(ChatMessage::new("assistant", answer.content));
                    messages.push(ChatMessage::new(
                        "user",
                        format!(
                            "That module was rejected: {reason}\nAnswer again with the complete corrected module in one ```python block."
                        ),
                    ));
                    rec.reason = Some(reason);
                }
            }
        }
        rec.outcome = Outcome::Rejected;
        (rec, None)
    }

    /// One answer, with transport retries: exponential backoff, or the
    /// endpoint's `Retry-After` on 429 when it ends within the job's time.
    async fn ask(
        &self,
        model: &str,
        messages: &[ChatMessage],
        budget: &Budget,
    ) -> Result<ChatAnswer, AskError> {
        let last: std::sync::Mutex<Option<CallError>> = std::sync::Mutex::new(None);
        let once = || async {
            if !self.breaker.permits() {
                let before = last.lock().ok().and_then(|mut l| l.take());
                return Err(AskError::BreakerOpen(before));
            }
            budget.take_request().map_err(AskError::Budget)?;
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|e| AskError::Budget(e.to_string()))?;
            let answer =
                tokio::time::timeout(budget.remaining(), self.client.complete(model, messages))
                    .await
                    .map_err(|_| {
                        AskError::Budget("time budget of the job spent (fill.max_seconds)".into())
                    })?;
            match answer {
                Ok(a) => {
                    self.breaker.record(true);
                    budget.tokens.fetch_add(a.tokens, Ordering::SeqCst);
                    Ok(a)
                }
                Err(e) => {
                    if e.is_endpoint_failure() {
                        self.breaker.record(false);
                    }
                    tracing::debug!(error = %e, "fill request failed");
                    if let Ok(mut l) = last.lock() {
                        *l = Some(e.clone());
                    }
                    Err(AskError::Call(e))
                }
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.cfg.max_retries as usize)
            .with_jitter();
        once.retry(backoff)
            .when(|e| matches!(e, AskError::Call(c) if c.is_transient()))
            .adjust(|e, delay| match (e, delay) {
                (
                    AskError::Call(CallError::RateLimited {
                        retry_after: Some(after),
                    }),
                    Some(_),
                ) => (*after < budget.remaining()).then_some(*after),
                (_, delay) => delay,
            })
            .await
    }
}

fn skipped(path: &str, reason: String) -> ModuleRecord {
    ModuleRecord {
        path: path.to_string(),
        outcome: Outcome::Skipped,
        prompt_sha256: None,
        answers: 0,
        retries: None,
        reason: Some(excerpt(&reason, 600)),
    }
}
