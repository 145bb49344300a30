//! The parser never panics and always terminates: property tests over
//! arbitrary text, over token soups of PlantUML syntax, and over randomly
//! mutated corpus files; plus hostile inputs with known bounds.

use std::path::PathBuf;

use preprocess::{BundleResolver, NoIncludes, SourceFile, parse, parse_many, render_text};
use proptest::prelude::*;

fn corpus_files() -> Vec<SourceFile> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("tests/data"),
        root.join("../../shared/corpus/c4-plantuml/samples"),
        root.join("../../shared/corpus/c4-plantuml/percy"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            if p.extension().is_some_and(|e| e == "puml")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                out.push(SourceFile {
                    path: p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    text,
                });
            }
        }
    }
    out
}

const TOKENS: &[&str] = &[
    "@startuml\n",
    "@enduml\n",
    "!include <C4/C4_Container>\n",
    "!include <C4/C4_Dynamic>\n",
    "!include <C4/C4_Sequence>\n",
    "!include <C4/C4_Deployment>\n",
    "!include x.puml\n",
    "Person(",
    "Container(",
    "ContainerDb(",
    "System_Boundary(",
    "Deployment_Node(",
    "Boundary_End()\n",
    "Rel(",
    "Rel_(",
    "BiRel_U(",
    "RelIndex(",
    "Lay_D(",
    "AddProperty(",
    "AddElementTag(",
    "Index()",
    "SetIndex(",
    "LastIndex()",
    "increment(",
    "a",
    "b",
    "x y",
    "\"q\"",
    "\"",
    "'",
    "(",
    ")",
    ",",
    "{",
    "}",
    "{\n",
    "}\n",
    "\n",
    " ",
    "$tags=",
    "$index=",
    "a+b",
    "-1",
    "!if ",
    "!elseif ",
    "!else\n",
    "!endif\n",
    "!ifdef X\n",
    "!define X Y\n",
    "!$v = ",
    "!$v ?= ",
    "$v",
    "%strlen(",
    "%true()",
    "!while $v < 3\n",
    "!endwhile\n",
    "!foreach $i in [1,2]\n",
    "!endfor\n",
    "!procedure $p($a, $b=\"d\")\n",
    "!endprocedure\n",
    "!function $f($a)\n",
    "!return $a + 1\n",
    "!endfunction\n",
    "$p(",
    "$f(",
    "/'",
    "'/",
    "\\\n",
    "title ",
    "note as N\n",
    "end note\n",
    "<style>\n",
    "</style>\n",
    "LAYOUT_LANDSCAPE()\n",
    "SHOW_INDEX()\n",
    "é",
    "\u{0}",
    "\r\n",
    "\t",
];

fn check(text: &str) {
    let f = SourceFile {
        path: "p.puml".into(),
        text: text.to_string(),
    };
    let m = parse(&f, &NoIncludes);
    // rendering and serializing any model must work as well
    let _ = render_text(&m, std::slice::from_ref(&f));
    assert!(serde_json::to_string(&m).is_ok());
    for d in &m.diagnostics {
        assert!(d.line >= 1 && d.column >= 1, "{d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        check(&s);
        check(&format!("@startuml\n!include <C4/C4_Dynamic>\n{s}\n@enduml\n"));
    }

    #[test]
    fn token_soup_never_panics(toks in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        check(&toks.concat());
    }

    #[test]
    fn mutated_corpus_never_panics(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(TOKENS)), 1..8),
    ) {
        let files = corpus_files();
        prop_assume!(!files.is_empty());
        let f = &files[pick.index(files.len())];
        let mut text: Vec<char> = f.text.chars().collect();
        for (at, op, tok) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => { text.splice(i..i, tok.chars()); }
                1 => { let end = (i + tok.len()).min(text.len()); text.drain(i..end); }
                _ => { let end = (i + 1).min(text.len()); text.splice(i..end, tok.chars()); }
            }
        }
        let s: String = text.into_iter().collect();
        check(&s);
    }
}

#[test]
fn hostile_inputs_are_bounded() {
    let cases = [
        // exponential string growth
        "@startuml\n!$x = \"ab\"\n!while 1\n!$x = $x + $x\n!endwhile\n@enduml\n",
        // unbounded recursion through a function
        "@startuml\n!function $f($n)\n!return $f($n + 1)\n!endfunction\n!$y = $f(1)\n@enduml\n",
        // mutual recursion of procedures
        "@startuml\n!procedure $a()\n$b()\n!endprocedure\n!procedure $b()\n$a()\n!endprocedure\n$a()\n@enduml\n",
        // deeply nested unparsable calls in an argument (text substitution path)
        &format!(
            "@startuml\n!include <C4/C4_Dynamic>\nPerson(p, {}1{})\n@enduml\n",
            "Index(".repeat(20000),
            ")-1".repeat(20000)
        ),
        // deeply nested parentheses and boundaries
        &format!(
            "@startuml\n!include <C4/C4_Container>\n!$v = {}1{}\n{}\n@enduml\n",
            "(".repeat(5000),
            ")".repeat(5000),
            "System_Boundary(b, \"x\") {\n".repeat(2000)
        ),
    ];
    for c in cases {
        let m = parse(
            &SourceFile {
                path: "h.puml".into(),
                text: c.to_string(),
            },
            &NoIncludes,
        );
        // nested calls in an argument are odd but valid: no error needed
        let valid = c.contains("Person(p, Index(");
        assert!(
            valid || m.has_errors(),
            "no error for hostile input: {}",
            &c[..c.len().min(80)]
        );
    }
}

#[test]
fn include_cycles_and_depth_are_reported() {
    let files = vec![
        SourceFile {
            path: "a.puml".into(),
            text: "@startuml\n!include b.iuml\n@enduml\n".into(),
        },
        SourceFile {
            path: "b.iuml".into(),
            text: "!include a.puml\n".into(),
        },
    ];
    let r = BundleResolver::new(files.clone());
    let m = parse_many(&files[..1], &r);
    assert!(
        m.diagnostics
            .iter()
            .any(|d| d.message.contains("include cycle")),
        "{:?}",
        m.diagnostics
    );
}

#[test]
fn big_diagram_parses_completely() {
    let mut s =
        String::from("@startuml\n!include <C4/C4_Container>\nSystem_Boundary(sys, \"S\") {\n");
    for i in 0..5000 {
        s.push_str(&format!(
            "Container(c{i}, \"Container {i}\", \"Rust\", \"does {i}\")\n"
        ));
    }
    s.push_str("}\n");
    for i in 1..5000 {
        s.push_str(&format!("Rel(c{}, c{i}, \"calls\", \"HTTP\")\n", i - 1));
    }
    s.push_str("@enduml\n");
    let m = parse(
        &SourceFile {
            path: "big.puml".into(),
            text: s,
        },
        &NoIncludes,
    );
    assert!(!m.has_errors());
    assert_eq!(m.diagrams[0].elements.len(), 5000);
    assert_eq!(m.diagrams[0].relationships.len(), 4999);
}

#[test]
fn parsing_is_deterministic() {
    for f in corpus_files() {
        assert_eq!(parse(&f, &NoIncludes), parse(&f, &NoIncludes), "{}", f.path);
    }
}

/// Inputs the fuzzer (`fuzz/`, target `parse`) reported, kept as regressions:
/// each must parse to the end, without panicking, the way the
/// fuzz target uses it (as a diagram, and included from a dynamic diagram).
#[test]
fn fuzz_regressions_are_bounded() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut n = 0;
    for e in std::fs::read_dir(&dir)
        .expect("tests/fuzz exists")
        .flatten()
    {
        let bytes = std::fs::read(e.path()).expect("readable");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check(&text);
        let lib = SourceFile {
            path: "lib.iuml".into(),
            text,
        };
        let wrapper = SourceFile {
            path: "wrap.puml".into(),
            text: "@startuml\n!include <C4/C4_Dynamic>\n!include lib.iuml\n@enduml\n".into(),
        };
        let resolver = BundleResolver::new(vec![lib, wrapper.clone()]);
        let _ = parse_many(&[wrapper], &resolver);
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn endless_while_stops_at_the_step_limit() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/endless_while_procedures.puml"),
    )
    .expect("fixture exists");
    let m = parse(
        &SourceFile {
            path: "w.puml".into(),
            text,
        },
        &NoIncludes,
    );
    assert!(
        m.diagnostics
            .iter()
            .any(|d| d.message.starts_with("preprocessing stopped after")),
        "{:?}",
        m.diagnostics.iter().take(3).collect::<Vec<_>>()
    );
}

#[test]
fn big_diagram_renders_every_boundary() {
    // one boundary per container: the text tree used to scan the whole
    // diagram for every boundary (quadratic); its speed is in the criterion
    // bench, here the output must be complete
    let mut s = String::from("@startuml\n!include <C4/C4_Container>\n");
    for i in 0..20_000 {
        s.push_str(&format!(
            "System_Boundary(b{i}, \"B {i}\") {{\nContainer(c{i}, \"C {i}\", \"Rust\")\n}}\n"
        ));
    }
    s.push_str("@enduml\n");
    let f = SourceFile {
        path: "wide.puml".into(),
        text: s,
    };
    let m = parse(&f, &NoIncludes);
    let out = render_text(&m, std::slice::from_ref(&f));
    assert!(out.contains("    container c19999 \"C 19999\" [Rust]"));
    assert_eq!(out.matches("container c").count(), 20_000);
}

/// Many diagrams including one large file share the base allowances of the
/// limits: the include's share is paid once per parse, so the diagrams after
/// the base is used up stop with an error instead of each building the
/// whole model again (before: 300 such blocks built a 2.5 GB model).
#[test]
fn repeated_large_include_shares_the_budget() {
    let big: String = (0..20_000)
        .map(|i| format!("Container(c{i}, \"C {i}\", \"Rust\")\n"))
        .collect();
    let main = "@startuml\n!include <C4/C4_Container>\n!include big.iuml\n@enduml\n".repeat(50);
    let files = vec![
        SourceFile {
            path: "main.puml".into(),
            text: main,
        },
        SourceFile {
            path: "big.iuml".into(),
            text: big,
        },
    ];
    let r = BundleResolver::new(files.clone());
    let m = parse_many(&files[..1], &r);
    assert_eq!(m.diagrams.len(), 50);
    let elements: usize = m.diagrams.iter().map(|d| d.elements.len()).sum();
    // the first diagram is paid by the include's share, the second by the
    // shared base; the other 48 get their own share (8 items for 2 lines)
    // and what the second left of the base (at most 8)
    assert!(elements <= 2 * 20_000 + 49 * 8, "{elements} elements");
    assert_eq!(m.diagrams[0].elements.len(), 20_000);
    assert!(
        m.diagnostics
            .iter()
            .any(|d| d.message.starts_with("more than") && d.file == "big.iuml"),
        "{:?}",
        m.diagnostics
    );
}
