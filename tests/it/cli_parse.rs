//! `c4forge parse` on a diagram tree as real repositories lay them out:
//! a diagram including shared files from a sibling directory (`../shared`)
//! reads them as PlantUML does, and `--include-root` confines includes.

use crate::common;

use std::fs;
use std::process::{Command, Output};

use common::{bin, element_aliases};

/// `docs/c4/context/context.puml` including `../shared/people.iuml`.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let c4 = dir.path().join("docs/c4");
    fs::create_dir_all(c4.join("context")).expect("mkdir");
    fs::create_dir_all(c4.join("shared")).expect("mkdir");
    fs::write(
        c4.join("shared/people.iuml"),
        "Person(customer, \"Customer\")\n",
    )
    .expect("write include");
    fs::write(
        c4.join("context/context.puml"),
        "@startuml\n!include <C4/C4_Context>\n!include ../shared/people.iuml\n\
         System(shop, \"Shop\")\nRel(customer, shop, \"Buys from\")\n@enduml\n",
    )
    .expect("write diagram");
    dir
}

fn parse(dir: &tempfile::TempDir, extra: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir.path())
        .args(["parse", "docs/c4/context/context.puml", "--format", "json"])
        .args(extra)
        .output()
        .expect("run c4forge parse")
}

#[test]
fn includes_from_a_sibling_directory_are_read() {
    let dir = tree();
    let out = parse(&dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let model: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON model");
    let aliases = element_aliases(&model);
    assert_eq!(aliases, ["customer", "shop"]);
    assert_eq!(model["diagrams"][0]["relationships"][0]["from"], "customer");
}

#[test]
fn include_root_confines_includes() {
    let dir = tree();
    let out = parse(&dir, &["--include-root", "docs/c4/context"]);
    assert_eq!(out.status.code(), Some(3), "invalid input");
    let model: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON model");
    let errors: Vec<&serde_json::Value> = model["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    let first = errors.first().expect("an error");
    assert!(
        first["message"]
            .as_str()
            .is_some_and(|m| m.contains("outside the include root")),
        "{first}"
    );
    assert_eq!(first["line"], 3, "{first}");
    // the root itself still works: the same tree with a wider root parses
    assert!(parse(&dir, &["--include-root", "docs"]).status.success());
}
