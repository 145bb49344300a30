//! Fault injection for the fault tests, compiled in only with the
//! `failpoints` feature (the README's test command enables it; release
//! builds never have it).
//!
//! The points are [`fail`] fail points, armed from the `FAILPOINTS`
//! environment variable (`name=actions;...`, see the `fail` crate). The
//! `return` action of a point here means "die now as if by SIGKILL": the
//! process aborts without running destructors, acking or flushing anything,
//! which is the crash the delivery rules must survive. The `sleep(ms)`
//! action of [`RUN_SLEEP`] makes a stage run slow.

/// In the consumer loop, after a stage's results are committed and before
/// its next message is published and its delivery acked.
pub const AFTER_COMMIT: &str = "stage-after-commit";

/// Inside a stage run, before the stage's work, on the blocking pool as the
/// generate stage's pure call is: `stage-run-sleep-{stage}` (for example
/// `stage-run-sleep-generate=1*sleep(600000)`) makes that stage's runs slow
/// or stuck, for the tests of leases and of the run time budget.
pub const RUN_SLEEP: &str = "stage-run-sleep";

/// At the start of a stage run, after its lease is taken:
/// `stage-abort-on-job-{stage}=return(JOB_ID)` aborts the process on every
/// run of that stage for that job (a message that crashes its consumer each
/// time: a crash loop), and on no other job.
pub const ABORT_ON_JOB: &str = "stage-abort-on-job";

/// Errors arming the fail points.
#[derive(Debug, thiserror::Error)]
pub enum FailpointsError {
    /// An entry of `FAILPOINTS` is not `name=actions`.
    #[error("FAILPOINTS entry `{0}` is not `name=actions`")]
    Syntax(String),
    /// The `fail` crate refused the actions of an entry.
    #[error("FAILPOINTS entry `{entry}`: {reason}")]
    Actions {
        /// The entry as given.
        entry: String,
        /// Why `fail` refused it.
        reason: String,
    },
}

/// Arms the fail points named in `FAILPOINTS`, if set. Called once by the
/// binary at start; a malformed value is an error, not a panic.
pub fn arm_from_env() -> Result<(), FailpointsError> {
    match std::env::var("FAILPOINTS") {
        Ok(spec) => arm(&spec),
        Err(_) => Ok(()),
    }
}

/// Arms the fail points of `spec` (`name=actions;...`).
pub fn arm(spec: &str) -> Result<(), FailpointsError> {
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, actions) = entry
            .split_once('=')
            .ok_or_else(|| FailpointsError::Syntax(entry.to_string()))?;
        fail::cfg(name.trim(), actions.trim()).map_err(|reason| FailpointsError::Actions {
            entry: entry.to_string(),
            reason,
        })?;
    }
    Ok(())
}

/// Evaluates the fail point `name`: when its action fires `return`, the
/// process aborts on the spot.
pub fn hit(name: &str) {
    if fail::eval(name, |_| ()).is_some() {
        tracing::error!(failpoint = name, "fail point fired: aborting the process");
        std::process::abort();
    }
}

/// Evaluates [`ABORT_ON_JOB`] for `stage`: aborts the process when the
/// point's `return` names `job`.
pub fn abort_on_job(stage: schemas::Stage, job: &str) {
    let name = format!("{ABORT_ON_JOB}-{stage}");
    if fail::eval(&name, |arg| arg.as_deref() == Some(job)) == Some(true) {
        tracing::error!(failpoint = %name, job, "fail point fired: aborting the process");
        std::process::abort();
    }
}

/// Evaluates [`RUN_SLEEP`] for `stage` on the blocking pool: like a stuck
/// pure call, a `sleep` there keeps its thread after the run's time budget
/// dropped the future awaiting it.
pub async fn run_sleep(stage: schemas::Stage) {
    let name = format!("{RUN_SLEEP}-{stage}");
    let _ = tokio::task::spawn_blocking(move || fail::eval(&name, |_| ())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        assert!(matches!(
            arm("no-equals-sign"),
            Err(FailpointsError::Syntax(_))
        ));
        assert!(matches!(
            arm("test-point=bogus-action"),
            Err(FailpointsError::Actions { .. })
        ));
        assert!(arm(" ; test-point=off ;").is_ok());
    }
}
