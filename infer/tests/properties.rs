//! Properties of every generated project: determinism, traceability, headers,
//! path safety, verification, template overlays, errors and safe regeneration.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use infer::regen::{self, Action};
use infer::{
    DEFAULT_GENERATOR, GenerateError, GenerateOptions, generate, generators, verify_python,
};
use schemas::files::{FileOwner, FileSet, GeneratedFile};
use schemas::model::v1::{Diagram, Element, ElementKind, Level, Model, Relationship};

fn opts(source: &str) -> GenerateOptions {
    GenerateOptions {
        source_name: source.into(),
        templates_dir: None,
        ..Default::default()
    }
}

fn fixture(name: &str) -> Model {
    common::fixtures()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, m)| m)
        .unwrap()
}

#[test]
fn registry_lists_the_default_generator() {
    let g = generators();
    assert!(
        g.iter()
            .any(|g| g.name == DEFAULT_GENERATOR && !g.version.is_empty())
    );
}

#[test]
fn generation_is_deterministic_and_sorted() {
    for (name, model) in common::fixtures() {
        let a = common::gen_fixture(&name, &model);
        let b = common::gen_fixture(&name, &model);
        assert_eq!(a, b, "{name}: two runs differ");
        let round: Model = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        assert_eq!(
            a,
            common::gen_fixture(&name, &round),
            "{name}: JSON round trip changes output"
        );
        let paths: Vec<&str> = a.files.iter().map(|f| f.path.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(paths, sorted, "{name}: files not sorted or duplicated");
        assert!(paths.contains(&"c4forge.json"));
    }
}

#[test]
fn every_element_and_relationship_maps_to_a_file() {
    for (name, model) in common::fixtures() {
        let files = common::gen_fixture(&name, &model);
        let manifest: serde_json::Value = serde_json::from_str(
            &files
                .files
                .iter()
                .find(|f| f.path == "c4forge.json")
                .unwrap()
                .contents,
        )
        .unwrap();
        assert_eq!(manifest["generator"]["name"], DEFAULT_GENERATOR);
        let implemented: BTreeSet<&str> = files
            .files
            .iter()
            .flat_map(|f| f.implements.iter().map(String::as_str))
            .collect();
        for d in &model.diagrams {
            for e in &d.elements {
                assert!(
                    implemented.contains(e.alias.as_str()),
                    "{name}: element {} maps to no file",
                    e.alias
                );
            }
        }
        let rels = manifest["relationships"].as_array().unwrap();
        let model_rels: usize = model.diagrams.iter().map(|d| d.relationships.len()).sum();
        assert_eq!(
            rels.len(),
            model_rels,
            "{name}: every relationship is in the manifest"
        );
        for r in rels {
            let id = r["id"].as_str().unwrap();
            assert!(
                implemented.contains(id),
                "{name}: relationship {id} maps to no file"
            );
            assert!(!r["files"].as_array().unwrap().is_empty());
        }
        // One contract test per relationship.
        if model_rels > 0 {
            let tests = files
                .files
                .iter()
                .find(|f| f.path == "tests/test_relationships.py")
                .unwrap();
            assert_eq!(
                tests.contents.matches("\ndef test_rel_").count(),
                model_rels,
                "{name}"
            );
        }
        for e in manifest["elements"].as_array().unwrap() {
            assert!(!e["files"].as_array().unwrap().is_empty(), "{name}: {e}");
        }
        // Manifest sha256 values match the contents.
        for f in manifest["files"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            let file = files.files.iter().find(|x| x.path == path).unwrap();
            let sha = f["sha256"].as_str().unwrap();
            assert_eq!(sha.len(), 64);
            let owner = if file.owner == FileOwner::User {
                "user"
            } else {
                "generated"
            };
            assert_eq!(f["owner"], owner);
        }
    }
}

#[test]
fn headers_name_the_source_and_user_modules_have_none() {
    for (name, model) in common::fixtures() {
        let files = common::gen_fixture(&name, &model);
        let mut users = 0;
        for f in &files.files {
            let head: String = f.contents.lines().take(3).collect::<Vec<_>>().join("\n");
            match f.owner {
                FileOwner::Generated => {
                    assert!(
                        head.contains("generated by c4forge, do not edit"),
                        "{name}: {} lacks the header",
                        f.path
                    );
                    if f.path != "c4forge.json" {
                        assert!(
                            head.contains("source: "),
                            "{name}: {} names no source",
                            f.path
                        );
                    }
                }
                FileOwner::User => {
                    users += 1;
                    assert!(
                        !f.contents.contains("do not edit"),
                        "{name}: user module {} says do not edit",
                        f.path
                    );
                    assert!(head.contains("never overwrites"), "{name}: {}", f.path);
                    assert!(f.path.contains("/impl/"), "{name}: {}", f.path);
                }
            }
        }
        assert!(users > 0, "{name}: no user modules");
        // Python headers name a diagram file and line.
        let app = files
            .files
            .iter()
            .find(|f| f.path.ends_with("/app.py"))
            .unwrap();
        assert!(
            app.contents.lines().nth(1).unwrap().contains(".puml:"),
            "{}",
            app.contents
        );
    }
}

#[test]
fn paths_stay_inside_the_project_whatever_the_diagram_says() {
    let hostile = [
        "../../etc/passwd",
        "/abs/olute",
        "C:\\win",
        "a/../../b",
        "..",
        ".",
        "",
        "日本",
        "class",
        "0",
    ];
    let mut d = Diagram {
        file: "../../evil.puml".into(),
        level: Level::Container,
        title: Some("../../../x".into()),
        ..Default::default()
    };
    for (i, h) in hostile.iter().enumerate() {
        d.elements.push(Element {
            alias: format!("{h}{i}").into(),
            kind: if i % 3 == 0 {
                ElementKind::Component
            } else {
                ElementKind::Container
            },
            name: (*h).into(),
            parent: Some((*h).into()),
            ..Default::default()
        });
    }
    for i in 1..hostile.len() {
        d.relationships.push(Relationship {
            from: format!("{}{}", hostile[i - 1], i - 1).into(),
            to: format!("{}{}", hostile[i], i).into(),
            label: hostile[i].into(),
            technology: ["HTTP", "Kafka", "AMQP", "gRPC", "JDBC", "Redis", ""][i % 7].into(),
            ..Default::default()
        });
    }
    let model = Model {
        diagrams: vec![d],
        diagnostics: vec![],
    };
    let files = generate(DEFAULT_GENERATOR, &model, &opts("../x.puml")).unwrap();
    for f in &files.files {
        assert!(
            infer::naming::is_safe_relative_path(&f.path),
            "unsafe {}",
            f.path
        );
        assert!(f.path.is_ascii(), "non-ascii path {}", f.path);
    }
    verify_python(&files).unwrap();
}

#[test]
fn verify_python_reports_file_line_and_column() {
    let mut files = common::gen_fixture("container", &fixture("container"));
    files.files.push(GeneratedFile {
        path: "src/broken.py".into(),
        contents: "x = 1\n\ndef f(:\n    pass\n".into(),
        owner: FileOwner::Generated,
        implements: vec![],
    });
    let err = verify_python(&files).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].path, "src/broken.py");
    assert_eq!(err.errors[0].line, 3);
    assert!(err.to_string().contains("src/broken.py:3:"), "{err}");
}

#[test]
fn a_broken_overlay_template_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("service")).unwrap();
    std::fs::write(
        dir.path().join("service/app.py.j2"),
        "{{ header }}def broken(:\n",
    )
    .unwrap();
    let o = GenerateOptions {
        source_name: "c.puml".into(),
        templates_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    match generate(DEFAULT_GENERATOR, &fixture("container"), &o) {
        Err(GenerateError::Verify(e)) => {
            assert!(e.errors.iter().all(|e| e.path.ends_with("/app.py")))
        }
        other => panic!("expected a verification error, got {other:?}"),
    }
    std::fs::write(dir.path().join("service/app.py.j2"), "{% if %}").unwrap();
    assert!(matches!(
        generate(DEFAULT_GENERATOR, &fixture("container"), &o),
        Err(GenerateError::Template { .. })
    ));
}

#[test]
fn an_overlay_replaces_a_builtin_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("README.md.j2"),
        "{{ header }}# Custom {{ p.title }}\n",
    )
    .unwrap();
    let o = GenerateOptions {
        source_name: "c.puml".into(),
        templates_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let files = generate(DEFAULT_GENERATOR, &fixture("container"), &o).unwrap();
    let readme = files.files.iter().find(|f| f.path == "README.md").unwrap();
    assert!(
        readme
            .contents
            .ends_with("# Custom Internet Banking System\n"),
        "{}",
        readme.contents
    );
    // The built-in environment is shared by the process: an overlay must
    // not leak into a later generation without it ...
    let plain = generate(DEFAULT_GENERATOR, &fixture("container"), &opts("c.puml")).unwrap();
    let plain_readme = plain.files.iter().find(|f| f.path == "README.md").unwrap();
    assert!(!plain_readme.contents.contains("# Custom"));
    // ... and an edit to the overlay applies to the next generation.
    std::fs::write(
        dir.path().join("README.md.j2"),
        "{{ header }}# Edited {{ p.title }}\n",
    )
    .unwrap();
    let files = generate(DEFAULT_GENERATOR, &fixture("container"), &o).unwrap();
    let readme = files.files.iter().find(|f| f.path == "README.md").unwrap();
    assert!(
        readme
            .contents
            .ends_with("# Edited Internet Banking System\n")
    );
    let missing = GenerateOptions {
        source_name: "c.puml".into(),
        templates_dir: Some(dir.path().join("nope")),
        ..Default::default()
    };
    assert!(matches!(
        generate(DEFAULT_GENERATOR, &fixture("container"), &missing),
        Err(GenerateError::Overlay { .. })
    ));
}

#[test]
fn unknown_generators_and_empty_models_are_errors() {
    let m = fixture("container");
    assert!(matches!(
        generate("cobol", &m, &opts("a")),
        Err(GenerateError::UnknownGenerator { .. })
    ));
    assert!(matches!(
        generate(DEFAULT_GENERATOR, &Model::default(), &opts("a")),
        Err(GenerateError::EmptyModel)
    ));
    let no_elements = Model {
        diagrams: vec![Diagram::default()],
        diagnostics: vec![],
    };
    assert!(matches!(
        generate(DEFAULT_GENERATOR, &no_elements, &opts("a")),
        Err(GenerateError::EmptyModel)
    ));
}

fn read(dir: &Path, p: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(p)).ok()
}

fn without(model: &Model, alias: &str) -> Model {
    let mut m = model.clone();
    for d in &mut m.diagrams {
        d.elements.retain(|e| e.alias != alias);
        d.relationships.retain(|r| r.from != alias && r.to != alias);
    }
    m
}

#[test]
fn regeneration_keeps_user_code_and_deletes_only_unedited_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let model = fixture("container");
    let first = generate(DEFAULT_GENERATOR, &model, &opts("c.puml")).unwrap();

    // Into an empty directory: everything is created.
    let plan = regen::plan(out, &first).unwrap();
    assert!(
        plan.actions
            .iter()
            .all(|a| matches!(a, Action::Create { .. }))
    );
    let report = regen::apply(out, &plan, &first).unwrap();
    assert_eq!(report.created.len(), first.files.len());

    // Again: nothing changes.
    let plan = regen::plan(out, &first).unwrap();
    assert!(
        plan.actions
            .iter()
            .all(|a| matches!(a, Action::Keep { .. })),
        "{:?}",
        plan.lines()
    );

    // The user implements a service, edits a generated file and edits a user module of
    // a container that is then removed from the diagram.
    let svc = "src/internet_banking_system/internet_banking/api_application";
    let mob = "src/internet_banking_system/internet_banking/mobile_app";
    let user_impl = format!("{svc}/impl/service.py");
    let mut text = read(out, &user_impl).unwrap();
    text.push_str("\n    def custom(self) -> int:\n        return 42\n");
    std::fs::write(out.join(&user_impl), &text).unwrap();
    let edited_generated = format!("{svc}/routes.py");
    std::fs::write(out.join(&edited_generated), "# my edit\n").unwrap();
    let edited_removed = format!("{mob}/impl/service.py");
    std::fs::write(out.join(&edited_removed), "# mine now\n").unwrap();
    std::fs::write(out.join("NOTES.md"), "not c4forge's\n").unwrap();

    let second = generate(
        DEFAULT_GENERATOR,
        &without(&model, "mobile_app"),
        &opts("c.puml"),
    )
    .unwrap();
    let plan = regen::plan(out, &second).unwrap();
    let find = |p: &str| plan.actions.iter().find(|a| a.path() == p).cloned();
    assert!(matches!(find(&user_impl), Some(Action::Keep { .. })));
    assert_eq!(
        find(&edited_generated),
        Some(Action::Update {
            path: edited_generated.clone(),
            overwrites_edit: true
        })
    );
    assert!(matches!(find(&edited_removed), Some(Action::Keep { .. })));
    assert!(matches!(
        find(&format!("{mob}/app.py")),
        Some(Action::Delete { .. })
    ));
    assert!(find("NOTES.md").is_none());
    assert!(!plan.lines().is_empty());

    let report = regen::apply(out, &plan, &second).unwrap();
    assert_eq!(
        read(out, &user_impl).unwrap(),
        text,
        "user module overwritten"
    );
    assert!(
        read(out, &edited_generated)
            .unwrap()
            .starts_with("# generated by c4forge")
    );
    assert_eq!(read(out, &edited_removed).unwrap(), "# mine now\n");
    assert!(read(out, &format!("{mob}/app.py")).is_none());
    assert!(
        !out.join(format!("{mob}/clients")).exists(),
        "empty directories are removed"
    );
    assert_eq!(read(out, "NOTES.md").unwrap(), "not c4forge's\n");
    assert!(
        report
            .deleted
            .iter()
            .any(|p| p.ends_with("mobile_app/app.py"))
    );
    assert!(
        report.warnings.iter().any(|w| w.contains(&edited_removed)),
        "{:?}",
        report.warnings
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains(&edited_generated)),
        "{:?}",
        report.warnings
    );
    let manifest = read(out, "c4forge.json").unwrap();
    assert!(!manifest.contains("mobile_app/app.py"));

    // A third run converges: only the kept edited file remains noteworthy.
    let plan = regen::plan(out, &second).unwrap();
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::Create { .. } | Action::Delete { .. })),
        "{:?}",
        plan.lines()
    );
}

#[test]
fn regeneration_refuses_unsafe_paths() {
    let dir = tempfile::tempdir().unwrap();
    let bad = FileSet {
        generator: "x".into(),
        generator_version: "0".into(),
        files: vec![GeneratedFile {
            path: "../escape.py".into(),
            contents: String::new(),
            owner: FileOwner::Generated,
            implements: vec![],
        }],
    };
    assert!(regen::plan(dir.path(), &bad).is_err());
    let plan = regen::Plan {
        actions: vec![Action::Create {
            path: "../escape.py".into(),
        }],
    };
    assert!(regen::apply(dir.path(), &plan, &bad).is_err());
    assert!(!dir.path().parent().unwrap().join("escape.py").exists());
}

#[test]
fn regeneration_never_overwrites_files_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    std::fs::write(out.join("README.md"), "my own readme\n").unwrap();
    let files = generate(DEFAULT_GENERATOR, &fixture("context"), &opts("ctx.puml")).unwrap();
    let plan = regen::plan(out, &files).unwrap();
    assert!(matches!(
        plan.actions.iter().find(|a| a.path() == "README.md"),
        Some(Action::Keep { warn: true, .. })
    ));
    let report = regen::apply(out, &plan, &files).unwrap();
    assert_eq!(read(out, "README.md").unwrap(), "my own readme\n");
    assert!(report.warnings.iter().any(|w| w.starts_with("README.md")));
    // The manifest is always (re)written, so the next run knows what c4forge wrote.
    assert!(read(out, "c4forge.json").is_some());
}

#[test]
fn random_models_always_generate_valid_safe_projects() {
    for case in 0..150u64 {
        let model = common::random_model(case);
        let files = generate(DEFAULT_GENERATOR, &model, &opts("random.puml")).unwrap_or_else(|e| {
            panic!(
                "case {case}: {e}\n{}",
                serde_json::to_string(&model).unwrap()
            )
        });
        let mut seen = BTreeSet::new();
        for f in &files.files {
            assert!(
                infer::naming::is_safe_relative_path(&f.path) && f.path.is_ascii(),
                "case {case}: {}",
                f.path
            );
            assert!(
                seen.insert(f.path.to_ascii_lowercase()),
                "case {case}: duplicate (case-insensitive) path {}",
                f.path
            );
        }
        assert_eq!(
            files,
            generate(DEFAULT_GENERATOR, &model, &opts("random.puml")).unwrap(),
            "case {case}"
        );
    }
}

/// Two connections of one service share a settings field only when they
/// reach the same target the same way (a producer and a consumer of one
/// broker do): a SQL and a Redis URL, or the URLs of two targets named
/// alike, are separate settings.
#[test]
fn a_setting_configures_one_connection() {
    let family = |kind: &str| {
        match kind {
            "amqp_producer" | "amqp" => "amqp",
            "kafka_producer" | "kafka" => "kafka",
            other => other,
        }
        .to_string()
    };
    let mut checked = 0;
    let models = (0..150u64)
        .map(common::random_model)
        .chain(common::fixtures().into_iter().map(|(_, m)| m));
    for model in models {
        let p = infer::project::analyze(&model, "random.puml");
        for s in &p.services {
            let mut owners: BTreeMap<&str, (String, String)> = BTreeMap::new();
            let deps = s
                .deps
                .iter()
                .map(|d| (&d.setting, &d.target, family(d.kind.as_str())));
            let consumers = s
                .consumers
                .iter()
                .map(|c| (&c.setting, &c.broker, family(c.kind.as_str())));
            for (setting, target, family) in deps.chain(consumers) {
                let owner = (target.clone(), family);
                let first = owners.entry(setting).or_insert_with(|| owner.clone());
                assert_eq!(*first, owner, "{}: setting {setting}", s.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} connections checked");
}
