//! `c4forge convert` against the generation budgets (issue 17, item 1): a
//! diagram of 100,000 elements, which kept the generator busy for longer
//! than 20 minutes, now stops with a diagnostic naming the limit, the first
//! element over it and the setting that raises it.

use crate::common;

use std::process::Command;

use common::bin;

fn hundred_thousand_systems() -> String {
    let mut text = String::from("@startuml\n!include <C4/C4_Container>\n");
    for i in 0..100_000 {
        text.push_str(&format!("System(x{i}, c)\n"));
    }
    text.push_str("@enduml\n");
    text
}

#[test]
fn a_diagram_over_the_element_budget_fails_with_the_budget_diagnostic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let diagram = dir.path().join("huge.puml");
    std::fs::write(&diagram, hundred_thousand_systems()).expect("write diagram");
    let out = Command::new(bin())
        .current_dir(dir.path())
        .env_remove("C4FORGE_GENERATE_MAX_ELEMENTS")
        .args(["convert", "huge.puml", "-o", "out", "--dry-run"])
        .output()
        .expect("run c4forge convert");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("100000 elements")
            && stderr.contains("generation budget of 2000")
            && stderr.contains("generate.max_elements")
            && stderr.contains("C4FORGE_GENERATE_MAX_ELEMENTS"),
        "{stderr}"
    );
    // The first element over the budget, with its place (line 3 is x0).
    assert!(stderr.contains("`x2000` at huge.puml:2003:1"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "convert wrote output");

    // The setting is honoured: a lower budget refuses a small diagram.
    std::fs::write(
        dir.path().join("small.puml"),
        "@startuml\n!include <C4/C4_Container>\nSystem(a, \"A\")\nSystem(b, \"B\")\n@enduml\n",
    )
    .expect("write diagram");
    let out = Command::new(bin())
        .current_dir(dir.path())
        .env("C4FORGE_GENERATE_MAX_ELEMENTS", "1")
        .args(["convert", "small.puml", "-o", "out", "--dry-run"])
        .output()
        .expect("run c4forge convert");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("budget of 1 "), "{stderr}");
}
