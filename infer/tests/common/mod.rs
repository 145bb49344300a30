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
        ..Default::default()
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

/// A tiny deterministic PRNG (xorshift64*), so random models are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A random but reproducible model with hostile names, every element kind and
/// shape, boundaries, technologies and dangling relationships.
pub fn random_model(seed: u64) -> Model {
    use schemas::model::v1::{
        Boundary, BoundaryKind, Diagram, Element, ElementKind, Level, Relationship, Shape,
    };
    let words = [
        "",
        "class",
        "None",
        "import",
        "1st",
        "日本",
        "Bücher",
        "../..",
        "a b",
        "A-B",
        "x_y",
        "__init__",
        "self",
        "settings",
        "consumers",
        "close",
        "app",
        "tests",
        "json",
        "httpx",
        "Zoë's \"quoted\" \\ name",
        "\n",
        "%",
        "db",
    ];
    // Long names of several lengths, picked a third of the time: every line
    // whose length depends on a name must still be as `ruff format` writes it.
    let long_words = [
        "Order Fulfilment Coordinator",
        "Inventory Reservation And Allocation Service",
        "Reads the current warehouse stock levels of every product from",
        "Updates customer loyalty points and membership tiers in",
        "Publishes order lifecycle events with all line items and payment details to",
        "An Extraordinarily Long Component Name That Overflows Every Line Length Limit Of The Generated Code",
        "在庫引当サービス（倉庫と店舗の在庫をまとめて管理する）",
    ];
    let name = |rng: &mut Rng| -> String {
        if rng.below(3) == 0 {
            rng.pick(&long_words).to_string()
        } else {
            rng.pick(&words).to_string()
        }
    };
    let techs = [
        "",
        "HTTPS",
        "JSON/HTTPS",
        "gRPC",
        "Kafka",
        "RabbitMQ",
        "AMQP",
        "JDBC",
        "Redis",
        "MySQL",
        "SMTP",
        "WebSocket",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1000_0000_01B3).wrapping_add(1));
    let mut d = Diagram {
        file: format!("random{seed}.puml"),
        level: [
            Level::Context,
            Level::Container,
            Level::Component,
            Level::Dynamic,
            Level::Deployment,
        ][rng.below(5)],
        title: if rng.below(2) == 0 {
            Some(name(&mut rng))
        } else {
            None
        },
        ..Default::default()
    };
    let nb = rng.below(4);
    for b in 0..nb {
        d.boundaries.push(Boundary {
            alias: format!("b{b}").into(),
            kind: [
                BoundaryKind::SystemBoundary,
                BoundaryKind::ContainerBoundary,
                BoundaryKind::DeploymentNode,
                BoundaryKind::EnterpriseBoundary,
            ][rng.below(4)],
            label: name(&mut rng).into(),
            parent: if b > 0 && rng.below(2) == 0 {
                Some(format!("b{}", rng.below(b)).into())
            } else {
                None
            },
            ..Default::default()
        });
    }
    let ne = 1 + rng.below(10);
    for e in 0..ne {
        d.elements.push(Element {
            alias: if rng.below(4) == 0 {
                (name(&mut rng) + &e.to_string()).into()
            } else {
                format!("e{e}").into()
            },
            kind: [
                ElementKind::Person,
                ElementKind::System,
                ElementKind::Container,
                ElementKind::Component,
            ][rng.below(4)],
            external: rng.below(4) == 0,
            shape: [
                Shape::Default,
                Shape::Default,
                Shape::Database,
                Shape::Queue,
            ][rng.below(4)],
            name: name(&mut rng).into(),
            technology: rng.pick(&techs).into(),
            description: name(&mut rng).into(),
            parent: if nb > 0 && rng.below(2) == 0 {
                Some(format!("b{}", rng.below(nb)).into())
            } else {
                None
            },
            span: schemas::model::v1::Span {
                line: 1 + e as u32,
                column: 1,
            },
            ..Default::default()
        });
    }
    let aliases: Vec<_> = d.elements.iter().map(|e| e.alias.clone()).collect();
    for r in 0..rng.below(14) {
        d.relationships.push(Relationship {
            from: if rng.below(10) == 0 {
                "ghost".into()
            } else {
                aliases[rng.below(aliases.len())].clone()
            },
            to: if rng.below(10) == 0 && nb > 0 {
                "b0".into()
            } else {
                aliases[rng.below(aliases.len())].clone()
            },
            label: name(&mut rng).into(),
            technology: rng.pick(&techs).into(),
            index: if d.level == Level::Dynamic {
                Some(format!("{}", 1 + r).into())
            } else {
                None
            },
            ..Default::default()
        });
    }
    Model {
        diagrams: vec![d],
        diagnostics: vec![],
    }
}
