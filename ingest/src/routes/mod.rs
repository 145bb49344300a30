//! The route table: every endpoint of the API in one list, which is also
//! the OpenAPI document (each `routes!` entry registers the handler at the
//! path of its `#[utoipa::path]` and adds that path to the document, so the
//! two cannot drift apart). Handlers live one file per resource.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::openapi::ApiDoc;
use crate::state::AppState;

pub mod admin;
pub mod auth;
pub mod diagrams;
pub mod downloads;
pub mod health;

pub use auth::AUTH_BODY_LIMIT;
pub use health::Probes;

/// The API's routes with their OpenAPI paths, for the state `S` of the
/// health handlers' [`Probes`] or the whole [`AppState`].
fn health_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Probes: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics_text))
}

/// Every endpoint of `/api/v1` and the probes (the websocket is the
/// notifier's, the web page and Swagger UI are added by [`router`]).
pub fn table() -> OpenApiRouter<AppState> {
    let auth_limit = || DefaultBodyLimit::max(AUTH_BODY_LIMIT);
    let table = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health_routes())
        .routes(routes!(auth::register).layer(auth_limit()))
        .routes(routes!(auth::token).layer(auth_limit()))
        .routes(routes!(auth::refresh).layer(auth_limit()))
        .routes(routes!(diagrams::models))
        .routes(routes!(diagrams::upload, diagrams::list))
        .routes(routes!(diagrams::get_job, diagrams::delete))
        .routes(routes!(diagrams::retry))
        .routes(routes!(downloads::source))
        .routes(routes!(downloads::code_manifest))
        .routes(routes!(downloads::code_zip))
        .routes(routes!(downloads::model))
        .routes(routes!(admin::list))
        .routes(routes!(admin::replay_bulk))
        .routes(routes!(admin::show))
        .routes(routes!(admin::replay));
    // a file path has slashes: the route takes the rest of the path
    with_route(
        table,
        "/api/v1/diagrams/{id}/code/{*path}",
        routes!(downloads::code_file),
    )
}

/// Registers `routes` at the axum route `path` (which OpenAPI cannot spell,
/// such as a `{*rest}` wildcard) while its documented path stays the one of
/// its `#[utoipa::path]`.
fn with_route<S>(
    table: OpenApiRouter<S>,
    path: &str,
    (schemas, paths, method_router): UtoipaMethodRouter<S>,
) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut table = table.route(path, method_router);
    let doc = table.get_openapi_mut();
    doc.paths.paths.extend(paths.paths);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    table
}

/// `/healthz`, `/readyz` and `/metrics`: served with the API, and alone on
/// the admin port of processes that run no HTTP stage.
pub fn probes_router(probes: Probes) -> Router {
    let (router, _) = health_routes().with_state(probes).split_for_parts();
    router
}

/// The API router (everything but the websocket, which the notifier
/// serves), including the probes, the OpenAPI document with Swagger UI, and
/// the web page.
pub fn router(state: AppState) -> Router {
    let (api, doc) = table().with_state(state).split_for_parts();
    api.merge(crate::openapi::router(doc))
        .merge(crate::web::router())
}

/// Adds the security headers every response carries and, when origins are
/// configured, CORS for them. Applied to the whole HTTP app of a process.
pub fn harden(app: Router, cors_origins: &[String]) -> Router {
    use tower_http::set_header::SetResponseHeaderLayer;
    let mut app = app
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let origins: Vec<HeaderValue> = cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if !origins.is_empty() {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    axum::http::Method::GET,
                    axum::http::Method::POST,
                    axum::http::Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app
}
