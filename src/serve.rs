//! `c4forge serve`: the command line's side of [`server::run`] (which
//! stages to run, the signal that stops it, the line scripts read).

use anyhow::Result;
use schemas::Stage;
use std::collections::BTreeSet;

/// Parses `--stages` (empty: every stage).
pub fn parse_stages(raw: &[String]) -> Result<BTreeSet<Stage>> {
    if raw.is_empty() {
        return Ok(Stage::ALL.into_iter().collect());
    }
    raw.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.parse::<Stage>().map_err(anyhow::Error::from))
        .collect()
}

/// Runs the service until SIGTERM, Ctrl-C or a fatal error.
pub async fn run(cfg: runtime::Config, stages: BTreeSet<Stage>) -> Result<()> {
    let shutdown = runtime::shutdown::on_signals();
    server::run(cfg, stages, shutdown, |at| {
        // Scripts and tests read this line to find the port when listening on :0.
        if at.api {
            println!("c4forge listening on http://{}", at.addr);
        } else {
            println!("c4forge admin listening on http://{}", at.addr);
        }
    })
    .await?;
    Ok(())
}
