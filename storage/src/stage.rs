//! The store stage adapter: file set in, zip + manifest + links out.

use crate::pack::pack;
use async_trait::async_trait;
use bytes::Bytes;
use runtime::jobs::{GeneratedFileRecord, ObjectRecord, StageRecords};
use runtime::objects::{Objects, ObjectsError};
use runtime::stage::{StageContext, StageError, StageHandler, StageOutput};
use schemas::events::{DoneDetail, DoneLinks};
use schemas::files::FileSet;
use schemas::messages::{Carried, Envelope, Message};
use schemas::{ObjectKey, Stage};

/// The store stage.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStage;

#[async_trait]
impl StageHandler for StoreStage {
    fn stage(&self) -> Stage {
        Stage::Store
    }

    async fn handle(&self, ctx: &StageContext, env: &Envelope) -> Result<StageOutput, StageError> {
        let Message::JobGenerated(generated) = &env.body else {
            return Err(StageError::permanent(
                "store stage received a message for another stage",
            ));
        };
        let files: FileSet = runtime::carry::open(&ctx.objects, &generated.files).await?;
        let (zip, entries) = pack(&files)
            .map_err(|e| StageError::permanent(format!("could not pack the project: {e}")))?;
        let job = env.job_id;
        let zip_key = ObjectKey::code_zip(job);
        // PUT first, rows after: a crash in between leaves at most an object
        // that the retry overwrites under the same key.
        let stored = ctx.objects.put(&zip_key, Bytes::from(zip)).await?;
        let mut objects = vec![ObjectRecord {
            key: zip_key.to_string(),
            kind: "code_zip".into(),
            sha256: stored.sha256.clone(),
            size: stored.size as i64,
        }];
        if let Some(manifest) = files.files.iter().find(|f| f.path == "c4forge.json") {
            let key = ObjectKey::manifest(job);
            let m = ctx
                .objects
                .put(&key, Bytes::from(manifest.contents.clone()))
                .await?;
            objects.push(ObjectRecord {
                key: key.to_string(),
                kind: "manifest".into(),
                sha256: m.sha256,
                size: m.size as i64,
            });
        }
        if let Carried::Reference { key } = &generated.files {
            let size = ctx.objects.size(key).await.unwrap_or_default();
            objects.push(ObjectRecord {
                key: key.to_string(),
                kind: "staging".into(),
                sha256: String::new(),
                size: size as i64,
            });
        }
        let rows: Vec<GeneratedFileRecord> = entries
            .iter()
            .map(|e| GeneratedFileRecord {
                path: e.path.clone(),
                object_key: zip_key.to_string(),
                sha256: e.sha256.clone(),
                size: e.size as i64,
                owner: e.owner.to_string(),
                zip_offset: e.offset as i64,
                zip_length: e.length as i64,
            })
            .collect();
        tracing::info!(
            files = rows.len(),
            zip_bytes = stored.size,
            "project stored"
        );
        Ok(StageOutput {
            next: None,
            done: serde_json::to_value(DoneDetail {
                files: rows.len() as u64,
                generator: files.generator.clone(),
                generator_version: files.generator_version.clone(),
                links: DoneLinks::of(job),
            })
            .ok(),
            records: StageRecords {
                objects,
                generated_files: Some(rows),
                generator_version: Some(files.generator_version.clone()),
                ..StageRecords::default()
            },
        })
    }
}

/// Reads one generated file of a job with one ranged read of its zip.
pub async fn read_file(
    objects: &Objects,
    file: &GeneratedFileRecord,
) -> Result<Bytes, ObjectsError> {
    let start = file.zip_offset as u64;
    let end = start + file.zip_length as u64;
    objects
        .get_range(&ObjectKey::from_stored(file.object_key.clone()), start..end)
        .await
}
