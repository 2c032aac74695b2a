//! One series of the head: its samples in compressed chunks of up to
//! [`CHUNK_SAMPLES`], each chunk tagged with the newest segment that added
//! to it, and the samples that came out of order.

use std::sync::Arc;

use stratus_codec::{decode_chunk_into, ChunkEncoder};
use stratus_model::{in_range, merge_newer, Sample, TimeRange};

/// Samples per chunk, as in Prometheus's head.
pub(super) const CHUNK_SAMPLES: usize = 120;

/// Heap and inline bytes of a series besides its chunks' bytes.
pub(super) const SERIES_OVERHEAD: usize = 160;

struct ClosedChunk {
    min_t: i64,
    max_t: i64,
    /// The newest segment (its ULID time) with samples in this chunk.
    max_ulid: i64,
    /// Shared, so a query takes the chunks it reads without copying them
    /// and decodes them after the head's lock is released.
    bytes: Arc<[u8]>,
}

struct OpenChunk {
    encoder: ChunkEncoder,
    min_t: i64,
    max_t: i64,
    max_ulid: i64,
}

pub(super) struct HeadSeries {
    /// The label set as (name, value) symbol ids, sorted by name string.
    pub(super) ids: Box<[(u32, u32)]>,
    closed: Vec<ClosedChunk>,
    open: Option<OpenChunk>,
    /// The newest sample time ever appended to a chunk.
    last_t: i64,
    /// Samples at or before `last_t` when they came, sorted, unique by
    /// time; a later one replaces an earlier one of the same time.
    ooo: Vec<Sample>,
    ooo_max_ulid: i64,
}

impl HeadSeries {
    pub(super) fn new(ids: Box<[(u32, u32)]>) -> Self {
        Self {
            ids,
            closed: Vec::new(),
            open: None,
            last_t: i64::MIN,
            ooo: Vec::new(),
            ooo_max_ulid: i64::MIN,
        }
    }

    /// Appends the samples (sorted, as a segment holds them) of the segment
    /// written at `ulid`. Returns the bytes the series grew by (estimated).
    pub(super) fn append(&mut self, samples: &[Sample], ulid: i64) -> usize {
        let mut grew = 0;
        for s in samples {
            if s.t <= self.last_t {
                grew += self.append_out_of_order(*s, ulid);
                continue;
            }
            self.last_t = s.t;
            let open = self.open.get_or_insert_with(|| OpenChunk {
                encoder: ChunkEncoder::new(),
                min_t: s.t,
                max_t: s.t,
                max_ulid: ulid,
            });
            let before = open.encoder.allocated_bytes();
            open.encoder.append(s.t, s.v);
            open.max_t = s.t;
            open.max_ulid = open.max_ulid.max(ulid);
            grew += open.encoder.allocated_bytes().saturating_sub(before);
            if open.encoder.num_samples() >= CHUNK_SAMPLES {
                grew += self.close_open();
            }
        }
        grew
    }

    fn append_out_of_order(&mut self, s: Sample, ulid: i64) -> usize {
        self.ooo_max_ulid = self.ooo_max_ulid.max(ulid);
        match self.ooo.binary_search_by(|x| x.t.cmp(&s.t)) {
            Ok(i) => {
                self.ooo[i] = s;
                0
            }
            Err(i) => {
                self.ooo.insert(i, s);
                std::mem::size_of::<Sample>()
            }
        }
    }

    /// Closes the open chunk; returns the bytes that changed hands.
    fn close_open(&mut self) -> usize {
        let Some(open) = self.open.take() else {
            return 0;
        };
        let mut bytes = Vec::new();
        let held = open.encoder.allocated_bytes();
        open.encoder.finish(&mut bytes);
        let kept = bytes.len();
        self.closed.push(ClosedChunk {
            min_t: open.min_t,
            max_t: open.max_t,
            max_ulid: open.max_ulid,
            bytes: bytes.into(),
        });
        kept.saturating_sub(held)
    }

    /// What a query needs to read the samples in `range` later, without
    /// the head: the overlapping chunks (shared, or the open one copied)
    /// and the late samples in the range.
    pub(super) fn take(&self, range: TimeRange) -> Taken {
        let overlaps = |min_t: i64, max_t: i64| min_t <= range.max && max_t >= range.min;
        let mut chunks: Vec<Arc<[u8]>> = self
            .closed
            .iter()
            .filter(|c| overlaps(c.min_t, c.max_t))
            .map(|c| c.bytes.clone())
            .collect();
        if let Some(open) = self.open.as_ref().filter(|o| overlaps(o.min_t, o.max_t)) {
            let mut bytes = Vec::new();
            open.encoder.snapshot(&mut bytes);
            chunks.push(bytes.into());
        }
        Taken {
            chunks,
            late: in_range(&self.ooo, range).to_vec(),
            range,
        }
    }

    /// Whether the series has samples in `range` (by chunk bounds).
    pub(super) fn overlaps(&self, range: TimeRange) -> bool {
        let hit = |min_t: i64, max_t: i64| min_t <= range.max && max_t >= range.min;
        self.closed.iter().any(|c| hit(c.min_t, c.max_t))
            || self.open.as_ref().is_some_and(|o| hit(o.min_t, o.max_t))
            || !in_range(&self.ooo, range).is_empty()
    }

    /// Drops the chunks whose every sample came from segments written
    /// before `watermark_ms` (the catalog's blocks hold those). Returns the
    /// bytes freed (estimated).
    pub(super) fn truncate(&mut self, watermark_ms: i64) -> usize {
        let mut freed = 0;
        self.closed.retain(|c| {
            let keep = c.max_ulid >= watermark_ms;
            if !keep {
                freed += c.bytes.len();
            }
            keep
        });
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.max_ulid < watermark_ms)
        {
            freed += self.open.take().map_or(0, |o| o.encoder.allocated_bytes());
        }
        if self.ooo_max_ulid < watermark_ms && !self.ooo.is_empty() {
            freed += self.ooo.len() * std::mem::size_of::<Sample>();
            self.ooo = Vec::new();
        }
        freed
    }

    pub(super) fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.is_none() && self.ooo.is_empty()
    }
}

/// A series' chunks and late samples as a query took them from the head.
pub(super) struct Taken {
    chunks: Vec<Arc<[u8]>>,
    late: Vec<Sample>,
    range: TimeRange,
}

impl Taken {
    /// The samples in the range (sorted, unique by time).
    pub(super) fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for c in &self.chunks {
            buf.clear();
            // Chunks the head encoded itself always decode.
            if decode_chunk_into(c, &mut buf).is_ok() {
                out.extend_from_slice(in_range(&buf, self.range));
            }
        }
        // Chunks never overlap each other in time; late samples may.
        merge_newer(&mut out, &self.late);
        out
    }
}
