//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! Swagger UI (assets vendored into the binary: nothing is downloaded at
//! build or run time).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

/// The API description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "c4forge", description = "Turns C4-PlantUML diagrams into runnable Python service projects. Uploads answer 202; progress streams over the websocket `GET /api/v1/ws?token=...&job=...`."),
    paths(
        crate::routes::healthz, crate::routes::readyz, crate::routes::metrics_text,
        crate::routes::register, crate::routes::token, crate::routes::refresh,
        crate::routes::upload, crate::routes::list, crate::routes::get_job, crate::routes::code_zip,
        crate::routes::model, crate::routes::code_file,
        crate::manage::models, crate::manage::source, crate::manage::code_manifest, crate::manage::delete,
        crate::manage::retry,
        crate::admin::list, crate::admin::show, crate::admin::replay, crate::admin::replay_bulk,
    ),
    components(schemas(
        schemas::events::StatusEvent,
        schemas::events::WsServerMessage,
        schemas::events::ParsedDetail,
        schemas::events::GeneratedDetail,
        schemas::events::DoneDetail,
        schemas::events::DoneLinks,
        schemas::events::FailedDetail
    )),
    modifiers(&BearerAuth),
    tags((name = "diagrams"), (name = "auth"), (name = "admin"), (name = "health")),
)]
pub struct ApiDoc;

/// Declares the bearer token scheme the `security` clauses refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `/openapi.json` and Swagger UI at `/docs`.
pub fn router() -> Router {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
