//! Segment packs (segment format version 2): many L0 segments of one
//! tenant merged into one object with an index, so that a reader can fetch
//! the index and the series of one metric name instead of every segment
//! whole (ADR 0033). The byte layout is in `docs/format/segment.md`.
//!
//! A pack is a header, then one *group* per metric name (each group is a
//! complete version 1 segment holding the series with that name, so it
//! carries its own checksum), then the index and a trailer that locates and
//! checksums it. Series without a metric name and all metric metadata are
//! in the group named `""`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use stratus_model::{MetricMetadata, Sample, TenantId};

use crate::error::{CodecError, Result};
use crate::interner::Interner;
use crate::segment::{read_segment, SegmentBuilder, SEGMENT_MAGIC};
use crate::varint::{put_uvarint, put_varint, read_uvarint, unzigzag};

/// The segment layout version of a pack.
pub const PACK_VERSION: u8 = 2;

/// Magic, version and flags.
pub const PACK_HEADER_LEN: usize = 6;

/// Index length, index checksum, magic.
pub const PACK_TRAILER_LEN: usize = 12;

/// What a pack holds, for its catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Where the index starts; the index and the trailer run to the end.
    pub index_offset: u64,
    /// Bytes of index and trailer.
    pub index_len: u64,
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
}

/// One metric name's series in a pack: a version 1 segment at
/// `offset..offset + len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackGroup {
    pub name: String,
    pub offset: u64,
    pub len: u64,
    pub series: u64,
    pub samples: u64,
    pub min_time: i64,
    pub max_time: i64,
}

/// The index of a pack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackIndex {
    /// ULIDs (as u128) of the segments the pack holds, ascending.
    pub segments: Vec<u128>,
    /// One per metric name, ascending by name.
    pub groups: Vec<PackGroup>,
    /// Every label name with its values, both ascending.
    pub labels: Vec<(String, Vec<String>)>,
}

/// Series of one metric name: label refs (global ids, name and value
/// alternating, names in ascending string order) to samples in write order.
type Group = FastMap<Box<[u32]>, Vec<Sample>>;

/// Maps with a fast hash: packing hashes every series' label ids.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Merges segments (ascending by ULID, each with its ULID as u128) into a
/// pack. A series' samples from all segments are merged by time; on equal
/// timestamps the later segment's value wins, as readers of the segments
/// do. Metadata of later segments replaces earlier entries.
///
/// Label strings are interned once per segment, not per series: a series
/// is keyed by its label ids, so merging 1M series costs no string
/// allocation per series.
pub fn build_pack(tenant: &TenantId, segments: &[(u128, &[u8])]) -> Result<(Vec<u8>, PackSummary)> {
    const UNNAMED: u32 = u32::MAX;
    let mut strings = Interner::new();
    let name_id = strings.intern("__name__");
    let mut groups: FastMap<u32, Group> = FastMap::default();
    let mut metadata: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    let mut previous: Option<u128> = None;
    let mut local: Vec<u32> = Vec::new();
    let mut key: Vec<u32> = Vec::new();
    for &(ulid, bytes) in segments {
        if previous.is_some_and(|p| p >= ulid) {
            return Err(pack_error("segments are not in ascending ULID order"));
        }
        previous = Some(ulid);
        local.clear();
        let info = read_segment(bytes, |s| {
            if local.len() != s.symbols.len() {
                local = s.symbols.iter().map(|x| strings.intern(x)).collect();
            }
            key.clear();
            let mut group = UNNAMED;
            for &(n, v) in s.refs {
                let (n, v) = (local[n as usize], local[v as usize]);
                key.extend([n, v]);
                if n == name_id {
                    group = v;
                }
            }
            let series = groups.entry(group).or_default();
            match series.get_mut(&key[..]) {
                Some(samples) => samples.extend_from_slice(s.samples),
                None => {
                    series.insert(key.clone().into_boxed_slice(), s.samples.to_vec());
                }
            }
        })?;
        if &info.tenant != tenant {
            return Err(pack_error(format!(
                "a segment of tenant {:?} in a pack of {:?}",
                info.tenant.as_str(),
                tenant.as_str()
            )));
        }
        for md in info.metadata {
            metadata.insert(md.metric_family.clone(), md);
        }
    }
    if !metadata.is_empty() {
        groups.entry(UNNAMED).or_default();
    }
    // Groups in ascending order of their names, the unnamed one first.
    let mut order: Vec<(&str, u32)> = groups
        .keys()
        .map(|&g| (if g == UNNAMED { "" } else { strings.resolve(g) }, g))
        .collect();
    order.sort_unstable();

    let mut out = Vec::with_capacity(segments.iter().map(|(_, b)| b.len()).sum::<usize>() / 2);
    out.extend_from_slice(&SEGMENT_MAGIC);
    out.push(PACK_VERSION);
    out.push(0);
    let mut index = PackIndex {
        segments: segments.iter().map(|&(u, _)| u).collect(),
        ..PackIndex::default()
    };
    // Every (name, value) pair of the pack, by global ids.
    let mut pairs: HashSet<(u32, u32), foldhash::fast::RandomState> = HashSet::default();
    // A global id's id in the current group's table (u32::MAX: none yet).
    let mut local_of: Vec<u32> = vec![u32::MAX; strings.len()];
    let mut summary = PackSummary {
        index_offset: 0,
        index_len: 0,
        min_time: i64::MAX,
        max_time: i64::MIN,
        series: 0,
        samples: 0,
    };
    for (name, g) in order {
        let Some(mut series) = groups.remove(&g) else {
            continue;
        };
        // The group's own symbol table: only the strings its series use.
        let mut symbols = Interner::new();
        local_of.fill(u32::MAX);
        let mut builder_refs: Vec<u32> = Vec::new();
        let mut bounds: Option<(i64, i64)> = None;
        let mut staged: Vec<(Vec<u32>, Vec<Sample>)> = Vec::with_capacity(series.len());
        for (refs, mut samples) in series.drain() {
            merge_in_write_order(&mut samples);
            builder_refs.clear();
            for p in refs.chunks_exact(2) {
                for &g in p {
                    let l = &mut local_of[g as usize];
                    if *l == u32::MAX {
                        *l = symbols.intern(strings.resolve(g));
                    }
                    builder_refs.push(*l);
                }
                pairs.insert((p[0], p[1]));
            }
            if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
                bounds = Some(match bounds {
                    None => (first.t, last.t),
                    Some((lo, hi)) => (lo.min(first.t), hi.max(last.t)),
                });
            }
            staged.push((builder_refs.clone(), samples));
        }
        let mut builder = SegmentBuilder::with_interner(tenant, symbols);
        for (refs, samples) in &staged {
            builder.add_series_refs(refs, samples)?;
        }
        if name.is_empty() {
            for md in std::mem::take(&mut metadata).into_values() {
                builder.add_metadata(md);
            }
        }
        let (num_series, num_samples) = (builder.num_series() as u64, builder.num_samples());
        let bytes = builder.finish()?;
        let (min_time, max_time) = bounds.unwrap_or((0, 0));
        if num_series > 0 {
            summary.min_time = summary.min_time.min(min_time);
            summary.max_time = summary.max_time.max(max_time);
        }
        summary.series += num_series;
        summary.samples += num_samples;
        index.groups.push(PackGroup {
            name: name.to_string(),
            offset: out.len() as u64,
            len: bytes.len() as u64,
            series: num_series,
            samples: num_samples,
            min_time,
            max_time,
        });
        out.extend_from_slice(&bytes);
    }
    if summary.series == 0 {
        summary.min_time = 0;
        summary.max_time = 0;
    }
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (n, v) in pairs {
        values
            .entry(strings.resolve(n))
            .or_default()
            .insert(strings.resolve(v));
    }
    index.labels = values
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.into_iter().map(str::to_string).collect()))
        .collect();
    summary.index_offset = out.len() as u64;
    let encoded = index.encode();
    let index_len =
        u32::try_from(encoded.len()).map_err(|_| pack_error("the index is larger than 4 GiB"))?;
    out.extend_from_slice(&encoded);
    out.extend_from_slice(&index_len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&encoded).to_le_bytes());
    out.extend_from_slice(&SEGMENT_MAGIC);
    summary.index_len = out.len() as u64 - summary.index_offset;
    Ok((out, summary))
}

/// Sorts samples pushed in write order by time; of equal timestamps the
/// last pushed stays.
fn merge_in_write_order(samples: &mut Vec<Sample>) {
    if samples.windows(2).all(|p| p[0].t < p[1].t) {
        return;
    }
    // Stable: equal timestamps keep their write order.
    samples.sort_by_key(|s| s.t);
    let mut out: Vec<Sample> = Vec::with_capacity(samples.len());
    for s in samples.drain(..) {
        match out.last_mut() {
            Some(last) if last.t == s.t => *last = s,
            _ => out.push(s),
        }
    }
    *samples = out;
}

fn pack_error(reason: impl Into<String>) -> CodecError {
    CodecError::Pack(reason.into())
}

impl PackIndex {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uvarint(&mut out, self.segments.len() as u64);
        for ulid in &self.segments {
            out.extend_from_slice(&ulid.to_be_bytes());
        }
        put_uvarint(&mut out, self.groups.len() as u64);
        for g in &self.groups {
            put_str(&mut out, &g.name);
            put_uvarint(&mut out, g.offset);
            put_uvarint(&mut out, g.len);
            put_uvarint(&mut out, g.series);
            put_uvarint(&mut out, g.samples);
            put_varint(&mut out, g.min_time);
            put_varint(&mut out, g.max_time);
        }
        put_uvarint(&mut out, self.labels.len() as u64);
        for (name, values) in &self.labels {
            put_str(&mut out, name);
            put_uvarint(&mut out, values.len() as u64);
            for v in values {
                put_str(&mut out, v);
            }
        }
        out
    }

    /// Decodes the index from the end of a pack: `tail` is the index and the
    /// trailer (what a catalog entry's `index_offset..` locates), or the
    /// whole pack. Checks the trailer's magic and checksum, then every field.
    /// `index_offset` is where the index starts in the pack (group ranges
    /// must end before it).
    pub fn decode(tail: &[u8], index_offset: u64) -> Result<Self> {
        let len = tail.len();
        if len < PACK_TRAILER_LEN {
            return Err(pack_error(format!(
                "the index and trailer are {len} bytes, expected at least {PACK_TRAILER_LEN}"
            )));
        }
        let magic = four(&tail[len - 4..]);
        if magic != SEGMENT_MAGIC {
            return Err(CodecError::BadSegmentFooterMagic { found: magic });
        }
        let index_len = u32::from_le_bytes(four(&tail[len - 12..len - 8])) as usize;
        let stored = u32::from_le_bytes(four(&tail[len - 8..len - 4]));
        let Some(start) = (len - PACK_TRAILER_LEN).checked_sub(index_len) else {
            return Err(pack_error(format!(
                "the trailer gives an index of {index_len} bytes, but only {} precede it",
                len - PACK_TRAILER_LEN
            )));
        };
        let bytes = &tail[start..len - PACK_TRAILER_LEN];
        let computed = crc32c::crc32c(bytes);
        if stored != computed {
            return Err(CodecError::SegmentChecksumMismatch { stored, computed });
        }
        let mut r = Reader { buf: bytes, pos: 0 };
        let n = r.count("segment", 16)?;
        let mut segments = Vec::with_capacity(n);
        for _ in 0..n {
            let b = r.take(16, "segment ULID")?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            let u = u128::from_be_bytes(a);
            if segments.last().is_some_and(|&p| p >= u) {
                return Err(pack_error("segment ULIDs are not ascending"));
            }
            segments.push(u);
        }
        let n = r.count("group", 7)?;
        let mut groups: Vec<PackGroup> = Vec::with_capacity(n);
        let mut end = PACK_HEADER_LEN as u64;
        for _ in 0..n {
            let g = PackGroup {
                name: r.str("group name")?,
                offset: r.uvarint("group offset")?,
                len: r.uvarint("group length")?,
                series: r.uvarint("group series")?,
                samples: r.uvarint("group samples")?,
                min_time: unzigzag(r.uvarint("group min_time")?),
                max_time: unzigzag(r.uvarint("group max_time")?),
            };
            if groups.last().is_some_and(|p| p.name >= g.name) {
                return Err(pack_error(format!("group {:?} is out of order", g.name)));
            }
            if g.offset != end || g.offset.checked_add(g.len).is_none_or(|e| e > index_offset) {
                return Err(pack_error(format!(
                    "group {:?} at {}..+{} does not follow the previous group at {end} within the {index_offset} bytes before the index",
                    g.name, g.offset, g.len
                )));
            }
            end = g.offset + g.len;
            groups.push(g);
        }
        if end != index_offset {
            return Err(pack_error(format!(
                "the groups end at {end}, the index starts at {index_offset}"
            )));
        }
        let n = r.count("label name", 2)?;
        let mut labels: Vec<(String, Vec<String>)> = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str("label name")?;
            if labels.last().is_some_and(|(p, _)| *p >= name) {
                return Err(pack_error(format!("label name {name:?} is out of order")));
            }
            let m = r.count("label value", 1)?;
            let mut values: Vec<String> = Vec::with_capacity(m);
            for _ in 0..m {
                let v = r.str("label value")?;
                if values.last().is_some_and(|p| *p >= v) {
                    return Err(pack_error(format!(
                        "value {v:?} of label {name:?} is out of order"
                    )));
                }
                values.push(v);
            }
            labels.push((name, values));
        }
        if r.pos != bytes.len() {
            return Err(pack_error(format!(
                "{} bytes after the index's last field",
                bytes.len() - r.pos
            )));
        }
        Ok(Self {
            segments,
            groups,
            labels,
        })
    }

    /// The index of a whole pack, after checking its header.
    pub fn of_pack(pack: &[u8]) -> Result<Self> {
        check_pack_header(pack)?;
        let len = pack.len();
        if len < PACK_HEADER_LEN + PACK_TRAILER_LEN {
            return Err(CodecError::SegmentTooShort {
                len,
                min: PACK_HEADER_LEN + PACK_TRAILER_LEN,
            });
        }
        let index_len = u32::from_le_bytes(four(&pack[len - 12..len - 8])) as u64;
        let index_offset =
            (len - PACK_TRAILER_LEN) as u64 - index_len.min((len - PACK_TRAILER_LEN) as u64);
        Self::decode(pack, index_offset)
    }
}

/// Checks the magic, version and flags of a pack.
pub fn check_pack_header(pack: &[u8]) -> Result<()> {
    if pack.len() < PACK_HEADER_LEN {
        return Err(CodecError::SegmentTooShort {
            len: pack.len(),
            min: PACK_HEADER_LEN,
        });
    }
    let magic = four(&pack[0..4]);
    if magic != SEGMENT_MAGIC {
        return Err(CodecError::BadSegmentMagic { found: magic });
    }
    if pack[4] != PACK_VERSION {
        return Err(CodecError::UnsupportedSegmentVersion {
            found: pack[4],
            supported: PACK_VERSION,
        });
    }
    if pack[5] != 0 {
        return Err(CodecError::UnsupportedSegmentFlags { found: pack[5] });
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn four(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    a
}

/// Bounded reads of the index.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn uvarint(&mut self, what: &'static str) -> Result<u64> {
        let (v, n) = read_uvarint(&self.buf[self.pos..])
            .map_err(|e| pack_error(format!("the index's {what} at byte {}: {e:?}", self.pos)))?;
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(pack_error(format!(
                "the index's {what} at byte {} needs {n} bytes, {} remain",
                self.pos,
                self.buf.len() - self.pos
            )));
        };
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// A count of entries of at least `min_len` bytes each, refused when
    /// they cannot fit in what remains.
    fn count(&mut self, what: &'static str, min_len: usize) -> Result<usize> {
        let n = self.uvarint(what)?;
        let room = (self.buf.len() - self.pos) / min_len.max(1);
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= room)
            .ok_or_else(|| {
                pack_error(format!(
                    "the index counts {n} entries of {what}, at most {room} fit in what remains"
                ))
            })
    }

    fn str(&mut self, what: &'static str) -> Result<String> {
        let n = self.uvarint(what)?;
        let n = usize::try_from(n).map_err(|_| pack_error(format!("{what} length {n}")))?;
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| pack_error(format!("the index's {what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests;
