//! `storage`: the store stage, the last step of the pipeline.
//!
//! It receives a generated file set, packs it into **one** zip object (entries
//! stored uncompressed so that any single file is one ranged read), stores the
//! zip and the project's `c4forge.json` manifest under deterministic keys,
//! links both objects and one row per generated file (path, sha256, size,
//! offset and length inside the zip) to the job, and marks the job `done`.
//!
//! Module map:
//! - [`pack`]: pure zip packing with entry offsets.
//! - [`stage`]: the store stage adapter and the helpers that read a job's
//!   stored files back (used by the HTTP API).

pub mod pack;
pub mod stage;

pub use stage::{StoreStage, read_file};
