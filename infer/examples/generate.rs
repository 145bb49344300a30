//! Development helper: parse one `.puml` file and write the generated project.
//!
//! `cargo run -p infer --example generate -- diagram.puml out/`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out] = args.as_slice() else {
        eprintln!("usage: generate DIAGRAM.puml OUT_DIR");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(input).expect("read diagram");
    let name = PathBuf::from(input)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let model = preprocess::parse(
        &preprocess::SourceFile {
            path: name.clone(),
            text,
        },
        &preprocess::NoIncludes,
    );
    for d in &model.diagnostics {
        eprintln!(
            "{:?} {}:{}:{} {}",
            d.severity, d.file, d.line, d.column, d.message
        );
    }
    let opts = infer::GenerateOptions {
        source_name: name,
        templates_dir: None,
        ..Default::default()
    };
    let files = infer::generate(infer::DEFAULT_GENERATOR, &model, &opts).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    let out = PathBuf::from(out);
    let plan = infer::regen::plan(&out, &files).expect("plan");
    let report = infer::regen::apply(&out, &plan, &files).expect("apply");
    println!(
        "{} files: {} created, {} updated, {} deleted",
        files.files.len(),
        report.created.len(),
        report.updated.len(),
        report.deleted.len()
    );
    for w in report.warnings {
        println!("warning: {w}");
    }
}
