//! Shared helpers of the infer integration tests: fixtures and writing projects.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use infer::{DEFAULT_GENERATOR, GenerateOptions, generate};
use schemas::files::FileSet;
use schemas::model::v1::Model;

/// `infer/tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Every `*.model.json` fixture: (name, model), sorted by name.
pub fn fixtures() -> Vec<(String, Model)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".model.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let model: Model =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            out.push((stem.to_string(), model));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no fixtures in {}", data_dir().display());
    out
}

/// Generates with the default generator, naming the fixture as source.
pub fn gen_fixture(name: &str, model: &Model) -> FileSet {
    let opts = GenerateOptions {
        source_name: format!("{name}.puml"),
        templates_dir: None,
    };
    generate(DEFAULT_GENERATOR, model, &opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Writes a file set under `dir`.
pub fn write(dir: &Path, files: &FileSet) {
    for f in &files.files {
        let p = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.contents).unwrap();
    }
}
