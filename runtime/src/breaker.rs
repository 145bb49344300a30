//! Circuit breakers, one per dependency, behind one small trait.
//!
//! A dependency that keeps failing (consecutive transient errors) opens its
//! breaker; while any breaker is open, stage consumers stop consuming so
//! messages wait in the broker instead of burning their retry budget. After
//! the open delay (exponential with jitter) the breaker is half-open and
//! the next delivery is the probe: success closes it, failure opens it again
//! for longer. The state machine is `failsafe`'s.

use failsafe::backoff::{self, EqualJittered};
use failsafe::failure_policy::{ConsecutiveFailures, consecutive_failures};
use failsafe::{Config, Instrument, StateMachine};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// The dependencies a stage can fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dependency {
    /// The SQL database.
    Database,
    /// The object store.
    ObjectStore,
    /// The message broker (publishing).
    Bus,
    /// The model endpoint of the optional `fill` step. Not in [`Self::ALL`]:
    /// its breaker belongs to the fill step alone (an open one leaves the
    /// stubs in place), so it never stops other stages from consuming.
    FillEndpoint,
}

impl Dependency {
    /// Every dependency with a breaker.
    pub const ALL: [Dependency; 3] = [
        Dependency::Database,
        Dependency::ObjectStore,
        Dependency::Bus,
    ];

    /// Stable name (metrics label, `/readyz`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Database => "database",
            Dependency::ObjectStore => "object_store",
            Dependency::Bus => "bus",
            Dependency::FillEndpoint => "fill_endpoint",
        }
    }
}

/// State of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// One probe may pass.
    HalfOpen,
    /// Calls are refused until the open delay passes.
    Open,
}

impl BreakerState {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

/// What the stage loop needs from a breaker.
pub trait Breaker: Send + Sync {
    /// Whether a call may go ahead now (moves open to half-open when due).
    fn permits(&self) -> bool;
    /// Records the outcome of a call.
    fn record(&self, ok: bool);
    /// Current state, for `/readyz` and metrics.
    fn state(&self) -> BreakerState;
}

/// Consecutive failures that open a breaker.
pub const FAILURES_TO_OPEN: u32 = 3;

#[derive(Debug, Clone)]
struct Observed {
    dependency: Dependency,
    state: Arc<AtomicU8>,
}

impl Observed {
    /// Records a state the breaker reports. failsafe also reports the
    /// initial closed state when a breaker is built: that is no change and
    /// logs nothing. Opening is a warning; half-open and closing again
    /// (recovery) are informational.
    fn set(&self, s: BreakerState) {
        let previous = self.state.swap(s as u8, Ordering::SeqCst);
        metrics::gauge!("c4forge_breaker_state", "dependency" => self.dependency.as_str())
            .set(f64::from(s as u8));
        if previous == s as u8 {
            return;
        }
        let dependency = self.dependency.as_str();
        match s {
            BreakerState::Open => {
                tracing::warn!(
                    dependency,
                    state = s.as_str(),
                    "circuit breaker changed state"
                );
            }
            BreakerState::HalfOpen | BreakerState::Closed => {
                tracing::info!(
                    dependency,
                    state = s.as_str(),
                    "circuit breaker changed state"
                );
            }
        }
    }
}

impl Instrument for Observed {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        self.set(BreakerState::Open);
    }
    fn on_half_open(&self) {
        self.set(BreakerState::HalfOpen);
    }
    fn on_closed(&self) {
        self.set(BreakerState::Closed);
    }
}

/// A breaker backed by `failsafe`.
pub struct FailsafeBreaker {
    machine: StateMachine<ConsecutiveFailures<EqualJittered>, Observed>,
    observed: Observed,
}

impl std::fmt::Debug for FailsafeBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailsafeBreaker")
            .field("dependency", &self.observed.dependency)
            .finish()
    }
}

impl FailsafeBreaker {
    /// A breaker for `dependency` that opens after [`FAILURES_TO_OPEN`]
    /// consecutive failures, for `min_open` doubling up to `max_open`.
    /// failsafe counts whole seconds and jitters between half and all of
    /// the delay, so `min_open` is at least two seconds.
    pub fn new(dependency: Dependency, min_open: Duration, max_open: Duration) -> Self {
        let min_open = min_open.max(Duration::from_secs(2));
        let max_open = max_open.max(min_open);
        let observed = Observed {
            dependency,
            state: Arc::new(AtomicU8::new(BreakerState::Closed as u8)),
        };
        let machine = Config::new()
            .failure_policy(consecutive_failures(
                FAILURES_TO_OPEN,
                backoff::equal_jittered(min_open, max_open),
            ))
            .instrument(observed.clone())
            .build();
        Self { machine, observed }
    }
}

impl Breaker for FailsafeBreaker {
    fn permits(&self) -> bool {
        self.machine.is_call_permitted()
    }
    fn record(&self, ok: bool) {
        if ok {
            self.machine.on_success();
        } else {
            self.machine.on_error();
        }
    }
    fn state(&self) -> BreakerState {
        match self.observed.state.load(Ordering::SeqCst) {
            0 => BreakerState::Closed,
            1 => BreakerState::HalfOpen,
            _ => BreakerState::Open,
        }
    }
}

/// The breakers of one process, shared by its stages and its probes.
#[derive(Clone)]
pub struct Breakers {
    inner: Arc<Vec<(Dependency, Box<dyn Breaker>)>>,
}

impl std::fmt::Debug for Breakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.states()).finish()
    }
}

impl Default for Breakers {
    fn default() -> Self {
        Self::new(Duration::from_secs(2), Duration::from_secs(30))
    }
}

impl Breakers {
    /// One [`FailsafeBreaker`] per dependency.
    pub fn new(min_open: Duration, max_open: Duration) -> Self {
        let inner = Dependency::ALL
            .into_iter()
            .map(|d| {
                (
                    d,
                    Box::new(FailsafeBreaker::new(d, min_open, max_open)) as Box<dyn Breaker>,
                )
            })
            .collect();
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Breakers of the caller's choosing, one per dependency: for tests of
    /// the consumer loop and embedders with their own [`Breaker`].
    pub fn from_breakers(breakers: Vec<(Dependency, Box<dyn Breaker>)>) -> Self {
        Self {
            inner: Arc::new(breakers),
        }
    }

    fn get(&self, dependency: Dependency) -> Option<&dyn Breaker> {
        self.inner
            .iter()
            .find(|(d, _)| *d == dependency)
            .map(|(_, b)| b.as_ref())
    }

    /// Records a failure of `dependency`.
    pub fn failed(&self, dependency: Dependency) {
        if let Some(b) = self.get(dependency) {
            b.record(false);
        }
    }

    /// Records that a whole stage run succeeded: every dependency answered.
    pub fn succeeded(&self) {
        for (_, b) in self.inner.iter() {
            b.record(true);
        }
    }

    /// The first dependency whose breaker refuses calls now, if any.
    pub fn blocked(&self) -> Option<Dependency> {
        self.inner
            .iter()
            .find(|(_, b)| !b.permits())
            .map(|(d, _)| *d)
    }

    /// Every breaker's state.
    pub fn states(&self) -> Vec<(&'static str, &'static str)> {
        self.inner
            .iter()
            .map(|(d, b)| (d.as_str(), b.state().as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_a_probe() {
        let b = Breakers::new(Duration::from_secs(2), Duration::from_secs(2));
        for _ in 0..FAILURES_TO_OPEN {
            assert_eq!(b.blocked(), None);
            b.failed(Dependency::Database);
        }
        assert_eq!(b.blocked(), Some(Dependency::Database));
        assert!(b.states().contains(&("database", "open")));
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(b.blocked(), None, "half-open lets a probe through");
        b.succeeded();
        assert!(
            b.states().iter().all(|(_, s)| *s == "closed"),
            "{:?}",
            b.states()
        );
    }
}
