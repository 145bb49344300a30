//! The bus envelope and the payload of every pipeline message.
//!
//! Every message carries `schema_version`; a consumer that sees a version it
//! does not know treats the message as a permanent failure (dead-lettered),
//! never as a crash.

use crate::files::FileSet;
use crate::{JobId, ObjectKey, Stage, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The message schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Payloads above this size travel by reference (claim check).
pub const INLINE_LIMIT: usize = 1024 * 1024;

/// A diagram source or model up to this size also travels inside the
/// message that hands it to the next stage (beside its object, which stays
/// the record users download), so that stage reads nothing back from the
/// object store on the hot path: a GET costs 10 to 50 ms against S3, more
/// than the whole stage's work. Smaller than [`INLINE_LIMIT`] because the
/// message is also kept in the database (outbox, stage run output, DLQ).
pub const INLINE_COPY_LIMIT: usize = 256 * 1024;

/// The wrapper around every pipeline message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Unique id of this message (not of the job).
    pub message_id: uuid::Uuid,
    /// The job the message is about.
    pub job_id: JobId,
    /// The job's owner.
    pub user_id: UserId,
    /// When the message was first created.
    pub created_at: DateTime<Utc>,
    /// The payload.
    pub body: Message,
}

/// The payload of a pipeline message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Message {
    /// ingest -> parse.
    JobUploaded(JobUploaded),
    /// parse -> generate.
    JobParsed(JobParsed),
    /// generate -> store, or fill -> store.
    JobGenerated(JobGenerated),
    /// generate -> fill, for jobs that asked for model-written bodies.
    JobFillRequested(JobFillRequested),
}

impl Message {
    /// The routing key the message is published with.
    pub fn routing_key(&self) -> &'static str {
        match self {
            Message::JobUploaded(_) => "job.uploaded",
            Message::JobParsed(_) => "job.parsed",
            Message::JobGenerated(_) => "job.generated",
            Message::JobFillRequested(_) => "job.fill",
        }
    }

    /// The stage that consumes the message.
    pub fn consumer(&self) -> Stage {
        match self {
            Message::JobUploaded(_) => Stage::Parse,
            Message::JobParsed(_) => Stage::Generate,
            Message::JobGenerated(_) => Stage::Store,
            Message::JobFillRequested(_) => Stage::Fill,
        }
    }
}

/// The routing key consumed by a stage, if it consumes pipeline messages.
pub fn routing_key_for(stage: Stage) -> Option<&'static str> {
    match stage {
        Stage::Parse => Some("job.uploaded"),
        Stage::Generate => Some("job.parsed"),
        Stage::Fill => Some("job.fill"),
        Stage::Store => Some("job.generated"),
        Stage::Ingest | Stage::Notifier => None,
    }
}

/// A diagram was accepted and its source stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobUploaded {
    /// Where the source is.
    pub source_key: ObjectKey,
    /// The file name as uploaded (sanitized).
    pub file_name: String,
    /// Which generator to run.
    pub generator: String,
    /// The source text itself when it is one text file of at most
    /// [`INLINE_COPY_LIMIT`] bytes (never for bundles), so the parse stage
    /// needs no GET; absent in messages of older builds and for large
    /// uploads, which are read from `source_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_text: Option<String>,
    /// Deployment targets to generate besides the code (`deploy/<target>/`);
    /// empty (and absent in messages of older builds): none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploy: Vec<crate::deploy::DeployTarget>,
    /// The model asked to write the `impl/` bodies (the upload's `fill`);
    /// absent (and in messages of older builds): no fill, the job goes
    /// generate -> store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<String>,
}

/// The diagram was parsed and its model stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobParsed {
    /// Where the model IR JSON is.
    pub model_key: ObjectKey,
    /// The file name as uploaded.
    pub file_name: String,
    /// Which generator to run.
    pub generator: String,
    /// What the parser found, for the `generating` status event (absent
    /// in messages of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parsed: Option<crate::events::ParsedDetail>,
    /// The model itself when its JSON is at most [`INLINE_COPY_LIMIT`]
    /// bytes, so the generate stage needs no GET; absent in messages of
    /// older builds and for large models, which are read from `model_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Box<crate::model::v1::Model>>,
    /// Deployment targets, carried on from [`JobUploaded::deploy`]; empty
    /// (and absent in messages of older builds): none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploy: Vec<crate::deploy::DeployTarget>,
    /// Carried on from [`JobUploaded::fill`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<String>,
}

pub use crate::carried::{Carried, CarriedError, DEFLATE_ABOVE};

/// The project was generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGenerated {
    /// The generated files.
    pub files: Carried<FileSet>,
    /// What was generated, for the `storing` status event (absent in
    /// messages of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<crate::events::GeneratedDetail>,
    /// What the fill stage did, when the job passed through it (absent
    /// otherwise and in messages of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filled: Option<crate::events::FilledDetail>,
}

/// The project was generated and the job asked for model-written bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFillRequested {
    /// The generated files (with their stubs).
    pub files: Carried<FileSet>,
    /// What was generated, handed on to the `storing` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<crate::events::GeneratedDetail>,
    /// The model to ask and the modules to ask for (the `filling` event).
    pub filling: crate::events::FillingDetail,
    /// Where the model IR JSON is (the prompts quote it).
    pub model_key: ObjectKey,
    /// The model itself when small (see [`JobParsed::model`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Box<crate::model::v1::Model>>,
}

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not an envelope.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A schema version this build does not understand.
    #[error("unsupported schema version {found} (this build understands {SCHEMA_VERSION})")]
    UnsupportedVersion {
        /// The version in the message.
        found: u32,
    },
}

impl Message {
    /// The progress detail of the status event the receiving stage emits
    /// when it starts on this message: what the previous stage produced.
    pub fn progress_detail(&self) -> serde_json::Value {
        let detail = match self {
            Message::JobParsed(p) => p.parsed.as_ref().map(serde_json::to_value),
            Message::JobGenerated(g) => g.generated.as_ref().map(serde_json::to_value),
            Message::JobFillRequested(f) => Some(serde_json::to_value(&f.filling)),
            _ => None,
        };
        let mut detail: serde_json::Value = detail.and_then(Result::ok).unwrap_or_default();
        if let (Message::JobGenerated(g), Some(obj)) = (self, detail.as_object_mut())
            && let Some(filled) = &g.filled
            && let Ok(v) = serde_json::to_value(filled)
        {
            obj.insert("fill".into(), v);
        }
        detail
    }
}

impl Envelope {
    /// A new envelope for `body` with a fresh message id.
    pub fn new(job_id: JobId, user_id: UserId, body: Message) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            message_id: uuid::Uuid::new_v4(),
            job_id,
            user_id,
            created_at: Utc::now(),
            body,
        }
    }

    /// JSON bytes of the envelope.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing these plain structs cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes an envelope, checking the schema version before the body so
    /// that a future message format is reported as such.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            schema_version: u32,
        }
        let v: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if v.schema_version != SCHEMA_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: v.schema_version,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        let job = JobId::new();
        Envelope::new(
            job,
            UserId::new(),
            Message::JobUploaded(JobUploaded {
                source_key: ObjectKey::source(job, "a.puml"),
                file_name: "a.puml".into(),
                generator: "python-fastapi".into(),
                source_text: Some("@startuml\n@enduml\n".into()),
                deploy: vec![crate::deploy::DeployTarget::K8s],
                fill: Some("coder:7b".into()),
            }),
        )
    }

    #[test]
    fn messages_without_deploy_targets_still_decode() {
        // A `job.uploaded` of a build before deploy targets existed.
        let mut v = serde_json::to_value(sample()).expect("test value");
        let removed = v["body"]["data"]
            .as_object_mut()
            .and_then(|m| m.remove("deploy"));
        assert!(removed.is_some(), "the sample carries a target: {v}");
        let bytes = serde_json::to_vec(&v).expect("test value");
        let Message::JobUploaded(up) = Envelope::decode(&bytes).expect("test value").body else {
            panic!("not an upload");
        };
        assert!(up.deploy.is_empty());
    }

    #[test]
    fn messages_without_a_fill_still_decode() {
        // A `job.uploaded` of a build before the fill step existed.
        let mut v = serde_json::to_value(sample()).expect("test value");
        let removed = v["body"]["data"]
            .as_object_mut()
            .and_then(|m| m.remove("fill"));
        assert_eq!(removed, Some("coder:7b".into()));
        let bytes = serde_json::to_vec(&v).expect("test value");
        let Message::JobUploaded(up) = Envelope::decode(&bytes).expect("test value").body else {
            panic!("not an upload");
        };
        assert_eq!(up.fill, None);
    }

    #[test]
    fn fill_requests_go_to_the_fill_stage() {
        let job = JobId::new();
        let msg = Message::JobFillRequested(JobFillRequested {
            files: Carried::Reference {
                key: ObjectKey::staged_files(job),
            },
            generated: None,
            filling: crate::events::FillingDetail {
                model: "m".into(),
                modules: 3,
            },
            model_key: ObjectKey::model(job),
            model: None,
        });
        assert_eq!(msg.consumer(), Stage::Fill);
        assert_eq!(routing_key_for(Stage::Fill), Some(msg.routing_key()));
        assert_eq!(msg.progress_detail()["modules"], 3);
    }

    #[test]
    fn envelope_round_trips() {
        let env = sample();
        let back = Envelope::decode(&env.encode()).expect("decodes");
        assert_eq!(back, env);
    }

    #[test]
    fn unknown_version_is_reported_not_misparsed() {
        let mut json: serde_json::Value = serde_json::from_slice(&sample().encode()).expect("json");
        json["schema_version"] = 99.into();
        let err = Envelope::decode(json.to_string().as_bytes()).expect_err("rejected");
        assert!(matches!(err, DecodeError::UnsupportedVersion { found: 99 }));
    }

    #[test]
    fn messages_of_older_builds_without_inline_copies_still_decode() {
        let mut json: serde_json::Value = serde_json::from_slice(&sample().encode()).expect("json");
        json["body"]["data"]
            .as_object_mut()
            .expect("payload")
            .remove("source_text");
        let env = Envelope::decode(json.to_string().as_bytes()).expect("decodes");
        let Message::JobUploaded(up) = env.body else {
            panic!("not an upload")
        };
        assert_eq!(up.source_text, None);
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            Envelope::decode(b"\xff not json"),
            Err(DecodeError::Malformed(_))
        ));
    }
}
