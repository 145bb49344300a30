//! The OpenAPI 3.1 document and Swagger UI (assets vendored into the binary:
//! nothing is downloaded at build or run time). The paths come from the
//! route table ([`crate::routes::table`]); this holds what is not a path.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

/// The document's info, tags, security scheme and the schemas that no
/// handler names (the websocket's messages); the route table adds the paths.
#[derive(OpenApi)]
#[openapi(
    info(title = "c4forge", description = "Turns C4-PlantUML diagrams into runnable Python service projects. Uploads answer 202; progress streams over the websocket `GET /api/v1/ws?token=...&job=...`."),
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

/// `doc` at `/openapi.json` and Swagger UI at `/docs`.
pub fn router(doc: utoipa::openapi::OpenApi) -> Router {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
}
