//! The one error type of this crate.
//!
//! Every error is deterministic: encoding or decoding the same input again
//! fails the same way, so retrying never helps. A caller that fetched the
//! bytes from storage may fetch them again, but that is its decision.

use stratus_model::TenantError;

pub type Result<T, E = CodecError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    // ---- chunks ----
    #[error("chunk truncated: needed a sample count varint, chunk has {len} bytes")]
    ChunkHeaderTruncated { len: usize },

    #[error("chunk sample count varint overflows 64 bits")]
    ChunkHeaderOverflow,

    #[error(
        "chunk too short: header claims {claimed} samples, which need at least {min_bits} bits, \
         but only {data_bytes} bytes of sample data follow"
    )]
    ChunkTooShort {
        claimed: u64,
        min_bits: u64,
        data_bytes: usize,
    },

    #[error(
        "chunk truncated: needed {needed} more bits for the {what} of sample {sample} \
         at bit {bit_offset}, sample data has {total_bits} bits"
    )]
    ChunkTruncated {
        what: &'static str,
        sample: u64,
        needed: u64,
        bit_offset: u64,
        total_bits: u64,
    },

    #[error("chunk {what} varint of sample {sample} overflows 64 bits")]
    ChunkVarintOverflow { what: &'static str, sample: u64 },

    #[error(
        "chunk value window of sample {sample} is invalid: {leading} leading zeros \
         and {significant} significant bits exceed 64"
    )]
    ChunkBadValueWindow {
        sample: u64,
        leading: u32,
        significant: u32,
    },

    #[error("chunk sample {sample} reuses the previous value window, but none was set")]
    ChunkNoValueWindow { sample: u64 },

    #[error(
        "chunk has {extra_bits} bits of trailing data after its {num_samples} samples, \
         expected only zero padding of the final byte"
    )]
    ChunkTrailingData { num_samples: u64, extra_bits: u64 },

    // ---- series content, checked by the segment builder and reader ----
    #[error("series {labels} has no samples")]
    EmptySeries { labels: String },

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

    #[error("series {labels} has an invalid label set: {reason}")]
    InvalidLabels {
        labels: String,
        reason: &'static str,
    },

    #[error("series {labels} was added twice")]
    DuplicateSeries { labels: String },

    // ---- segment envelope ----
    #[error("segment too short: expected at least {min} bytes, file has {len} bytes")]
    SegmentTooShort { len: usize, min: usize },

    #[error("bad segment magic: expected \"STSG\", found \"{}\"", escape(found))]
    BadSegmentMagic { found: [u8; 4] },

    #[error("unsupported segment version {found} (this build reads version {supported})")]
    UnsupportedSegmentVersion { found: u8, supported: u8 },

    #[error("unsupported segment flags 0x{found:02x}: expected 0, version 1 defines no flags")]
    UnsupportedSegmentFlags { found: u8 },

    #[error(
        "bad segment footer magic: expected \"STSG\", found \"{}\"",
        escape(found)
    )]
    BadSegmentFooterMagic { found: [u8; 4] },

    #[error("segment checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")]
    SegmentChecksumMismatch { stored: u32, computed: u32 },

    // ---- segment body ----
    #[error(
        "segment truncated: needed {needed} more bytes for {what} at offset {offset}, \
         body ends at offset {body_end}"
    )]
    SegmentTruncated {
        what: &'static str,
        needed: u64,
        offset: usize,
        body_end: usize,
    },

    #[error("segment {what} varint at offset {offset} overflows 64 bits")]
    SegmentVarintOverflow { what: &'static str, offset: usize },

    #[error(
        "segment {what} count {count} at offset {offset} cannot fit in the \
         {remaining} bytes left in the body"
    )]
    SegmentCountTooLarge {
        what: &'static str,
        count: u64,
        offset: usize,
        remaining: usize,
    },

    #[error("segment {what} at offset {offset} is not valid UTF-8")]
    SegmentInvalidUtf8 { what: &'static str, offset: usize },

    #[error("segment tenant {tenant:?} is invalid: {source}")]
    SegmentInvalidTenant {
        tenant: String,
        #[source]
        source: TenantError,
    },

    #[error(
        "segment symbol {index} {symbol:?} does not sort after {previous:?}; \
         symbols must be strictly ascending"
    )]
    SegmentSymbolsNotSorted {
        index: u64,
        symbol: String,
        previous: String,
    },

    #[error(
        "segment series {series} label {label}: {what} ref {reference} is out of range, \
         the symbol table has {symbols} entries"
    )]
    SegmentSymbolRefOutOfRange {
        series: u64,
        label: u64,
        what: &'static str,
        reference: u64,
        symbols: usize,
    },

    #[error("segment series {series} does not sort after the previous series {previous}")]
    SegmentSeriesNotSorted { series: String, previous: String },

    #[error("segment series {labels}: {source}")]
    SegmentChunk {
        labels: String,
        #[source]
        source: Box<CodecError>,
    },

    #[error(
        "segment series {labels}: sample timestamp {t} is outside the segment time range \
         [{min_time}, {max_time}]"
    )]
    SegmentSampleOutOfRange {
        labels: String,
        t: i64,
        min_time: i64,
        max_time: i64,
    },

    #[error(
        "segment time range [{header_min}, {header_max}] does not match its samples, \
         expected [{actual_min}, {actual_max}]"
    )]
    SegmentTimeRangeMismatch {
        header_min: i64,
        header_max: i64,
        actual_min: i64,
        actual_max: i64,
    },

    #[error("segment header counts {header} samples, but its series hold {actual}")]
    SegmentSampleCountMismatch { header: u64, actual: u64 },

    #[error("segment metadata for {family:?} has unknown metric type code {code}")]
    SegmentUnknownMetricType { family: String, code: u8 },

    #[error(
        "segment metadata family {family:?} does not sort after {previous:?}; \
         families must be strictly ascending"
    )]
    SegmentMetadataNotSorted { family: String, previous: String },

    #[error(
        "segment has {extra} unexpected bytes between the end of the metadata at offset \
         {offset} and the footer"
    )]
    SegmentTrailingData { extra: usize, offset: usize },
    // ---- pack ----
    #[error("segment pack: {0}")]
    Pack(String),
    // ---- catalog ----
    #[error("{0}")]
    Catalog(String),
}

/// Shows bytes as ASCII with escapes, e.g. `ST\x00G`.
fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}
