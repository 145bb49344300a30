//! Health: liveness, readiness and the Prometheus metrics, served with the
//! API and alone on the admin port of processes that run no HTTP stage.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemas::api::Readiness;

use crate::state::AppState;

/// What the health, readiness and metrics endpoints look at.
#[derive(Clone)]
pub struct Probes {
    /// Database to ping.
    pub ledger: runtime::jobs::Ledger,
    /// Object store to check.
    pub objects: runtime::objects::Objects,
    /// Bus to check.
    pub bus: runtime::bus::SharedBus,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Circuit breakers: an open breaker makes the process not ready.
    pub breakers: runtime::breaker::Breakers,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes").finish_non_exhaustive()
    }
}

impl FromRef<AppState> for Probes {
    fn from_ref(state: &AppState) -> Self {
        Probes {
            ledger: state.ledger.clone(),
            objects: state.objects.clone(),
            bus: state.bus.clone(),
            metrics: state.metrics.clone(),
            breakers: state.breakers.clone(),
        }
    }
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is alive", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Database, bus and object store answer; no breaker open", body = Readiness), (status = 503, description = "A dependency is unavailable", body = Readiness)))]
pub(crate) async fn readyz(State(state): State<Probes>) -> Response {
    let db = runtime::db::ping(state.ledger.db())
        .await
        .map_err(|e| e.to_string());
    let bus = state.bus.check().await.map_err(|e| e.to_string());
    let objects = state.objects.check().await.map_err(|e| e.to_string());
    let states = state.breakers.states();
    let open = states.iter().any(|(_, s)| *s == "open");
    let breakers = states
        .into_iter()
        .map(|(d, s)| (d.to_string(), s.to_string()))
        .collect();
    let ok = db.is_ok() && bus.is_ok() && objects.is_ok() && !open;
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let body = Readiness {
        database: show(&db),
        bus: show(&bus),
        objects: show(&objects),
        breakers,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics_text(State(state): State<Probes>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
