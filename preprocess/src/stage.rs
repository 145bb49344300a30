//! The parse stage adapter (feature `stage`): `job.uploaded` in, the model
//! IR stored under `jobs/{id}/model.json`, `job.parsed` out. The parser call
//! itself is pure; this module only moves bytes.
#![cfg(feature = "stage")]

use crate::{BundleResolver, NoIncludes, SourceFile, parse, parse_many};

/// What was uploaded: one diagram, or a bundle of diagrams and includes.
enum Input {
    File(SourceFile),
    Bundle(Vec<SourceFile>),
}
use async_trait::async_trait;
use runtime::jobs::{ObjectRecord, StageRecords};
use runtime::stage::{StageContext, StageError, StageHandler, StageOutput};
use schemas::events::ParsedDetail;
use schemas::messages::{Envelope, INLINE_COPY_LIMIT, JobParsed, Message};
use schemas::model::v1::Severity;
use schemas::{ObjectKey, Stage};

/// The parse stage.
#[derive(Debug, Default, Clone, Copy)]
pub struct ParseStage;

#[async_trait]
impl StageHandler for ParseStage {
    fn stage(&self) -> Stage {
        Stage::Parse
    }

    async fn handle(&self, ctx: &StageContext, env: &Envelope) -> Result<StageOutput, StageError> {
        let Message::JobUploaded(up) = &env.body else {
            return Err(StageError::permanent(
                "parse stage received a message for another stage",
            ));
        };
        let is_bundle = up.file_name.to_ascii_lowercase().ends_with(".zip");
        let input = if let (Some(text), false) = (&up.source_text, is_bundle) {
            // The upload's inline copy: no read back from the object store.
            Input::File(SourceFile {
                path: up.file_name.clone(),
                text: text.clone(),
            })
        } else if is_bundle {
            let bytes = ctx.objects.get(&up.source_key).await?;
            let files = crate::bundle::read_bundle(&bytes, crate::bundle::BundleLimits::default())
                .map_err(|e| StageError::permanent(e.to_string()))?;
            Input::Bundle(files)
        } else {
            let bytes = ctx.objects.get(&up.source_key).await?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| StageError::permanent("the diagram is not UTF-8 text"))?;
            Input::File(SourceFile {
                path: up.file_name.clone(),
                text,
            })
        };
        let model = tokio::task::spawn_blocking(move || match input {
            Input::File(source) => parse(&source, &NoIncludes),
            Input::Bundle(files) => {
                let entries = crate::bundle::entry_points(&files);
                parse_many(&entries, &BundleResolver::new(files))
            }
        })
        .await
        .map_err(|e| StageError::transient(None, format!("parser task failed: {e}")))?;
        let elements: usize = model.diagrams.iter().map(|d| d.elements.len()).sum();
        let relationships: usize = model.diagrams.iter().map(|d| d.relationships.len()).sum();
        if model.has_errors() {
            let errors = model
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            return Err(StageError::Permanent {
                reason: format!("the diagram has {errors} error(s)"),
                diagnostics: model.diagnostics,
            });
        }
        if elements == 0 {
            return Err(StageError::Permanent {
                reason: "no C4 elements found (is this a C4-PlantUML diagram?)".into(),
                diagnostics: model.diagnostics,
            });
        }
        let key = ObjectKey::model(env.job_id);
        let json =
            serde_json::to_vec_pretty(&model).map_err(|e| StageError::permanent(e.to_string()))?;
        // The model's own copy rides in the message when small (the object
        // stays: it is what `GET /diagrams/{id}/model` serves).
        let inline_model = (json.len() <= INLINE_COPY_LIMIT).then(|| Box::new(model.clone()));
        let stored = ctx.objects.put(&key, json.into()).await?;
        let records = StageRecords {
            objects: vec![ObjectRecord {
                key: key.to_string(),
                kind: "model".into(),
                sha256: stored.sha256,
                size: stored.size as i64,
            }],
            diagnostics: Some(model.diagnostics.clone()),
            ..StageRecords::default()
        };
        tracing::info!(
            elements,
            relationships,
            warnings = model.diagnostics.len(),
            "diagram parsed"
        );
        Ok(StageOutput {
            next: Some(Message::JobParsed(JobParsed {
                model_key: key,
                file_name: up.file_name.clone(),
                generator: up.generator.clone(),
                parsed: Some(ParsedDetail {
                    elements: elements as u64,
                    relationships: relationships as u64,
                    warnings: model.diagnostics.len() as u64,
                }),
                model: inline_model,
                deploy: up.deploy.clone(),
                fill: up.fill.clone(),
            })),
            done: None,
            records,
        })
    }
}
