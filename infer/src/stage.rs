//! The generate stage adapter (feature `stage`): `job.parsed` in, the
//! generated file set out (inline, or claim-checked through the object store
//! when larger than 1 MiB). Generation and the Python syntax check are pure
//! and run on the blocking pool.
#![cfg(feature = "stage")]

use crate::{GenerateError, GenerateOptions, generate};
use async_trait::async_trait;
use runtime::stage::{StageContext, StageError, StageHandler, StageOutput};
use schemas::events::GeneratedDetail;
use schemas::messages::{Carried, Envelope, INLINE_LIMIT, JobGenerated, Message};
use schemas::model::v1::Model;
use schemas::{ObjectKey, Stage};

/// The generate stage.
#[derive(Debug, Default, Clone)]
pub struct GenerateStage;

#[async_trait]
impl StageHandler for GenerateStage {
    fn stage(&self) -> Stage {
        Stage::Generate
    }

    async fn handle(&self, ctx: &StageContext, env: &Envelope) -> Result<StageOutput, StageError> {
        let Message::JobParsed(parsed) = &env.body else {
            return Err(StageError::permanent(
                "generate stage received a message for another stage",
            ));
        };
        let model: Model = match &parsed.model {
            // The parse stage's inline copy: no read back from the object store.
            Some(model) => model.as_ref().clone(),
            None => {
                let bytes = ctx.objects.get(&parsed.model_key).await?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    StageError::permanent(format!("stored model is not valid IR JSON: {e}"))
                })?
            }
        };
        let generator = parsed.generator.clone();
        let opts = GenerateOptions {
            source_name: parsed.file_name.clone(),
            templates_dir: None,
        };
        // `generate` checks every `.py` file with ruff's parser before it
        // returns; a failed check is a `GenerateError` (a generator bug).
        let files = tokio::task::spawn_blocking(move || {
            generate(&generator, &model, &opts).map_err(|e: GenerateError| e.to_string())
        })
        .await
        .map_err(|e| StageError::transient(None, format!("generator task failed: {e}")))?
        .map_err(StageError::permanent)?;
        tracing::info!(files = files.files.len(), generator = %files.generator, "project generated");
        let total_bytes = files.total_bytes();
        let generated = GeneratedDetail {
            files: files.files.len() as u64,
            bytes: total_bytes as u64,
            generator: files.generator.clone(),
        };
        let carried = if total_bytes > INLINE_LIMIT {
            let key = ObjectKey::staged_files(env.job_id);
            let json =
                serde_json::to_vec(&files).map_err(|e| StageError::permanent(e.to_string()))?;
            ctx.objects.put(&key, json.into()).await?;
            Carried::Reference { key }
        } else {
            Carried::Inline { value: files }
        };
        Ok(StageOutput {
            next: Some(Message::JobGenerated(JobGenerated {
                files: carried,
                generated: Some(generated),
            })),
            done: None,
        })
    }
}
