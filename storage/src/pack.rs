//! Packs a file set into a zip whose entries are stored uncompressed, and
//! reports where each entry's bytes are, so one ranged GET serves one file.

use schemas::files::{FileOwner, FileSet};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// Where one file sits inside the packed zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedEntry {
    /// Path inside the project.
    pub path: String,
    /// Hex sha256 of the contents.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// `generated` or `user`.
    pub owner: &'static str,
    /// Offset of the stored bytes inside the zip.
    pub offset: u64,
    /// Length of the stored bytes (equals `size`: stored, not deflated).
    pub length: u64,
}

/// Packing failures (a bug or a path the zip format refuses).
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The zip writer or reader failed.
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing into memory failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Packs `files` into zip bytes plus the location of every entry. The
/// output is deterministic (fixed timestamps, files in path order).
pub fn pack(files: &FileSet) -> Result<(Vec<u8>, Vec<PackedEntry>), PackError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut sorted: Vec<_> = files.files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for f in &sorted {
        zip.start_file(f.path.as_str(), opts)?;
        zip.write_all(f.contents.as_bytes())?;
    }
    let bytes = zip.finish()?.into_inner();
    let mut archive = ZipArchive::new(Cursor::new(bytes.as_slice()))?;
    let mut entries = Vec::with_capacity(sorted.len());
    for (i, f) in sorted.iter().enumerate() {
        let entry = archive.by_index_raw(i)?;
        entries.push(PackedEntry {
            path: f.path.clone(),
            sha256: runtime::objects::sha256_hex(f.contents.as_bytes()),
            size: f.contents.len() as u64,
            owner: match f.owner {
                FileOwner::Generated => "generated",
                FileOwner::User => "user",
            },
            offset: entry.data_start().unwrap_or_default(),
            length: entry.compressed_size(),
        });
    }
    Ok((bytes, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::files::GeneratedFile;

    #[test]
    fn entry_offsets_point_at_the_file_bytes() {
        let files = FileSet {
            generator: "t".into(),
            generator_version: "1".into(),
            files: vec![
                GeneratedFile {
                    path: "b/x.py".into(),
                    contents: "print('b')\n".into(),
                    owner: FileOwner::Generated,
                    implements: vec![],
                },
                GeneratedFile {
                    path: "a.txt".into(),
                    contents: "alpha".into(),
                    owner: FileOwner::User,
                    implements: vec![],
                },
            ],
        };
        let (zip, entries) = pack(&files).expect("pack");
        assert_eq!(entries.len(), 2);
        for e in &entries {
            let slice = &zip[e.offset as usize..(e.offset + e.length) as usize];
            let want = files
                .files
                .iter()
                .find(|f| f.path == e.path)
                .map(|f| f.contents.as_bytes());
            assert_eq!(Some(slice), want, "{}", e.path);
        }
        assert_eq!(
            pack(&files).expect("again").0,
            zip,
            "packing is deterministic"
        );
    }
}
