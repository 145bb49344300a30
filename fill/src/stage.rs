//! The `fill` pipeline stage: `job.fill` in (a generated project whose job
//! asked for model-written bodies), the project with the accepted bodies
//! out to the store stage as `job.generated`. Jobs that did not ask never
//! come here (generate hands them to store directly).
//!
//! The stage loop gives it the same delivery rules as every stage (retry
//! tiers, dead-lettering, replay). A fill itself never fails a job: an
//! endpoint that is down, a spent budget or a rejected answer leave stubs
//! and reasons; only the object store's errors are retried.

use async_trait::async_trait;
use runtime::config::FillConfig;
use runtime::stage::{StageContext, StageError, StageHandler, StageOutput};
use schemas::files::FileSet;
use schemas::messages::{Carried, Envelope, JobGenerated, Message};
use schemas::model::v1::Model;
use schemas::{ObjectKey, Stage};
use std::collections::BTreeMap;

use crate::run::{Filler, Job};

/// The fill stage of one process.
#[derive(Debug)]
pub struct FillStage {
    filler: Option<Filler>,
}

impl FillStage {
    /// A fill stage asking the endpoint of `cfg`; without an endpoint
    /// configured it passes projects on unfilled.
    pub fn new(cfg: &FillConfig) -> Result<Self, crate::client::ClientError> {
        let filler = if cfg.enabled() {
            Some(Filler::new(cfg)?)
        } else {
            None
        };
        Ok(Self { filler })
    }
}

#[async_trait]
impl StageHandler for FillStage {
    fn stage(&self) -> Stage {
        Stage::Fill
    }

    async fn handle(&self, ctx: &StageContext, env: &Envelope) -> Result<StageOutput, StageError> {
        let Message::JobFillRequested(req) = &env.body else {
            return Err(StageError::permanent(
                "fill stage received a message for another stage",
            ));
        };
        let files: FileSet = runtime::carry::open(&ctx.objects, &req.files).await?;
        let model: Model = match &req.model {
            Some(m) => m.as_ref().clone(),
            None => {
                runtime::carry::open(
                    &ctx.objects,
                    &Carried::<Model>::Reference {
                        key: req.model_key.clone(),
                    },
                )
                .await?
            }
        };
        let (files, filled) = match &self.filler {
            Some(filler) => {
                let none = BTreeMap::new();
                let done = filler
                    .fill(Job {
                        job_id: Some(env.job_id),
                        model_name: &req.filling.model,
                        model: &model,
                        files: &files,
                        off_limits: &none,
                    })
                    .await
                    .map_err(|e| StageError::permanent(e.to_string()))?;
                let summary = done.record.summary();
                (done.files, Some(summary))
            }
            None => {
                tracing::warn!(job_id = %env.job_id, "a job asked for a fill but no fill endpoint is configured; stubs stay");
                (files, None)
            }
        };
        let carried = runtime::carry::carry(
            &ctx.objects,
            ObjectKey::staged_files(env.job_id),
            files,
            schemas::messages::DEFLATE_ABOVE,
        )
        .await?;
        Ok(StageOutput {
            next: Some(Message::JobGenerated(JobGenerated {
                files: carried,
                generated: req.generated.clone(),
                filled,
            })),
            done: None,
            records: Default::default(),
        })
    }
}
