//! `convert --fill MODEL`: the optional model-written `impl/` bodies (the
//! `fill` crate) run before the project is written, so the regeneration
//! plan writes the accepted bodies and `c4forge.json` records every module.

use anyhow::{Context, Result};
use schemas::files::FileSet;
use schemas::model::v1::Model;
use std::path::Path;

use crate::exit::{Exit, fail};

/// Fills the `impl/` modules of `files` with `model_name`'s answers that
/// pass the gate; modules edited in `out_dir` are left alone. Returns the
/// project and the paths whose stub was replaced. Prints one line per
/// module.
pub fn fill(
    out_dir: &Path,
    cfg: &runtime::config::FillConfig,
    model_name: &str,
    model: &Model,
    files: FileSet,
) -> Result<(FileSet, Vec<String>)> {
    if !cfg.enabled() {
        return Err(fail(
            Exit::Usage,
            "--fill needs a chat-completions endpoint: set C4FORGE_FILL_URL (for example http://127.0.0.1:11434/v1 for Ollama) and, if it needs one, C4FORGE_FILL_API_KEY",
        ));
    }
    let off_limits = fill::local::off_limits(out_dir, &files)
        .with_context(|| format!("reading {}", out_dir.display()))?;
    let filler = fill::Filler::new(cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let filled = rt.block_on(filler.fill(fill::Job {
        job_id: None,
        model_name,
        model,
        files: &files,
        off_limits: &off_limits,
    }))?;
    let mut accepted = Vec::new();
    for m in &filled.record.modules {
        let how = match (m.outcome, m.retries) {
            (fill::Outcome::Accepted, Some(0)) => "accepted on the first answer".to_string(),
            (fill::Outcome::Accepted, Some(n)) => format!("accepted after {n} retries"),
            (outcome, _) => format!(
                "{}, stub kept: {}",
                serde_json::to_value(outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                m.reason.as_deref().unwrap_or("")
            ),
        };
        println!("fill    {} ({how})", m.path);
        if m.outcome == fill::Outcome::Accepted {
            accepted.push(m.path.clone());
        }
    }
    let s = filled.record.summary();
    println!(
        "fill with {}: {} of {} modules accepted, {} rejected, {} failed, {} skipped",
        s.model, s.accepted, s.modules, s.rejected, s.failed, s.skipped
    );
    Ok((filled.files, accepted))
}
