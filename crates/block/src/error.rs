//! The one error type of this crate.
//!
//! Every error is deterministic: writing or reading the same bytes again
//! fails the same way. [`BlockError::NeedMore`] and
//! [`BlockError::RangeNotFetched`] are the two a caller resolves by fetching
//! more bytes; [`BlockError::is_retryable`] says so.

use stratus_codec::CodecError;

pub type Result<T, E = BlockError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    // ---- writing: invalid input ----
    #[error("block time range is empty: min_time {min_time} must be below max_time {max_time}")]
    EmptyTimeRange { min_time: i64, max_time: i64 },

    #[error("invalid block option {what}: {reason}")]
    InvalidOptions { what: &'static str, reason: String },

    #[error("series {labels} has no samples, expected at least one")]
    EmptySeries { labels: String },

    #[error(
        "series must be strictly ascending by metric name, then label set: \
         {next} came after {previous}"
    )]
    SeriesOutOfOrder { previous: String, next: String },

    #[error(
        "series {labels}: timestamps must be strictly increasing, \
         found {next} at sample {index} after {previous}"
    )]
    NonIncreasingTimestamps {
        labels: String,
        index: usize,
        previous: i64,
        next: i64,
    },

    #[error("series {labels}: sample at {t} is outside the block range [{min_time}, {max_time})")]
    SampleOutsideBlock {
        labels: String,
        t: i64,
        min_time: i64,
        max_time: i64,
    },

    // ---- reading: what the caller must fetch ----
    #[error("the footer needs the last {bytes} bytes of the file, got {got}")]
    NeedMore { bytes: u64, got: u64 },

    #[error("byte range {start}..{end} was planned but not fetched")]
    RangeNotFetched { start: u64, end: u64 },

    #[error("fetched range {start}..{end} holds {len} bytes, expected {expected}")]
    FetchedLength {
        start: u64,
        end: u64,
        len: usize,
        expected: u64,
    },

    // ---- reading: not a block, or one we do not understand ----
    #[error("not a Parquet file: {0}")]
    NotParquet(String),

    #[error("not a Stratus block: key-value metadata has no {key:?}")]
    MissingMetadata { key: &'static str },

    #[error("unsupported block version {found:?}, this reader knows versions {expected}")]
    UnsupportedVersion {
        found: String,
        expected: &'static str,
    },

    #[error("block metadata {key:?} is invalid: expected {expected}, found {found:?}")]
    InvalidMetadata {
        key: &'static str,
        expected: &'static str,
        found: String,
    },

    #[error("block metadata checksum is {actual}, stored {stored:?}")]
    MetadataChecksum { stored: String, actual: u32 },

    #[error("block schema is invalid: {0}")]
    InvalidSchema(String),

    // ---- reading: corruption ----
    #[error("row group {row_group} row {row}: checksum of {what} is {actual:#010x}, stored {stored:#010x}")]
    ChecksumMismatch {
        row_group: usize,
        row: usize,
        what: String,
        stored: u32,
        actual: u32,
    },

    #[error("row group {row_group} row {row}: chunk column {column} does not decode: {source}")]
    Chunk {
        row_group: usize,
        row: usize,
        column: String,
        source: CodecError,
    },

    #[error("row group {row_group} row {row}: {reason}")]
    CorruptRow {
        row_group: usize,
        row: usize,
        reason: String,
    },

    #[error("block is corrupt: {0}")]
    Corrupt(String),

    /// An error from the `parquet` crate while encoding or decoding pages or
    /// metadata (its errors are not `Clone`, so the message is kept).
    #[error("parquet: {0}")]
    Parquet(String),
}

impl BlockError {
    /// True when fetching more bytes (a longer tail, the planned ranges) and
    /// trying again can help. All other errors repeat on the same bytes.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BlockError::NeedMore { .. } | BlockError::RangeNotFetched { .. }
        )
    }
}

impl From<parquet::errors::ParquetError> for BlockError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        match e {
            // Our own errors, passed through the parquet reader.
            parquet::errors::ParquetError::External(inner) => {
                match inner.downcast::<BlockError>() {
                    Ok(ours) => *ours,
                    Err(other) => BlockError::Parquet(other.to_string()),
                }
            }
            e => BlockError::Parquet(e.to_string()),
        }
    }
}

/// Runs parquet decoding that may panic on malformed input (the `parquet`
/// crate asserts some page header invariants instead of returning errors)
/// and reports a panic as [`BlockError::Corrupt`]. Only unwinding builds
/// can catch it; with `panic = "abort"` such a file aborts the process.
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(BlockError::Corrupt(format!(
                "{what}: the parquet decoder rejected malformed data ({msg})"
            )))
        }
    }
}
