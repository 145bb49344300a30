//! `ingest`: the HTTP API of c4forge (axum).
//!
//! It authenticates users, accepts diagram uploads (answering **202** after
//! the source object, the job row and its outbox row are committed), serves
//! job state and downloads, and exposes health and metrics. It never calls a
//! pipeline stage directly: work reaches the stages only through the outbox
//! relay and the bus.
//!
//! Module map:
//! - [`admin`]: the dead-letter queue endpoints (list, show, replay, bulk replay).
//! - [`auth`]: argon2id password hashing, JWT access tokens, the `AuthUser` extractor.
//! - [`limits`]: per-user and per-IP rate limits (429 with `Retry-After`).
//! - [`manage`]: source, code manifest, delete, retry, generator list.
//! - [`openapi`]: the OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`).
//! - [`problem`]: `application/problem+json` errors with a stable `type` per error.
//! - [`routes`]: the `/api/v1` handlers and the router.
//! - [`server`]: the HTTP server (accept loop, connection cap, header, body and idle timeouts).
//! - [`state`]: the shared application state.
//! - [`web`]: the single-page web UI at `/` (assets from `ingest/web/`, embedded).

pub mod admin;
pub mod auth;
pub mod deploy;
pub mod limits;
pub mod manage;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod server;
pub mod state;
pub mod web;

pub use routes::{Probes, harden, probes_router, router};
pub use state::AppState;
