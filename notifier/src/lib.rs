//! `notifier`: pushes job status events to websocket clients.
//!
//! Each notifier process consumes the status fanout through its own queue
//! (so any number of instances behind a load balancer each see every event)
//! and re-broadcasts events in memory to its connected clients. A client
//! authenticates with the API's access token, first receives a snapshot of
//! its jobs' history from the database, then live events, with no gap and
//! no duplicate between the two (events carry a monotonic `seq`). A client
//! that cannot keep up is disconnected; it never slows the pipeline.
//!
//! Module map:
//! - [`hub`]: the in-memory routing of events (per user, per job) fed from the bus.
//! - [`ws`]: the `GET /api/v1/ws` handler.

pub mod hub;
pub mod ws;

pub use hub::{Hub, Subscription, Topic};
pub use ws::{NotifierState, TokenCheck, TokenVerifier, router};
