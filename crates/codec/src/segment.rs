//! L0 segments: what one ingest flush writes for one tenant. A header with
//! magic and version, a body with the series (labels through a sorted
//! symbol table, samples as one chunk each) and the metric metadata, and a
//! footer with a CRC32C and the magic again. The byte layout is specified in
//! `docs/format/segment.md`; any change to it needs a new version number.

use stratus_model::{Label, Labels, MetricMetadata, Sample, TenantId};

use crate::error::{CodecError, Result};

mod builder;
mod reader;

pub use builder::SegmentBuilder;
pub use reader::{decode_segment, read_segment, SegmentInfo, SeriesView};

/// First and last four bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 4] = *b"STSG";

/// The layout version this build writes and reads.
pub const SEGMENT_VERSION: u8 = 1;

/// Magic, version and flags.
const HEADER_LEN: usize = 6;

/// CRC32C and magic.
const FOOTER_LEN: usize = 8;

/// A decoded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub tenant: TenantId,
    /// Smallest sample timestamp in ms; 0 when there are no series.
    pub min_time: i64,
    /// Largest sample timestamp in ms; 0 when there are no series.
    pub max_time: i64,
    /// Samples over all series.
    pub num_samples: u64,
    /// Sorted by labels, each label set once.
    pub series: Vec<SegmentSeries>,
    /// Sorted by metric family, each family once.
    pub metadata: Vec<MetricMetadata>,
}

/// One series of a segment, samples strictly increasing by timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Checks that a series has samples and strictly increasing timestamps.
/// `labels` describes the series for the error message.
fn check_samples(labels: impl Fn() -> String, samples: &[Sample]) -> Result<()> {
    if samples.is_empty() {
        return Err(CodecError::EmptySeries { labels: labels() });
    }
    if let Some((i, pair)) = samples
        .windows(2)
        .enumerate()
        .find(|(_, pair)| pair[1].t <= pair[0].t)
    {
        return Err(CodecError::NonIncreasingTimestamps {
            labels: labels(),
            index: i + 1,
            previous: pair[0].t,
            next: pair[1].t,
        });
    }
    Ok(())
}

/// Checks what `Labels` promises but `Labels::from_sorted_unchecked` does
/// not enforce: names non-empty and strictly ascending, values non-empty.
fn check_labels(labels: &[Label]) -> std::result::Result<(), &'static str> {
    let mut previous: Option<&str> = None;
    for label in labels {
        if label.name.is_empty() {
            return Err("a label name is empty");
        }
        if label.value.is_empty() {
            return Err("a label value is empty");
        }
        if previous.is_some_and(|p| p >= label.name.as_str()) {
            return Err("label names are not strictly ascending");
        }
        previous = Some(&label.name);
    }
    Ok(())
}

/// Shows label pairs that may not form a valid `Labels`, for errors.
fn show_pairs(labels: &[Label]) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|l| format!("{:?}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests;
