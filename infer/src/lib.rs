//! infer
pub mod stage;
