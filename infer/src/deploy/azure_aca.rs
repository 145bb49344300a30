//! Azure Container Apps with Bicep: an environment with one app per
//! generated service, ACR, Key Vault for every credential, Blob storage, and
//! PostgreSQL flexible server / Azure Cache for Redis / Event Hubs.

use super::{FileSpec, Plan, common_files, everything};

/// The files of `deploy/azure-aca/`.
pub(super) fn files(plan: &Plan) -> Vec<FileSpec> {
    let mut v = common_files(plan);
    v.push(FileSpec::new(
        "main.bicep",
        "deploy/azure-aca/main.bicep.j2",
        everything(plan),
    ));
    v.push(FileSpec::user(
        "overrides/main.bicepparam",
        "deploy/azure-aca/main.bicepparam.j2",
    ));
    v
}
