//! `ingest`: the HTTP API of c4forge (axum).
//!
//! It authenticates users, accepts diagram uploads (answering **202** after
//! the source object, the job row and its outbox row are committed), serves
//! job state and downloads, and exposes health and metrics. It never calls a
//! pipeline stage directly: work reaches the stages only through the outbox
//! relay and the bus.
//!
//! Module map:
//! - [`auth`]: argon2id password hashing, the password and e-mail policy, JWT
//!   access tokens and the per-request check of the user's standing.
//! - [`extract`]: the extractors handlers share (caller, body, query, path,
//!   the caller's job), whose rejections are problem documents.
//! - [`fill`]: the upload's `fill` choice (one of the configured language models).
//! - [`limits`]: per-user and per-IP rate limits (429 with `Retry-After`).
//! - [`openapi`]: what the OpenAPI document holds besides paths, and Swagger UI (`/docs`).
//! - [`problem`]: `application/problem+json` errors with a stable `type` per error.
//! - [`routes`]: the route table, which is also the OpenAPI document's
//!   paths, and one module per resource: `auth`, `diagrams`, `downloads`,
//!   `admin`, `health`.
//! - [`server`]: the HTTP server (accept loop, connection cap, header, body and idle timeouts).
//! - [`state`]: the shared application state.
//! - [`web`]: the single-page web UI at `/` (assets from `ingest/web/`, embedded).

pub mod auth;
pub mod deploy;
pub mod extract;
pub mod fill;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod server;
pub mod state;
pub mod web;

pub use routes::{Probes, harden, probes_router, router};
pub use state::AppState;
