//! Trojan-source defence: invisible and bidirectional control characters
//! in diagram text never reach generated files.
//!
//! A label holding U+202E (right-to-left override) or U+2066..U+2069
//! (isolates) makes a comment, docstring or string literal display in an
//! order other than the one Python reads; zero-width characters (U+200B..
//! U+200D, U+2060) and the BOM (U+FEFF) hide text or make two names look
//! alike (CVE-2021-42574). Every text field of the model is cleaned before
//! analysis, so no template, manifest or compose file can copy one; each
//! cleaned field gets one warning diagnostic at its element.

use std::borrow::Cow;

use schemas::model::v1::{Diagnostic, Model, Severity, Span, Text};

use crate::limits::{Location, diagram_file};

/// True for the characters removed from model text: bidirectional embedding,
/// override and isolate controls (U+202A..U+202E, U+2066..U+2069), the
/// directional marks (U+200E, U+200F, U+061C), zero-width space, joiners and
/// word joiner (U+200B..U+200D, U+2060) and the BOM / zero-width no-break
/// space (U+FEFF).
pub fn is_hidden_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2060}'
            | '\u{061C}'
            | '\u{FEFF}'
    )
}

/// One text field of the model, with what holds it and where.
pub(crate) struct TextField<'a> {
    /// `element`, `boundary`, `relationship` or `diagram`.
    pub kind: &'static str,
    /// The owner's alias (`from` of a relationship), empty for a diagram.
    pub alias: &'a str,
    /// The target alias of a relationship.
    pub to: &'a str,
    /// Field name (`name`, `description`, `tag`, ...).
    pub field: &'static str,
    /// The text.
    pub text: &'a str,
    /// Where the owner is.
    pub at: Location,
}

impl TextField<'_> {
    /// `element `api`` / `relationship `a -> b`` / `diagram`, for messages.
    pub fn owner(&self) -> String {
        let cut = |s: &str| -> String {
            match s.char_indices().nth(60) {
                Some((i, _)) => format!("{}...", &s[..i]),
                None => s.to_string(),
            }
        };
        match self.kind {
            "relationship" => format!("relationship `{} -> {}`", cut(self.alias), cut(self.to)),
            "diagram" => "the diagram".to_string(),
            kind => format!("{kind} `{}`", cut(self.alias)),
        }
    }
}

fn at(file: &str, span: Span) -> Location {
    Location {
        file: file.to_string(),
        line: span.line,
        column: span.column,
    }
}

/// Calls `f` on every text field of the model (the fields generators read).
pub(crate) fn visit_texts(model: &Model, source: &str, f: &mut dyn FnMut(&TextField<'_>)) {
    for d in &model.diagrams {
        let file = diagram_file(&d.file, source);
        for (field, text) in [("title", &d.title), ("name", &d.name)] {
            if let Some(text) = text {
                f(&TextField {
                    kind: "diagram",
                    alias: "",
                    to: "",
                    field,
                    text,
                    at: Location {
                        file: file.to_string(),
                        line: 0,
                        column: 0,
                    },
                });
            }
        }
        for e in &d.elements {
            let mut one = |field, text: &str| {
                f(&TextField {
                    kind: "element",
                    alias: &e.alias,
                    to: "",
                    field,
                    text,
                    at: at(file, e.span),
                })
            };
            for (field, text) in [
                ("alias", &e.alias),
                ("name", &e.name),
                ("technology", &e.technology),
                ("description", &e.description),
                ("sprite", &e.sprite),
                ("link", &e.link),
                ("type", &e.r#type),
            ] {
                one(field, text);
            }
            if let Some(p) = &e.parent {
                one("parent", p);
            }
            for t in &e.tags {
                one("tag", t);
            }
            for cell in e.properties.iter().flatten() {
                one("property", cell);
            }
        }
        for b in &d.boundaries {
            let mut one = |field, text: &str| {
                f(&TextField {
                    kind: "boundary",
                    alias: &b.alias,
                    to: "",
                    field,
                    text,
                    at: at(file, b.span),
                })
            };
            for (field, text) in [
                ("alias", &b.alias),
                ("label", &b.label),
                ("technology", &b.technology),
                ("description", &b.description),
                ("link", &b.link),
            ] {
                one(field, text);
            }
            if let Some(p) = &b.parent {
                one("parent", p);
            }
            for t in &b.tags {
                one("tag", t);
            }
            for cell in b.properties.iter().flatten() {
                one("property", cell);
            }
        }
        for r in &d.relationships {
            let mut one = |field, text: &str| {
                f(&TextField {
                    kind: "relationship",
                    alias: &r.from,
                    to: &r.to,
                    field,
                    text,
                    at: at(file, r.span),
                })
            };
            for (field, text) in [
                ("source alias", &r.from),
                ("target alias", &r.to),
                ("label", &r.label),
                ("technology", &r.technology),
                ("description", &r.description),
                ("link", &r.link),
                ("sprite", &r.sprite),
            ] {
                one(field, text);
            }
            if let Some(i) = &r.index {
                one("index", i);
            }
            for t in &r.tags {
                one("tag", t);
            }
            for cell in r.properties.iter().flatten() {
                one("property", cell);
            }
        }
    }
}

/// `text` without hidden controls, and the code points removed (distinct,
/// in order of appearance).
fn strip(text: &str) -> (String, Vec<char>) {
    let mut removed: Vec<char> = Vec::new();
    let clean: String = text
        .chars()
        .filter(|&c| {
            if is_hidden_control(c) {
                if !removed.contains(&c) {
                    removed.push(c);
                }
                false
            } else {
                true
            }
        })
        .collect();
    (clean, removed)
}

fn clean_text(t: &mut Text) {
    if t.chars().any(is_hidden_control) {
        *t = Text::from(strip(t).0);
    }
}

fn clean_string(t: &mut String) {
    if t.chars().any(is_hidden_control) {
        *t = strip(t).0;
    }
}

/// The text with hidden controls removed (`source_name`, paths).
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_hidden_control) {
        Cow::Owned(strip(text).0)
    } else {
        Cow::Borrowed(text)
    }
}

/// The model without hidden controls in any text, and one warning per
/// cleaned field naming the field, its owner and the characters removed.
/// Borrows the model when it has none (the usual case).
pub fn sanitize<'m>(model: &'m Model, source: &str) -> (Cow<'m, Model>, Vec<Diagnostic>) {
    let mut warnings = Vec::new();
    visit_texts(model, source, &mut |t| {
        if !t.text.chars().any(is_hidden_control) {
            return;
        }
        let removed = strip(t.text).1;
        let names: Vec<String> = removed
            .iter()
            .map(|c| format!("U+{:04X}", u32::from(*c)))
            .collect();
        warnings.push(Diagnostic {
            severity: Severity::Warning,
            message: format!(
                "removed invisible or bidirectional control characters ({}) from the {} of {}: they can make generated code read differently than it runs (trojan source)",
                names.join(", "),
                t.field,
                t.owner()
            ),
            file: t.at.file.clone(),
            line: t.at.line,
            column: t.at.column,
            bytes: None,
        });
    });
    if warnings.is_empty() {
        return (Cow::Borrowed(model), warnings);
    }
    // In reading order of each file (the walk visits elements, then
    // boundaries, then relationships).
    warnings.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let mut m = model.clone();
    for d in &mut m.diagrams {
        clean_string(&mut d.file);
        if let Some(t) = &mut d.title {
            clean_string(t);
        }
        if let Some(t) = &mut d.name {
            clean_string(t);
        }
        for e in &mut d.elements {
            for t in [
                &mut e.alias,
                &mut e.name,
                &mut e.technology,
                &mut e.description,
                &mut e.sprite,
                &mut e.link,
                &mut e.r#type,
            ] {
                clean_text(t);
            }
            e.parent.iter_mut().for_each(clean_text);
            e.tags.iter_mut().for_each(clean_text);
            e.properties.iter_mut().flatten().for_each(clean_string);
        }
        for b in &mut d.boundaries {
            for t in [
                &mut b.alias,
                &mut b.label,
                &mut b.technology,
                &mut b.description,
                &mut b.link,
            ] {
                clean_text(t);
            }
            b.parent.iter_mut().for_each(clean_text);
            b.tags.iter_mut().for_each(clean_text);
            b.properties.iter_mut().flatten().for_each(clean_string);
        }
        for r in &mut d.relationships {
            for t in [
                &mut r.from,
                &mut r.to,
                &mut r.label,
                &mut r.technology,
                &mut r.description,
                &mut r.link,
                &mut r.sprite,
            ] {
                clean_text(t);
            }
            r.index.iter_mut().for_each(clean_text);
            r.tags.iter_mut().for_each(clean_text);
            r.properties.iter_mut().flatten().for_each(clean_string);
        }
    }
    (Cow::Owned(m), warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::model::v1::{Diagram, Element};

    #[test]
    fn hidden_controls_are_removed_with_one_warning_per_field() {
        let model = Model {
            diagrams: vec![Diagram {
                elements: vec![Element {
                    alias: "api".into(),
                    name: "A\u{202E}B\u{202E}C\u{200B}".into(),
                    description: "plain".into(),
                    tags: vec!["t\u{FEFF}".into()],
                    span: Span { line: 4, column: 1 },
                    ..Element::default()
                }],
                ..Diagram::default()
            }],
            diagnostics: Vec::new(),
        };
        let (clean, warnings) = sanitize(&model, "d.puml");
        assert_eq!(clean.diagrams[0].elements[0].name, "ABC");
        assert_eq!(clean.diagrams[0].elements[0].tags[0], "t");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].message.contains("U+202E, U+200B"),
            "{warnings:?}"
        );
        assert!(warnings[0].message.contains("name of element `api`"));
        assert_eq!((warnings[0].line, warnings[0].column), (4, 1));
        assert_eq!(warnings[0].severity, Severity::Warning);
        // A clean model is borrowed, not copied.
        let (same, none) = sanitize(&clean, "d.puml");
        assert!(matches!(same, Cow::Borrowed(_)) && none.is_empty());
    }
}
