//! The head: what a long-running querier knows of a tenant's segments at
//! or above the catalog's watermark, decoded once per segment into an
//! in-memory index, as Prometheus's head holds its recent data. Each
//! series is stored once (labels as interned symbol ids), with postings by
//! label name and value, and its samples in compressed chunks tagged with
//! the newest segment that wrote to them; chunks whose segments are all
//! below the watermark are dropped when the watermark moves (the blocks
//! hold them then). A query reads the postings and the matching series'
//! chunks, never a segment.
//!
//! Segments reach the head by [`TenantHead::ingest`], from the tail of the
//! segment listing ([`super::BucketSource`]) or straight from a writer in
//! the same process. See ADR 0030.

mod postings;
mod series;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, RwLock};

use bytes::Bytes;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use stratus_codec::{read_segment, CodecError, Interner};
use stratus_model::{Label, LabelMatcher, Labels, MetricMetadata, Sample, TimeRange};
use stratus_storage::ObjectPath;

use crate::source::DataWrite;

use postings::Postings;
use series::HeadSeries;

/// The head of one tenant.
pub(super) struct TenantHead {
    data: RwLock<HeadData>,
    /// Held while segments are fetched and added, so queries that arrive
    /// together fetch each new segment once.
    pub(super) sync: tokio::sync::Mutex<()>,
    /// Keys of segments being added or added, with their ULID times.
    ingested: Mutex<HashMap<ObjectPath, i64>>,
    /// A catch-up in the background is adding many segments: queries
    /// meanwhile read the bucket themselves (ADR 0033).
    pub(super) catching_up: std::sync::atomic::AtomicBool,
    /// When the last catch-up failed: the next waits a while, so a head
    /// that cannot hold the data (its bound) is not refilled per query.
    pub(super) catch_up_failed: Mutex<Option<std::time::Instant>>,
}

#[derive(Default)]
struct HeadData {
    symbols: Interner,
    series: Vec<HeadSeries>,
    /// Series ids by the hash of their symbol ids.
    lookup: HashTable<u32>,
    hasher: RandomState,
    postings: Postings,
    /// Newest metadata per metric family, with the segment's ULID time.
    metadata: HashMap<String, (i64, MetricMetadata)>,
    /// Chunks of segments written before this were dropped.
    watermark_ms: i64,
    /// Per segment added: its ULID time, its earliest sample and the hash
    /// of its key.
    writes: Vec<DataWrite>,
    /// Bytes of chunks (estimated).
    chunk_bytes: usize,
    /// Series without samples (dropped at the next rebuild).
    empty: usize,
    /// Bytes of the series' symbol ids.
    ids_bytes: usize,
}

/// What a head holds, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStats {
    pub series: usize,
    pub segments: usize,
    pub bytes: usize,
    /// The bound on `bytes` (`--query-head-bytes`); 0: none.
    pub limit: usize,
}

impl TenantHead {
    pub(super) fn new() -> Self {
        Self {
            data: RwLock::new(HeadData::default()),
            sync: tokio::sync::Mutex::new(()),
            ingested: Mutex::new(HashMap::new()),
            catching_up: std::sync::atomic::AtomicBool::new(false),
            catch_up_failed: Mutex::new(None),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HeadData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HeadData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    fn ingested(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectPath, i64>> {
        self.ingested.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims the segments of `keys` (with their ULID times) that are at
    /// or above `watermark_ms` and not yet in the head: the caller fetches
    /// and ingests them, or [`TenantHead::release`]s them on failure.
    pub(super) fn claim(
        &self,
        keys: &[(ObjectPath, i64)],
        watermark_ms: i64,
    ) -> Vec<(ObjectPath, i64)> {
        let mut ingested = self.ingested();
        let mut claimed = Vec::new();
        for (key, ulid) in keys.iter().filter(|(_, ulid)| *ulid >= watermark_ms) {
            if !ingested.contains_key(key) {
                ingested.insert(key.clone(), *ulid);
                claimed.push((key.clone(), *ulid));
            }
        }
        claimed
    }

    /// How many of `keys` (with their ULID times) at or above
    /// `watermark_ms` are not in the head and not claimed, leaving out
    /// those `skip` says are on hand.
    pub(super) fn unclaimed(
        &self,
        keys: &[(ObjectPath, i64)],
        watermark_ms: i64,
        skip: impl Fn(&ObjectPath) -> bool,
    ) -> usize {
        let ingested = self.ingested();
        keys.iter()
            .filter(|(k, ulid)| *ulid >= watermark_ms && !ingested.contains_key(k) && !skip(k))
            .count()
    }

    /// Forgets claims whose segments could not be read, so the next sync
    /// tries again.
    pub(super) fn release(&self, keys: &[(ObjectPath, i64)]) {
        let mut ingested = self.ingested();
        for (k, _) in keys {
            ingested.remove(k);
        }
    }

    /// Adds a whole segment written at `ulid_ms` (its key's time). Nothing
    /// is added unless the whole segment is valid.
    #[cfg(test)]
    pub(super) fn ingest(&self, bytes: &[u8], ulid_ms: i64) -> Result<(), CodecError> {
        let id = u64::try_from(ulid_ms).unwrap_or(0);
        self.apply(Decoded::new(Bytes::copy_from_slice(bytes))?, ulid_ms, id);
        Ok(())
    }

    /// Adds a decoded segment written at `ulid_ms` (its key's time), unless
    /// the watermark has passed it; `id` tells it from other segments (a
    /// hash of its key).
    pub(super) fn apply(&self, d: Decoded, ulid_ms: i64, id: u64) {
        let mut data = self.write();
        if ulid_ms < data.watermark_ms {
            return;
        }
        let global: Vec<u32> = d
            .symbols
            .iter()
            .map(|&(at, len)| {
                let s = std::str::from_utf8(&d.bytes[at..at + len]).unwrap_or_default();
                data.symbols.intern(s)
            })
            .collect();
        let (mut r0, mut s0) = (0, 0);
        let mut ids: Vec<(u32, u32)> = Vec::new();
        for &[r1, s1] in &d.staged {
            ids.clear();
            ids.extend(
                d.refs[r0..r1]
                    .iter()
                    .map(|&(n, v)| (global[n as usize], global[v as usize])),
            );
            let id = data.series_id(&ids);
            let series = &mut data.series[id as usize];
            let was_empty = series.is_empty();
            let grew = series.append(&d.samples[s0..s1], ulid_ms);
            if was_empty && !series.is_empty() {
                data.empty = data.empty.saturating_sub(1);
            }
            data.chunk_bytes += grew;
            (r0, s0) = (r1, s1);
        }
        if let Some(min) = d.samples.iter().map(|s| s.t).min() {
            data.writes.push(DataWrite {
                id,
                written_ms: ulid_ms,
                min_time_ms: min,
            });
        }
        for md in d.metadata {
            match data.metadata.get(&md.metric_family) {
                Some((at, _)) if *at > ulid_ms => {}
                _ => {
                    data.metadata
                        .insert(md.metric_family.clone(), (ulid_ms, md));
                }
            }
        }
    }

    /// The segments the head holds.
    pub(super) fn writes(&self) -> Vec<DataWrite> {
        self.read().writes.clone()
    }

    /// Bytes the head holds (estimated).
    pub(super) fn bytes(&self) -> usize {
        self.read().bytes()
    }

    /// Drops what segments written before `watermark_ms` added; rebuilds
    /// the index when a quarter of the series have no samples left.
    pub(super) fn truncate(&self, watermark_ms: i64) {
        if self.read().watermark_ms >= watermark_ms {
            return;
        }
        self.ingested().retain(|_, ulid| *ulid >= watermark_ms);
        let mut data = self.write();
        data.watermark_ms = watermark_ms;
        let mut freed = 0;
        let mut empty = 0;
        for s in data.series.iter_mut() {
            freed += s.truncate(watermark_ms);
            empty += usize::from(s.is_empty());
        }
        data.chunk_bytes = data.chunk_bytes.saturating_sub(freed);
        data.empty = empty;
        data.metadata.retain(|_, (at, _)| *at >= watermark_ms);
        data.writes.retain(|w| w.written_ms >= watermark_ms);
        if empty > 0 && empty * 4 >= data.series.len() {
            let rebuilt = data.rebuilt();
            *data = rebuilt;
        }
    }

    /// The series matching `matchers` with their samples in `range`.
    pub(super) fn select(
        &self,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Vec<(Labels, Vec<Sample>)> {
        // The lock is held only to find the series and take their chunks
        // (shared, not copied): ingestion waits for that, not for the
        // decoding.
        let taken: Vec<(Labels, series::Taken)> = {
            let data = self.read();
            let mut taken = Vec::new();
            data.each_match(matchers, |s| {
                if s.overlaps(range) {
                    taken.push((data.labels_of(s), s.take(range)));
                }
            });
            taken
        };
        taken
            .into_iter()
            .filter_map(|(labels, t)| {
                let samples = t.samples();
                (!samples.is_empty()).then_some((labels, samples))
            })
            .collect()
    }

    /// The label sets of the series matching `matchers` with chunks
    /// overlapping `range`.
    pub(super) fn label_sets(&self, matchers: &[LabelMatcher], range: TimeRange) -> Vec<Labels> {
        let data = self.read();
        let mut out = Vec::new();
        data.each_match(matchers, |s| {
            if s.overlaps(range) {
                out.push(data.labels_of(s));
            }
        });
        out
    }

    /// The values of label `name` over the series with samples in `range`.
    pub(super) fn label_values(&self, name: &str, range: TimeRange) -> Vec<String> {
        let data = self.read();
        let Some(values) = data.symbols.get(name).and_then(|n| data.postings.values(n)) else {
            return Vec::new();
        };
        values
            .iter()
            .filter(|(_, ids)| ids.iter().any(|&i| data.series[i as usize].overlaps(range)))
            .map(|(&v, _)| data.symbols.resolve(v).to_string())
            .collect()
    }

    /// The label names of the series with samples in `range`.
    pub(super) fn label_names(&self, range: TimeRange) -> Vec<String> {
        let data = self.read();
        data.postings
            .names()
            .filter(|(_, values)| {
                values
                    .values()
                    .any(|ids| ids.iter().any(|&i| data.series[i as usize].overlaps(range)))
            })
            .map(|(n, _)| data.symbols.resolve(n).to_string())
            .collect()
    }

    pub(super) fn metadata(&self) -> Vec<MetricMetadata> {
        self.read()
            .metadata
            .values()
            .map(|(_, md)| md.clone())
            .collect()
    }

    pub(super) fn stats(&self) -> HeadStats {
        let segments = self.ingested().len();
        let data = self.read();
        HeadStats {
            series: data.series.len() - data.empty,
            segments,
            bytes: data.bytes(),
            limit: 0,
        }
    }
}

/// A segment checked and decoded, ready to be added to a head: done
/// without the head's lock (and on another thread), so only the additions
/// hold it.
pub(super) struct Decoded {
    bytes: Bytes,
    /// The symbol table as (offset, length) in `bytes`.
    symbols: Vec<(usize, usize)>,
    refs: Vec<(u32, u32)>,
    samples: Vec<Sample>,
    /// Per series, the end of its refs and of its samples.
    staged: Vec<[usize; 2]>,
    metadata: Vec<MetricMetadata>,
}

impl Decoded {
    /// What adding it may grow a head by, at most (estimated): every series
    /// new, every sample ten bytes.
    pub(super) fn bytes(&self) -> usize {
        self.staged.len() * series::SERIES_OVERHEAD
            + self.refs.len() * 8
            + self.samples.len() * 10
            + self.symbols.iter().map(|&(_, len)| len + 16).sum::<usize>()
    }

    /// Checks and decodes a whole segment.
    pub(super) fn new(bytes: Bytes) -> Result<Self, CodecError> {
        let base = bytes.as_ptr() as usize;
        let mut symbols: Vec<(usize, usize)> = Vec::new();
        let mut refs: Vec<(u32, u32)> = Vec::new();
        let mut samples: Vec<Sample> = Vec::new();
        let mut staged: Vec<[usize; 2]> = Vec::new();
        let info = read_segment(&bytes, |s| {
            if symbols.is_empty() {
                symbols = s
                    .symbols
                    .iter()
                    .map(|x| (x.as_ptr() as usize - base, x.len()))
                    .collect();
            }
            refs.extend_from_slice(s.refs);
            samples.extend_from_slice(s.samples);
            staged.push([refs.len(), samples.len()]);
        })?;
        Ok(Self {
            symbols,
            refs,
            samples,
            staged,
            metadata: info.metadata,
            bytes,
        })
    }
}

impl HeadData {
    fn hash(&self, ids: &[(u32, u32)]) -> u64 {
        self.hasher.hash_one(ids)
    }

    /// The id of the series with these symbol ids, added if new.
    fn series_id(&mut self, ids: &[(u32, u32)]) -> u32 {
        let hash = self.hash(ids);
        let series = &self.series;
        if let Some(&id) = self.lookup.find(hash, |&i| *series[i as usize].ids == *ids) {
            return id;
        }
        let id = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        self.postings.add(id, ids);
        self.series.push(HeadSeries::new(ids.into()));
        self.ids_bytes += std::mem::size_of_val(ids);
        self.empty += 1;
        let (series, hasher) = (&self.series, &self.hasher);
        self.lookup
            .insert_unique(hash, id, |&i| hasher.hash_one(&*series[i as usize].ids));
        id
    }

    fn labels_of(&self, s: &HeadSeries) -> Labels {
        Labels::from_sorted_unchecked(
            s.ids
                .iter()
                .map(|&(n, v)| Label::new(self.symbols.resolve(n), self.symbols.resolve(v)))
                .collect(),
        )
    }

    fn value_of(&self, s: &HeadSeries, name: Option<u32>) -> &str {
        name.and_then(|n| s.ids.iter().find(|(x, _)| *x == n))
            .map_or("", |&(_, v)| self.symbols.resolve(v))
    }

    /// Calls `f` with every series matching all `matchers`.
    fn each_match(&self, matchers: &[LabelMatcher], mut f: impl FnMut(&HeadSeries)) {
        let names: Vec<Option<u32>> = matchers.iter().map(|m| self.symbols.get(&m.name)).collect();
        let matches = |s: &HeadSeries| {
            matchers
                .iter()
                .zip(&names)
                .all(|(m, &n)| m.matches_value(self.value_of(s, n)))
        };
        match self.postings.candidates(matchers, &self.symbols) {
            Some(ids) => ids
                .iter()
                .map(|&i| &self.series[i as usize])
                .filter(|s| matches(s))
                .for_each(&mut f),
            None => self.series.iter().filter(|s| matches(s)).for_each(&mut f),
        }
    }

    /// The same head without the series that have no samples, with fresh
    /// symbols and postings (ids renumbered).
    fn rebuilt(&mut self) -> HeadData {
        let mut out = HeadData {
            watermark_ms: self.watermark_ms,
            metadata: std::mem::take(&mut self.metadata),
            chunk_bytes: self.chunk_bytes,
            ..HeadData::default()
        };
        for mut s in std::mem::take(&mut self.series) {
            if s.is_empty() {
                continue;
            }
            let ids: Box<[(u32, u32)]> = s
                .ids
                .iter()
                .map(|&(n, v)| {
                    (
                        out.symbols.intern(self.symbols.resolve(n)),
                        out.symbols.intern(self.symbols.resolve(v)),
                    )
                })
                .collect();
            let id = out.series_id(&ids);
            s.ids = ids;
            out.series[id as usize] = s;
        }
        out.empty = 0;
        out
    }

    fn bytes(&self) -> usize {
        self.series.len() * series::SERIES_OVERHEAD
            + self.ids_bytes
            + self.chunk_bytes
            + self.postings.bytes()
            + self.symbols.bytes()
            + self.lookup.capacity() * 8
    }
}

#[cfg(test)]
mod tests;
