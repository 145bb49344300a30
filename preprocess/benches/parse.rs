//! Parser throughput: the largest C4-PlantUML corpus diagram and synthetic
//! container diagrams of 1 MB and 10 MB (10x the input must take at most
//! about 10x the time).
//!
//! Two groups: `parse` in wall-clock time (criterion's default) and
//! `parse_cpu`, for the synthetic inputs, in the benchmark thread's on-CPU
//! time (from `/proc/thread-self/schedstat`), which leaves out the time the
//! thread waits for a CPU, so it is meaningful on a machine shared with
//! other work.
//!
//! `cargo bench -p preprocess --bench parse`; the synthetic inputs can be
//! written out for profiling with `C4FORGE_BENCH_WRITE=DIR`.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use preprocess::{NoIncludes, SourceFile, parse};

/// The allocator of the `c4forge` binary, so the bench measures the parser
/// as the product runs it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The inputs: the largest corpus file and the synthetic diagrams.
fn inputs() -> Vec<SourceFile> {
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
    inputs
        .into_iter()
        .map(|(name, text)| {
            let file = SourceFile {
                path: name.to_string(),
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
            file
        })
        .collect()
}

fn run_group<M: Measurement>(g: &mut BenchmarkGroup<'_, M>, inputs: &[SourceFile]) {
    for file in inputs {
        let big = file.text.len() > (1 << 20);
        g.throughput(Throughput::Bytes(file.text.len() as u64));
        g.sample_size(if big { 10 } else { 50 });
        g.measurement_time(Duration::from_secs(if big { 20 } else { 5 }));
        g.bench_with_input(BenchmarkId::from_parameter(&file.path), file, |bch, f| {
            bch.iter(|| parse(black_box(f), &NoIncludes));
        });
    }
}

fn bench_parse(c: &mut Criterion) {
    let inputs = inputs();
    let mut g = c.benchmark_group("parse");
    run_group(&mut g, &inputs);
    g.finish();
    if on_cpu_ns().is_some() {
        let mut cpu = Criterion::default()
            .with_measurement(OnCpuTime)
            .configure_from_args();
        let mut g = cpu.benchmark_group("parse_cpu");
        // the kernel updates the counter at scheduler ticks (a few ms), too
        // coarse for the 10 KB file's 0.1 ms iterations: synthetic inputs only
        run_group(&mut g, &inputs[1..]);
        g.finish();
    }
}

/// The benchmark thread's time on a CPU so far, in nanoseconds (Linux).
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Criterion measurement: on-CPU time of the benchmark thread.
struct OnCpuTime;

impl Measurement for OnCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        on_cpu_ns().unwrap_or(0)
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(on_cpu_ns().unwrap_or(0).saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats nanoseconds like criterion's wall-clock formatter.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let (per, unit) = match *t {
            Throughput::Bytes(b) | Throughput::BytesDecimal(b) => (b as f64, "MiB/s"),
            Throughput::Bits(b) => (b as f64 / 8.0, "MiB/s"),
            Throughput::Elements(e) | Throughput::ElementsAndBytes { elements: e, .. } => {
                // elements per second, in millions
                let _ = typical;
                for v in values.iter_mut() {
                    *v = e as f64 * (1e9 / *v) / 1e6;
                }
                return "Melem/s";
            }
        };
        for v in values {
            *v = per * (1e9 / *v) / (1024.0 * 1024.0);
        }
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
