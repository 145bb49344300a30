//! `c4parse parse FILE... [--format json|text]`: the `c4forge parse` CLI
//! contract without the service binary, for the oracle and for debugging.
//! Relative includes are read from the filesystem below each file's directory.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use preprocess::{IncludeResolver, SourceFile, parse_many, render_diagnostics, render_text};

/// Reads includes from disk, never leaving `root`.
struct FsResolver {
    root: PathBuf,
}

impl IncludeResolver for FsResolver {
    fn resolve(&self, including_file: &str, target: &str) -> Result<SourceFile, String> {
        let base = Path::new(including_file).parent().unwrap_or(Path::new(""));
        let mut joined = PathBuf::new();
        for c in base.join(target).components() {
            match c {
                Component::ParentDir => {
                    if !joined.pop() {
                        return Err("the path leaves the diagram's directory".into());
                    }
                }
                Component::CurDir => {}
                Component::Normal(p) => joined.push(p),
                _ => return Err("absolute include paths are not allowed".into()),
            }
        }
        let full = self.root.join(&joined);
        let text =
            std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        Ok(SourceFile {
            path: joined.to_string_lossy().replace('\\', "/"),
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
    let root = paths[0].parent().map(Path::to_path_buf).unwrap_or_default();
    let mut files = Vec::new();
    for p in &paths {
        match std::fs::read_to_string(p) {
            Ok(text) => {
                let rel = p.strip_prefix(&root).unwrap_or(p);
                files.push(SourceFile {
                    path: rel.to_string_lossy().replace('\\', "/"),
                    text,
                });
            }
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
    }
    let resolver = FsResolver { root };
    let model = parse_many(&files, &resolver);
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
