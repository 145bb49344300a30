//! # fill: optional model-written bodies of the `impl/` modules
//!
//! c4forge generates a project's structure deterministically and leaves the
//! bodies of `impl/` modules to the user. When a job asks for it (`convert
//! --fill MODEL`, the upload's `fill` field, the web page), this crate asks
//! a language model behind any OpenAI-compatible chat-completions endpoint
//! (Ollama, vLLM, llama.cpp's server, hosted services) to write them, one
//! request per module, and keeps an answer only when it passes the gate the
//! generator's own output passes: it parses, `ruff check` and `ruff format
//! --check` pass, and the project's pytest suite still passes. Otherwise the
//! stub stays and the reason is recorded in `c4forge.json`. A module the
//! user edited is never written. Off by default.
//!
//! Module map:
//! - [`client`]: the chat-completions client and its error classes
//!   (transient: timeouts, 429 with `Retry-After`, 5xx; malformed answers).
//! - [`prompt`]: which modules, the prompt of each (model IR and generated
//!   base class), its hash, the code taken out of an answer.
//! - [`gate`]: the verification gate (parser, ruff, pytest) in a temporary
//!   copy of the project.
//! - [`record`]: the `fill` section and hashes in `c4forge.json`, and which
//!   modules on disk the user edited.
//! - [`local`]: `convert --fill` into a directory (user edits on disk).
//! - [`run`]: one job's fill: budgets (requests, tokens, seconds),
//!   concurrency per process, retries and the endpoint's circuit breaker.
//! - [`stage`]: the `fill` pipeline stage (between generate and store, only
//!   for the jobs that asked for it).
//! - `fake` (feature `fake-endpoint`): a scripted endpoint for tests.

pub mod client;
#[cfg(feature = "fake-endpoint")]
pub mod fake;
pub mod gate;
pub mod local;
pub mod prompt;
pub mod record;
pub mod run;
pub mod stage;

pub use record::{FillRecord, ModuleRecord, Outcome};
pub use run::{Filled, Filler, Job};
