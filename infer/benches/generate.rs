//! Generation time per diagram: `python-fastapi` on the project's IR
//! fixtures (context, container, component, dynamic, deployment, message
//! bus), including the in-process Python syntax check that every job runs.
//!
//! `cargo bench -p infer --bench generate`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use infer::{DEFAULT_GENERATOR, GenerateOptions, generate, verify_python};
use schemas::model::v1::Model;
use std::hint::black_box;

const FIXTURES: [(&str, &str); 6] = [
    ("context", include_str!("../tests/data/context.model.json")),
    (
        "container",
        include_str!("../tests/data/container.model.json"),
    ),
    (
        "component",
        include_str!("../tests/data/component.model.json"),
    ),
    ("dynamic", include_str!("../tests/data/dynamic.model.json")),
    (
        "deployment",
        include_str!("../tests/data/deployment.model.json"),
    ),
    (
        "message_bus",
        include_str!("../tests/data/message_bus.model.json"),
    ),
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    let opts = GenerateOptions {
        source_name: "bench.puml".into(),
        templates_dir: None,
    };
    for (name, json) in FIXTURES {
        let Ok(model) = serde_json::from_str::<Model>(json) else {
            panic!("fixture {name} is not IR JSON");
        };
        let Ok(files) = generate(DEFAULT_GENERATOR, &model, &opts) else {
            panic!("fixture {name} does not generate");
        };
        group.throughput(Throughput::Elements(files.files.len() as u64));
        group.bench_with_input(BenchmarkId::new("python-fastapi", name), &model, |b, m| {
            b.iter(|| {
                let files = generate(DEFAULT_GENERATOR, black_box(m), &opts);
                black_box(files.map(|f| verify_python(&f).is_ok()))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
