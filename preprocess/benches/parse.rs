//! Parser throughput: the largest C4-PlantUML corpus diagram and synthetic
//! container diagrams of 1 MB and 10 MB (10x the input must take at most
//! about 10x the time).
//!
//! `cargo bench -p preprocess --bench parse`; the synthetic inputs can be
//! written out for profiling with `C4FORGE_BENCH_WRITE=DIR`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use preprocess::{NoIncludes, SourceFile, parse};

/// `percy/TestAllPlantUmlElements.puml` of C4-PlantUML (MIT, see
/// `data/README.md`): the largest diagram of the corpus.
const LARGEST_CORPUS_FILE: &str = include_str!("data/TestAllPlantUmlElements.puml");

/// A container diagram of at least `target` bytes: a person, then system
/// boundaries holding containers, a database and a queue, with `Rel` lines
/// inside each system and between neighbouring systems.
fn synthetic(target: usize) -> String {
    let mut s = String::with_capacity(target + 1024);
    s.push_str("@startuml\n!include <C4/C4_Container>\n\n");
    s.push_str("LAYOUT_WITH_LEGEND()\ntitle Synthetic container diagram\n\n");
    s.push_str("Person(user, \"Customer\", \"A customer of the company\")\n");
    s.push_str("Person_Ext(admin, \"Administrator\", \"Runs the systems\")\n\n");
    let mut b = 0usize;
    while s.len() + 64 < target {
        s.push_str(&format!(
            "System_Boundary(sys{b}, \"System {b}\") {{\n\
             \x20   Container(web{b}, \"Web app {b}\", \"TypeScript, React\", \"Delivers the single page app of system {b}\")\n\
             \x20   Container(api{b}, \"API {b}\", \"Rust, axum\", \"Serves the JSON API of system {b}\", $tags=\"backend\")\n\
             \x20   ContainerDb(db{b}, \"Database {b}\", \"PostgreSQL\", \"Stores accounts and orders\")\n\
             \x20   ContainerQueue(q{b}, \"Events {b}\", \"RabbitMQ\", \"Domain events\")\n\
             }}\n\
             Rel(user, web{b}, \"Uses\", \"HTTPS\")\n\
             Rel(web{b}, api{b}, \"Calls\", \"JSON/HTTPS\")\n\
             Rel_D(api{b}, db{b}, \"Reads from and writes to\", \"SQL/TCP\")\n\
             Rel_R(api{b}, q{b}, \"Publishes events to\", \"AMQP\")\n"
        ));
        if b > 0 {
            s.push_str(&format!(
                "Rel(api{b}, api{}, \"Synchronizes with\", \"gRPC\")\n",
                b - 1
            ));
        }
        s.push('\n');
        b += 1;
    }
    s.push_str("Rel(admin, api0, \"Administers\", \"SSH\")\nSHOW_LEGEND()\n@enduml\n");
    s
}

fn bench_parse(c: &mut Criterion) {
    let inputs = [
        ("TestAllPlantUmlElements", LARGEST_CORPUS_FILE.to_string()),
        ("synthetic_1MB", synthetic(1 << 20)),
        ("synthetic_10MB", synthetic(10 << 20)),
    ];
    if let Ok(dir) = std::env::var("C4FORGE_BENCH_WRITE") {
        for (name, text) in &inputs {
            let path = std::path::Path::new(&dir).join(format!("{name}.puml"));
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("cannot write {}: {e}", path.display());
            }
        }
    }
    let mut g = c.benchmark_group("parse");
    for (name, text) in inputs {
        let file = SourceFile {
            path: format!("{name}.puml"),
            text,
        };
        // sanity: the input is a clean diagram (a regression here would
        // make the numbers meaningless)
        let m = parse(&file, &NoIncludes);
        assert!(
            !m.has_errors(),
            "{name}: {:?}",
            &m.diagnostics[..m.diagnostics.len().min(3)]
        );
        let big = file.text.len() > (1 << 20);
        g.throughput(Throughput::Bytes(file.text.len() as u64));
        g.sample_size(if big { 10 } else { 50 });
        g.measurement_time(Duration::from_secs(if big { 20 } else { 5 }));
        g.bench_with_input(BenchmarkId::from_parameter(name), &file, |bch, f| {
            bch.iter(|| parse(black_box(f), &NoIncludes));
        });
    }
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
