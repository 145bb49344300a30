//! A generated file set: what a generator returns and the store stage keeps.

use serde::{Deserialize, Serialize};

/// Who owns a generated file, which decides what regeneration may do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOwner {
    /// Rewritten on every generation; carries the "do not edit" header.
    Generated,
    /// Created once for the user to fill in; never overwritten.
    User,
}

/// One file of a generated project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedFile {
    /// Relative path with `/` separators, always inside the project root.
    pub path: String,
    /// UTF-8 contents.
    pub contents: String,
    /// Generated or user-owned.
    pub owner: FileOwner,
    /// Aliases of the elements and relationship ids this file implements.
    #[serde(default)]
    pub implements: Vec<String>,
}

impl GeneratedFile {
    /// A user-owned module of an `impl/` package (not its `__init__.py`):
    /// what the optional fill step may ask a model to write.
    pub fn is_impl_module(&self) -> bool {
        self.owner == FileOwner::User
            && self.path.ends_with(".py")
            && self.path.contains("/impl/")
            && !self.path.ends_with("/__init__.py")
    }
}

/// A whole generated project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSet {
    /// Generator (model) name, e.g. `python-fastapi`.
    pub generator: String,
    /// Generator version, recorded on the job.
    pub generator_version: String,
    /// The files, sorted by path.
    pub files: Vec<GeneratedFile>,
}

impl FileSet {
    /// Total bytes of all file contents, to decide inline vs claim check.
    pub fn total_bytes(&self) -> usize {
        self.files
            .iter()
            .map(|f| f.contents.len() + f.path.len())
            .sum()
    }
}
