//! The verification gate: a module written by a model is kept only when it
//! parses (infer's in-process ruff parser check), passes `ruff check` and
//! `ruff format --check`, and the project's own pytest suite still passes
//! with it: the same gate the generator's output passes.
//!
//! The project is written once to a temporary directory; each candidate is
//! put in place, checked, and taken out again when rejected (checks of one
//! job run one at a time). Every command has a time limit and is killed
//! past it, since a model's code may loop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use schemas::files::{FileOwner, FileSet, GeneratedFile};

use crate::client::excerpt;

/// The gate could not be set up (the stubs stay, with this as the reason).
#[derive(Debug, Clone, thiserror::Error)]
pub enum GateError {
    /// Writing the project to a temporary directory failed.
    #[error("cannot write the project for the gate: {0}")]
    Io(String),
    /// The generated project's own tests fail before any module is filled:
    /// the gate's Python lacks the project's requirements.
    #[error(
        "the generated project's tests fail without any fill (is `{python}` a venv with the project's requirements, ruff and pytest?): {output}"
    )]
    Baseline {
        /// The Python used.
        python: String,
        /// The end of the failing command's output.
        output: String,
    },
}

/// Why a candidate module was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The module does not parse.
    #[error("does not parse: line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// `ruff check` found problems.
    #[error("ruff check: {0}")]
    Lint(String),
    /// Not formatted as `ruff format` writes it.
    #[error("ruff format --check: {0}")]
    Format(String),
    /// The project's pytest suite fails with the module.
    #[error("pytest fails with it: {0}")]
    Tests(String),
    /// A check did not finish in time or could not run.
    #[error("check did not complete: {0}")]
    Check(String),
}

/// The Python the gate runs (`-m ruff`, `-m pytest`): the configured one,
/// else `C4FORGE_PYTHON`, else `python3` on `PATH`.
pub fn python(configured: &str) -> PathBuf {
    if !configured.is_empty() {
        return PathBuf::from(configured);
    }
    std::env::var_os("C4FORGE_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Builds the rejection of a failed check from its output.
type Reject = fn(String) -> Rejection;

/// A project written out for checking.
#[derive(Debug)]
pub struct Gate {
    python: PathBuf,
    dir: tempfile::TempDir,
    timeout: Duration,
}

/// The last lines of a failing command's output: where pytest and ruff
/// say what went wrong.
fn tail(out: &std::process::Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(12);
    excerpt(&lines[start..].join(" | "), 600)
}

impl Gate {
    /// Writes `files` to a fresh temporary directory and checks that the
    /// project's tests pass as generated, so a rejection later is the
    /// candidate's fault, not the environment's.
    pub async fn new(
        python: PathBuf,
        files: &FileSet,
        timeout: Duration,
    ) -> Result<Self, GateError> {
        let dir = tempfile::tempdir().map_err(|e| GateError::Io(e.to_string()))?;
        for f in &files.files {
            if !infer::naming::is_safe_relative_path(&f.path) {
                return Err(GateError::Io(format!("unsafe path {:?}", f.path)));
            }
            let p = dir.path().join(&f.path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| GateError::Io(e.to_string()))?;
            }
            std::fs::write(&p, &f.contents).map_err(|e| GateError::Io(e.to_string()))?;
        }
        let gate = Self {
            python,
            dir,
            timeout,
        };
        match gate
            .run(&["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"])
            .await
        {
            Ok(out) if out.status.success() => Ok(gate),
            Ok(out) => Err(GateError::Baseline {
                python: gate.python.display().to_string(),
                output: tail(&out),
            }),
            Err(e) => Err(GateError::Baseline {
                python: gate.python.display().to_string(),
                output: e,
            }),
        }
    }

    /// The project's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn run(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let child = tokio::process::Command::new(&self.python)
            .args(args)
            .current_dir(self.dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("PYTHONPATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.python.display()))?;
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|e| format!("{} failed: {e}", self.python.display())),
            Err(_) => Err(format!(
                "`python {}` took longer than {:?}",
                args.join(" "),
                self.timeout
            )),
        }
    }

    /// Checks `contents` as the module at `path` (whose stub is `stub`);
    /// leaves it in place when it passes, puts the stub back when not.
    pub async fn check(&self, path: &str, contents: &str, stub: &str) -> Result<(), Rejection> {
        let verdict = self.verdict(path, contents).await;
        if verdict.is_err() {
            let _ = std::fs::write(self.dir.path().join(path), stub);
        }
        verdict
    }

    async fn verdict(&self, path: &str, contents: &str) -> Result<(), Rejection> {
        let one = FileSet {
            files: vec![GeneratedFile {
                path: path.to_string(),
                contents: contents.to_string(),
                owner: FileOwner::User,
                implements: vec![],
            }],
            ..FileSet::default()
        };
        if let Err(e) = infer::verify_python(&one)
            && let Some(first) = e.errors.into_iter().next()
        {
            return Err(Rejection::Syntax {
                line: first.line,
                column: first.column,
                message: first.message,
            });
        }
        std::fs::write(self.dir.path().join(path), contents)
            .map_err(|e| Rejection::Check(e.to_string()))?;
        let steps: [(&[&str], Reject); 3] = [
            (
                &["-m", "ruff", "check", "--no-cache", path],
                Rejection::Lint,
            ),
            (
                &[
                    "-m",
                    "ruff",
                    "format",
                    "--check",
                    "--diff",
                    "--no-cache",
                    path,
                ],
                Rejection::Format,
            ),
            (
                &["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
                Rejection::Tests,
            ),
        ];
        for (args, reject) in steps {
            let out = self.run(args).await.map_err(Rejection::Check)?;
            if !out.status.success() {
                return Err(reject(tail(&out)));
            }
        }
        Ok(())
    }
}
