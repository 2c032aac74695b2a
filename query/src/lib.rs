//! PromQL over the bucket: a reader that merges segments (and later
//! blocks) into series, an evaluator with Prometheus's semantics, and the
//! Prometheus HTTP API.

pub mod functions;
