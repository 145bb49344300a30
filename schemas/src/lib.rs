//! `schemas`: the only types that cross a process boundary in c4forge.
//!
//! Everything serialized onto the bus, returned by the HTTP API or printed by
//! `c4forge parse --format json` lives here, so that every process of a
//! distributed deployment agrees on one versioned wire format. This crate
//! does no IO.
//!
//! Module map:
//! - [`ids`]: newtypes for domain values (`JobId`, `UserId`, `ObjectKey`, `Stage`).
//! - [`model`]: the C4 model IR (`model::v1`), the public JSON contract of the parser.
//! - [`messages`]: the bus envelope and the payload of every pipeline message.
//! - [`carried`]: how a payload travels: inline, deflated inline, or by object key.
//! - [`events`]: job status values and the status events pushed to websocket clients.
//! - [`api`]: request and response bodies of the HTTP API.
//! - [`files`]: a generated file set, the unit the generator hands to the store stage.
//! - [`deploy`]: the deployment targets a job asks for (`deploy/<target>/` output).

pub mod api;
pub mod carried;
pub mod deploy;
pub mod events;
pub mod files;
pub mod ids;
pub mod messages;
pub mod model;

pub use ids::{JobId, ObjectKey, Stage, UserId};
