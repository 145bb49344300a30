//! The integration tests of c4forge, in one test binary: one link of the
//! whole dependency graph instead of one per file. Each file of the former
//! `tests/*.rs` is a module here, `common` the shared harness. Run one
//! group with a filter on its module, e.g.
//! `cargo test --all-features --test it -- faults::` (or `-- embedded::`).

mod common;

mod accounts;
mod api;
mod cli_client;
mod cli_convert;
mod cli_parse;
mod convert;
mod distributed;
mod embedded;
mod fanout;
mod faults;
mod faults_broker;
mod fill_api;
mod fill_cli;
mod fill_distributed;
mod http_limits;
mod operations;
