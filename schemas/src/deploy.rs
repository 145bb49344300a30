//! Deployment targets a job (or `c4forge convert --deploy`) asks for besides
//! the code and its docker-compose file.
//!
//! One type shared by the CLI, the upload API, the pipeline messages and the
//! generator, so a target name means the same thing everywhere.

use serde::{Deserialize, Serialize};

/// A deployment target: the generator writes `deploy/<name>/` for it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum DeployTarget {
    /// Kubernetes: a Kustomize base with `dev` and `prod` overlays.
    #[serde(rename = "k8s")]
    K8s,
    /// AWS ECS on Fargate behind an NLB and an API Gateway HTTP API (Terraform).
    #[serde(rename = "aws-ecs")]
    AwsEcs,
    /// Azure Container Apps with ACR, Key Vault and managed data services (Bicep).
    #[serde(rename = "azure-aca")]
    AzureAca,
    /// Google Cloud Run with Artifact Registry (Terraform).
    #[serde(rename = "gcp-run")]
    GcpRun,
}

/// A target list named a target that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deploy target {0:?}; known: k8s, aws-ecs, azure-aca, gcp-run, all")]
pub struct UnknownTarget(pub String);

impl DeployTarget {
    /// Every target, in the order `all` expands to.
    pub const ALL: [DeployTarget; 4] = [Self::K8s, Self::AwsEcs, Self::AzureAca, Self::GcpRun];

    /// The name used on the command line, in the API and as the directory
    /// under `deploy/`.
    pub fn name(self) -> &'static str {
        match self {
            Self::K8s => "k8s",
            Self::AwsEcs => "aws-ecs",
            Self::AzureAca => "azure-aca",
            Self::GcpRun => "gcp-run",
        }
    }

    /// Parses a comma-separated list (`k8s,aws-ecs`, `all`, `none` or empty
    /// for no target), sorted and without repeats, so the same choice always
    /// gives the same output.
    pub fn parse_list(text: &str) -> Result<Vec<DeployTarget>, UnknownTarget> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "all" => out.extend(Self::ALL),
                "none" => {}
                other => match Self::ALL.iter().find(|t| t.name() == other) {
                    Some(t) => out.push(*t),
                    None => return Err(UnknownTarget(part.chars().take(64).collect())),
                },
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl std::fmt::Display for DeployTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_sorted_and_all_expands() {
        assert_eq!(
            DeployTarget::parse_list("gcp-run, k8s,k8s").expect("test value"),
            vec![DeployTarget::K8s, DeployTarget::GcpRun]
        );
        assert_eq!(
            DeployTarget::parse_list("all").expect("test value"),
            DeployTarget::ALL.to_vec()
        );
        assert_eq!(DeployTarget::parse_list("").expect("test value"), vec![]);
        assert_eq!(
            DeployTarget::parse_list("none").expect("test value"),
            vec![]
        );
        assert!(DeployTarget::parse_list("heroku").is_err());
    }

    #[test]
    fn names_round_trip_through_json() {
        for t in DeployTarget::ALL {
            let json = serde_json::to_string(&t).expect("test value");
            assert_eq!(json, format!("\"{}\"", t.name()));
            assert_eq!(
                serde_json::from_str::<DeployTarget>(&json).expect("test value"),
                t
            );
        }
    }
}
