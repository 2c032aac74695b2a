//! Stored formats of Stratus: the chunk codec for samples and the L0
//! segment that one ingest flush writes per tenant. Pure functions over
//! bytes, no IO. The byte layouts are specified in `docs/format/`.

mod bitstream;
mod catalog;
mod chunk;
mod error;
mod interner;
mod pack;
mod segment;
pub mod varint;

pub use catalog::{
    BlockEntry, Catalog, CompiledTombstone, PackEntry, PendingDelete, Tombstone, TombstoneMatcher,
};
pub use chunk::{decode_chunk, decode_chunk_into, encode_chunk, ChunkEncoder, ChunkIter};
pub use error::{CodecError, Result};
pub use interner::Interner;
pub use pack::{
    build_pack, check_pack_header, PackGroup, PackIndex, PackSummary, PACK_HEADER_LEN,
    PACK_TRAILER_LEN, PACK_VERSION,
};
pub use segment::{
    decode_segment, read_segment, Segment, SegmentBuilder, SegmentInfo, SegmentSeries, SeriesView,
    SEGMENT_MAGIC, SEGMENT_VERSION,
};
