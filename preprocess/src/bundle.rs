//! Upload bundles (feature `bundle`): a `.zip` holding several diagrams and
//! the files they include. Reading one is pure (bytes in, files out) and
//! bounded: limits on entry count, uncompressed size and compression ratio
//! (zip bombs), safe relative paths only, unique names, UTF-8 text only;
//! anything else is a [`BundleError`] that the API turns into a 400 before
//! anything is enqueued. Entries may be stored or deflated (what `zip`,
//! Finder, Explorer and Python's `zipfile.ZIP_DEFLATED` write).
#![cfg(feature = "bundle")]

use crate::SourceFile;
use std::collections::HashSet;
use std::io::{Cursor, Read};

/// Default most files in one bundle.
pub const DEFAULT_MAX_FILES: usize = 200;
/// Default most uncompressed bytes of one bundle in total.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 16 * 1024 * 1024;
/// Default most uncompressed bytes per compressed byte of one entry. Text
/// deflates about 3 to 10 times, very repetitive diagrams some 50 times;
/// a zip bomb (zeros) deflates about 1,000 times.
pub const DEFAULT_MAX_RATIO: u64 = 200;
/// Entries up to this many uncompressed bytes are never refused for their
/// ratio: a tiny file of repeated lines can compress well beyond any ratio
/// and is harmless.
pub const RATIO_FREE_BYTES: u64 = 64 * 1024;

/// Limits of one bundle.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    /// Most files in the archive.
    pub max_files: usize,
    /// Most uncompressed bytes in total.
    pub max_total_bytes: u64,
    /// Most uncompressed bytes per compressed byte of one entry (beyond
    /// [`RATIO_FREE_BYTES`]).
    pub max_ratio: u64,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            max_files: DEFAULT_MAX_FILES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_ratio: DEFAULT_MAX_RATIO,
        }
    }
}

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// Not a readable zip archive.
    #[error("not a readable zip archive: {0}")]
    NotZip(String),
    /// An entry that cannot be unpacked (unsupported compression method,
    /// encryption, corrupt data).
    #[error("`{name}` in the bundle cannot be unpacked: {reason}")]
    Unreadable {
        /// The entry.
        name: String,
        /// What the zip reader said.
        reason: String,
    },
    /// More entries than allowed.
    #[error("the bundle has {found} files; at most {max} are allowed")]
    TooManyFiles {
        /// Entries found.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// More uncompressed data than allowed (zip bombs included).
    #[error("the bundle unpacks to more than {max} bytes (reading `{name}`)")]
    TooLarge {
        /// The entry being read when the limit was crossed.
        name: String,
        /// The limit.
        max: u64,
    },
    /// An entry that unpacks to far more than its compressed size (a zip
    /// bomb).
    #[error(
        "`{name}` in the bundle unpacks to more than {max_ratio} times its compressed size ({compressed} bytes): refused as a zip bomb"
    )]
    RatioTooHigh {
        /// The entry.
        name: String,
        /// Its compressed size.
        compressed: u64,
        /// The limit.
        max_ratio: u64,
    },
    /// Two entries with the same name (one would hide the other).
    #[error("`{0}` is in the bundle twice")]
    DuplicateEntry(String),
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

/// The first name the central directory starting at `start` holds twice
/// (`None` if it cannot be walked). Each record: signature `PK\x01\x02`,
/// then the lengths of name, extra field and comment at offsets 28, 30 and
/// 32, and the name at 46.
fn duplicate_name(bytes: &[u8], start: usize) -> Option<String> {
    let u16_at = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 2)?;
        Some(usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let mut seen = HashSet::new();
    let mut at = start;
    while bytes.get(at..at + 4) == Some(b"PK\x01\x02".as_slice()) {
        let (name_len, extra_len, comment_len) =
            (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        let name = bytes.get(at + 46..at + 46 + name_len)?;
        if !seen.insert(name) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}

/// Reads every file of a bundle, in archive order (directories skipped).
pub fn read_bundle(bytes: &[u8], limits: BundleLimits) -> Result<Vec<SourceFile>, BundleError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| BundleError::NotZip(e.to_string()))?;
    if archive.has_duplicate_names() {
        // the reader keeps the last of equal names: name the duplicate
        let start = usize::try_from(archive.central_directory_start()).unwrap_or(usize::MAX);
        let name = duplicate_name(bytes, start).unwrap_or_else(|| "an entry".into());
        return Err(BundleError::DuplicateEntry(name));
    }
    if archive.len() > limits.max_files {
        return Err(BundleError::TooManyFiles {
            found: archive.len(),
            max: limits.max_files,
        });
    }
    let mut files = Vec::new();
    let mut names = HashSet::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let listed = match archive.name_for_index(i) {
            Some(Ok(name)) => name.into_owned(),
            _ => format!("entry {}", i + 1),
        };
        // an unsupported compression method or encryption fails here
        let entry = archive.by_index(i).map_err(|e| BundleError::Unreadable {
            name: listed,
            reason: e.to_string(),
        })?;
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
        let path = name.replace('\\', "/");
        if !names.insert(path.clone()) {
            return Err(BundleError::DuplicateEntry(path));
        }
        // Never trust the declared sizes: read at most what the budget and
        // the ratio allow, plus one byte to see that there is more. The
        // compressed size cannot honestly exceed the archive.
        let budget = limits.max_total_bytes.saturating_sub(total);
        let compressed = entry.compressed_size().min(bytes.len() as u64);
        let by_ratio = compressed
            .saturating_mul(limits.max_ratio)
            .max(RATIO_FREE_BYTES);
        let limit = budget.min(by_ratio);
        let mut data = Vec::new();
        entry
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| BundleError::Unreadable {
                name: path.clone(),
                reason: e.to_string(),
            })?;
        let read = data.len() as u64;
        if read > by_ratio {
            return Err(BundleError::RatioTooHigh {
                name: path,
                compressed,
                max_ratio: limits.max_ratio,
            });
        }
        total += read;
        if total > limits.max_total_bytes {
            return Err(BundleError::TooLarge {
                name: path,
                max: limits.max_total_bytes,
            });
        }
        let text = String::from_utf8(data).map_err(|_| BundleError::NotText(path.clone()))?;
        files.push(SourceFile { path, text });
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
    use zip::CompressionMethod::{Deflated, Stored};

    fn zip_with(method: zip::CompressionMethod, entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, data) in entries {
            w.start_file(*name, options).expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        zip_with(Stored, entries)
    }

    /// A deflated entry of `len` zeros after a diagram, written in chunks
    /// (never held in memory unpacked): a zip bomb.
    fn bomb(len: usize) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(Deflated)
            .large_file(len as u64 > u64::from(u32::MAX));
        w.start_file("main.puml", options).expect("start");
        w.write_all(b"@startuml\n@enduml\n").expect("write");
        w.start_file("bomb.puml", options).expect("start");
        let chunk = vec![0_u8; 1 << 20];
        for _ in 0..len / chunk.len() {
            w.write_all(&chunk).expect("write");
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
    fn reads_deflated_entries() {
        // what `zip`, Finder, Explorer and Python's ZIP_DEFLATED write
        let main = b"@startuml\n!include parts/common.iuml\nPerson(u, \"User\")\n@enduml\n";
        let z = zip_with(
            Deflated,
            &[("main.puml", main), ("parts/common.iuml", b"' shared\n")],
        );
        let files = read_bundle(&z, BundleLimits::default()).expect("deflated bundle");
        assert_eq!(files[0].text.as_bytes(), main);
        assert_eq!(files[1].path, "parts/common.iuml");
    }

    #[test]
    fn names_an_entry_it_cannot_unpack() {
        // method 12 (bzip2) in the local header and the directory
        let mut z = zip_of(&[("a.puml", b"@startuml\n@enduml\n")]);
        for sig in [b"PK\x03\x04".as_slice(), b"PK\x01\x02".as_slice()] {
            let at = z.windows(4).position(|w| w == sig).expect("header");
            let method = at + if sig[2] == 3 { 8 } else { 10 };
            z[method] = 12;
        }
        match read_bundle(&z, BundleLimits::default()) {
            Err(BundleError::Unreadable { name, .. }) => assert_eq!(name, "a.puml"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_an_entry_name_given_twice() {
        // the writer refuses duplicates: write two names of one length,
        // then make them equal in the local headers and the directory
        let z = zip_of(&[("a.puml", b"@startuml\n@enduml\n"), ("b.puml", b"' b\n")]);
        let mut twice = Vec::with_capacity(z.len());
        let mut rest = &z[..];
        while !rest.is_empty() {
            if rest.starts_with(b"b.puml") {
                twice.extend_from_slice(b"a.puml");
                rest = &rest[6..];
            } else {
                twice.push(rest[0]);
                rest = &rest[1..];
            }
        }
        assert_eq!(
            read_bundle(&twice, BundleLimits::default()),
            Err(BundleError::DuplicateEntry("a.puml".into()))
        );
        let e = BundleError::DuplicateEntry("a.puml".into()).to_string();
        assert!(e.contains("`a.puml`") && e.contains("twice"), "{e}");
    }

    #[test]
    fn refuses_a_deflate_bomb_by_its_ratio_and_by_the_total() {
        // more zeros than the whole bundle may unpack to
        let z = bomb(2 * DEFAULT_MAX_TOTAL_BYTES as usize);
        assert!(
            z.len() < 1 << 20,
            "32 MiB of zeros deflate to {} bytes",
            z.len()
        );
        match read_bundle(&z, BundleLimits::default()) {
            Err(BundleError::RatioTooHigh { name, .. }) => assert_eq!(name, "bomb.puml"),
            other => panic!("not refused for its ratio: {other:?}"),
        }
        // without the ratio check the total still bounds it
        let no_ratio = BundleLimits {
            max_ratio: u64::MAX,
            ..BundleLimits::default()
        };
        assert_eq!(
            read_bundle(&z, no_ratio),
            Err(BundleError::TooLarge {
                name: "bomb.puml".into(),
                max: DEFAULT_MAX_TOTAL_BYTES
            })
        );
        // a well compressed but small file is no bomb
        let small = vec![b'\n'; RATIO_FREE_BYTES as usize];
        let z = zip_with(
            Deflated,
            &[("a.puml", b"@startuml\n@enduml\n"), ("blank.iuml", &small)],
        );
        assert!(read_bundle(&z, BundleLimits::default()).is_ok());
    }

    #[test]
    fn refuses_traversal_bombs_and_binary() {
        let limits = BundleLimits {
            max_files: 3,
            max_total_bytes: 1000,
            ..BundleLimits::default()
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
