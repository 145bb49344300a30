//! Tracing and Prometheus metrics.
//!
//! Metric names (documented here, in one place):
//! - `c4forge_stage_messages_total{stage, outcome}`: deliveries handled, by
//!   outcome `ok`, `duplicate`, `failed`, `retried`, `dead_lettered`.
//! - `c4forge_stage_duration_seconds{stage}`: handling time per delivery.
//! - `c4forge_stage_in_flight{stage}`: deliveries being handled now.
//! - `c4forge_outbox_published_total`: outbox rows relayed to the bus.
//! - `c4forge_uploads_total{outcome}`: uploads accepted or rejected.
//! - `c4forge_ws_clients`: connected websocket clients.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Initializes `tracing` output once per process: `RUST_LOG` filters
/// (default `info`), `C4FORGE_LOG_FORMAT=json` switches to JSON lines.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("C4FORGE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder once and returns its handle, which
/// renders the text exposition format for `/metrics`.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            // Buckets make the stage latency a real histogram, so quantiles
            // can be aggregated across replicas.
            let buckets = [
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), &buckets)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
