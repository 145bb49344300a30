//! Generation time per diagram: `python-fastapi` on the project's IR
//! fixtures (context, container, component, dynamic, deployment, message
//! bus), including the in-process Python syntax check that every job runs.
//!
//! `analyze/10k-*`: the analysis (every name chosen) of 10,000 systems,
//! with distinct names and with one repeated name (issue 17: naming was
//! quadratic in the number of elements of one name).
//!
//! `cargo bench -p infer --bench generate`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use infer::{DEFAULT_GENERATOR, GenerateOptions, generate, verify_python};
use schemas::model::v1::{Diagram, Element, ElementKind, Level, Model, Span};
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
        ..Default::default()
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

/// `n` systems `x<i>`, named `x<i>` or all `c`.
fn systems(n: usize, repeated_name: bool) -> Model {
    let elements = (0..n)
        .map(|i| Element {
            alias: format!("x{i}").into(),
            kind: ElementKind::System,
            name: if repeated_name {
                "c".into()
            } else {
                format!("x{i}").into()
            },
            span: Span {
                line: 3 + i as u32,
                column: 1,
            },
            ..Element::default()
        })
        .collect();
    Model {
        diagrams: vec![Diagram {
            file: "bench.puml".into(),
            level: Level::Context,
            elements,
            ..Diagram::default()
        }],
        diagnostics: Vec::new(),
    }
}

fn bench_analyze(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyze");
    group.sample_size(10);
    for (name, repeated) in [("10k-distinct", false), ("10k-one-name", true)] {
        let model = systems(10_000, repeated);
        group.throughput(Throughput::Elements(10_000));
        group.bench_with_input(BenchmarkId::new("systems", name), &model, |b, m| {
            b.iter(|| black_box(infer::project::analyze(black_box(m), "bench.puml")));
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_analyze);
criterion_main!(benches);
