//! The system test of generated projects (`pytest -m system`, see the generated
//! `tests/test_system.py`) on real infrastructure: the property fixture
//! `tests/spec/bank.puml` (HTTP, PostgreSQL, Redis, RabbitMQ, Kafka, gRPC) and
//! corpus diagrams with containers (HTTP, databases, queues, dynamic flows).
//! Every service runs as its own process; every relationship is performed
//! across processes; nothing is left running.
//!
//! Runs when `SYSTEM_TEST_POSTGRES_URL` is set (`scripts/test.sh` sets it and
//! the other `SYSTEM_TEST_*` variables to this machine's services); without it
//! the test says so and returns. With it, a project whose system test is
//! skipped (infrastructure unreachable) fails.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use infer::{DEFAULT_GENERATOR, GenerateOptions, generate};

/// Corpus diagrams whose projects run as systems (chosen to cover HTTP,
/// databases, queues and dynamic flows; the corpus has no gRPC or Kafka,
/// which the fixture covers).
const CORPUS: &[&str] = &[
    "samples/C4_Container Diagram Sample - bigbankplc.puml",
    "samples/C4_Container Diagram Sample - bigbankplc-icons.puml",
    "samples/C4_Container Diagram Sample - bigbankplc-styles.puml",
    "samples/C4_Container Diagram Sample - message bus.puml",
    "samples/C4_Container Diagram Sample - techtribesjs.puml",
    "samples/C4_Component Diagram Sample - bigbankplc.puml",
    "samples/C4_Dynamic Diagram Sample - bigbankplc.puml",
    "samples/C4_Dynamic Diagram Sample - message bus.puml",
    "samples/C4_Dynamic Diagram Sample - message bus - old format.puml",
    "samples/C4_Deployment Diagram Sample - bigbankplc.puml",
    "percy/C4_Container Diagram Sample - bigbankplc-newStyle.puml",
];

const VARS: [&str; 4] = [
    "SYSTEM_TEST_POSTGRES_URL",
    "SYSTEM_TEST_AMQP_URL",
    "SYSTEM_TEST_REDIS_URL",
    "SYSTEM_TEST_KAFKA_BOOTSTRAP",
];

fn corpus_root() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/c4-plantuml"
    ))
    .to_path_buf()
}

fn project(path: &Path) -> schemas::files::FileSet {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let model = preprocess::parse(
        &preprocess::SourceFile {
            path: name.clone(),
            text: std::fs::read_to_string(path).unwrap(),
        },
        &preprocess::NoIncludes,
    );
    let opts = GenerateOptions {
        source_name: name.clone(),
        ..Default::default()
    };
    generate(DEFAULT_GENERATOR, &model, &opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn generated_projects_run_as_systems_on_real_infrastructure() {
    if std::env::var_os("SYSTEM_TEST_POSTGRES_URL").is_none() {
        eprintln!("skipped: SYSTEM_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)");
        return;
    }
    for v in VARS {
        assert!(std::env::var_os(v).is_some(), "{v} is not set");
    }
    let py = PathBuf::from(std::env::var_os("C4FORGE_PYTHON").expect("C4FORGE_PYTHON is not set"));
    let mut diagrams = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/bank.puml")];
    diagrams.extend(CORPUS.iter().map(|c| corpus_root().join(c)));
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, path) in diagrams.iter().enumerate() {
        let files = project(path);
        let dir = tmp.path().join(format!("p{i}"));
        common::write(&dir, &files);
        let out = Command::new(&py)
            .args([
                "-m",
                "pytest",
                "-m",
                "system",
                "-q",
                "-rs",
                "-p",
                "no:cacheprovider",
            ])
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("PYTHONPATH")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = text.lines().last().unwrap_or("").to_string();
        if !out.status.success() || !summary.contains("passed") || summary.contains("skipped") {
            failures.push(format!("=== {}:\n{text}", path.display()));
        } else {
            eprintln!("{}: {summary}", path.display());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
