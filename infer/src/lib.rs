//! # infer: the c4forge generators ("models")
//!
//! Turns the C4 model IR ([`schemas::model::v1::Model`]) into a project file set
//! ([`schemas::files::FileSet`]). The only generator today is `python-fastapi`:
//! one FastAPI service per own container, a typed client per relationship,
//! SQLAlchemy repositories, queue producers/consumers, docker-compose, a pytest
//! suite and a `c4forge.json` manifest tracing every file to diagram elements.
//!
//! Generation is pure and deterministic: no IO (except reading an optional
//! template overlay directory), no async, same input -> byte-identical output.
//! The generated projects pass `python -m compileall`, `ruff check` (E, F, W,
//! B, I) and their own pytest suite without network (`tests/python_projects.rs`).
//!
//! Module map:
//! - [`naming`]: safe Python identifiers, URL segments, host names and paths.
//! - [`techmap`]: THE technology table (diagram technology text -> library, image).
//! - [`verbs`]: THE verb table (relationship label -> HTTP method and path).
//! - [`spec`]: the property vocabulary (`AddProperty` rows -> routes, models,
//!   tables, messages; `docs/SPEC-PROPERTIES.md`); [`typed`] applies it.
//! - [`limits`]: generation budgets (elements, relationships, text, output bytes).
//! - [`sanitize`]: trojan-source defence (hidden controls removed, with warnings).
//! - [`project`]: the [`project::Project`], what to build with every name
//!   decided (services, clients, routes, kinds as enums); what generators,
//!   templates and deployment plans read.
//! - [`analysis`]: IR -> [`project::Project`] (every decision and name), one
//!   file per pass and per kind of generated code.
//! - [`render`]: minijinja environment, built-in templates, overlay directory.
//! - `python_fastapi`: the `python-fastapi` generator (project -> files + manifest).
//! - [`verify`]: in-process Python syntax check of generated files (ruff's parser).
//! - [`regen`]: safe regeneration into an existing directory; the ONLY module
//!   of this crate that touches the filesystem for writing.
//! - `stage` (feature `stage`): the generate stage adapter (owned by the service wiring).
//! - [`deploy`]: `deploy/<target>/` (Kubernetes, AWS ECS, Azure Container Apps,
//!   Cloud Run) from the same project, for the targets a run asks for and
//!   those the diagram's deployment nodes name.

pub mod analysis;
pub mod deploy;
pub mod limits;
pub mod naming;
pub mod project;
mod python_fastapi;
pub mod regen;
pub mod render;
pub mod sanitize;
pub mod spec;
pub mod stage;
pub mod system;
pub mod techmap;
pub mod typed;
pub mod verbs;
pub mod verify;

use std::path::PathBuf;

use schemas::files::FileSet;
use schemas::model::v1::{Diagnostic, Model};
use serde::Serialize;

pub use limits::{BudgetError, GenerateLimits};
pub use verify::{VerifyError, verify_python};

/// The default generator name, used when a job or the CLI names none.
pub const DEFAULT_GENERATOR: &str = "python-fastapi";

/// Options of one generation run.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// File the model came from; written into headers and the manifest so a
    /// reader can find the diagram line behind each file.
    pub source_name: String,
    /// `--templates` overlay: files in this directory replace built-in
    /// templates of the same name. `None` uses the built-in templates only.
    pub templates_dir: Option<PathBuf>,
    /// Budgets of the run (defaults: [`GenerateLimits::default`]).
    pub limits: GenerateLimits,
    /// Deployment targets to write under `deploy/<target>/` besides the
    /// code (empty, the default: none, so a project only changes when asked
    /// or when its deployment nodes name a stack: [`deploy::targets`]).
    pub deploy: Vec<schemas::deploy::DeployTarget>,
}

/// Information about a registered generator (served at `GET /api/v1/models`).
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorInfo {
    /// Name used to select it (`--model`, job option).
    pub name: &'static str,
    /// Version recorded on every job and manifest; bumped when output changes.
    pub version: &'static str,
    /// One line for listings.
    pub description: &'static str,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// No generator has this name (see [`generators`]).
    #[error("unknown generator {name:?}; known: {known}")]
    UnknownGenerator {
        /// The requested name.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// The model has no element to generate anything from.
    #[error("the model has no elements to generate code from")]
    EmptyModel,
    /// A template failed to load or render (built-in or overlay).
    #[error("template {template}: {message}")]
    Template {
        /// Template name.
        template: String,
        /// What went wrong (minijinja's message with line).
        message: String,
    },
    /// The overlay directory could not be read.
    #[error("templates overlay {path}: {source}")]
    Overlay {
        /// The directory or file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A generated file escaped the project root (a generator bug, never the diagram's fault).
    #[error("generated path {0:?} is not a safe relative path")]
    UnsafePath(String),
    /// The generated Python does not parse (usually a broken template overlay).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The model or its output is over a generation budget (the diagram's
    /// size, not a bug; the message names the limit and how to raise it).
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// Property rows (`AddProperty`) that cannot be read: the diagram's
    /// fault, each a diagnostic at its place with a suggestion.
    #[error(transparent)]
    Spec(#[from] typed::SpecError),
}

/// A generated project and the warnings generation raised about the
/// diagram (hidden control characters removed, see [`sanitize`]).
#[derive(Debug, Clone)]
pub struct Generated {
    /// The files, sorted by path, manifest included.
    pub files: FileSet,
    /// Warning diagnostics, at their element's place in the diagram.
    pub warnings: Vec<Diagnostic>,
}

/// All registered generators.
pub fn generators() -> Vec<GeneratorInfo> {
    vec![GeneratorInfo {
        name: python_fastapi::NAME,
        version: python_fastapi::VERSION,
        description: "Python 3.11+ FastAPI services, httpx/aio-pika/aiokafka/SQLAlchemy/redis clients, docker-compose and a pytest suite",
    }]
}

/// Generates a project from a model (see [`generate_with_warnings`]; the
/// warnings are dropped).
pub fn generate(
    generator: &str,
    model: &Model,
    opts: &GenerateOptions,
) -> Result<FileSet, GenerateError> {
    generate_with_warnings(generator, model, opts).map(|g| g.files)
}

/// Generates a project from a model, with the warnings about the diagram.
///
/// Pure (no IO but reading `opts.templates_dir`) and deterministic. The
/// model is first checked against `opts.limits` (elements, relationships,
/// text length) and cleaned of hidden control characters; the output budget
/// is checked while rendering. The files are sorted by path and include the
/// `c4forge.json` manifest. Every `.py` file is checked with
/// [`verify_python`] before returning.
pub fn generate_with_warnings(
    generator: &str,
    model: &Model,
    opts: &GenerateOptions,
) -> Result<Generated, GenerateError> {
    if generator != python_fastapi::NAME {
        return Err(GenerateError::UnknownGenerator {
            name: generator.to_string(),
            known: generators()
                .iter()
                .map(|g| g.name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if model.diagrams.iter().all(|d| d.elements.is_empty()) {
        return Err(GenerateError::EmptyModel);
    }
    let source = python_fastapi::source_name(opts);
    limits::check_model(model, source, &opts.limits)?;
    let (model, mut warnings) = sanitize::sanitize(model, source);
    let clean_source = sanitize::clean(&opts.source_name);
    if let std::borrow::Cow::Owned(clean) = &clean_source {
        warnings.push(Diagnostic {
            severity: schemas::model::v1::Severity::Warning,
            message: "removed invisible or bidirectional control characters from the file name (trojan source)".to_string(),
            file: clean.clone(),
            line: 0,
            column: 0,
            bytes: None,
        });
    }
    let opts = GenerateOptions {
        source_name: clean_source.into_owned(),
        ..opts.clone()
    };
    let (files, spec_warnings) = python_fastapi::generate(&model, &opts)?;
    warnings.extend(spec_warnings);
    for f in &files.files {
        if !naming::is_safe_relative_path(&f.path) {
            return Err(GenerateError::UnsafePath(f.path.clone()));
        }
    }
    verify_python(&files)?;
    Ok(Generated { files, warnings })
}
