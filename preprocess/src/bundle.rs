//! Upload bundles (feature `bundle`): a `.zip` holding several diagrams and
//! the files they include. Reading one is pure (bytes in, files out) and
//! bounded: limits on entry count and uncompressed size, safe relative
//! paths only, UTF-8 text only; anything else is a [`BundleError`] that the
//! API turns into a 400 before anything is enqueued.
#![cfg(feature = "bundle")]

use crate::SourceFile;
use std::io::{Cursor, Read};

/// Limits of one bundle.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    /// Most files in the archive.
    pub max_files: usize,
    /// Most uncompressed bytes in total.
    pub max_total_bytes: u64,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            max_files: 200,
            max_total_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// Not a readable zip archive.
    #[error("not a readable zip archive: {0}")]
    NotZip(String),
    /// More entries than allowed.
    #[error("the bundle has {found} files; at most {max} are allowed")]
    TooManyFiles {
        /// Entries found.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// More uncompressed data than allowed (zip bombs included).
    #[error("the bundle unpacks to more than {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// An entry name that could escape the bundle.
    #[error("unsafe path `{0}` in the bundle (absolute, `..` or a drive letter)")]
    UnsafePath(String),
    /// An entry that is not UTF-8 text.
    #[error("`{0}` in the bundle is not UTF-8 text")]
    NotText(String),
    /// No file with `@startuml`.
    #[error("the bundle holds no diagram (no file contains @startuml)")]
    NoDiagram,
}

fn safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.starts_with('\\')
        && !name.contains(':')
        && name.split(['/', '\\']).all(|part| part != "..")
}

/// Reads every file of a bundle, in archive order (directories skipped).
pub fn read_bundle(bytes: &[u8], limits: BundleLimits) -> Result<Vec<SourceFile>, BundleError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| BundleError::NotZip(e.to_string()))?;
    if archive.len() > limits.max_files {
        return Err(BundleError::TooManyFiles {
            found: archive.len(),
            max: limits.max_files,
        });
    }
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| BundleError::NotZip(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| BundleError::NotZip(e.to_string()))?
            .to_string();
        if !safe(&name) {
            return Err(BundleError::UnsafePath(name));
        }
        if entry.is_dir() {
            continue;
        }
        // Never trust the declared size: read at most what the budget allows.
        let budget = limits.max_total_bytes.saturating_sub(total);
        let mut data = Vec::new();
        entry
            .take(budget + 1)
            .read_to_end(&mut data)
            .map_err(|e| BundleError::NotZip(e.to_string()))?;
        total += data.len() as u64;
        if total > limits.max_total_bytes {
            return Err(BundleError::TooLarge {
                max: limits.max_total_bytes,
            });
        }
        let text = String::from_utf8(data).map_err(|_| BundleError::NotText(name.clone()))?;
        files.push(SourceFile {
            path: name.replace('\\', "/"),
            text,
        });
    }
    if !files.iter().any(|f| f.text.contains("@startuml")) {
        return Err(BundleError::NoDiagram);
    }
    Ok(files)
}

/// The files of a bundle that are diagrams (contain `@startuml`); the
/// others are only reachable through `!include`.
pub fn entry_points(files: &[SourceFile]) -> Vec<SourceFile> {
    files
        .iter()
        .filter(|f| f.text.contains("@startuml"))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn reads_diagrams_and_includes() {
        let z = zip_of(&[
            ("main.puml", b"@startuml\n!include common.iuml\n@enduml\n"),
            ("common.iuml", b"' shared\n"),
        ]);
        let files = read_bundle(&z, BundleLimits::default()).expect("ok");
        assert_eq!(files.len(), 2);
        assert_eq!(entry_points(&files).len(), 1);
    }

    #[test]
    fn refuses_traversal_bombs_and_binary() {
        let limits = BundleLimits {
            max_files: 3,
            max_total_bytes: 1000,
        };
        assert!(matches!(
            read_bundle(&zip_of(&[("../x.puml", b"@startuml")]), limits),
            Err(BundleError::UnsafePath(_))
        ));
        assert!(matches!(
            read_bundle(&zip_of(&[("/etc/x", b"@startuml")]), limits),
            Err(BundleError::UnsafePath(_))
        ));
        let big = vec![b'a'; 2000];
        assert!(matches!(
            read_bundle(&zip_of(&[("a.puml", &big)]), limits),
            Err(BundleError::TooLarge { .. })
        ));
        let many: Vec<(&str, &[u8])> = vec![("a", b"x"), ("b", b"x"), ("c", b"x"), ("d", b"x")];
        assert!(matches!(
            read_bundle(&zip_of(&many), limits),
            Err(BundleError::TooManyFiles { .. })
        ));
        assert!(matches!(
            read_bundle(&zip_of(&[("a.puml", b"\xff\xfe")]), limits),
            Err(BundleError::NotText(_))
        ));
        assert!(matches!(
            read_bundle(b"not a zip", limits),
            Err(BundleError::NotZip(_))
        ));
        assert_eq!(
            read_bundle(&zip_of(&[("a.txt", b"hello")]), limits),
            Err(BundleError::NoDiagram)
        );
    }
}
