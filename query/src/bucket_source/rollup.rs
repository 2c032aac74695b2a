//! Rollups (downsampled blocks): which resolution a read uses (raw, or
//! one rollup step) and which of a rollup point's aggregates stands in for
//! the raw samples, given what the evaluator does with them.

use stratus_block::AggrPoint;
use stratus_codec::{BlockEntry, Catalog};
use stratus_model::TimeRange;

use crate::source::SelectHints;

/// The blocks a read uses.
pub(super) struct BlockChoice<'a> {
    /// The rollup step chosen, if any.
    pub(super) step: Option<i64>,
    /// The rollup blocks at that step, oldest first.
    pub(super) rollups: Vec<&'a BlockEntry>,
    /// The raw blocks.
    pub(super) raw: Vec<&'a BlockEntry>,
}

/// The one place the resolution of a read is chosen: the blocks a read of
/// `range` uses. Rollups at the coarsest step `hints` allow, or the finest
/// one where raw data is gone (retention); by default only where no raw
/// block is.
pub(super) fn choose_blocks<'a>(
    cat: &'a Catalog,
    range: TimeRange,
    hints: &SelectHints,
) -> BlockChoice<'a> {
    let raw_all = cat.blocks_overlapping(0, range.min, range.max);
    let steps: std::collections::BTreeSet<i64> = cat
        .blocks
        .iter()
        .filter(|b| b.resolution_ms > 0)
        .map(|b| b.resolution_ms)
        .collect();
    let prefer_rollups = hints.max_source_resolution_ms > 0;
    let step = if prefer_rollups {
        steps
            .range(..=hints.max_source_resolution_ms)
            .next_back()
            .copied()
    } else {
        steps.iter().next().copied()
    };
    let mut rollups: Vec<&BlockEntry> = match step {
        Some(s) => cat.blocks_overlapping(s, range.min, range.max),
        None => Vec::new(),
    };
    let overlaps =
        |a: &BlockEntry, b: &BlockEntry| a.min_time < b.max_time && a.max_time > b.min_time;
    let raw: Vec<&BlockEntry> = if prefer_rollups {
        raw_all
            .into_iter()
            .filter(|b| {
                !rollups
                    .iter()
                    .any(|r| r.min_time <= b.min_time && r.max_time >= b.max_time)
            })
            .collect()
    } else {
        rollups.retain(|r| !raw_all.iter().any(|b| overlaps(b, r)));
        raw_all
    };
    rollups.sort_by_key(|r| r.min_time);
    BlockChoice { step, rollups, raw }
}

/// True for the functions served by the reset-adjusted rollup counter.
pub(super) fn counter_function(func: Option<&str>) -> bool {
    matches!(func, Some("rate" | "increase" | "irate"))
}

/// True for the functions whose rollup points hold a count of samples.
pub(super) fn counts_windows(func: Option<&str>) -> bool {
    matches!(func, Some("count_over_time" | "present_over_time"))
}

/// Which rollup aggregate stands in for the raw samples, given what the
/// evaluator does with them.
pub(super) fn aggregate_for(func: Option<&str>) -> fn(&AggrPoint) -> f64 {
    match func {
        Some("sum_over_time") => |p| p.sum,
        // The engine sums the per-window counts.
        Some("count_over_time" | "present_over_time") => |p| p.count,
        Some("min_over_time") => |p| p.min,
        Some("max_over_time") => |p| p.max,
        Some("avg_over_time") => |p| {
            if p.count > 0.0 {
                p.sum / p.count
            } else {
                f64::NAN
            }
        },
        // Plain selectors and the rest: the value at the window's end.
        _ => |p| p.last,
    }
}
