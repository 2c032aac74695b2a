//! Reading and validating segments.

use stratus_model::{Label, Labels, MetricMetadata, MetricType, TenantId};

use super::{
    check_labels, check_samples, show_pairs, Segment, SegmentSeries, FOOTER_LEN, HEADER_LEN,
    SEGMENT_MAGIC, SEGMENT_VERSION,
};
use crate::chunk::decode_chunk;
use crate::error::{CodecError, Result};
use crate::varint::{read_uvarint, unzigzag, VarintError};

/// Smallest encodings of repeated entries, used to reject counts that
/// cannot fit in the remaining bytes before allocating for them.
const MIN_SYMBOL_LEN: usize = 1; // length 0, no bytes
const MIN_LABEL_LEN: usize = 2; // two one-byte refs
const MIN_SERIES_LEN: usize = 2; // label count and chunk length
const MIN_METADATA_LEN: usize = 4; // three empty strings and a type code

/// Decodes and fully validates a segment. Checks, in order: length, header
/// magic, version, flags, footer magic, checksum; then every field of the
/// body (see `docs/format/segment.md`).
pub fn decode_segment(bytes: &[u8]) -> Result<Segment> {
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
    let series = read_series(&mut body, &symbols, min_time, max_time)?;

    let actual_samples = series.iter().map(|s| s.samples.len() as u64).sum::<u64>();
    if actual_samples != num_samples {
        return Err(CodecError::SegmentSampleCountMismatch {
            header: num_samples,
            actual: actual_samples,
        });
    }
    // Series are non-empty and sorted by time, so first and last samples
    // bound each series.
    let actual_min = series
        .iter()
        .filter_map(|s| s.samples.first())
        .map(|s| s.t)
        .min();
    let actual_max = series
        .iter()
        .filter_map(|s| s.samples.last())
        .map(|s| s.t)
        .max();
    let (actual_min, actual_max) = (actual_min.unwrap_or(0), actual_max.unwrap_or(0));
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
    Ok(Segment {
        tenant,
        min_time,
        max_time,
        num_samples,
        series,
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

fn read_series(
    body: &mut Body<'_>,
    symbols: &[&str],
    min_time: i64,
    max_time: i64,
) -> Result<Vec<SegmentSeries>> {
    let count = body.count("series", MIN_SERIES_LEN)?;
    let mut series: Vec<SegmentSeries> = Vec::with_capacity(count);
    for index in 0..count {
        let num_labels = body.count("label", MIN_LABEL_LEN)?;
        let mut labels = Vec::with_capacity(num_labels);
        for label in 0..num_labels {
            let mut symbol = |what: &'static str| -> Result<&str> {
                let reference = body.uvarint(what)?;
                usize::try_from(reference)
                    .ok()
                    .and_then(|r| symbols.get(r).copied())
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
            labels.push(Label::new(name, value));
        }
        check_labels(&labels).map_err(|reason| CodecError::InvalidLabels {
            labels: show_pairs(&labels),
            reason,
        })?;
        let labels = Labels::from_sorted_unchecked(labels);
        if let Some(previous) = series.last() {
            if previous.labels >= labels {
                return Err(CodecError::SegmentSeriesNotSorted {
                    series: labels.to_string(),
                    previous: previous.labels.to_string(),
                });
            }
        }

        let chunk_len = body.uvarint("chunk length")?;
        let chunk = body.bytes(chunk_len, "chunk")?;
        let samples = decode_chunk(chunk).map_err(|e| CodecError::SegmentChunk {
            labels: labels.to_string(),
            source: Box::new(e),
        })?;
        check_samples(|| labels.to_string(), &samples)?;
        if let Some(s) = samples.iter().find(|s| s.t < min_time || s.t > max_time) {
            return Err(CodecError::SegmentSampleOutOfRange {
                labels: labels.to_string(),
                t: s.t,
                min_time,
                max_time,
            });
        }
        series.push(SegmentSeries { labels, samples });
    }
    Ok(series)
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
