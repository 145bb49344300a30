//! The background sender of the outbox: sends pending uploads one by one,
//! oldest first, with backoff (`backon`) and a circuit breaker
//! ([`runtime::breaker::FailsafeBreaker`]), until each is accepted, refused
//! for good, or the time the caller allows (`--wait-secs`) is used up; what
//! is left stays pending for the next `c4forge submit` or `c4forge jobs
//! sync`, also after a restart.
//!
//! **Nothing is sent twice.** A row is marked `transmitting` (and owned by
//! this process) in the database before its POST. When a sender later
//! finds a row in `transmitting` whose owner is gone (crash, kill, or an
//! ambiguous network error such as a timeout), it does not send it blindly:
//! it first lists the user's jobs (`GET /api/v1/diagrams`) and adopts a job
//! with the same (sanitized) file name created after the row was first sent
//! (minus [`CLOCK_SKEW_MS`]) that no other row already accounts for. Only
//! when there is none does it send again. The server has no idempotency
//! key, so two residual risks remain, both documented in README.md:
//! - a *lost* upload: another upload of the same file name by the same
//!   user (another machine, the web page, curl) in that window is adopted
//!   as ours, and ours is not sent;
//! - a *duplicate*: a POST still in flight on the server when the
//!   reconciliation lists the jobs (after the owner's lease or process is
//!   gone) commits later and the re-send makes a second job.
//!
//! The breaker (three consecutive transient failures open it, for 2 s
//! doubling up to 30 s) makes all rows wait together while the server is
//! down instead of each spending its own attempts.

use super::api::{Api, ApiError};
use super::outbox::{Outbox, Row, RowStatus, now_ms};
use crate::exit::Exit;
use anyhow::Result;
use backon::{ExponentialBuilder, Retryable};
use runtime::breaker::{Breaker, Dependency, FailsafeBreaker};
use std::time::{Duration, Instant};

/// Allowance for the difference between this machine's clock and the
/// server's when matching a job to a row during reconciliation.
pub const CLOCK_SKEW_MS: i64 = 60_000;

/// Jobs listed when reconciling (the server's page maximum).
const RECONCILE_LIST: u64 = 200;

/// Environment variable of the fault-injection hook used by the tests:
/// `exit-after-mark` exits right after a row is marked `transmitting`,
/// `exit-after-post` right after the server accepted it, before the outbox
/// records it: the two crash points that matter for "nothing sent twice".
pub const FAULT_ENV: &str = "C4FORGE_CLIENT_FAULT";

/// Exit status of the fault-injection hook.
const FAULT_EXIT: i32 = 86;

fn fault(point: &str) {
    if std::env::var(FAULT_ENV).is_ok_and(|v| v == point) {
        eprintln!("{FAULT_ENV}={point}: exiting");
        std::process::exit(FAULT_EXIT);
    }
}

/// Why an attempt did not deliver.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The server (or the network) said so.
    #[error(transparent)]
    Api(ApiError),
    /// The breaker refuses calls for now.
    #[error("the server failed repeatedly; waiting before trying again")]
    BreakerOpen,
    /// The local outbox failed.
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

impl SendError {
    fn retryable(&self) -> bool {
        matches!(
            self,
            SendError::BreakerOpen | SendError::Api(ApiError::Transient { .. })
        )
    }
}

/// What happened to one row.
enum Delivery {
    /// Accepted now, or found on the server (`adopted`).
    Delivered { job_id: String, adopted: bool },
    /// Another process owns it, or it finished meanwhile.
    Skipped,
}

/// The result of one run of the sender.
#[derive(Debug, Default)]
pub struct Report {
    /// `(file name, job id)` of rows accepted in this run.
    pub delivered: Vec<(String, String)>,
    /// `(file name, reason)` of rows refused for good in this run.
    pub rejected: Vec<(String, String)>,
    /// Rows still waiting for this server after the run.
    pub pending: usize,
    /// Why the run stopped early (server unreachable, login needed), and
    /// the exit status that says so (the rows left stay pending).
    pub stopped: Option<(Exit, String)>,
}

/// Sends the outbox rows of one server.
pub struct Sender<'a> {
    outbox: &'a Outbox,
    api: &'a Api,
    breaker: FailsafeBreaker,
    deadline: Instant,
}

impl<'a> Sender<'a> {
    /// A sender that gives up retrying `wait` from now. A 401 is handled
    /// by `api` (one renewal of the token, then a retry); one that comes
    /// through stops the run.
    pub fn new(outbox: &'a Outbox, api: &'a Api, wait: Duration) -> Self {
        Self {
            outbox,
            api,
            // `Bus` is the breaker's label only: for the client, the server
            // is the transport into the pipeline.
            breaker: FailsafeBreaker::new(
                Dependency::Bus,
                Duration::from_secs(2),
                Duration::from_secs(30),
            ),
            deadline: Instant::now() + wait,
        }
    }

    /// Sends every pending row of this server, oldest first.
    pub async fn run(&self) -> Result<Report> {
        let mut report = Report::default();
        let server = self.api.base().to_string();
        for row in self.outbox.pending(Some(&server)).await? {
            let backoff = ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(15))
                .with_jitter()
                .without_max_times();
            let file = row.file_name.clone();
            let result = (|| self.attempt(row.id))
                .retry(backoff)
                .sleep(tokio::time::sleep)
                .when(SendError::retryable)
                .adjust(|e, next| self.next_delay(e, next))
                .notify(|e, d| {
                    eprintln!("{file}: {e}; retrying in {:.1}s", d.as_secs_f64());
                })
                .await;
            match result {
                Ok(Delivery::Delivered { job_id, adopted }) => {
                    if adopted {
                        println!(
                            "{file}: already delivered as job {job_id} (found on the server; not sent again)"
                        );
                    } else {
                        println!("{file}: accepted as job {job_id}");
                    }
                    report.delivered.push((file, job_id));
                }
                Ok(Delivery::Skipped) => {}
                Err(SendError::Api(ApiError::Rejected { status, detail })) => {
                    eprintln!("{file}: rejected by the server ({status}): {detail}");
                    report.rejected.push((file, detail));
                }
                Err(SendError::Api(ApiError::Unauthorized(detail))) => {
                    report.stopped = Some((
                        Exit::Denied,
                        format!(
                            "the server refused the login ({detail}): run `c4forge login --server {server}` (or set C4FORGE_PASSWORD so an expired token renews itself)"
                        ),
                    ));
                    break;
                }
                Err(SendError::Api(ApiError::Forbidden(detail))) => {
                    report.stopped = Some((
                        Exit::Denied,
                        format!("the server forbids this account to upload: {detail}"),
                    ));
                    break;
                }
                Err(SendError::Local(e)) => return Err(e),
                Err(e) => {
                    report.stopped = Some((Exit::Pending, format!("{file}: {e}")));
                    break;
                }
            }
        }
        report.pending = self.outbox.pending(Some(&server)).await?.len();
        Ok(report)
    }

    /// The delay before the next attempt, or `None` to give up: honours
    /// `Retry-After` and never sleeps past the deadline.
    fn next_delay(&self, e: &SendError, next: Option<Duration>) -> Option<Duration> {
        let next = next.unwrap_or(Duration::from_secs(15));
        let d = match e {
            SendError::Api(ApiError::Transient {
                retry_after: Some(ra),
                ..
            }) => (*ra).max(next),
            _ => next,
        };
        (Instant::now() + d <= self.deadline).then_some(d)
    }

    /// One attempt at one row.
    async fn attempt(&self, id: i64) -> Result<Delivery, SendError> {
        let Some(row) = self.outbox.get(id).await? else {
            return Ok(Delivery::Skipped);
        };
        if !row.claimable(now_ms()) {
            return Ok(Delivery::Skipped);
        }
        if !self.breaker.permits() {
            return Err(SendError::BreakerOpen);
        }
        if !self.outbox.claim(&row).await? {
            return Ok(Delivery::Skipped);
        }
        fault("exit-after-mark");
        let (result, no_job_possible) = self.transmit(&row).await;
        match result {
            Ok(Delivery::Delivered { job_id, adopted }) => {
                self.breaker.record(true);
                let note = adopted
                    .then_some("found on the server after an interrupted send; not sent again");
                self.outbox.complete(id, &job_id, note).await?;
                Ok(Delivery::Delivered { job_id, adopted })
            }
            Ok(Delivery::Skipped) => Ok(Delivery::Skipped),
            Err(e) => {
                // Transient failures (network, 429, 5xx) count against the
                // breaker; any other answer shows the server is up.
                self.breaker
                    .record(!matches!(e, ApiError::Transient { .. }));
                match &e {
                    ApiError::Rejected { detail, .. } if no_job_possible => {
                        self.outbox.fail(id, detail).await?;
                        return Err(SendError::Api(e));
                    }
                    ApiError::Transient { certain, .. } => {
                        self.outbox
                            .release(id, *certain && no_job_possible, &e.to_string())
                            .await?;
                    }
                    _ => {
                        self.outbox
                            .release(id, no_job_possible, &e.to_string())
                            .await?;
                    }
                }
                Err(SendError::Api(e))
            }
        }
    }

    /// Reconciles a row whose earlier send may have reached the server,
    /// then POSTs it. The flag says whether, when this fails, the row
    /// surely has no job on the server (so it is plainly pending again).
    async fn transmit(&self, row: &Row) -> (Result<Delivery, ApiError>, bool) {
        if row.status == RowStatus::Transmitting {
            match self.find_on_server(row).await {
                Ok(Some(job_id)) => {
                    return (
                        Ok(Delivery::Delivered {
                            job_id,
                            adopted: true,
                        }),
                        false,
                    );
                }
                Ok(None) => {}
                Err(SendError::Api(e)) => {
                    let e = match e {
                        // A reconciliation cannot "reject" the upload.
                        ApiError::Rejected { status, detail } => ApiError::Transient {
                            message: format!(
                                "cannot check whether an earlier send arrived ({status}: {detail})"
                            ),
                            retry_after: None,
                            certain: false,
                        },
                        other => other,
                    };
                    return (Err(e), false);
                }
                Err(other) => {
                    return (
                        Err(ApiError::Transient {
                            message: other.to_string(),
                            retry_after: None,
                            certain: false,
                        }),
                        false,
                    );
                }
            }
        }
        let body = match self.outbox.body(row.id).await {
            Ok(b) => b,
            Err(e) => {
                return (
                    Err(ApiError::Transient {
                        message: format!("reading the outbox: {e:#}"),
                        retry_after: None,
                        certain: true,
                    }),
                    true,
                );
            }
        };
        match self.api.upload(&row.file_name, body).await {
            Ok(accepted) => {
                fault("exit-after-post");
                (
                    Ok(Delivery::Delivered {
                        job_id: accepted.job_id.to_string(),
                        adopted: false,
                    }),
                    false,
                )
            }
            Err(e) => (Err(e), true),
        }
    }

    /// A job on the server that an earlier, interrupted send of `row`
    /// created, if any.
    async fn find_on_server(&self, row: &Row) -> Result<Option<String>, SendError> {
        let since = row.first_sent_at.unwrap_or(row.created_at) - CLOCK_SKEW_MS;
        let known = self.outbox.known_job_ids(&row.server).await?;
        let name = schemas::ids::sanitize_segment(&row.file_name);
        let jobs = self
            .api
            .list(RECONCILE_LIST)
            .await
            .map_err(SendError::Api)?;
        Ok(jobs
            .into_iter()
            .filter(|j| {
                j.file_name == name
                    && j.created_at.timestamp_millis() >= since
                    && !known.contains(&j.job_id)
            })
            .min_by_key(|j| j.created_at)
            .map(|j| j.job_id))
    }
}
