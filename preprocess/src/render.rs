//! Human-readable output: the model as a tree and diagnostics in the
//! caret style of `toml_edit`/rustc (`file:line:column`, the source line,
//! a `^` under the column).

use std::collections::{HashMap, HashSet};
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
        tree(&mut out, dg, &Children::of(dg), None, 1);
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

/// The boundaries and elements of a diagram grouped by parent alias, in
/// model order (so that printing the tree is linear, not a scan of the
/// whole diagram per boundary).
struct Children<'a> {
    boundaries: HashMap<Option<&'a str>, Vec<&'a schemas::model::v1::Boundary>>,
    elements: HashMap<Option<&'a str>, Vec<&'a Element>>,
    boundary_aliases: HashSet<&'a str>,
}

impl<'a> Children<'a> {
    fn of(dg: &'a schemas::model::v1::Diagram) -> Self {
        let mut boundaries: HashMap<Option<&str>, Vec<_>> = HashMap::new();
        for b in &dg.boundaries {
            boundaries.entry(b.parent.as_deref()).or_default().push(b);
        }
        let mut elements: HashMap<Option<&str>, Vec<_>> = HashMap::new();
        for e in &dg.elements {
            elements.entry(e.parent.as_deref()).or_default().push(e);
        }
        let boundary_aliases = dg.boundaries.iter().map(|b| b.alias.as_str()).collect();
        Children {
            boundaries,
            elements,
            boundary_aliases,
        }
    }
}

fn tree(
    out: &mut String,
    dg: &schemas::model::v1::Diagram,
    children: &Children<'_>,
    parent: Option<&str>,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    for b in children.boundaries.get(&parent).into_iter().flatten() {
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
            tree(out, dg, children, Some(&b.alias), depth + 1);
        }
    }
    for e in children.elements.get(&parent).into_iter().flatten() {
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
                .is_some_and(|p| !children.boundary_aliases.contains(p))
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
    let mut lines = SourceLines::new(sources);
    for d in &model.diagnostics {
        one(&mut out, d, &mut lines);
    }
    out
}

/// The lines of the sources, indexed on first use (a diagnostic's line is
/// then found without splitting the whole file again).
struct SourceLines<'a> {
    sources: &'a [SourceFile],
    /// Per source: the byte offset where each `\n`-separated line starts.
    starts: Vec<Option<Vec<usize>>>,
}

impl<'a> SourceLines<'a> {
    fn new(sources: &'a [SourceFile]) -> Self {
        SourceLines {
            sources,
            starts: vec![None; sources.len()],
        }
    }

    /// Line `n` (1-based; `0` is the first line too) of the first source
    /// named `file`: what `text.split('\n').nth(n - 1)` gives.
    fn line(&mut self, file: &str, n: u32) -> Option<&'a str> {
        let i = self.sources.iter().position(|s| s.path == file)?;
        let text = self.sources[i].text.as_str();
        let starts = self.starts[i].get_or_insert_with(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(p, _)| p + 1))
                .collect()
        });
        let k = n.saturating_sub(1) as usize;
        let start = *starts.get(k)?;
        let end = starts.get(k + 1).map_or(text.len(), |&next| next - 1);
        Some(&text[start..end])
    }
}

fn one(out: &mut String, d: &Diagnostic, lines: &mut SourceLines<'_>) {
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{sev}: {}", d.message);
    let _ = writeln!(out, " --> {}:{}:{}", d.file, d.line, d.column);
    let line = lines
        .line(&d.file, d.line)
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
