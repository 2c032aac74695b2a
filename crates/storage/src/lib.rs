//! Object storage for Stratus. Everything Stratus keeps lives in one bucket:
//! a local folder (the embedded default), S3 or an S3-compatible store, or
//! memory in tests. [`Bucket`] adds what the raw `object_store` lacks for us:
//! typed keys, conditional writes on every backend, bounded retries with
//! jittered backoff, per-attempt timeouts, and errors that say whether a
//! retry can help. [`mutate`] is the one read-modify-write of an object
//! with conditional writes. [`FaultyStore`] injects failures and latency for tests and
//! benchmarks.

mod bucket;
mod cache;
pub mod catalog;
mod config;
mod error;
mod fault;
pub mod keys;
mod local;
pub mod mutate;
mod retry;
pub mod sealed;
mod stats;

pub use bucket::{Bucket, ObjectInfo, ObjectVersion};
pub use cache::{CacheCounts, RangeCache, RangeCacheConfig};
pub use config::{S3Config, StorageBackend, StorageConfig};
pub use error::Failure;
pub use error::{Result, StorageError};
pub use fault::{FaultConfig, FaultyStore, InjectedFailure};
pub use keys::{BlockKey, PackKey, SegmentKey};
pub use local::LocalStore;
pub use retry::RetryPolicy;
pub use stats::{process_counts, RequestCounts, RequestStats};

pub use object_store::{memory::InMemory, path::Path as ObjectPath, ObjectStore};
