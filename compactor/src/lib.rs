//! The Stratus compactor: turns L0 segments into Parquet blocks, merges
//! blocks into larger ones, keeps 5 m and 1 h rollups, applies retention
//! and deletes, and commits every change to the tenant's catalog with a
//! conditional write. A planner decides (pure); an executor does the IO.

mod config;
mod exec;
mod metrics;
mod pack;
mod plan;
mod run;

pub use config::CompactorConfig;
pub use exec::JobOutcome;
pub use metrics::CompactorMetrics;
pub use pack::{PackReport, MAX_SEGMENTS_PER_PACK, MAX_SEGMENT_BYTES_PER_PACK};
pub use plan::{plan, BlockObject, Job, SegmentRef};
pub use run::{Compactor, JobDone, PassReport, ProgressFn};

pub type Result<T, E = CompactorError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    #[error(transparent)]
    Storage(#[from] stratus_storage::StorageError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("block: {0}")]
    Block(#[from] stratus_block::BlockError),
    #[error("written data did not verify: {0}")]
    Verify(String),
    #[error("catalog: {0}")]
    Catalog(String),
    /// A tenant pass panicked: a bug, logged and counted; the compactor
    /// went on.
    #[error("panicked: {0}")]
    Panic(String),
}

impl From<stratus_storage::catalog::CommitError> for CompactorError {
    fn from(e: stratus_storage::catalog::CommitError) -> Self {
        match e {
            stratus_storage::catalog::CommitError::Storage(s) => CompactorError::Storage(s),
            other => CompactorError::Catalog(other.to_string()),
        }
    }
}

impl CompactorError {
    /// The `reason` label of `stratus_compactor_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            CompactorError::Storage(_) => "storage",
            CompactorError::Corrupt(_) => "corrupt",
            CompactorError::Block(_) => "block",
            CompactorError::Verify(_) => "verify",
            CompactorError::Catalog(_) => "catalog",
            CompactorError::Panic(_) => "panic",
        }
    }
}
