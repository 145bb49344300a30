//! Generation budgets: how large a model may be, and how much output it may
//! produce, before generation stops with a diagnostic instead of spending
//! minutes and gigabytes on one upload (issue 17).
//!
//! The parser bounds its own work; these bounds are the generator's: the
//! number of elements and relationships it turns into services and clients,
//! the length of one text field (a label, a description) that templates copy
//! into many files, and the total bytes of the generated file set, counted
//! while rendering so an oversized project stops early instead of being built
//! first. Every crossing is a [`BudgetError`] naming the limit and the
//! configuration key (and environment variable) that raises it.

use schemas::model::v1::{Diagnostic, Model, Severity, Span};

/// Default largest number of elements and boundaries over all diagrams of
/// one generation. Real architecture diagrams have tens to a few hundred.
pub const DEFAULT_MAX_ELEMENTS: usize = 2_000;
/// Default largest number of relationships over all diagrams.
pub const DEFAULT_MAX_RELATIONSHIPS: usize = 5_000;
/// Default largest text field (label, technology, description, tag, link,
/// property cell) in bytes. A long description is a few hundred bytes; a
/// field of 256 KiB copied into a dozen files was the 100,000x
/// amplification of issue 17.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 8 * 1024;
/// Default largest generated project (file contents and paths) in bytes.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// Configuration key and environment variable of [`GenerateLimits::max_elements`].
pub const MAX_ELEMENTS_KEY: (&str, &str) =
    ("generate.max_elements", "C4FORGE_GENERATE_MAX_ELEMENTS");
/// Configuration key and environment variable of [`GenerateLimits::max_relationships`].
pub const MAX_RELATIONSHIPS_KEY: (&str, &str) = (
    "generate.max_relationships",
    "C4FORGE_GENERATE_MAX_RELATIONSHIPS",
);
/// Configuration key and environment variable of [`GenerateLimits::max_text_bytes`].
pub const MAX_TEXT_BYTES_KEY: (&str, &str) =
    ("generate.max_text_bytes", "C4FORGE_GENERATE_MAX_TEXT_BYTES");
/// Configuration key and environment variable of [`GenerateLimits::max_output_bytes`].
pub const MAX_OUTPUT_BYTES_KEY: (&str, &str) = (
    "generate.max_output_bytes",
    "C4FORGE_GENERATE_MAX_OUTPUT_BYTES",
);

/// The budgets of one generation run (carried in
/// [`crate::GenerateOptions::limits`]; the service and `convert` fill them
/// from the `[generate]` configuration section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateLimits {
    /// Elements and boundaries over all diagrams.
    pub max_elements: usize,
    /// Relationships over all diagrams.
    pub max_relationships: usize,
    /// Bytes of one text field of the model.
    pub max_text_bytes: usize,
    /// Bytes of the generated project (contents and paths of every file).
    pub max_output_bytes: usize,
}

impl Default for GenerateLimits {
    fn default() -> Self {
        Self {
            max_elements: DEFAULT_MAX_ELEMENTS,
            max_relationships: DEFAULT_MAX_RELATIONSHIPS,
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// A place in a diagram file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The diagram file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{l}", self.file),
            (l, c) => write!(f, "{}:{l}:{c}", self.file),
        }
    }
}

/// `how to raise it` suffix of every budget message.
fn raise((key, env): (&str, &str)) -> String {
    format!("raise `{key}` in c4forge.toml or {env} to allow more")
}

/// A generation budget ([`GenerateLimits`]) was crossed. The job fails
/// permanently (the same diagram would cross it again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// More elements and boundaries than [`GenerateLimits::max_elements`].
    #[error(
        "the diagrams have {count} elements and boundaries, more than the generation budget of {limit} (the first one over it is `{alias}` at {at}); {}",
        raise(MAX_ELEMENTS_KEY)
    )]
    TooManyElements {
        /// Elements and boundaries in the model.
        count: usize,
        /// The budget.
        limit: usize,
        /// Alias of the first element over the budget.
        alias: String,
        /// Where it is.
        at: Location,
    },
    /// More relationships than [`GenerateLimits::max_relationships`].
    #[error(
        "the diagrams have {count} relationships, more than the generation budget of {limit} (the first one over it is `{from} -> {to}` at {at}); {}",
        raise(MAX_RELATIONSHIPS_KEY)
    )]
    TooManyRelationships {
        /// Relationships in the model.
        count: usize,
        /// The budget.
        limit: usize,
        /// Source alias of the first relationship over the budget.
        from: String,
        /// Target alias.
        to: String,
        /// Where it is.
        at: Location,
    },
    /// A text field longer than [`GenerateLimits::max_text_bytes`].
    #[error(
        "the {field} of {owner} at {at} is {bytes} bytes long, more than the generation budget of {limit} bytes per text; {}",
        raise(MAX_TEXT_BYTES_KEY)
    )]
    TextTooLong {
        /// What holds the text (`element `api``, `relationship `a -> b``, `diagram title`).
        owner: String,
        /// Which field (`name`, `description`, ...).
        field: &'static str,
        /// Its length.
        bytes: usize,
        /// The budget.
        limit: usize,
        /// Where the owner is.
        at: Location,
    },
    /// The generated project grew past [`GenerateLimits::max_output_bytes`].
    #[error(
        "the generated project is larger than the generation budget of {limit} bytes (stopped while generating {path}); {}",
        raise(MAX_OUTPUT_BYTES_KEY)
    )]
    OutputTooLarge {
        /// The budget.
        limit: usize,
        /// The file being generated when the budget ran out.
        path: String,
    },
}

impl BudgetError {
    /// The error as an error diagnostic at its place in the diagram (for the
    /// job's diagnostics); the output budget has no place but the upload.
    pub fn diagnostic(&self, source: &str) -> Diagnostic {
        let at = match self {
            BudgetError::TooManyElements { at, .. }
            | BudgetError::TooManyRelationships { at, .. }
            | BudgetError::TextTooLong { at, .. } => at.clone(),
            BudgetError::OutputTooLarge { .. } => Location {
                file: source.to_string(),
                line: 0,
                column: 0,
            },
        };
        Diagnostic {
            severity: Severity::Error,
            message: self.to_string(),
            file: at.file,
            line: at.line,
            column: at.column,
            bytes: None,
        }
    }
}

/// The file a diagram's items are reported in.
pub(crate) fn diagram_file<'a>(file: &'a str, source: &'a str) -> &'a str {
    if file.is_empty() { source } else { file }
}

fn location(file: &str, span: Span) -> Location {
    Location {
        file: file.to_string(),
        line: span.line,
        column: span.column,
    }
}

/// Shortens an alias for a message (aliases are diagram text too).
fn short(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Checks the model against the element, relationship and text budgets, in
/// that order, before any work proportional to them is done.
pub fn check_model(
    model: &Model,
    source: &str,
    limits: &GenerateLimits,
) -> Result<(), BudgetError> {
    let count: usize = model
        .diagrams
        .iter()
        .map(|d| d.elements.len() + d.boundaries.len())
        .sum();
    if count > limits.max_elements {
        let mut left = limits.max_elements;
        for d in &model.diagrams {
            let file = diagram_file(&d.file, source);
            let items = d
                .elements
                .iter()
                .map(|e| (&e.alias, e.span))
                .chain(d.boundaries.iter().map(|b| (&b.alias, b.span)));
            for (alias, span) in items {
                if left == 0 {
                    return Err(BudgetError::TooManyElements {
                        count,
                        limit: limits.max_elements,
                        alias: short(alias),
                        at: location(file, span),
                    });
                }
                left -= 1;
            }
        }
    }
    let count: usize = model.diagrams.iter().map(|d| d.relationships.len()).sum();
    if count > limits.max_relationships {
        let over = model
            .diagrams
            .iter()
            .flat_map(|d| d.relationships.iter().map(move |r| (d, r)))
            .nth(limits.max_relationships);
        if let Some((d, r)) = over {
            return Err(BudgetError::TooManyRelationships {
                count,
                limit: limits.max_relationships,
                from: short(&r.from),
                to: short(&r.to),
                at: location(diagram_file(&d.file, source), r.span),
            });
        }
    }
    let mut result = Ok(());
    crate::sanitize::visit_texts(model, source, &mut |t| {
        if result.is_ok() && t.text.len() > limits.max_text_bytes {
            result = Err(BudgetError::TextTooLong {
                owner: t.owner(),
                field: t.field,
                bytes: t.text.len(),
                limit: limits.max_text_bytes,
                at: t.at.clone(),
            });
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::model::v1::{Diagram, Element, Relationship};

    fn model(elements: usize, rels: usize, description: &str) -> Model {
        Model {
            diagrams: vec![Diagram {
                elements: (0..elements)
                    .map(|i| Element {
                        alias: format!("e{i}").into(),
                        name: "E".into(),
                        description: description.into(),
                        span: Span {
                            line: i as u32 + 3,
                            column: 1,
                        },
                        ..Element::default()
                    })
                    .collect(),
                relationships: (0..rels)
                    .map(|i| Relationship {
                        from: "e0".into(),
                        to: format!("e{i}").into(),
                        span: Span {
                            line: 100 + i as u32,
                            column: 2,
                        },
                        ..Relationship::default()
                    })
                    .collect(),
                ..Diagram::default()
            }],
            diagnostics: Vec::new(),
        }
    }

    #[test]
    fn budgets_name_the_first_item_over_them_and_the_key() {
        let limits = GenerateLimits {
            max_elements: 3,
            max_relationships: 2,
            max_text_bytes: 10,
            ..GenerateLimits::default()
        };
        assert_eq!(
            check_model(&model(3, 2, "0123456789"), "a.puml", &limits),
            Ok(())
        );

        let e = check_model(&model(5, 0, ""), "a.puml", &limits).expect_err("elements");
        assert!(
            matches!(&e, BudgetError::TooManyElements { count: 5, alias, .. } if alias == "e3")
        );
        let text = e.to_string();
        assert!(text.contains("a.puml:6:1"), "{text}");
        assert!(text.contains("generate.max_elements"), "{text}");
        assert!(text.contains("C4FORGE_GENERATE_MAX_ELEMENTS"), "{text}");

        let e = check_model(&model(3, 4, ""), "a.puml", &limits).expect_err("relationships");
        assert!(e.to_string().contains("`e0 -> e2` at a.puml:102:2"), "{e}");
        assert!(e.to_string().contains("generate.max_relationships"), "{e}");

        let e = check_model(&model(2, 0, "01234567890"), "a.puml", &limits).expect_err("text");
        let d = e.diagnostic("a.puml");
        assert_eq!((d.line, d.column, d.severity), (3, 1, Severity::Error));
        assert!(
            d.message
                .contains("description of element `e0` at a.puml:3:1 is 11 bytes"),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("generate.max_text_bytes"),
            "{}",
            d.message
        );
    }
}
