//! Generate stage adapter (owned by the service wiring).
