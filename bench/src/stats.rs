//! Percentiles over recorded durations, and the closed-loop runner shared by
//! every measurement: `concurrency` workers take operation numbers from one
//! counter until `count` operations ran or the time limit passed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A set of durations, summarized by nearest-rank percentiles.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    ms: Vec<f64>,
}

impl Latencies {
    /// Records one duration.
    pub fn push(&mut self, d: Duration) {
        self.ms.push(d.as_secs_f64() * 1000.0);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Latencies) {
        self.ms.extend_from_slice(&other.ms);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Whether there is no sample yet.
    pub fn is_empty(&self) -> bool {
        self.ms.is_empty()
    }

    /// The nearest-rank `p`-th percentile (0..=100) in milliseconds; 0 when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return 0.0;
        }
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// Mean in milliseconds; 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.ms.is_empty() {
            0.0
        } else {
            self.ms.iter().sum::<f64>() / self.ms.len() as f64
        }
    }

    /// `p50 / p95 / p99 / max` as text.
    pub fn summary(&self) -> String {
        format!(
            "p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}  mean {:.1} ms (n={})",
            self.percentile(50.0),
            self.percentile(95.0),
            self.percentile(99.0),
            self.percentile(100.0),
            self.mean(),
            self.len()
        )
    }

    /// The percentiles as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "n": self.len(),
            "p50_ms": self.percentile(50.0),
            "p95_ms": self.percentile(95.0),
            "p99_ms": self.percentile(99.0),
            "max_ms": self.percentile(100.0),
            "mean_ms": self.mean(),
        })
    }
}

/// What a closed-loop run measured.
#[derive(Debug, Default, Clone)]
pub struct Measured {
    /// Operations that succeeded.
    pub ok: usize,
    /// Operations that failed.
    pub errors: usize,
    /// The first error message, if any.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Duration of each successful operation.
    pub latencies: Latencies,
}

impl Measured {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The result as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok,
            "errors": self.errors,
            "first_error": self.first_error,
            "secs": self.elapsed.as_secs_f64(),
            "rate_per_sec": self.rate(),
            "latency": self.latencies.to_json(),
        })
    }
}

/// Runs `op(i)` for `i` in `0..count` with `concurrency` workers, stopping
/// early when `limit` has passed, and times every call.
pub async fn run_closed<F, Fut>(
    count: usize,
    concurrency: usize,
    limit: Duration,
    op: F,
) -> Measured
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (op, next) = (op.clone(), next.clone());
        workers.spawn(async move {
            let mut m = Measured::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                match op(i).await {
                    Ok(()) => {
                        m.ok += 1;
                        m.latencies.push(t.elapsed());
                    }
                    Err(e) => {
                        m.errors += 1;
                        if m.first_error.is_none() {
                            m.first_error = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            m
        });
    }
    let mut total = Measured::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(m) => {
                total.ok += m.ok;
                total.errors += m.errors;
                total.latencies.extend(&m.latencies);
                if total.first_error.is_none() {
                    total.first_error = m.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert!((l.percentile(50.0) - 50.0).abs() < 1e-6);
        assert!((l.percentile(99.0) - 99.0).abs() < 1e-6);
        assert!((l.percentile(100.0) - 100.0).abs() < 1e-6);
        assert_eq!(Latencies::default().percentile(50.0), 0.0);
    }

    #[tokio::test]
    async fn closed_loop_runs_each_operation_once() {
        let m = run_closed(50, 4, Duration::from_secs(10), |i| async move {
            if i % 10 == 0 {
                anyhow::bail!("op {i} failed")
            }
            Ok(())
        })
        .await;
        assert_eq!(m.ok, 45);
        assert_eq!(m.errors, 5);
    }
}
