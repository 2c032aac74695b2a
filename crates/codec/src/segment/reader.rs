//! Reading and validating segments.

use stratus_model::{Label, Labels, MetricMetadata, MetricType, TenantId};

use stratus_model::Sample;

use super::{
    check_samples, show_pairs, Segment, SegmentSeries, FOOTER_LEN, HEADER_LEN, SEGMENT_MAGIC,
    SEGMENT_VERSION,
};
use crate::chunk::decode_chunk_into;
use crate::error::{CodecError, Result};
use crate::varint::{read_uvarint, unzigzag, VarintError};

/// Smallest encodings of repeated entries, used to reject counts that
/// cannot fit in the remaining bytes before allocating for them.
const MIN_SYMBOL_LEN: usize = 1; // length 0, no bytes
const MIN_LABEL_LEN: usize = 2; // two one-byte refs
const MIN_SERIES_LEN: usize = 2; // label count and chunk length
const MIN_METADATA_LEN: usize = 4; // three empty strings and a type code

/// What a segment holds besides its series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub tenant: TenantId,
    pub min_time: i64,
    pub max_time: i64,
    pub num_samples: u64,
    pub metadata: Vec<MetricMetadata>,
}

/// One series of a segment as [`read_segment`] shows it: its labels as
/// (name, value) references into `symbols` (sorted, so comparing refs
/// compares the strings) and its samples. Valid for one call.
#[derive(Debug)]
pub struct SeriesView<'v, 'a> {
    pub symbols: &'v [&'a str],
    pub refs: &'v [(u32, u32)],
    pub samples: &'v [Sample],
}

impl SeriesView<'_, '_> {
    /// The label set, allocating its strings.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted_unchecked(
            self.refs
                .iter()
                .map(|&(n, v)| Label::new(self.symbols[n as usize], self.symbols[v as usize]))
                .collect(),
        )
    }
}

/// Decodes and fully validates a segment. Checks, in order: length, header
/// magic, version, flags, footer magic, checksum; then every field of the
/// body (see `docs/format/segment.md`).
pub fn decode_segment(bytes: &[u8]) -> Result<Segment> {
    let mut series: Vec<SegmentSeries> = Vec::new();
    let info = read_segment(bytes, |s| {
        series.push(SegmentSeries {
            labels: s.labels(),
            samples: s.samples.to_vec(),
        })
    })?;
    Ok(Segment {
        tenant: info.tenant,
        min_time: info.min_time,
        max_time: info.max_time,
        num_samples: info.num_samples,
        series,
        metadata: info.metadata,
    })
}

/// Reads a segment series by series without building label sets: `each`
/// sees every series in order, and the segment is fully validated as by
/// [`decode_segment`]. An error may come after `each` has seen some series
/// (a faulty body behind a good checksum): callers that keep what they saw
/// must stage it until this returns `Ok`.
pub fn read_segment<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(&SeriesView<'_, 'a>),
) -> Result<SegmentInfo> {
    let len = bytes.len();
    if len < HEADER_LEN + FOOTER_LEN {
        return Err(CodecError::SegmentTooShort {
            len,
            min: HEADER_LEN + FOOTER_LEN,
        });
    }
    let magic = four(&bytes[0..4]);
    if magic != SEGMENT_MAGIC {
        return Err(CodecError::BadSegmentMagic { found: magic });
    }
    if bytes[4] != SEGMENT_VERSION {
        return Err(CodecError::UnsupportedSegmentVersion {
            found: bytes[4],
            supported: SEGMENT_VERSION,
        });
    }
    if bytes[5] != 0 {
        return Err(CodecError::UnsupportedSegmentFlags { found: bytes[5] });
    }
    let footer_magic = four(&bytes[len - 4..]);
    if footer_magic != SEGMENT_MAGIC {
        return Err(CodecError::BadSegmentFooterMagic {
            found: footer_magic,
        });
    }
    let body_end = len - FOOTER_LEN;
    let stored = u32::from_le_bytes(four(&bytes[body_end..len - 4]));
    let computed = crc32c::crc32c(&bytes[..body_end]);
    if stored != computed {
        return Err(CodecError::SegmentChecksumMismatch { stored, computed });
    }

    let mut body = Body {
        buf: bytes,
        pos: HEADER_LEN,
        end: body_end,
    };
    let tenant = body.str("tenant")?;
    let tenant = TenantId::new(tenant).map_err(|source| CodecError::SegmentInvalidTenant {
        tenant: tenant.to_string(),
        source,
    })?;
    let min_time = body.varint("min_time")?;
    let max_time = body.varint("max_time")?;
    let num_samples = body.uvarint("num_samples")?;
    let symbols = read_symbols(&mut body)?;
    let seen = read_series(&mut body, &symbols, min_time, max_time, &mut each)?;

    if seen.samples != num_samples {
        return Err(CodecError::SegmentSampleCountMismatch {
            header: num_samples,
            actual: seen.samples,
        });
    }
    // Series are non-empty and sorted by time, so first and last samples
    // bound each series.
    let (actual_min, actual_max) = seen.bounds.unwrap_or((0, 0));
    if (min_time, max_time) != (actual_min, actual_max) {
        return Err(CodecError::SegmentTimeRangeMismatch {
            header_min: min_time,
            header_max: max_time,
            actual_min,
            actual_max,
        });
    }

    let metadata = read_metadata(&mut body)?;
    if body.pos != body.end {
        return Err(CodecError::SegmentTrailingData {
            extra: body.end - body.pos,
            offset: body.pos,
        });
    }
    Ok(SegmentInfo {
        tenant,
        min_time,
        max_time,
        num_samples,
        metadata,
    })
}

fn read_symbols<'a>(body: &mut Body<'a>) -> Result<Vec<&'a str>> {
    let count = body.count("symbol", MIN_SYMBOL_LEN)?;
    let mut symbols: Vec<&str> = Vec::with_capacity(count);
    for index in 0..count {
        let symbol = body.str("symbol")?;
        if let Some(&previous) = symbols.last() {
            if previous >= symbol {
                return Err(CodecError::SegmentSymbolsNotSorted {
                    index: index as u64,
                    symbol: symbol.to_string(),
                    previous: previous.to_string(),
                });
            }
        }
        symbols.push(symbol);
    }
    Ok(symbols)
}

/// What the series of a segment add up to.
struct Seen {
    samples: u64,
    bounds: Option<(i64, i64)>,
}

/// Shows label refs as the label set they name, for errors.
fn show_refs(symbols: &[&str], refs: &[(u32, u32)]) -> String {
    let labels: Vec<Label> = refs
        .iter()
        .map(|&(n, v)| Label::new(symbols[n as usize], symbols[v as usize]))
        .collect();
    show_pairs(&labels)
}

fn read_series<'a>(
    body: &mut Body<'a>,
    symbols: &[&'a str],
    min_time: i64,
    max_time: i64,
    each: &mut impl FnMut(&SeriesView<'_, 'a>),
) -> Result<Seen> {
    let count = body.count("series", MIN_SERIES_LEN)?;
    let mut refs: Vec<(u32, u32)> = Vec::new();
    let mut previous: Vec<(u32, u32)> = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut seen = Seen {
        samples: 0,
        bounds: None,
    };
    // Only the first symbol can be empty (the table is sorted and unique).
    let empty = symbols.first().is_some_and(|s| s.is_empty());
    for index in 0..count {
        let num_labels = body.count("label", MIN_LABEL_LEN)?;
        refs.clear();
        for label in 0..num_labels {
            let mut symbol = |what: &'static str| -> Result<u32> {
                let reference = body.uvarint(what)?;
                u32::try_from(reference)
                    .ok()
                    .filter(|&r| (r as usize) < symbols.len())
                    .ok_or(CodecError::SegmentSymbolRefOutOfRange {
                        series: index as u64,
                        label: label as u64,
                        what,
                        reference,
                        symbols: symbols.len(),
                    })
            };
            let name = symbol("label name")?;
            let value = symbol("label value")?;
            refs.push((name, value));
        }
        let bad_labels = if empty && refs.iter().any(|&(n, _)| n == 0) {
            Some("a label name is empty")
        } else if empty && refs.iter().any(|&(_, v)| v == 0) {
            Some("a label value is empty")
        } else if refs.windows(2).any(|p| p[0].0 >= p[1].0) {
            Some("label names are not strictly ascending")
        } else {
            None
        };
        if let Some(reason) = bad_labels {
            return Err(CodecError::InvalidLabels {
                labels: show_refs(symbols, &refs),
                reason,
            });
        }
        // Refs order as the strings do, so this is the label sets' order.
        if index > 0 && previous >= refs {
            return Err(CodecError::SegmentSeriesNotSorted {
                series: show_labels(symbols, &refs),
                previous: show_labels(symbols, &previous),
            });
        }

        let chunk_len = body.uvarint("chunk length")?;
        let chunk = body.bytes(chunk_len, "chunk")?;
        samples.clear();
        decode_chunk_into(chunk, &mut samples).map_err(|e| CodecError::SegmentChunk {
            labels: show_labels(symbols, &refs),
            source: Box::new(e),
        })?;
        check_samples(|| show_labels(symbols, &refs), &samples)?;
        if let Some(s) = samples.iter().find(|s| s.t < min_time || s.t > max_time) {
            return Err(CodecError::SegmentSampleOutOfRange {
                labels: show_labels(symbols, &refs),
                t: s.t,
                min_time,
                max_time,
            });
        }
        seen.samples += samples.len() as u64;
        let (first, last) = (samples[0].t, samples[samples.len() - 1].t);
        seen.bounds = Some(match seen.bounds {
            None => (first, last),
            Some((lo, hi)) => (lo.min(first), hi.max(last)),
        });
        each(&SeriesView {
            symbols,
            refs: &refs,
            samples: &samples,
        });
        std::mem::swap(&mut previous, &mut refs);
    }
    Ok(seen)
}

/// A label set named by refs, as `Labels` displays it.
fn show_labels(symbols: &[&str], refs: &[(u32, u32)]) -> String {
    SeriesView {
        symbols,
        refs,
        samples: &[],
    }
    .labels()
    .to_string()
}

fn read_metadata(body: &mut Body<'_>) -> Result<Vec<MetricMetadata>> {
    let count = body.count("metadata", MIN_METADATA_LEN)?;
    let mut metadata: Vec<MetricMetadata> = Vec::with_capacity(count);
    for _ in 0..count {
        let family = body.str("metric family")?;
        let code = body.u8("metric type")?;
        let help = body.str("help")?;
        let unit = body.str("unit")?;
        if let Some(previous) = metadata.last() {
            if previous.metric_family.as_str() >= family {
                return Err(CodecError::SegmentMetadataNotSorted {
                    family: family.to_string(),
                    previous: previous.metric_family.clone(),
                });
            }
        }
        let metric_type =
            MetricType::from_code(code).ok_or_else(|| CodecError::SegmentUnknownMetricType {
                family: family.to_string(),
                code,
            })?;
        metadata.push(MetricMetadata {
            metric_family: family.to_string(),
            metric_type,
            help: help.to_string(),
            unit: unit.to_string(),
        });
    }
    Ok(metadata)
}

fn four(b: &[u8]) -> [u8; 4] {
    let mut out = [0; 4];
    out.copy_from_slice(&b[..4]);
    out
}

/// A cursor over the body; offsets in errors are from the start of the
/// segment.
struct Body<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Body<'a> {
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn truncated(&self, what: &'static str, needed: u64) -> CodecError {
        CodecError::SegmentTruncated {
            what,
            needed,
            offset: self.pos,
            body_end: self.end,
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        if self.pos >= self.end {
            return Err(self.truncated(what, 1));
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn uvarint(&mut self, what: &'static str) -> Result<u64> {
        match read_uvarint(&self.buf[self.pos..self.end]) {
            Ok((v, used)) => {
                self.pos += used;
                Ok(v)
            }
            Err(VarintError::Truncated) => Err(self.truncated(what, 1)),
            Err(VarintError::Overflow) => Err(CodecError::SegmentVarintOverflow {
                what,
                offset: self.pos,
            }),
        }
    }

    fn varint(&mut self, what: &'static str) -> Result<i64> {
        self.uvarint(what).map(unzigzag)
    }

    /// Reads an entry count and checks that `count` entries of at least
    /// `min_len` bytes each fit in the rest of the body, so callers can
    /// preallocate `count` entries.
    fn count(&mut self, what: &'static str, min_len: usize) -> Result<usize> {
        let offset = self.pos;
        let count = self.uvarint(what)?;
        let remaining = self.remaining();
        match usize::try_from(count) {
            Ok(n) if n.checked_mul(min_len).is_some_and(|need| need <= remaining) => Ok(n),
            _ => Err(CodecError::SegmentCountTooLarge {
                what,
                count,
                offset,
                remaining,
            }),
        }
    }

    fn bytes(&mut self, len: u64, what: &'static str) -> Result<&'a [u8]> {
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => {
                let out = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(out)
            }
            _ => Err(self.truncated(what, len - remaining as u64)),
        }
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str> {
        let len = self.uvarint(what)?;
        let offset = self.pos;
        let bytes = self.bytes(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| CodecError::SegmentInvalidUtf8 { what, offset })
    }
}
