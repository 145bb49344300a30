//! preprocess
pub mod stage;
