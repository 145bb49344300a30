//! Shared state of the API handlers.

use crate::auth::TokenKeys;
use runtime::bus::SharedBus;
use runtime::jobs::Ledger;
use runtime::objects::Objects;
use std::sync::Arc;
use tokio::sync::Notify;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Job ledger and users.
    pub ledger: Ledger,
    /// Object store for sources and results.
    pub objects: Objects,
    /// Bus, for readiness checks.
    pub bus: SharedBus,
    /// Token signing and verification.
    pub keys: Arc<TokenKeys>,
    /// Wakes the outbox relay after a job is committed.
    pub relay_wake: Arc<Notify>,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: usize,
    /// Whether self-registration is open.
    pub allow_register: bool,
    /// Public base URL (`http://host:port`), or empty to use the `Host` header.
    pub public_url: String,
    /// Generator used when the upload does not name one.
    pub default_generator: String,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Rate limits and the active-job cap.
    pub limits: crate::limits::Limits,
    /// Registered generators (`GET /models`).
    pub models: Vec<schemas::api::GeneratorView>,
    /// Language models an upload's `fill` may name (`GET /models`; empty:
    /// no fill endpoint configured, a `fill` is refused).
    pub fill_models: Vec<schemas::api::FillModelView>,
    /// Refresh token lifetime in seconds.
    pub refresh_ttl_secs: u64,
    /// The process's circuit breakers (shown by `/readyz`).
    pub breakers: runtime::breaker::Breakers,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("objects", &self.objects)
            .finish_non_exhaustive()
    }
}
