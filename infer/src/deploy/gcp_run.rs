//! Google Cloud Run with Terraform: Artifact Registry, one Cloud Run
//! service (and service account) per generated service, invoker bindings
//! for exactly the diagram's relationships, Cloud SQL and Memorystore.

use super::{FileSpec, Plan, common_files, everything};

/// The files of `deploy/gcp-run/`.
pub(super) fn files(plan: &Plan) -> Vec<FileSpec> {
    let mut v = common_files(plan);
    v.push(FileSpec::new(
        "main.tf",
        "deploy/gcp-run/main.tf.j2",
        everything(plan),
    ));
    v.push(FileSpec::new(
        "variables.tf",
        "deploy/gcp-run/variables.tf.j2",
        Vec::new(),
    ));
    v.push(FileSpec::user(
        "overrides/terraform.tfvars",
        "deploy/tfvars.j2",
    ));
    v
}
