//! Newtypes for domain values, so a job id is never confused with a user id
//! and an object key is always built the same deterministic way.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Defines a UUIDv7 newtype with the conversions every id needs. UUIDv7
/// ids sort by creation time in the database and in listings.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies one conversion job from upload to download.
    JobId
);

uuid_id!(
    /// Identifies a registered user; jobs belong to exactly one user.
    UserId
);

/// A key in the object store. Keys are derived from the job id only (never
/// from user input beyond a sanitized file name), so a retried stage writes
/// the same key again instead of leaving an orphan.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The uploaded diagram source: `jobs/{job_id}/source/{file}`.
    /// `file` is reduced to a safe single path segment.
    pub fn source(job: JobId, file: &str) -> Self {
        Self(format!("jobs/{job}/source/{}", sanitize_segment(file)))
    }
    /// The parsed model IR: `jobs/{job_id}/model.json`.
    pub fn model(job: JobId) -> Self {
        Self(format!("jobs/{job}/model.json"))
    }
    /// The generated file set handed from generate to store when it is too
    /// large to travel inline (claim check): `jobs/{job_id}/staging/files.json`.
    pub fn staged_files(job: JobId) -> Self {
        Self(format!("jobs/{job}/staging/files.json"))
    }
    /// The generated project as one zip: `jobs/{job_id}/code.zip`.
    pub fn code_zip(job: JobId) -> Self {
        Self(format!("jobs/{job}/code.zip"))
    }
    /// The generated project's manifest: `jobs/{job_id}/c4forge.json`.
    pub fn manifest(job: JobId) -> Self {
        Self(format!("jobs/{job}/c4forge.json"))
    }
    /// Wraps a key read back from the database or a message.
    pub fn from_stored(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reduces a user-supplied file name to one safe path segment: the last
/// component, with anything outside `[A-Za-z0-9._ -]` replaced by `_`, never
/// empty and never `.` or `..`.
pub fn sanitize_segment(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "diagram.puml".to_string()
    } else {
        cleaned
    }
}

/// A pipeline stage. The names are used for `--stages`, queue names and
/// metric labels, so they are part of the deployment contract.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The HTTP API: accepts uploads and serves results.
    Ingest,
    /// Parses the uploaded diagram into the model IR.
    Parse,
    /// Generates the Python project from the model.
    Generate,
    /// Asks a language model for the bodies of the `impl/` modules (only
    /// jobs that asked for it pass here; the others go generate -> store).
    Fill,
    /// Stores the generated project and marks the job done.
    Store,
    /// Pushes status events to websocket clients.
    Notifier,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Ingest,
        Stage::Parse,
        Stage::Generate,
        Stage::Fill,
        Stage::Store,
        Stage::Notifier,
    ];

    /// The stage's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Parse => "parse",
            Stage::Generate => "generate",
            Stage::Fill => "fill",
            Stage::Store => "store",
            Stage::Notifier => "notifier",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown stage name.
#[derive(Debug, thiserror::Error)]
#[error("unknown stage `{0}` (expected one of ingest, parse, generate, fill, store, notifier)")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| UnknownStage(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_keys_cannot_escape_the_job_prefix() {
        let job = JobId::new();
        for evil in ["../../etc/passwd", "..", "a/../../b", "", "x\\..\\y"] {
            let key = ObjectKey::source(job, evil);
            let rest = key
                .as_str()
                .strip_prefix(&format!("jobs/{job}/source/"))
                .unwrap_or("");
            assert!(
                !rest.is_empty() && !rest.contains('/') && rest != "..",
                "{key}"
            );
        }
    }

    #[test]
    fn stage_names_round_trip() {
        for st in Stage::ALL {
            assert_eq!(st.as_str().parse::<Stage>().ok(), Some(st));
        }
        assert!("parsing".parse::<Stage>().is_err());
    }
}
