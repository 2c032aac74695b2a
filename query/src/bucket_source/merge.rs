//! Merging what rollups, raw blocks and segments hold into series: later
//! blocks win over earlier ones and segments over blocks on equal series
//! and timestamp; delete requests (tombstones) are applied last.

use foldhash::fast::RandomState;

use stratus_block::AggrPoint;
use stratus_codec::CompiledTombstone;
use stratus_model::{merge_newer, Labels, Sample, TimeRange};

use super::rollup::{aggregate_for, counter_function, counts_windows};
use super::windows::Expansion;
use crate::source::Series;

/// Maps keyed by label sets hash them with foldhash: SipHash took a tenth
/// of a 128,000-series select.
pub(super) type HashMap<K, V> = std::collections::HashMap<K, V, RandomState>;

/// What [`merge_sources`] made.
pub(super) struct Merged {
    pub(super) series: Vec<(Labels, Vec<Sample>)>,
    /// Rollup points in the range that were used.
    pub(super) rollup_points: usize,
    /// Rollup windows that could not be expanded into the samples that
    /// stand for them (see [`Expansion::apply`]); one value stands in,
    /// which only approximates the raw answer.
    pub(super) unexpanded: usize,
}

/// Series merged from rollup blocks (oldest first), raw blocks (oldest id
/// first) and the head's series, for the function `func`. With `expand`,
/// each rollup window becomes the samples that stand for it
/// ([`Expansion`]: `rate`, `increase`, `delta`, `avg_over_time` over whole
/// windows).
pub(super) fn merge_sources(
    func: Option<&str>,
    expand: Option<Expansion>,
    range: TimeRange,
    rollup_data: Vec<Vec<(Labels, Vec<AggrPoint>)>>,
    raw_data: Vec<Vec<(Labels, Vec<Sample>)>>,
    head: Vec<(Labels, Vec<Sample>)>,
) -> Merged {
    // Only the head: its series are unique already.
    if rollup_data.iter().all(Vec::is_empty) && raw_data.iter().all(Vec::is_empty) {
        return Merged {
            series: head,
            rollup_points: 0,
            unexpanded: 0,
        };
    }
    let mut unexpanded = 0;
    let mut merged: HashMap<Labels, Vec<Sample>> = HashMap::default();
    // Rollups hold the oldest data; counters are chained across blocks.
    let value = aggregate_for(func);
    let counter = counter_function(func);
    let mut offsets: HashMap<Labels, f64> = HashMap::default();
    let mut rollup_points = 0;
    for block in rollup_data {
        for (labels, points) in block {
            // Windows are left-open: a point at the range's start is
            // never used.
            rollup_points += points.iter().filter(|p| p.t > range.min).count();
            if let Some(expand) = expand {
                let mut samples = Vec::new();
                for p in &points {
                    if !expand.apply(p, &mut samples) {
                        unexpanded += 1;
                    }
                }
                merge_newer(merged.entry(labels).or_default(), &samples);
                continue;
            }
            let offset = offsets.get(&labels).copied().unwrap_or(0.0);
            let samples: Vec<Sample> = points
                .iter()
                .map(|p| {
                    Sample::new(
                        p.t,
                        if counter {
                            p.counter + offset
                        } else {
                            value(p)
                        },
                    )
                })
                .collect();
            if let Some(last) = points.last() {
                offsets.insert(labels.clone(), offset + last.counter_offset());
            }
            merge_newer(merged.entry(labels).or_default(), &samples);
        }
    }
    // Where rollups answer part of the range, the engine treats every
    // point as a window; a raw sample is a window of one.
    let as_windows = rollup_points > 0 && counts_windows(func);
    let raw_points = |samples: &[Sample]| -> Vec<Sample> {
        if as_windows {
            samples.iter().map(|s| Sample::new(s.t, 1.0)).collect()
        } else {
            samples.to_vec()
        }
    };
    // Raw blocks oldest id first: later ids win. Each series's parts
    // are gathered first and joined once at their exact size: appending
    // block after block would grow every vector by doubling, up to
    // twice the memory of the samples.
    let mut parts: HashMap<Labels, Vec<Vec<Sample>>> = HashMap::default();
    for block in raw_data {
        for (labels, samples) in block {
            let samples = if as_windows {
                raw_points(&samples)
            } else {
                samples
            };
            parts.entry(labels).or_default().push(samples);
        }
    }
    for (labels, ps) in parts {
        match merged.entry(labels) {
            std::collections::hash_map::Entry::Vacant(e) if ps.len() == 1 => {
                e.insert(ps.into_iter().next().unwrap_or_default());
            }
            e => {
                let into = e.or_default();
                into.reserve_exact(ps.iter().map(Vec::len).sum());
                for p in ps {
                    merge_newer(into, &p);
                }
            }
        }
    }
    for (labels, samples) in head {
        let into = merged.entry(labels).or_default();
        if into.is_empty() && !as_windows {
            *into = samples;
            continue;
        }
        into.reserve_exact(samples.len());
        merge_newer(into, &raw_points(&samples));
    }
    Merged {
        series: merged.into_iter().collect(),
        rollup_points,
        unexpanded,
    }
}

/// Removes the samples delete requests cover (those of requests that
/// overlap `range`: the series hold no samples outside it).
pub(super) fn apply_tombstones(
    tombstones: &[CompiledTombstone],
    range: TimeRange,
    series: &mut [(Labels, Vec<Sample>)],
) {
    for t in tombstones
        .iter()
        .filter(|t| t.overlaps(range.min, range.max))
    {
        for (labels, samples) in series.iter_mut() {
            t.apply(labels, samples);
        }
    }
}

/// The non-empty series, sorted by labels.
pub(super) fn into_series(merged: Vec<(Labels, Vec<Sample>)>) -> Vec<Series> {
    let mut series: Vec<Series> = merged
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(labels, samples)| Series { labels, samples })
        .collect();
    // Label sets are unique: no need for a stable sort.
    series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    series
}
