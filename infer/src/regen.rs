//! Safe regeneration of a project into a directory (`c4forge convert -o DIR`).
//!
//! **This is the one module of the crate that does filesystem IO** (reading
//! the output directory in [`plan`], writing and deleting in [`apply`]);
//! everything else is pure.
//!
//! Rules (the previous `c4forge.json` in the directory tells what c4forge
//! wrote last time and with which sha256):
//! - a file that does not exist is created;
//! - a generated file is rewritten when its contents differ (noting when the
//!   user had edited it, since generated files are not to be edited);
//! - a user-owned file that exists is never touched;
//! - an existing file c4forge did not write (not in the previous manifest) is
//!   never overwritten, only reported;
//! - a file c4forge wrote before and no longer produces is deleted only if it
//!   is unedited (same sha256 as recorded); otherwise it is kept and reported;
//! - files c4forge never wrote are never touched.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use schemas::files::{FileOwner, FileSet};

use crate::naming::is_safe_relative_path;
use crate::python_fastapi::sha256_hex;

/// Name of the manifest file at the project root.
pub const MANIFEST: &str = "c4forge.json";

/// What to do with one path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Write a new file.
    Create {
        /// Project-relative path.
        path: String,
    },
    /// Rewrite a generated file whose contents changed.
    Update {
        /// Project-relative path.
        path: String,
        /// The file on disk differed from what c4forge last wrote (a user edit
        /// of a generated file, which is overwritten).
        overwrites_edit: bool,
    },
    /// Delete a file c4forge wrote before, no longer produced, unedited.
    Delete {
        /// Project-relative path.
        path: String,
    },
    /// Leave the file as it is.
    Keep {
        /// Project-relative path.
        path: String,
        /// Why (user-owned, unchanged, edited and no longer generated, ...).
        reason: String,
        /// The user should look at it (reported as a warning by [`apply`]).
        warn: bool,
    },
}

impl Action {
    /// The path the action is about.
    pub fn path(&self) -> &str {
        match self {
            Action::Create { path }
            | Action::Update { path, .. }
            | Action::Delete { path }
            | Action::Keep { path, .. } => path,
        }
    }
}

/// The planned actions, sorted by path: what `--dry-run` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// One action per path.
    pub actions: Vec<Action>,
}

impl Plan {
    /// One human-readable line per action (`create  path`, `keep    path (reason)`).
    pub fn lines(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Create { path } => format!("create  {path}"),
                Action::Update {
                    path,
                    overwrites_edit: false,
                } => format!("update  {path}"),
                Action::Update {
                    path,
                    overwrites_edit: true,
                } => format!("update  {path} (local edits of a generated file are overwritten)"),
                Action::Delete { path } => format!("delete  {path}"),
                Action::Keep { path, reason, .. } => format!("keep    {path} ({reason})"),
            })
            .collect()
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Files created.
    pub created: Vec<String>,
    /// Files rewritten.
    pub updated: Vec<String>,
    /// Files deleted.
    pub deleted: Vec<String>,
    /// Files left alone that deserve attention: edited files no longer
    /// generated, and generated files whose local edits were overwritten.
    pub warnings: Vec<String>,
    /// Number of files left unchanged.
    pub unchanged: usize,
}

fn bad_path(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("refusing unsafe project path {path:?}"),
    )
}

fn join(out_dir: &Path, path: &str) -> io::Result<PathBuf> {
    if !is_safe_relative_path(path) {
        return Err(bad_path(path));
    }
    Ok(out_dir.join(path))
}

/// Writes through a temporary sibling and a rename, so an interrupted run
/// never leaves a half-written file behind.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".c4forge-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Reads a file if it exists (`None` when missing).
fn read_opt(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The previous manifest's files: path -> (sha256, owner).
fn previous(out_dir: &Path) -> io::Result<BTreeMap<String, (String, FileOwner)>> {
    let Some(text) = read_opt(&out_dir.join(MANIFEST))? else {
        return Ok(BTreeMap::new());
    };
    #[derive(serde::Deserialize)]
    struct F {
        path: String,
        sha256: String,
        owner: FileOwner,
    }
    #[derive(serde::Deserialize)]
    struct M {
        files: Vec<F>,
    }
    let m: M = serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{MANIFEST} in {}: {e}", out_dir.display()),
        )
    })?;
    Ok(m.files
        .into_iter()
        .map(|f| (f.path, (f.sha256, f.owner)))
        .collect())
}

/// Compares `new` with what is in `out_dir` (which may not exist yet).
pub fn plan(out_dir: &Path, new: &FileSet) -> io::Result<Plan> {
    let old = previous(out_dir)?;
    let mut actions = Vec::new();
    for f in &new.files {
        let disk = read_opt(&join(out_dir, &f.path)?)?;
        let action = match (disk, f.owner) {
            (None, _) => Action::Create { path: f.path.clone() },
            (Some(_), FileOwner::User) => Action::Keep {
                path: f.path.clone(),
                reason: "user-owned, never overwritten".into(),
                warn: false,
            },
            (Some(d), FileOwner::Generated) if d == f.contents => Action::Keep {
                path: f.path.clone(),
                reason: "unchanged".into(),
                warn: false,
            },
            (Some(d), FileOwner::Generated) => match old.get(&f.path) {
                Some((sha, _)) => Action::Update {
                    path: f.path.clone(),
                    overwrites_edit: *sha != sha256_hex(&d),
                },
                None if f.path == MANIFEST => Action::Update {
                    path: f.path.clone(),
                    overwrites_edit: false,
                },
                None => Action::Keep {
                    path: f.path.clone(),
                    reason: "exists but was not written by c4forge; left alone (move it away to generate it)".into(),
                    warn: true,
                },
            },
        };
        actions.push(action);
    }
    for (path, (sha, _owner)) in &old {
        if new.files.iter().any(|f| &f.path == path) {
            continue;
        }
        let Some(d) = read_opt(&join(out_dir, path)?)? else {
            continue;
        };
        if sha256_hex(&d) == *sha {
            actions.push(Action::Delete { path: path.clone() });
        } else {
            actions.push(Action::Keep {
                path: path.clone(),
                reason: "no longer generated but edited since; review and delete by hand".into(),
                warn: true,
            });
        }
    }
    actions.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(Plan { actions })
}

/// Carries out a [`plan`] made for the same `new` file set.
pub fn apply(out_dir: &Path, plan: &Plan, new: &FileSet) -> io::Result<Report> {
    let mut report = Report::default();
    let contents: BTreeMap<&str, &str> = new
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_str()))
        .collect();
    for a in &plan.actions {
        match a {
            Action::Create { path } | Action::Update { path, .. } => {
                let text = contents.get(path.as_str()).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("plan names {path}, not in the file set"),
                    )
                })?;
                let full = join(out_dir, path)?;
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                write_atomically(&full, text)?;
                if let Action::Update {
                    overwrites_edit: true,
                    ..
                } = a
                {
                    report.warnings.push(format!(
                        "{path}: local edits of a generated file were overwritten"
                    ));
                }
                match a {
                    Action::Create { .. } => report.created.push(path.clone()),
                    _ => report.updated.push(path.clone()),
                }
            }
            Action::Delete { path } => {
                let full = join(out_dir, path)?;
                match std::fs::remove_file(&full) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                // Remove directories left empty, up to the project root.
                let mut dir = full.parent().map(Path::to_path_buf);
                while let Some(d) = dir {
                    if d == out_dir || std::fs::remove_dir(&d).is_err() {
                        break;
                    }
                    dir = d.parent().map(Path::to_path_buf);
                }
                report.deleted.push(path.clone());
            }
            Action::Keep { path, reason, warn } => {
                if *warn {
                    report.warnings.push(format!("{path}: {reason}"));
                } else {
                    report.unchanged += 1;
                }
            }
        }
    }
    Ok(report)
}
