//! Data-driven snapshot tests: every fixture in `tests/data/*.puml` and
//! `tests/plantuml/*.puml` (constructs from real diagrams that PlantUML
//! accepts; `scripts/test.sh` also checks them against PlantUML) and every
//! `.puml` file of the shared C4-PlantUML corpus is parsed, and the model
//! (JSON) is compared with `tests/snapshots/*.json`; fixtures also get the
//! text rendering (`*.txt`) so caret diagnostics are checked too. Hostile
//! inputs in `tests/limits/*.puml` get a summary snapshot (diagnostics, item
//! counts, JSON size): their models are megabytes.
//!
//! `C4FORGE_BLESS=1 cargo test -p preprocess` rewrites the snapshots.

use std::fs;
use std::path::{Path, PathBuf};

use preprocess::{BundleResolver, SourceFile, parse_many, render_text};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// All files below `root` as a bundle, with `/`-separated relative paths.
fn bundle(root: &Path) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = fs::read_to_string(&p) {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                out.push(SourceFile {
                    path: rel.to_string_lossy().replace('\\', "/"),
                    text,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn snapshot_name(prefix: &str, rel: &str) -> String {
    let mut s: String = format!("{prefix}__{rel}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Some(x) = s.strip_suffix(".puml") {
        s = x.to_string();
    }
    s
}

fn check(name: &str, ext: &str, actual: &str, failures: &mut Vec<String>) {
    let path = manifest()
        .join("tests/snapshots")
        .join(format!("{name}.{ext}"));
    if std::env::var_os("C4FORGE_BLESS").is_some() {
        fs::create_dir_all(path.parent().expect("snapshot dir")).expect("create snapshot dir");
        fs::write(&path, actual).expect("write snapshot");
        return;
    }
    match fs::read_to_string(&path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            failures.push(format!(
                "{}: differs from line {} (run with C4FORGE_BLESS=1 to accept)",
                path.display(),
                line + 1
            ));
        }
        Err(_) => failures.push(format!(
            "{}: missing snapshot (run with C4FORGE_BLESS=1 to create it)",
            path.display()
        )),
    }
}

fn run_dir(root: &Path, prefix: &str, with_text: bool, failures: &mut Vec<String>) -> usize {
    let files = bundle(root);
    let resolver = BundleResolver::new(files.clone());
    let mut n = 0;
    for f in files.iter().filter(|f| f.path.ends_with(".puml")) {
        let model = parse_many(std::slice::from_ref(f), &resolver);
        let json = serde_json::to_string_pretty(&model).expect("model serializes") + "\n";
        let name = snapshot_name(prefix, &f.path);
        check(&name, "json", &json, failures);
        if with_text {
            check(&name, "txt", &render_text(&model, &files), failures);
        }
        n += 1;
    }
    n
}

#[test]
fn fixtures_match_snapshots() {
    let mut failures = Vec::new();
    let mut n = run_dir(&manifest().join("tests/data"), "data", true, &mut failures);
    n += run_dir(
        &manifest().join("tests/plantuml"),
        "plantuml",
        true,
        &mut failures,
    );
    assert!(n >= 20, "only {n} fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_matches_snapshots() {
    let corpus = manifest().join("../../shared/corpus/c4-plantuml");
    if !corpus.is_dir() {
        eprintln!("corpus not found at {}; skipped", corpus.display());
        return;
    }
    let mut failures = Vec::new();
    let mut n = 0;
    for sub in ["samples", "percy"] {
        n += run_dir(&corpus.join(sub), sub, false, &mut failures);
    }
    // the library files at the corpus root parse without panicking too
    let lib: Vec<SourceFile> = bundle(&corpus)
        .into_iter()
        .filter(|f| !f.path.contains('/') && f.path.ends_with(".puml"))
        .collect();
    let resolver = BundleResolver::new(lib.clone());
    for f in &lib {
        let model = parse_many(std::slice::from_ref(f), &resolver);
        let json = serde_json::to_string_pretty(&model).expect("model serializes") + "\n";
        check(
            &snapshot_name("library", &f.path),
            "json",
            &json,
            &mut failures,
        );
    }
    assert!(n >= 70, "only {n} corpus files found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A summary of a model too large to keep as a snapshot: its diagnostics,
/// item counts and the size of its JSON.
fn summary(model: &schemas::model::v1::Model) -> serde_json::Value {
    let json_bytes = serde_json::to_string(model).map_or(0, |s| s.len());
    serde_json::json!({
        "diagnostics": model.diagnostics,
        "diagrams": model.diagrams.iter().map(|d| serde_json::json!({
            "elements": d.elements.len(),
            "boundaries": d.boundaries.len(),
            "relationships": d.relationships.len(),
            "title_bytes": d.title.as_ref().map_or(0, String::len),
        })).collect::<Vec<_>>(),
        "model_json_bytes": json_bytes,
    })
}

/// Hostile inputs in `tests/limits/*.puml` (a loop growing the model, the
/// preprocessor's memory or a message): each must stop at a limit with a
/// diagnostic. The snapshot is a [`summary`] (the models are megabytes),
/// and no model may reach 16 MB of JSON.
#[test]
fn limits_match_snapshots() {
    let mut failures = Vec::new();
    let mut n = 0;
    for f in bundle(&manifest().join("tests/limits")) {
        let model = parse_many(std::slice::from_ref(&f), &preprocess::NoIncludes);
        let s = summary(&model);
        let name = snapshot_name("limits", &f.path);
        let text = serde_json::to_string_pretty(&s).expect("summary serializes") + "\n";
        check(&name, "json", &text, &mut failures);
        let bytes = s["model_json_bytes"].as_u64().unwrap_or(u64::MAX);
        if bytes > 16 << 20 {
            failures.push(format!("{}: model of {bytes} bytes of JSON", f.path));
        }
        if model.diagnostics.is_empty() {
            failures.push(format!("{}: no diagnostic", f.path));
        }
        n += 1;
    }
    assert!(n >= 8, "only {n} limit fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bigbank_container_model() {
    let text = fs::read_to_string(manifest().join("tests/plantuml/bigbank_container.puml"))
        .expect("fixture");
    let f = SourceFile {
        path: "bigbank_container.puml".into(),
        text,
    };
    let m = preprocess::parse(&f, &preprocess::NoIncludes);
    assert!(!m.has_errors(), "{:?}", m.diagnostics);
    let d = &m.diagrams[0];
    assert_eq!(d.level, schemas::model::v1::Level::Container);
    assert_eq!(d.elements.len(), 8);
    assert_eq!(d.relationships.len(), 10);
    let db = d
        .elements
        .iter()
        .find(|e| e.alias == "database")
        .expect("database");
    assert_eq!(db.shape, schemas::model::v1::Shape::Database);
    assert_eq!(db.parent.as_deref(), Some("c1"));
}
