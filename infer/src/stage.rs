//! The generate stage adapter (feature `stage`): `job.parsed` in, the
//! generated file set out (inline, deflated inline above 16 KiB of JSON, or
//! claim-checked through the object store when larger than 1 MiB even
//! deflated; see `schemas::carried`), to the store stage, or to the fill
//! stage when the job asked for model-written `impl/` bodies. Generation and the Python syntax check are pure
//! and run on the blocking pool. A crossed generation budget fails the job
//! permanently with a diagnostic; generation warnings (hidden control
//! characters removed) join the parser's in the job's diagnostics.
#![cfg(feature = "stage")]

use crate::{GenerateError, GenerateLimits, GenerateOptions, generate_with_warnings};
use async_trait::async_trait;
use runtime::jobs::StageRecords;
use runtime::stage::{StageContext, StageError, StageHandler, StageOutput};
use schemas::events::{FillingDetail, GeneratedDetail};
use schemas::messages::{DEFLATE_ABOVE, Envelope, JobFillRequested, JobGenerated, Message};
use schemas::model::v1::Model;
use schemas::{ObjectKey, Stage};

/// The generate stage.
#[derive(Debug, Clone)]
pub struct GenerateStage {
    limits: GenerateLimits,
    deflate_above: usize,
}

impl GenerateStage {
    /// A generate stage with these budgets (from the `[generate]` section),
    /// deflating file sets above the default size.
    pub fn new(limits: GenerateLimits) -> Self {
        Self {
            limits,
            deflate_above: DEFLATE_ABOVE,
        }
    }

    /// The same stage deflating file sets whose JSON has at least `bytes`
    /// bytes (`generate.deflate_above_bytes`; 0: never).
    pub fn deflate_above(mut self, bytes: usize) -> Self {
        self.deflate_above = bytes;
        self
    }
}

impl Default for GenerateStage {
    fn default() -> Self {
        Self::new(GenerateLimits::default())
    }
}

impl From<&runtime::config::GenerateConfig> for GenerateLimits {
    fn from(c: &runtime::config::GenerateConfig) -> Self {
        Self {
            max_elements: c.max_elements,
            max_relationships: c.max_relationships,
            max_text_bytes: c.max_text_bytes,
            max_output_bytes: c.max_output_bytes,
        }
    }
}

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
            limits: self.limits,
            deploy: parsed.deploy.clone(),
        };
        // `generate` checks every `.py` file with ruff's parser before it
        // returns; a failed check is a `GenerateError` (a generator bug).
        let (generated, mut diagnostics) = tokio::task::spawn_blocking(move || {
            let result = generate_with_warnings(&generator, &model, &opts);
            (result, model.diagnostics)
        })
        .await
        .map_err(|e| StageError::transient(None, format!("generator task failed: {e}")))?;
        let generated = match generated {
            Ok(g) => g,
            Err(GenerateError::Budget(budget)) => {
                tracing::warn!(error = %budget, "generation budget exceeded");
                diagnostics.push(budget.diagnostic(&parsed.file_name));
                return Err(StageError::Permanent {
                    reason: budget.to_string(),
                    diagnostics,
                });
            }
            Err(GenerateError::Spec(spec)) => {
                tracing::warn!(error = %spec, "unreadable property rows");
                diagnostics.extend(spec.0.iter().cloned());
                return Err(StageError::Permanent {
                    reason: spec.to_string(),
                    diagnostics,
                });
            }
            Err(e) => return Err(StageError::permanent(e.to_string())),
        };
        let mut records = StageRecords::default();
        if !generated.warnings.is_empty() {
            tracing::warn!(
                warnings = generated.warnings.len(),
                "hidden control characters removed from the diagram text"
            );
            diagnostics.extend(generated.warnings);
            records.diagnostics = Some(diagnostics);
        }
        let files = generated.files;
        tracing::info!(files = files.files.len(), generator = %files.generator, "project generated");
        let total_bytes = files.total_bytes();
        let impl_modules = files.files.iter().filter(|f| f.is_impl_module()).count();
        let generated = GeneratedDetail {
            files: files.files.len() as u64,
            bytes: total_bytes as u64,
            generator: files.generator.clone(),
        };
        let carried = runtime::carry::carry(
            &ctx.objects,
            ObjectKey::staged_files(env.job_id),
            files,
            self.deflate_above,
        )
        .await?;
        let next = match &parsed.fill {
            // The job asked for model-written bodies: to the fill stage.
            Some(model_name) => Message::JobFillRequested(JobFillRequested {
                filling: FillingDetail {
                    model: model_name.clone(),
                    modules: impl_modules as u64,
                },
                files: carried,
                generated: Some(generated),
                model_key: parsed.model_key.clone(),
                model: parsed.model.clone(),
            }),
            None => Message::JobGenerated(JobGenerated {
                files: carried,
                generated: Some(generated),
                filled: None,
            }),
        };
        Ok(StageOutput {
            next: Some(next),
            done: None,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service's defaults are the library's.
    #[test]
    fn configuration_defaults_are_the_library_defaults() {
        let from_config = GenerateLimits::from(&runtime::config::GenerateConfig::default());
        assert_eq!(from_config, GenerateLimits::default());
    }
}
