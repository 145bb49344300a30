//! The outbox relay and the recovery sweep.
//!
//! Ingest commits a job together with an outbox row; the relay publishes
//! outbox rows with confirms and deletes them afterwards, so an upload is
//! never accepted without its message eventually reaching the bus. The
//! sweep re-publishes the latest committed output of unfinished jobs:
//! after a crash of the embedded mode (whose in-process queues are gone)
//! every job resumes; stages treat the duplicates idempotently.
//!
//! The sweep never re-publishes a job that a stage run is working on: a
//! running stage holds a lease on its job (`stage_leases`, renewed by the
//! run's heartbeat, see `stage`), and a job with a live lease is skipped
//! however long its run takes (the run's own time budget bounds that). A
//! job is recovered when a run's lease expired unreleased (its process
//! died; in the distributed mode the broker also redelivers, and whichever
//! message comes first takes the lease) or when the job made no progress
//! for `stale_after` with no run at all (its message was lost between
//! stages).

use crate::bus::{Destination, Outgoing, SharedBus};
use crate::jobs::Ledger;
use crate::shutdown::Shutdown;
use schemas::messages::Envelope;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Rows relayed per round.
const BATCH: u64 = 100;

/// Publishes pending outbox rows until `shutdown`. `wake` is notified by
/// ingest after each commit, so relaying adds no polling delay; a slow poll
/// catches rows left by a crashed process.
pub async fn relay(ledger: Ledger, bus: SharedBus, wake: Arc<Notify>, shutdown: Shutdown) {
    loop {
        match relay_once(&ledger, &bus).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox relay round failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// One relay round; returns how many rows were published. The round's
/// rows are published concurrently (each awaits its own confirm) and the
/// confirmed ones deleted with one statement; a row whose publish failed
/// stays for the next round.
pub async fn relay_once(ledger: &Ledger, bus: &SharedBus) -> Result<usize, String> {
    let rows = ledger
        .outbox_pending(BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let results = futures_util::future::join_all(rows.iter().map(|row| async move {
        let published = bus
            .publish(Outgoing {
                destination: Destination::Work(row.routing_key.clone()),
                body: row.body.clone().into_bytes(),
                headers: BTreeMap::new(),
            })
            .await;
        (row.id, published)
    }))
    .await;
    let mut confirmed = Vec::with_capacity(results.len());
    let mut first_error = None;
    for (id, published) in results {
        match published {
            Ok(()) => confirmed.push(id),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    ledger
        .outbox_delete_many(&confirmed)
        .await
        .map_err(|e| e.to_string())?;
    metrics::counter!("c4forge_outbox_published_total").increment(confirmed.len() as u64);
    match first_error {
        Some(e) => Err(e),
        None => Ok(rows.len()),
    }
}

/// How often [`maintain`] runs at most (more often when `stale_after` is shorter).
pub const MAINTAIN_EVERY: Duration = Duration::from_secs(30);

/// Periodic upkeep of an ingest process until `shutdown`: re-enqueues jobs
/// that no live stage run holds and whose run died (expired lease) or that
/// made no progress for `stale_after` (a message lost anywhere, in either
/// mode, is recovered this way; stages treat the duplicate idempotently),
/// and refreshes the outbox-backlog and DLQ-size gauges.
pub async fn maintain(ledger: Ledger, bus: SharedBus, stale_after: Duration, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(MAINTAIN_EVERY.min(stale_after).max(Duration::from_secs(1))) => {}
        }
        let stale_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        match sweep_older_than(&ledger, &bus, crate::now_millis().saturating_sub(stale_ms)).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "re-enqueued jobs that made no progress"),
            Err(e) => tracing::warn!(error = %e, "stale-job sweep failed"),
        }
        if let Ok(n) = ledger.outbox_pending(10_000).await.map(|rows| rows.len()) {
            metrics::gauge!("c4forge_outbox_backlog").set(n as f64);
        }
        if let Ok(n) = ledger.dead_letter_count().await {
            metrics::gauge!("c4forge_dlq_size").set(n as f64);
        }
    }
}

/// Start-up recovery of the embedded mode: releases every lease (they
/// belong to a previous incarnation of this process, whose runs died with
/// it) and re-publishes the latest committed output of every unfinished job.
/// Returns how many jobs were re-enqueued.
pub async fn recover_embedded_start(ledger: &Ledger, bus: &SharedBus) -> Result<usize, String> {
    let released = ledger
        .release_all_leases()
        .await
        .map_err(|e| e.to_string())?;
    if released > 0 {
        tracing::info!(
            leases = released,
            "released the leases of the previous process"
        );
    }
    sweep(ledger, bus).await
}

/// Re-publishes the latest committed output of every unfinished job that no
/// stage run holds a live lease on. Returns how many jobs were re-enqueued.
pub async fn sweep(ledger: &Ledger, bus: &SharedBus) -> Result<usize, String> {
    sweep_older_than(ledger, bus, i64::MAX).await
}

/// [`sweep`] limited to jobs whose run's lease expired unreleased, or that
/// made no progress (job row, stage leases) since `idle_before` (ms).
pub async fn sweep_older_than(
    ledger: &Ledger,
    bus: &SharedBus,
    idle_before: i64,
) -> Result<usize, String> {
    let now = crate::now_millis();
    let jobs = ledger
        .recoverable_jobs(idle_before, now, 10_000)
        .await
        .map_err(|e| e.to_string())?;
    let mut n = 0;
    for job in jobs {
        let Some(body) = ledger
            .latest_output(job.id)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let Ok(env) = Envelope::decode(body.as_bytes()) else {
            continue;
        };
        bus.publish(Outgoing {
            destination: Destination::Work(env.body.routing_key().to_string()),
            body: body.into_bytes(),
            headers: BTreeMap::new(),
        })
        .await
        .map_err(|e| e.to_string())?;
        let expired = ledger
            .settle_expired_leases(job.id, now)
            .await
            .map_err(|e| e.to_string())?;
        let cause = if expired > 0 {
            "lease_expired"
        } else {
            "no_progress"
        };
        tracing::info!(job_id = %job.id, status = %job.status, cause, "recovered unfinished job");
        n += 1;
    }
    Ok(n)
}
