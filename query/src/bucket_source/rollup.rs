//! Rollups (downsampled blocks): which resolution a read uses (raw, or
//! one rollup step) and which of a rollup point's aggregates stands in for
//! the raw samples, given what the evaluator does with them.

use stratus_block::AggrPoint;
use stratus_codec::{BlockEntry, Catalog};
use stratus_model::TimeRange;

use super::windows::Expansion;
use crate::source::SelectHints;

/// The blocks a read uses.
pub(super) struct BlockChoice<'a> {
    /// The rollup step chosen, if any.
    pub(super) step: Option<i64>,
    /// The rollup blocks at that step, oldest first.
    pub(super) rollups: Vec<&'a BlockEntry>,
    /// The raw blocks.
    pub(super) raw: Vec<&'a BlockEntry>,
    /// The rollups at `step` may only approximate the raw answer.
    pub(super) approximate: bool,
    /// Rollup windows are expanded into samples (an exact read for
    /// [`EDGE_FUNCTIONS`]).
    pub(super) expand: Option<Expansion>,
}

/// The one place the resolution of a read is chosen: the blocks a read of
/// `range` uses. Where raw data is kept, rollups serve a read only where
/// they give the raw answer ([`exact_at`]): at the coarsest such step
/// `hints` allow, or, when the user asked for a resolution
/// (`hints.approximate`), at the coarsest step allowed. Elsewhere the
/// finest rollups serve only where no raw block is (retention).
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
    let allowed = || steps.range(..=hints.max_source_resolution_ms).rev();
    let edges = edge_function(hints.func.as_deref());
    // Functions of the window edges need them in every rollup read:
    // rollups written before them (block version 2) do not serve.
    let has_edges = |s: i64| {
        !edges
            || cat
                .blocks_overlapping(s, range.min, range.max)
                .iter()
                .all(|b| b.edges)
    };
    let exact = allowed()
        .find(|&&s| exact_at(hints, s) && has_edges(s))
        .copied();
    let (step, prefer_rollups, approximate) = match exact {
        Some(s) => (Some(s), true, false),
        None if hints.approximate && hints.max_source_resolution_ms > 0 => {
            (allowed().next().copied(), true, true)
        }
        None => (steps.iter().next().copied(), false, true),
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
    BlockChoice {
        step,
        rollups,
        raw,
        approximate,
        expand: Expansion::of(hints.func.as_deref()).filter(|_| !approximate),
    }
}

/// The functions whose answer over whole rollup windows equals their
/// answer over the raw samples of those windows, from the aggregates a
/// rollup point keeps (count, sum, min, max, last).
pub(super) const EXACT_FUNCTIONS: [&str; 7] = [
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "present_over_time",
    "absent_over_time",
];

/// The functions whose answer over whole rollup windows equals their
/// answer over the raw samples of those windows, up to summation order,
/// from the windows' edges (first sample, count, last sample, drops; block
/// version 3): each window is expanded into samples that carry them, or
/// for `avg_over_time` into `count` samples of its mean ([`Expansion`]).
pub(super) const EDGE_FUNCTIONS: [&str; 4] = ["rate", "increase", "delta", "avg_over_time"];

/// True for the functions read from the windows' edges.
pub(super) fn edge_function(func: Option<&str>) -> bool {
    func.is_some_and(|f| EDGE_FUNCTIONS.contains(&f))
}

/// True when reading the rollups of `step` gives the raw answer: every
/// evaluation time is a multiple of `step` (rollup windows are `(e - step,
/// e]` with `e` a multiple of the step), the selector feeds a range
/// function of [`EXACT_FUNCTIONS`] with a range that is a multiple of the
/// step and longer than one window, or of [`EDGE_FUNCTIONS`] with a range
/// that is a multiple of the step (one window included: the range is that
/// window, whose edges are its raw first and last samples; the caller
/// checks that the rollups have edges). Every other function (quantiles,
/// deviations, changes, regressions, `irate`) needs data the
/// rollups do not keep, and so does a plain selector: a series that ended
/// with a staleness marker in the window of its last sample has no value at
/// the window's end, which a rollup point (markers skipped) cannot tell.
pub(super) fn exact_at(hints: &SelectHints, step: i64) -> bool {
    let Some(grid) = hints.grid else {
        return false;
    };
    if step <= 0 || grid.first_ms.rem_euclid(step) != 0 || grid.step_ms.rem_euclid(step) != 0 {
        return false;
    }
    let whole = hints.range_ms % step == 0;
    hints.func.as_deref().is_some_and(|f| {
        (EXACT_FUNCTIONS.contains(&f) && whole && hints.range_ms > step)
            || (EDGE_FUNCTIONS.contains(&f) && whole && hints.range_ms >= step)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::EvalGrid;

    const M5: i64 = 300_000;
    const H1: i64 = 3_600_000;

    fn hints(func: Option<&str>, range_ms: i64, first_ms: i64, step_ms: i64) -> SelectHints {
        SelectHints {
            func: func.map(str::to_string),
            max_source_resolution_ms: i64::MAX,
            approximate: false,
            range_ms,
            grid: Some(EvalGrid { first_ms, step_ms }),
        }
    }

    #[test]
    fn whole_windows_at_aligned_times_are_exact() {
        let day = 86_400_000 * 20_000;
        for f in EXACT_FUNCTIONS {
            assert!(exact_at(&hints(Some(f), H1, day, H1), M5), "{f}");
            assert!(exact_at(&hints(Some(f), 2 * H1, day, 3 * H1), H1), "{f}");
        }
        // From the window edges, a range of one window too.
        for f in EDGE_FUNCTIONS {
            assert!(Expansion::of(Some(f)).is_some(), "{f}");
            assert!(exact_at(&hints(Some(f), H1, day, H1), M5), "{f}");
            assert!(exact_at(&hints(Some(f), H1, day, H1), H1), "{f}");
            assert!(
                exact_at(&hints(Some(f), 86_400_000, day, 6 * H1), H1),
                "{f}"
            );
            // Not a whole number of windows, or off the grid.
            assert!(!exact_at(&hints(Some(f), 90 * 60_000, day, H1), H1), "{f}");
            assert!(!exact_at(&hints(Some(f), M5, day, H1), H1), "{f}");
            assert!(!exact_at(&hints(Some(f), H1, day + 60_000, H1), M5), "{f}");
            assert!(!exact_at(&hints(Some(f), H1, day, 7 * 60_000), M5), "{f}");
        }
    }

    #[test]
    fn everything_else_reads_finer_data() {
        let t = 86_400_000 * 20_000;
        // Functions the aggregates cannot answer exactly.
        for f in [
            "irate",
            "idelta",
            "deriv",
            "predict_linear",
            "changes",
            "resets",
            "quantile_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "mad_over_time",
            "double_exponential_smoothing",
        ] {
            assert!(!exact_at(&hints(Some(f), H1, t, H1), M5), "{f}");
        }
        // A range not longer than one window, or not made of whole ones.
        assert!(!exact_at(&hints(Some("sum_over_time"), M5, t, H1), M5));
        assert!(!exact_at(&hints(Some("sum_over_time"), H1, t, H1), H1));
        assert!(!exact_at(
            &hints(Some("sum_over_time"), 7 * 60_000, t, H1),
            M5
        ));
        // Unaligned first time, or a step that leaves the grid.
        assert!(!exact_at(
            &hints(Some("max_over_time"), H1, t + 60_000, H1),
            M5
        ));
        assert!(!exact_at(
            &hints(Some("max_over_time"), H1, t, 7 * 60_000),
            M5
        ));
        // Plain selectors: rollups do not record staleness markers.
        assert!(!exact_at(&hints(None, M5, t, H1), H1));
        assert!(!exact_at(&hints(None, M5, t, 15 * 60_000), M5));
        // Evaluation times not known in advance (subqueries).
        let mut h = hints(Some("max_over_time"), H1, t, H1);
        h.grid = None;
        assert!(!exact_at(&h, M5));
    }
}
