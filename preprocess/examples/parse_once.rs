//! `parse_once FILE [N]`: parses FILE N times (default 1) with
//! [`preprocess::parse`] and prints the item counts (and, on stderr, the
//! wall-clock time of each parse and of dropping its model); a driver for
//! profilers (`valgrind --tool=callgrind`, `perf`) without the CLI's
//! reading and JSON writing around the parse.

use std::process::ExitCode;

use preprocess::{NoIncludes, SourceFile, parse};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: parse_once FILE [N]");
        return ExitCode::from(2);
    };
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let file = SourceFile { path, text };
    for _ in 0..n {
        let start = std::time::Instant::now();
        let m = parse(&file, &NoIncludes);
        let parsed = start.elapsed();
        let d = m.diagrams.first();
        println!(
            "diagrams {} elements {} boundaries {} relationships {} diagnostics {}",
            m.diagrams.len(),
            d.map_or(0, |d| d.elements.len()),
            d.map_or(0, |d| d.boundaries.len()),
            d.map_or(0, |d| d.relationships.len()),
            m.diagnostics.len()
        );
        let start = std::time::Instant::now();
        drop(m);
        eprintln!(
            "parse {:.1} ms, drop {:.1} ms (wall-clock)",
            parsed.as_secs_f64() * 1e3,
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    ExitCode::SUCCESS
}
