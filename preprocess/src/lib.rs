//! The C4-PlantUML parser of c4forge.
//!
//! Turns `.puml` text into the model IR ([`schemas::model::v1::Model`]):
//! elements, boundaries, deployment nodes and relationships per
//! `@startuml ... @enduml` block, plus every diagnostic with file, 1-based
//! line and column. It is pure: no IO (relative includes go through an
//! [`IncludeResolver`] supplied by the caller), no async, and it never
//! panics; hostile input is bounded by step, depth and size limits and by
//! a per-diagram model budget (items and bytes of text).
//!
//! The C4-PlantUML library (2.13) is implemented natively rather than
//! interpreted: `!include` of any form of `C4_*.puml` (stdlib `<C4/...>`,
//! GitHub/CDN URLs, `RELATIVE_INCLUDE` paths, local copies) just enables the
//! corresponding macros, offline.
//!
//! Module map:
//! - `lexer`: logical lines (comments, continuations), call
//!   and argument syntax, edit distance.
//! - `expr`: preprocessor expressions and macro-argument
//!   evaluation.
//! - `interp`: the preprocessor (directives, includes,
//!   variables, user procedures/functions, loops) and statement dispatch.
//! - `c4`: the native C4 library: macro tables, argument
//!   binding, model building, dynamic indexes, tag defaults, properties.
//! - `diagnostics`: diagnostic collection.
//! - `render`: the text tree and caret diagnostics.
//! - `bundle`: `.zip` upload bundles read with limits (feature `bundle`).
//! - `stage`: the pipeline stage adapter (service wiring, feature `stage`).

mod bounds;
pub mod bundle;
mod c4;
mod diagnostics;
mod expr;
mod interp;
mod lexer;
mod render;
pub mod stage;

use std::collections::{BTreeMap, HashMap};

use schemas::model::v1::{Diagnostic, Model, Severity};

pub use render::{render_diagnostics, render_text};

/// One input file (uploads and bundles are sets of these).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceFile {
    /// Path as uploaded, relative to the upload (used in diagnostics and to
    /// resolve relative includes).
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// Finds a relatively included file. Implemented by callers (CLI: the
/// filesystem below a root; service: the uploaded bundle), so that the
/// parser itself does no IO and cannot be made to read arbitrary files.
pub trait IncludeResolver {
    /// Returns the file `target` names, as included from `including_file`,
    /// or a one-line reason why it cannot be read.
    fn resolve(&self, including_file: &str, target: &str) -> Result<SourceFile, String>;
}

/// A resolver that finds nothing: every relative include becomes a
/// diagnostic. For single-file parses where includes are not wanted.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIncludes;

impl IncludeResolver for NoIncludes {
    fn resolve(&self, _including_file: &str, target: &str) -> Result<SourceFile, String> {
        Err(format!("no include resolver available for `{target}`"))
    }
}

/// A resolver over an in-memory bundle (an upload or a zip): paths are
/// relative to the bundle root, and a target can never escape it.
#[derive(Debug, Clone, Default)]
pub struct BundleResolver {
    files: HashMap<String, SourceFile>,
}

impl BundleResolver {
    /// Indexes `files` by their normalized path.
    pub fn new(files: Vec<SourceFile>) -> Self {
        let files = files
            .into_iter()
            .filter_map(|f| normalize(&f.path, "").map(|p| (p, f)))
            .collect();
        BundleResolver { files }
    }
}

impl IncludeResolver for BundleResolver {
    fn resolve(&self, including_file: &str, target: &str) -> Result<SourceFile, String> {
        let dir = including_file.rsplit_once('/').map(|x| x.0).unwrap_or("");
        let Some(path) = normalize(target, dir) else {
            return Err("the path leaves the bundle".into());
        };
        self.files
            .get(&path)
            .cloned()
            .ok_or_else(|| format!("`{path}` is not in the bundle"))
    }
}

/// Joins `target` to `dir` and removes `.`/`..`; `None` if it escapes the root.
fn normalize(target: &str, dir: &str) -> Option<String> {
    let target = target.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    let base = if target.starts_with('/') { "" } else { dir };
    for seg in base.split('/').chain(target.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// `s` starts with the ASCII text `prefix`, ignoring ASCII case (what
/// `s.to_ascii_lowercase().starts_with(prefix)` says for a lowercase
/// `prefix`, without the copy).
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// What parsing one file produced, before merging.
struct FileResult {
    model: Model,
    /// Files read through the resolver while parsing.
    included: Vec<String>,
    /// Their texts (where the diagnostics of `parse_many` point too).
    loaded: Vec<SourceFile>,
    /// The file has no `@startuml` block.
    no_block: bool,
}

fn parse_file(
    file: &SourceFile,
    resolver: &dyn IncludeResolver,
    budget: &mut interp::Budget,
) -> FileResult {
    let mut files = vec![file.path.clone()];
    let mut loaded = Vec::new();
    let mut d = diagnostics::Diags::default();
    let lines = lexer::logical_lines(&file.text, 0);
    let mut diagrams = Vec::new();
    let mut i = 0;
    let mut found = false;
    while i < lines.len() {
        let t = lexer::trim_start(&lines[i].text);
        if !starts_with_ci(t, "@startuml") {
            i += 1;
            continue;
        }
        found = true;
        let name = t.get("@startuml".len()..).unwrap_or("").trim();
        let name = lexer::unquote_whole(name).unwrap_or(name).trim();
        let name = (!name.is_empty() && !name.starts_with('(')).then(|| name.to_string());
        let end = lines[i + 1..]
            .iter()
            .position(|l| starts_with_ci(lexer::trim_start(&l.text), "@enduml"))
            .map(|p| p + i + 1);
        let stop = match end {
            Some(e) => e,
            None => {
                let loc = diagnostics::Loc {
                    file: file.path.as_str().into(),
                    line: lines[i].line,
                    column: lines[i].first_col(),
                };
                d.error(&loc, "`@startuml` without `@enduml`".into());
                lines.len()
            }
        };
        let it = interp::Interp::new(resolver, &mut files, &mut loaded, &mut d, budget);
        let mut dg = it.run_diagram(&lines[i + 1..stop], &file.path);
        dg.file = file.path.clone();
        dg.name = name;
        diagrams.push(dg);
        i = stop + 1;
    }
    let no_block = !found;
    if !found && lines.iter().any(|l| !l.text.trim().is_empty()) {
        let l = lines.iter().find(|l| !l.text.trim().is_empty());
        let loc = diagnostics::Loc {
            file: file.path.as_str().into(),
            line: l.map_or(1, |l| l.line),
            column: l.map_or(1, |l| l.first_col()),
        };
        d.error(&loc, "no `@startuml` ... `@enduml` block found".into());
    }
    let mut list = d.list;
    let sources: Vec<&SourceFile> = std::iter::once(file).chain(loaded.iter()).collect();
    diagnostics::locate(&mut list, &sources);
    FileResult {
        model: Model {
            diagrams,
            diagnostics: list,
        },
        included: files.into_iter().skip(1).collect(),
        loaded,
        no_block,
    }
}

/// Parses one file. Never panics; returns the model plus every diagnostic
/// (the model is filled as far as possible even when there are errors).
pub fn parse(file: &SourceFile, resolver: &dyn IncludeResolver) -> Model {
    parse_file(file, resolver, &mut interp::Budget::default()).model
}

/// Parses several files of one upload and merges them into one model.
///
/// Diagrams keep file order. A file that only serves as an include of
/// another file of the upload (no `@startuml` of its own) is not an error.
/// An alias used for different kinds of element in different diagrams is
/// reported as a conflict (a warning: the generators key files by alias).
pub fn parse_many(files: &[SourceFile], resolver: &dyn IncludeResolver) -> Model {
    // the files of one upload share the base allowances of the limits
    let mut budget = interp::Budget::default();
    let results: Vec<FileResult> = files
        .iter()
        .map(|f| parse_file(f, resolver, &mut budget))
        .collect();
    let included: std::collections::HashSet<&str> = results
        .iter()
        .flat_map(|r| r.included.iter().map(String::as_str))
        .collect();
    let mut model = Model::default();
    let include_only: Vec<bool> = files
        .iter()
        .zip(results.iter())
        .map(|(f, r)| r.no_block && included.contains(f.path.as_str()))
        .collect();
    let mut loaded = Vec::new();
    for (r, include_only) in results.into_iter().zip(include_only) {
        loaded.extend(r.loaded);
        model.diagrams.extend(r.model.diagrams);
        model.diagnostics.extend(
            r.model
                .diagnostics
                .into_iter()
                .filter(|d| !(include_only && d.message.starts_with("no `@startuml`"))),
        );
    }
    let mut seen: BTreeMap<&str, (&schemas::model::v1::Element, &str)> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for dg in &model.diagrams {
        for e in &dg.elements {
            match seen.get(e.alias.as_str()) {
                Some((p, pfile)) if p.kind != e.kind || p.external != e.external => {
                    conflicts.push(Diagnostic {
                        severity: Severity::Warning,
                        message: format!(
                            "alias `{}` is a {} here but a {} in {}:{}",
                            e.alias,
                            render::element_kind_name(e),
                            render::element_kind_name(p),
                            pfile,
                            p.span.line
                        ),
                        file: dg.file.clone(),
                        line: e.span.line,
                        column: e.span.column,
                        bytes: None,
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(&e.alias, (e, &dg.file));
                }
            }
        }
    }
    let sources: Vec<&SourceFile> = files.iter().chain(loaded.iter()).collect();
    diagnostics::locate(&mut conflicts, &sources);
    model.diagnostics.extend(conflicts);
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_paths_never_escape() {
        let r = BundleResolver::new(vec![SourceFile {
            path: "lib/common.iuml".into(),
            text: "x".into(),
        }]);
        assert!(r.resolve("diagrams/a.puml", "../lib/common.iuml").is_ok());
        assert!(r.resolve("a.puml", "../../etc/passwd").is_err());
        assert!(r.resolve("lib/x.puml", "./common.iuml").is_ok());
    }
}
