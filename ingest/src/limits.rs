//! Rate limits: per user for uploads and per client IP for the auth
//! endpoints, answered with 429 and `Retry-After`. Built on `governor`'s
//! keyed GCRA limiters; idle keys are pruned so memory stays bounded.

use crate::problem::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The limiters of one API process.
#[derive(Clone)]
pub struct Limits {
    uploads: Arc<DefaultKeyedRateLimiter<String>>,
    auth: Arc<DefaultKeyedRateLimiter<String>>,
    checks: Arc<AtomicU64>,
    /// Most unfinished jobs one user may have.
    pub max_active_jobs: i64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("max_active_jobs", &self.max_active_jobs)
            .finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    /// Limits of `uploads_per_minute` per user, `auth_per_minute` per IP.
    pub fn new(uploads_per_minute: u32, auth_per_minute: u32, max_active_jobs: i64) -> Self {
        Self {
            uploads: Arc::new(RateLimiter::keyed(per_minute(uploads_per_minute))),
            auth: Arc::new(RateLimiter::keyed(per_minute(auth_per_minute))),
            checks: Arc::new(AtomicU64::new(0)),
            max_active_jobs,
        }
    }

    fn check(
        &self,
        limiter: &DefaultKeyedRateLimiter<String>,
        key: String,
        what: &str,
    ) -> Result<(), ApiError> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
        {
            self.uploads.retain_recent();
            self.auth.retain_recent();
        }
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooMany {
                detail: format!("too many {what}; retry in {} s", wait.as_secs() + 1),
                retry_after: wait.as_secs() + 1,
            }
        })
    }

    /// One upload by `user`.
    pub fn upload(&self, user: &str) -> Result<(), ApiError> {
        self.check(&self.uploads, user.to_string(), "uploads")
    }

    /// One auth request from `ip`.
    pub fn auth(&self, ip: &str) -> Result<(), ApiError> {
        self.check(&self.auth, ip.to_string(), "sign-in attempts")
    }
}
