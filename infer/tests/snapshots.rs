//! Snapshot tests: each fixture's generated file set must equal
//! `tests/snapshots/<fixture>/` file for file. `C4FORGE_BLESS=1 cargo test -p infer`
//! rewrites the snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            read_tree(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn generated_projects_match_snapshots() {
    let bless = std::env::var("C4FORGE_BLESS").is_ok_and(|v| v == "1");
    let snap_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut failures = Vec::new();
    for (name, model) in common::fixtures() {
        let files = common::gen_fixture(&name, &model);
        let dir = snap_root.join(&name);
        if bless {
            let _ = std::fs::remove_dir_all(&dir);
            common::write(&dir, &files);
            continue;
        }
        let mut expected = BTreeMap::new();
        read_tree(&dir, &dir, &mut expected);
        let actual: BTreeMap<String, String> = files
            .files
            .iter()
            .map(|f| (f.path.clone(), f.contents.clone()))
            .collect();
        for (path, text) in &actual {
            match expected.get(path) {
                None => failures.push(format!("{name}: new file {path}")),
                Some(e) if e != text => {
                    let line = e
                        .lines()
                        .zip(text.lines())
                        .position(|(a, b)| a != b)
                        .unwrap_or(e.lines().count().min(text.lines().count()));
                    failures.push(format!(
                        "{name}: {path} differs at line {}:\n  snapshot:  {:?}\n  generated: {:?}",
                        line + 1,
                        e.lines().nth(line).unwrap_or("<end of file>"),
                        text.lines().nth(line).unwrap_or("<end of file>")
                    ))
                }
                _ => {}
            }
        }
        for path in expected.keys().filter(|p| !actual.contains_key(*p)) {
            failures.push(format!("{name}: file {path} no longer generated"));
        }
    }
    assert!(
        failures.is_empty(),
        "snapshots differ (rerun with C4FORGE_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}
