//! Writing segments.

use std::collections::BTreeMap;
use std::ops::Range;

use stratus_model::{Label, Labels, MetricMetadata, Sample, TenantId};

use super::{check_labels, check_samples, show_pairs, SEGMENT_MAGIC, SEGMENT_VERSION};
use crate::chunk::encode_chunk;
use crate::error::{CodecError, Result};
use crate::interner::Interner;
use crate::varint::{put_uvarint, put_varint};

/// Collects the series of one flush and writes them as a segment.
///
/// Samples are encoded into chunks and label strings interned as series are
/// added, so `add_series` does not copy the label set and
/// [`SegmentBuilder::finish`] sorts plain integers: once the symbol table is
/// sorted, comparing symbol refs compares the strings.
#[derive(Debug)]
pub struct SegmentBuilder {
    tenant: TenantId,
    /// Label names and values, each once, with ids in insertion order.
    symbols: Interner,
    /// (name id, value id) of every label of every series, back to back.
    label_refs: Vec<(u32, u32)>,
    /// The chunks of all series, back to back.
    chunks: Vec<u8>,
    series: Vec<PendingSeries>,
    num_samples: u64,
    min_time: i64,
    max_time: i64,
    metadata: BTreeMap<String, MetricMetadata>,
}

#[derive(Debug)]
struct PendingSeries {
    labels: Range<usize>,
    chunk: Range<usize>,
}

impl SegmentBuilder {
    pub fn new(tenant: &TenantId) -> Self {
        Self::with_interner(tenant, Interner::new())
    }

    /// A builder whose label strings are already interned, for
    /// [`SegmentBuilder::add_series_refs`]. Strings no series refers to are
    /// not written.
    pub fn with_interner(tenant: &TenantId, symbols: Interner) -> Self {
        Self {
            tenant: tenant.clone(),
            symbols,
            label_refs: Vec::new(),
            chunks: Vec::new(),
            series: Vec::new(),
            num_samples: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds one series. `samples` must be non-empty and strictly increasing
    /// by timestamp. A label set added twice is reported by `finish`.
    pub fn add_series(&mut self, labels: &Labels, samples: &[Sample]) -> Result<()> {
        check_labels(labels.as_slice()).map_err(|reason| CodecError::InvalidLabels {
            labels: show_pairs(labels.as_slice()),
            reason,
        })?;
        check_samples(|| labels.to_string(), samples)?;
        let label_start = self.label_refs.len();
        for label in labels {
            let name = self.symbols.intern(&label.name);
            let value = self.symbols.intern(&label.value);
            self.label_refs.push((name, value));
        }
        self.push_series(label_start, samples);
        Ok(())
    }

    /// Adds one series given as ids of this builder's interner, name and
    /// value alternating (`[name0, value0, name1, value1, ...]`), names in
    /// ascending order of their strings. Same rules as
    /// [`SegmentBuilder::add_series`].
    pub fn add_series_refs(&mut self, refs: &[u32], samples: &[Sample]) -> Result<()> {
        let invalid = |reason| CodecError::InvalidLabels {
            labels: format!("{refs:?}"),
            reason,
        };
        if !refs.len().is_multiple_of(2) {
            return Err(invalid("an odd number of label refs"));
        }
        let mut pairs = Vec::with_capacity(refs.len() / 2);
        for p in refs.chunks_exact(2) {
            match (
                self.symbols.try_resolve(p[0]),
                self.symbols.try_resolve(p[1]),
            ) {
                (Some(n), Some(v)) => pairs.push((n, v)),
                _ => return Err(invalid("a label ref is not in the interner")),
            }
        }
        let mut previous: Option<&str> = None;
        for &(n, v) in &pairs {
            if n.is_empty() || v.is_empty() || previous.is_some_and(|p| p >= n) {
                let labels: Vec<Label> = pairs.iter().map(|&(n, v)| Label::new(n, v)).collect();
                return Err(CodecError::InvalidLabels {
                    labels: show_pairs(&labels),
                    reason:
                        "label names must be non-empty and strictly ascending, values non-empty",
                });
            }
            previous = Some(n);
        }
        check_samples(
            || {
                let labels = pairs.iter().map(|&(n, v)| Label::new(n, v)).collect();
                Labels::from_sorted_unchecked(labels).to_string()
            },
            samples,
        )?;
        let label_start = self.label_refs.len();
        self.label_refs
            .extend(refs.chunks_exact(2).map(|p| (p[0], p[1])));
        self.push_series(label_start, samples);
        Ok(())
    }

    fn push_series(&mut self, label_start: usize, samples: &[Sample]) {
        let chunk_start = self.chunks.len();
        encode_chunk(samples, &mut self.chunks);
        self.series.push(PendingSeries {
            labels: label_start..self.label_refs.len(),
            chunk: chunk_start..self.chunks.len(),
        });
        self.num_samples += samples.len() as u64;
        // The callers checked that the samples are non-empty and sorted.
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            self.min_time = self.min_time.min(first.t);
            self.max_time = self.max_time.max(last.t);
        }
    }

    /// Adds metadata of a metric family; a later entry for the same family
    /// replaces the earlier one.
    pub fn add_metadata(&mut self, md: MetricMetadata) {
        self.metadata.insert(md.metric_family.clone(), md);
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    pub fn num_samples(&self) -> u64 {
        self.num_samples
    }

    /// Writes the segment. Fails when a label set was added twice.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        // Sort the symbols that series use and turn insertion-order ids into
        // positions in the sorted table; from then on refs compare like
        // their strings.
        let mut used = vec![false; self.symbols.len()];
        for &(n, v) in &self.label_refs {
            used[n as usize] = true;
            used[v as usize] = true;
        }
        let mut sorted: Vec<(&str, u32)> = self
            .symbols
            .strings()
            .iter()
            .zip(0u32..)
            .filter(|(_, id)| used[*id as usize])
            .map(|(s, id)| (&**s, id))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut final_ref = vec![0u32; self.symbols.len()];
        for (position, &(_, id)) in sorted.iter().enumerate() {
            final_ref[id as usize] = position as u32;
        }
        for (name, value) in &mut self.label_refs {
            *name = final_ref[*name as usize];
            *value = final_ref[*value as usize];
        }
        let refs = &self.label_refs;
        // Label sets compare label by label, name then value, a prefix
        // first: exactly how slices of (name ref, value ref) compare.
        self.series
            .sort_unstable_by(|a, b| refs[a.labels.clone()].cmp(&refs[b.labels.clone()]));
        if let Some(pair) = self
            .series
            .windows(2)
            .find(|p| refs[p[0].labels.clone()] == refs[p[1].labels.clone()])
        {
            let labels = refs[pair[0].labels.clone()]
                .iter()
                .map(|&(n, v)| Label::new(sorted[n as usize].0, sorted[v as usize].0))
                .collect();
            return Err(CodecError::DuplicateSeries {
                labels: Labels::from_sorted_unchecked(labels).to_string(),
            });
        }
        let (min_time, max_time) = if self.series.is_empty() {
            (0, 0)
        } else {
            (self.min_time, self.max_time)
        };

        let symbols_len: usize = sorted.iter().map(|(s, _)| s.len() + 2).sum();
        let capacity =
            64 + symbols_len + self.chunks.len() + refs.len() * 4 + self.series.len() * 4;
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(&SEGMENT_MAGIC);
        out.push(SEGMENT_VERSION);
        out.push(0); // flags
        put_str(&mut out, self.tenant.as_str());
        put_varint(&mut out, min_time);
        put_varint(&mut out, max_time);
        put_uvarint(&mut out, self.num_samples);

        put_uvarint(&mut out, sorted.len() as u64);
        for (s, _) in &sorted {
            put_str(&mut out, s);
        }

        put_uvarint(&mut out, self.series.len() as u64);
        for series in &self.series {
            let labels = &refs[series.labels.clone()];
            put_uvarint(&mut out, labels.len() as u64);
            for &(name, value) in labels {
                put_uvarint(&mut out, u64::from(name));
                put_uvarint(&mut out, u64::from(value));
            }
            let chunk = &self.chunks[series.chunk.clone()];
            put_uvarint(&mut out, chunk.len() as u64);
            out.extend_from_slice(chunk);
        }

        put_uvarint(&mut out, self.metadata.len() as u64);
        for md in self.metadata.values() {
            put_str(&mut out, &md.metric_family);
            out.push(md.metric_type.code());
            put_str(&mut out, &md.help);
            put_str(&mut out, &md.unit);
        }

        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&SEGMENT_MAGIC);
        Ok(out)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}
