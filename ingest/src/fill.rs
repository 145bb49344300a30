//! The `fill` choice of an upload: which language model writes the bodies
//! of the project's `impl/` modules (see the `fill` crate), if any.
//!
//! Its own module so the upload handler only calls [`model`]; the name
//! travels with the job in `JobUploaded.fill` to the generate stage, which
//! hands such jobs to the fill stage.

use schemas::api::FillModelView;

use crate::problem::ApiError;

/// Checks the `fill` query parameter against the configured models (absent
/// or empty: no fill). An unknown model, or any model when no endpoint is
/// configured, is a 400 before the body is read.
pub fn model(
    param: Option<&str>,
    configured: &[FillModelView],
) -> Result<Option<String>, ApiError> {
    let Some(name) = param.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if configured.iter().any(|m| m.name == name) {
        return Ok(Some(name.to_string()));
    }
    let shown: String = name.chars().take(64).collect();
    Err(ApiError::BadRequest(if configured.is_empty() {
        format!("unknown fill model `{shown}`: this server has no fill endpoint configured")
    } else {
        format!(
            "unknown fill model `{shown}`; configured: {}",
            configured
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_none_and_unknown_is_refused() {
        let configured = FillModelView::of(&["coder:7b".into()]);
        assert_eq!(model(None, &configured).expect("ok"), None);
        assert_eq!(model(Some(""), &configured).expect("ok"), None);
        assert_eq!(
            model(Some("coder:7b"), &configured).expect("ok").as_deref(),
            Some("coder:7b")
        );
        assert!(
            matches!(model(Some("gpt"), &configured), Err(ApiError::BadRequest(m)) if m.contains("coder:7b"))
        );
        assert!(
            matches!(model(Some("gpt"), &[]), Err(ApiError::BadRequest(m)) if m.contains("no fill endpoint"))
        );
    }
}
