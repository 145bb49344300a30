//! The `deploy` choice of an upload: which `deploy/<target>/` directories
//! the job's project gets besides the code (see [`DeployTarget`]).
//!
//! Its own module so the upload handler only calls [`targets`]; the list
//! travels with the job in `JobUploaded.deploy` to the generate stage.

use schemas::deploy::DeployTarget;

use crate::problem::ApiError;

/// Parses the `deploy` query parameter (`k8s,aws-ecs`, `all`; absent or
/// empty: none). An unknown name is a 400 before the body is read, as an
/// unknown generator is.
pub fn targets(param: Option<&str>) -> Result<Vec<DeployTarget>, ApiError> {
    DeployTarget::parse_list(param.unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_none_and_unknown_is_refused() {
        assert!(targets(None).expect("test value").is_empty());
        assert_eq!(targets(Some("all")).expect("test value").len(), 4);
        assert!(
            matches!(targets(Some("k8s,nomad")), Err(ApiError::BadRequest(m)) if m.contains("nomad"))
        );
    }
}
