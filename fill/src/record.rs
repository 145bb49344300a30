//! Traceability of a fill in `c4forge.json`: per module the model, the
//! prompt's hash, and whether it passed the gate on the first answer or
//! after how many retries, or why its stub stayed; and the rule that a
//! module the user edited is never written (the manifest's hash says so).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What happened to one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An answer passed the gate and replaced the stub.
    Accepted,
    /// Every answer was rejected (gate or malformed answer); the stub stays.
    Rejected,
    /// The endpoint gave no usable answer (timeouts, 5xx, 429 past the
    /// retries, a refused request); the stub stays.
    Failed,
    /// Not asked: edited by the user, budget spent, breaker open, or no gate.
    Skipped,
}

/// One module's line in the manifest's `fill` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// Project-relative path.
    pub path: String,
    /// What happened.
    pub outcome: Outcome,
    /// sha256 of the first prompt (absent when nothing was asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_sha256: Option<String>,
    /// Answers received (malformed ones included).
    pub answers: u32,
    /// For an accepted module: answers rejected before the kept one
    /// (0: passed on the first answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Why the stub stays (or the last rejection before acceptance: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The manifest's `fill` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    /// The model name sent to the endpoint.
    pub model: String,
    /// One record per `impl/` module, by path.
    pub modules: Vec<ModuleRecord>,
}

impl FillRecord {
    /// Counts by outcome.
    pub fn summary(&self) -> schemas::events::FilledDetail {
        let n = |o: Outcome| self.modules.iter().filter(|m| m.outcome == o).count() as u64;
        schemas::events::FilledDetail {
            model: self.model.clone(),
            modules: self.modules.len() as u64,
            accepted: n(Outcome::Accepted),
            rejected: n(Outcome::Rejected),
            failed: n(Outcome::Failed),
            skipped: n(Outcome::Skipped),
        }
    }
}

/// The manifest could not be updated (a bug: the generator wrote it).
#[derive(Debug, thiserror::Error)]
#[error("cannot record the fill in c4forge.json: {0}")]
pub struct ManifestError(String);

/// sha256 of a file's contents, as the manifest records it.
pub fn sha256_hex(contents: &str) -> String {
    hex::encode(Sha256::digest(contents.as_bytes()))
}

/// The manifest text with the new hashes of the `filled` modules and the
/// `fill` section appended, in the generator's layout (pretty JSON, two
/// spaces, key order kept), so that diffs of `c4forge.json` stay small.
pub fn record(
    manifest: &str,
    filled: &BTreeMap<String, String>,
    fill: &FillRecord,
) -> Result<String, ManifestError> {
    let mut text = manifest.to_string();
    for (path, contents) in filled {
        let key = serde_json::to_string(path).map_err(|e| ManifestError(e.to_string()))?;
        let needle = format!("\"path\": {key},\n      \"sha256\": \"");
        let at = text
            .find(&needle)
            .ok_or_else(|| ManifestError(format!("{path} is not listed")))?;
        let start = at + needle.len();
        let end = start + 64;
        if text.get(start..end).is_none() {
            return Err(ManifestError(format!("{path}: truncated hash")));
        }
        text.replace_range(start..end, &sha256_hex(contents));
    }
    let body = text.trim_end();
    let body = body
        .strip_suffix('}')
        .ok_or_else(|| ManifestError("not a JSON object".into()))?
        .trim_end();
    let section = serde_json::to_string_pretty(fill).map_err(|e| ManifestError(e.to_string()))?;
    let section = section.replace('\n', "\n  ");
    let out = format!("{body},\n  \"fill\": {section}\n}}\n");
    // The result must still be the manifest, with the new hashes.
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| ManifestError(e.to_string()))?;
    for (path, contents) in filled {
        let listed = v["files"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["path"] == path.as_str()))
            .and_then(|f| f["sha256"].as_str());
        if listed != Some(sha256_hex(contents).as_str()) {
            return Err(ManifestError(format!("{path}: hash not updated")));
        }
    }
    Ok(out)
}

/// The modules among `paths` that a fill must not write into `out_dir`:
/// present on disk and either not written by c4forge (not in the previous
/// manifest) or changed since (hash differs). Value: the reason.
pub fn edited_modules(
    out_dir: &Path,
    paths: &[String],
) -> std::io::Result<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct F {
        path: String,
        sha256: String,
    }
    #[derive(Deserialize)]
    struct M {
        files: Vec<F>,
    }
    let previous: BTreeMap<String, String> =
        match std::fs::read_to_string(out_dir.join(infer::regen::MANIFEST)) {
            Ok(text) => serde_json::from_str::<M>(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
                .files
                .into_iter()
                .map(|f| (f.path, f.sha256))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
    let mut out = BTreeMap::new();
    for path in paths {
        if !infer::naming::is_safe_relative_path(path) {
            continue;
        }
        let disk = match std::fs::read(out_dir.join(path)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match previous.get(path) {
            Some(sha) if *sha == sha256_hex(&disk) => {}
            Some(_) => {
                out.insert(path.clone(), "edited by the user: never overwritten".into());
            }
            None => {
                out.insert(
                    path.clone(),
                    "exists but was not written by c4forge: never overwritten".into(),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "{\n  \"generator\": {\n    \"name\": \"g\"\n  },\n  \"files\": [\n    {\n      \"path\": \"a/impl/x.py\",\n      \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n      \"owner\": \"user\",\n      \"implements\": []\n    }\n  ]\n}\n";

    #[test]
    fn hashes_are_updated_and_the_section_appended_in_order() {
        let fill = FillRecord {
            model: "m:7b".into(),
            modules: vec![ModuleRecord {
                path: "a/impl/x.py".into(),
                outcome: Outcome::Accepted,
                prompt_sha256: Some("ab".into()),
                answers: 2,
                retries: Some(1),
                reason: None,
            }],
        };
        let filled = BTreeMap::from([("a/impl/x.py".to_string(), "x = 1\n".to_string())]);
        let out = record(MANIFEST, &filled, &fill).expect("recorded");
        assert!(out.contains(&sha256_hex("x = 1\n")), "{out}");
        assert!(out.find("\"generator\"") < out.find("\"fill\""), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["fill"]["modules"][0]["retries"], 1);
        assert_eq!(v["fill"]["model"], "m:7b");
        let unknown = BTreeMap::from([("b.py".to_string(), String::new())]);
        assert!(record(MANIFEST, &unknown, &fill).is_err());
    }

    #[test]
    fn edited_and_foreign_modules_are_off_limits() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/impl")).expect("mkdir");
        let stub = "x = 0\n";
        let manifest = format!(
            "{{\"files\": [{{\"path\": \"a/impl/x.py\", \"sha256\": \"{}\"}}, {{\"path\": \"a/impl/y.py\", \"sha256\": \"{}\"}}]}}",
            sha256_hex(stub),
            sha256_hex(stub)
        );
        std::fs::write(d.join("c4forge.json"), manifest).expect("write");
        std::fs::write(d.join("a/impl/x.py"), stub).expect("write");
        std::fs::write(d.join("a/impl/y.py"), "x = 2  # mine\n").expect("write");
        std::fs::write(d.join("a/impl/z.py"), "z = 1\n").expect("write");
        let paths = ["a/impl/x.py", "a/impl/y.py", "a/impl/z.py", "a/impl/new.py"]
            .map(String::from)
            .to_vec();
        let off = edited_modules(d, &paths).expect("read");
        assert_eq!(
            off.keys().cloned().collect::<Vec<_>>(),
            vec!["a/impl/y.py".to_string(), "a/impl/z.py".to_string()]
        );
        assert!(off["a/impl/y.py"].contains("edited by the user"));
    }
}
