//! `c4parse parse FILE... [--format json|text]`: the `c4forge parse` CLI
//! contract without the service binary, for the oracle and for debugging.
//! Relative includes are read from the filesystem, relative to the including file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use preprocess::{IncludeResolver, SourceFile, parse_many, render_diagnostics, render_text};

/// Reads includes from disk relative to the including file, as PlantUML
/// (and `c4forge parse` without `--include-root`) does.
struct FsResolver;

impl IncludeResolver for FsResolver {
    fn resolve(&self, including_file: &str, target: &str) -> Result<SourceFile, String> {
        let base = Path::new(including_file).parent().unwrap_or(Path::new(""));
        let wanted = base.join(target);
        let text = std::fs::read_to_string(&wanted)
            .map_err(|e| format!("cannot read {}: {e}", wanted.display()))?;
        Ok(SourceFile {
            path: wanted.to_string_lossy().replace('\\', "/"),
            text,
        })
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("parse") {
        eprintln!("usage: c4parse parse FILE... [--format json|text]");
        return ExitCode::from(2);
    }
    let mut format = "text".to_string();
    let mut paths = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--format" {
            format = it.next().cloned().unwrap_or_default();
        } else if let Some(f) = a.strip_prefix("--format=") {
            format = f.to_string();
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    if paths.is_empty() || !(format == "json" || format == "text") {
        eprintln!("usage: c4parse parse FILE... [--format json|text]");
        return ExitCode::from(2);
    }
    let mut files = Vec::new();
    for p in &paths {
        match std::fs::read_to_string(p) {
            Ok(text) => {
                files.push(SourceFile {
                    path: p.to_string_lossy().replace('\\', "/"),
                    text,
                });
            }
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
    }
    let model = parse_many(&files, &FsResolver);
    if format == "json" {
        match serde_json::to_string_pretty(&model) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
        eprint!("{}", render_diagnostics(&model, &files));
    } else {
        print!("{}", render_text(&model, &files));
    }
    if model.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
