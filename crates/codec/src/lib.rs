//! Stored formats of Stratus: the chunk codec for samples and the L0
//! segment that one ingest flush writes per tenant. Pure functions over
//! bytes, no IO. The byte layouts are specified in `docs/format/`.

mod bitstream;
mod catalog;
mod chunk;
mod error;
mod interner;
mod segment;
pub mod varint;

pub use catalog::{
    BlockEntry, Catalog, CompiledTombstone, PendingDelete, Tombstone, TombstoneMatcher,
};
pub use chunk::{decode_chunk, decode_chunk_into, encode_chunk, ChunkEncoder, ChunkIter};
pub use error::{CodecError, Result};
pub use interner::Interner;
pub use segment::{
    decode_segment, read_segment, Segment, SegmentBuilder, SegmentInfo, SegmentSeries, SeriesView,
    SEGMENT_MAGIC, SEGMENT_VERSION,
};
