//! Generation budgets and the trojan-source defence (issue 17): a model
//! over a budget fails with a diagnostic naming the limit, its place and the
//! key that raises it; hidden control characters never reach a generated
//! file and each cleaned field is reported once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;

use infer::sanitize::is_hidden_control;
use infer::{
    BudgetError, DEFAULT_GENERATOR, GenerateError, GenerateLimits, GenerateOptions,
    generate_with_warnings,
};
use schemas::model::v1::{Model, Severity};

fn fixture(name: &str) -> Model {
    common::fixtures()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, m)| m)
        .unwrap()
}

fn opts(limits: GenerateLimits) -> GenerateOptions {
    GenerateOptions {
        source_name: "c.puml".into(),
        limits,
        ..Default::default()
    }
}

fn budget_error(model: &Model, limits: GenerateLimits) -> BudgetError {
    match generate_with_warnings(DEFAULT_GENERATOR, model, &opts(limits)) {
        Err(GenerateError::Budget(b)) => b,
        Err(e) => panic!("expected a budget error, got {e}"),
        Ok(_) => panic!("expected a budget error, the model generated"),
    }
}

/// The snapshot fixture `trojan_source` (its files are compared by
/// `snapshots.rs`): no hidden control character is left in any generated
/// file or path, and the warnings, one per cleaned field at its element's
/// line, match `tests/snapshots/trojan_source.warnings.txt`
/// (`C4FORGE_BLESS=1` rewrites it).
#[test]
fn trojan_source_characters_are_removed_with_one_warning_per_field() {
    let model = fixture("trojan_source");
    let o = GenerateOptions {
        source_name: "trojan_source.puml".into(),
        ..Default::default()
    };
    let generated = generate_with_warnings(DEFAULT_GENERATOR, &model, &o).unwrap();
    for f in &generated.files.files {
        assert!(
            !f.path.chars().any(is_hidden_control),
            "hidden control in path {:?}",
            f.path
        );
        if let Some((line, text)) = f
            .contents
            .lines()
            .enumerate()
            .find(|(_, l)| l.chars().any(is_hidden_control))
        {
            panic!("{}:{}: hidden control left: {text:?}", f.path, line + 1);
        }
    }
    // The visible text survives: the label is kept, only the controls go.
    let readme = generated
        .files
        .files
        .iter()
        .find(|f| f.path == "README.md")
        .unwrap();
    assert!(readme.contents.contains("Order API"), "{}", readme.contents);

    assert!(
        generated
            .warnings
            .iter()
            .all(|w| w.severity == Severity::Warning && w.file == "trojan.puml")
    );
    let text: String = generated
        .warnings
        .iter()
        .map(|w| format!("{}:{}:{}: {}\n", w.file, w.line, w.column, w.message))
        .collect();
    let snap =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/trojan_source.warnings.txt");
    if std::env::var("C4FORGE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&snap, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&snap).unwrap_or_default();
    assert_eq!(
        text,
        expected,
        "warnings differ from {} (C4FORGE_BLESS=1 to accept)",
        snap.display()
    );
    // One warning per field: the API's description has three kinds of
    // control but one warning, naming them all.
    let api_description: Vec<_> = generated
        .warnings
        .iter()
        .filter(|w| w.message.contains("description of element `api`"))
        .collect();
    assert_eq!(api_description.len(), 1, "{text}");
    assert!(
        api_description[0]
            .message
            .contains("U+202E, U+2066, U+2069"),
        "{text}"
    );
    assert_eq!(api_description[0].line, 5);
}

/// A label of 256 KiB (the amplification of issue 17 copied it into every
/// file of the project) is refused before generation, naming the element,
/// the field, its place and the setting.
#[test]
fn an_oversized_text_is_refused_with_its_place_and_setting() {
    let mut model = fixture("container");
    let big = "lol".repeat(256 * 1024 / 3);
    let e = &mut model.diagrams[0].elements[1];
    e.description = big.as_str().into();
    let (alias, line, column) = (e.alias.to_string(), e.span.line, e.span.column);
    let err = budget_error(&model, GenerateLimits::default());
    let BudgetError::TextTooLong {
        ref owner,
        field,
        bytes,
        limit,
        ref at,
    } = err
    else {
        panic!("expected TextTooLong, got {err}");
    };
    assert_eq!(owner, &format!("element `{alias}`"));
    assert_eq!((field, bytes, limit), ("description", big.len(), 8192));
    assert_eq!((at.line, at.column), (line, column));
    let message = err.to_string();
    assert!(message.contains("generate.max_text_bytes"), "{message}");
    assert!(
        message.contains("C4FORGE_GENERATE_MAX_TEXT_BYTES"),
        "{message}"
    );
    // Raising the setting lets it through.
    let limits = GenerateLimits {
        max_text_bytes: big.len(),
        ..GenerateLimits::default()
    };
    assert!(generate_with_warnings(DEFAULT_GENERATOR, &model, &opts(limits)).is_ok());
}

#[test]
fn element_and_relationship_counts_are_budgeted() {
    let model = fixture("container");
    let elements: usize = model
        .diagrams
        .iter()
        .map(|d| d.elements.len() + d.boundaries.len())
        .sum();
    let rels: usize = model.diagrams.iter().map(|d| d.relationships.len()).sum();
    let at_the_limit = GenerateLimits {
        max_elements: elements,
        max_relationships: rels,
        ..GenerateLimits::default()
    };
    assert!(generate_with_warnings(DEFAULT_GENERATOR, &model, &opts(at_the_limit)).is_ok());

    let err = budget_error(
        &model,
        GenerateLimits {
            max_elements: elements - 1,
            ..at_the_limit
        },
    );
    assert!(
        matches!(err, BudgetError::TooManyElements { count, limit, .. } if count == elements && limit == elements - 1),
        "{err}"
    );
    assert!(err.to_string().contains("generate.max_elements"), "{err}");

    let err = budget_error(
        &model,
        GenerateLimits {
            max_relationships: rels - 1,
            ..at_the_limit
        },
    );
    assert!(
        matches!(err, BudgetError::TooManyRelationships { count, .. } if count == rels),
        "{err}"
    );
    assert!(
        err.to_string().contains("generate.max_relationships"),
        "{err}"
    );
}

/// The output budget stops generation at the file that crosses it.
#[test]
fn output_budget_stops_generation() {
    let model = fixture("container");
    let full = common::gen_fixture("container", &model).total_bytes();
    let err = budget_error(
        &model,
        GenerateLimits {
            max_output_bytes: full / 2,
            ..GenerateLimits::default()
        },
    );
    let BudgetError::OutputTooLarge { limit, ref path } = err else {
        panic!("expected OutputTooLarge, got {err}");
    };
    assert_eq!(limit, full / 2);
    assert!(!path.is_empty());
    assert!(
        err.to_string().contains("generate.max_output_bytes"),
        "{err}"
    );
    // A budget a little over the project's size (rendering counts the
    // blanks the generator strips afterwards) lets it through.
    let o = GenerateOptions {
        source_name: "container.puml".into(),
        limits: GenerateLimits {
            max_output_bytes: full + full / 10,
            ..GenerateLimits::default()
        },
        ..Default::default()
    };
    assert!(generate_with_warnings(DEFAULT_GENERATOR, &model, &o).is_ok());
}
