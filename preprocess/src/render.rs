//! Human-readable output: the model as a tree and diagnostics in the
//! caret style of `toml_edit`/rustc (`file:line:column`, the source line,
//! a `^` under the column).

use std::fmt::Write as _;

use schemas::model::v1::{
    BoundaryKind, Diagnostic, Direction, Element, ElementKind, Level, Model, Severity, Shape,
};

use crate::SourceFile;

/// `external container (database)` style name of an element's kind.
pub(crate) fn element_kind_name(e: &Element) -> String {
    let k = match e.kind {
        ElementKind::Person => "person",
        ElementKind::System => "system",
        ElementKind::Container => "container",
        ElementKind::Component => "component",
    };
    let shape = match e.shape {
        Shape::Default => "",
        Shape::Database => " (database)",
        Shape::Queue => " (queue)",
    };
    format!("{}{k}{shape}", if e.external { "external " } else { "" })
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Context => "context",
        Level::Container => "container",
        Level::Component => "component",
        Level::Deployment => "deployment",
        Level::Dynamic => "dynamic",
        Level::Sequence => "sequence",
        Level::Landscape => "landscape",
        Level::Unknown => "unknown",
    }
}

fn boundary_kind_name(k: BoundaryKind) -> &'static str {
    match k {
        BoundaryKind::EnterpriseBoundary => "enterprise boundary",
        BoundaryKind::SystemBoundary => "system boundary",
        BoundaryKind::ContainerBoundary => "container boundary",
        BoundaryKind::Boundary => "boundary",
        BoundaryKind::DeploymentNode => "deployment node",
    }
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::Left => "left",
        Direction::Right => "right",
    }
}

/// Renders the model as an indented tree (boundaries contain their
/// children), followed by every diagnostic in caret form. This is what
/// `c4forge parse --format text` prints.
pub fn render_text(model: &Model, sources: &[SourceFile]) -> String {
    let mut out = String::new();
    for (n, dg) in model.diagrams.iter().enumerate() {
        let _ = write!(out, "diagram {}", n + 1);
        if let Some(name) = &dg.name {
            let _ = write!(out, " {name:?}");
        }
        let _ = write!(out, " ({}", level_name(dg.level));
        if !dg.file.is_empty() {
            let _ = write!(out, ", {}", dg.file);
        }
        out.push(')');
        if let Some(t) = &dg.title {
            let _ = write!(out, ": {t}");
        }
        out.push('\n');
        tree(&mut out, dg, None, 1);
        for r in &dg.relationships {
            let arrow = if r.bidirectional { "<->" } else { "->" };
            let _ = write!(out, "  rel {} {arrow} {}", r.from, r.to);
            if let Some(i) = &r.index {
                let _ = write!(out, " #{i}");
            }
            let _ = write!(out, " {:?}", r.label);
            if !r.technology.is_empty() {
                let _ = write!(out, " [{}]", r.technology);
            }
            if let Some(d) = r.direction {
                let _ = write!(out, " ({})", dir_name(d));
            }
            out.push('\n');
        }
    }
    if !model.diagnostics.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&render_diagnostics(model, sources));
    }
    out
}

fn tree(out: &mut String, dg: &schemas::model::v1::Diagram, parent: Option<&str>, depth: usize) {
    let pad = "  ".repeat(depth);
    for b in dg
        .boundaries
        .iter()
        .filter(|b| b.parent.as_deref() == parent)
    {
        let _ = write!(
            out,
            "{pad}{} {} {:?}",
            boundary_kind_name(b.kind),
            b.alias,
            b.label
        );
        if !b.technology.is_empty() {
            let _ = write!(out, " [{}]", b.technology);
        }
        out.push('\n');
        if depth < 64 {
            tree(out, dg, Some(&b.alias), depth + 1);
        }
    }
    for e in dg.elements.iter().filter(|e| e.parent.as_deref() == parent) {
        let _ = write!(
            out,
            "{pad}{} {} {:?}",
            element_kind_name(e),
            e.alias,
            e.name
        );
        if !e.technology.is_empty() {
            let _ = write!(out, " [{}]", e.technology);
        }
        if !e.tags.is_empty() {
            let _ = write!(out, " tags={}", e.tags.join("+"));
        }
        out.push('\n');
    }
    if parent.is_none() {
        // elements whose parent is not a known boundary (should not happen)
        for e in dg.elements.iter().filter(|e| {
            e.parent
                .as_deref()
                .is_some_and(|p| !dg.boundaries.iter().any(|b| b.alias == p))
        }) {
            let _ = writeln!(
                out,
                "{pad}{} {} {:?}",
                element_kind_name(e),
                e.alias,
                e.name
            );
        }
    }
}

/// Renders just the diagnostics, each as
/// `error: message`, ` --> file:line:column`, the source line and a caret.
/// Files not in `sources` are shown without the source line.
pub fn render_diagnostics(model: &Model, sources: &[SourceFile]) -> String {
    let mut out = String::new();
    for d in &model.diagnostics {
        one(&mut out, d, sources);
    }
    out
}

fn one(out: &mut String, d: &Diagnostic, sources: &[SourceFile]) {
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{sev}: {}", d.message);
    let _ = writeln!(out, " --> {}:{}:{}", d.file, d.line, d.column);
    let line = sources
        .iter()
        .find(|s| s.path == d.file)
        .and_then(|s| s.text.split('\n').nth(d.line.saturating_sub(1) as usize))
        .map(|l| l.trim_end_matches('\r'));
    if let Some(line) = line {
        let num = d.line.to_string();
        let gutter = " ".repeat(num.len());
        let col = d.column.saturating_sub(1) as usize;
        // keep tabs so the caret lines up under the source
        let lead: String = line
            .chars()
            .take(col)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{num} | {line}");
        let _ = writeln!(out, "{gutter} | {lead}^");
    }
    out.push('\n');
}
