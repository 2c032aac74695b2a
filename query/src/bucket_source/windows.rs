//! Rollup windows as the samples `rate`, `increase` and `delta` read.
//!
//! Prometheus's `extrapolatedRate` reads, of the raw samples of a range,
//! the first and last (time and value), how many there are, and the sum of
//! the value before each drop (`v_i < v_{i-1}`, NaN comparing false). For a
//! range made of whole rollup windows these come from the windows' edges
//! (block version 3): the first window's `first`, the last window's `last`,
//! the sum of the counts, and the drops inside each window plus those
//! between windows, which compare one window's `last` with the next one's
//! `first`. So each window is expanded into `count` samples that carry
//! exactly these: its first and last sample as stored, and between them
//! samples whose values make the window's drops and nothing else (NaN
//! makes no drop on either side; `-Inf` after `d` is a drop adding `d`).
//! The evaluator then computes the raw answer, summed in another order.

use stratus_block::AggrPoint;
use stratus_model::Sample;

/// How rollup windows become samples for the evaluator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expansion {
    /// [`expand`]: `rate`, `increase`, `delta`.
    Edges,
    /// [`expand_mean`]: `avg_over_time`.
    Mean,
}

impl Expansion {
    /// The expansion reading rollups exactly for `func`, if any.
    pub(super) fn of(func: Option<&str>) -> Option<Self> {
        match func? {
            "rate" | "increase" | "delta" => Some(Self::Edges),
            "avg_over_time" => Some(Self::Mean),
            _ => None,
        }
    }

    /// Appends the samples standing for the window of `p`; false where
    /// they only approximate it (see [`expand`], [`expand_mean`]).
    pub(super) fn apply(self, p: &AggrPoint, out: &mut Vec<Sample>) -> bool {
        match self {
            Self::Edges => expand(p, out),
            Self::Mean => expand_mean(p, out),
        }
    }
}

/// Appends `count` samples holding the window's mean (`sum / count`), at
/// its first sample's time, the following milliseconds and its last
/// sample's time: the mean of all samples of a range of whole windows is
/// then the sum of their sums over the sum of their counts, the weighted
/// mean (`avg_over_time`), up to summation order. False (and the mean at
/// the window's end) without edges, or where the window's sum overflowed
/// although its values are finite (the raw mean is finite there).
pub(super) fn expand_mean(p: &AggrPoint, out: &mut Vec<Sample>) -> bool {
    let mean = p.sum / p.count;
    let overflowed = p.sum.is_infinite() && p.min.is_finite() && p.max.is_finite();
    let Some(e) = p.edges.filter(|_| !overflowed) else {
        out.push(Sample::new(p.t, mean));
        return false;
    };
    // The reader checked that the count is a whole number from 1 to the
    // span plus one.
    let n = p.count as i64;
    out.push(Sample::new(e.first_t, mean));
    out.extend((1..n - 1).map(|i| Sample::new(e.first_t + i, mean)));
    if n > 1 {
        out.push(Sample::new(p.t, mean));
    }
    true
}

/// Appends the samples standing for the window of `p` to `out`; false when
/// the window has no edges or its drops cannot be made with its count
/// (only possible for windows of three or four samples with unusual values),
/// and then appends only its last sample.
pub(super) fn expand(p: &AggrPoint, out: &mut Vec<Sample>) -> bool {
    let Some(e) = p.edges else {
        out.push(Sample::new(p.t, p.last));
        return false;
    };
    // The reader checked that the count is a whole number from 1 to the
    // span plus one.
    let n = p.count as i64;
    if n <= 1 {
        out.push(Sample::new(p.t, p.last));
        return true;
    }
    if n == 2 {
        // The two raw samples themselves.
        out.extend([Sample::new(e.first_t, e.first), Sample::new(p.t, p.last)]);
        return true;
    }
    let m = (n - 2) as usize;
    let Some(between) = intermediates(e.first, p.last, e.drops, m) else {
        out.push(Sample::new(p.t, p.last));
        return false;
    };
    out.push(Sample::new(e.first_t, e.first));
    out.extend(
        between
            .into_iter()
            .zip(1..)
            .map(|(v, i)| Sample::new(e.first_t + i, v)),
    );
    out.push(Sample::new(p.t, p.last));
    true
}

/// `m` values to put between `first` and `last` so that the drops of the
/// whole sequence sum to `drops` (within summation noise), if there are.
fn intermediates(first: f64, last: f64, drops: f64, m: usize) -> Option<Vec<f64>> {
    let nan = f64::NAN;
    let pad = |mut head: Vec<f64>| -> Option<Vec<f64>> {
        if head.len() > m {
            return None;
        }
        head.resize(m, nan);
        Some(head)
    };
    let candidates = [
        // No drop.
        pad(vec![]),
        // One drop, the value before it `drops`.
        pad(vec![nan, drops, f64::NEG_INFINITY]),
        pad(vec![drops, f64::NEG_INFINITY]),
        // The first value drops.
        pad(vec![f64::NEG_INFINITY]),
        // Drops before and after one value (windows of three).
        pad(vec![drops]),
        pad(vec![drops - first]),
    ];
    candidates.into_iter().flatten().find(|between| {
        let made = drops_of(
            std::iter::once(first)
                .chain(between.iter().copied())
                .chain(std::iter::once(last)),
        );
        close(made, drops)
    })
}

/// The sum of the value before each drop, as `extrapolatedRate` adds them.
fn drops_of(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = 0.0;
    let mut prev: Option<f64> = None;
    for v in values {
        if let Some(p) = prev {
            if v < p {
                sum += p;
            }
        }
        prev = Some(v);
    }
    sum
}

/// Equal, or within summation noise (a relative 1e-12).
fn close(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_block::downsample;
    use stratus_model::STALE_NAN;

    use crate::functions::range::extrapolated_rate;

    const STEP: i64 = 300_000;

    /// The windows of `raw` expanded, and each range of whole windows
    /// (every start and end on the window grid) answered from them and from
    /// the raw samples: rate, increase and delta agree.
    fn check(raw: &[Sample]) {
        let points = downsample(raw, STEP);
        let mut expanded = Vec::new();
        for p in &points {
            assert!(expand(p, &mut expanded), "{p:?}");
        }
        let visible: Vec<Sample> = raw
            .iter()
            .copied()
            .filter(|s| !stratus_model::is_stale_nan(s.v))
            .collect();
        assert_eq!(expanded.len(), visible.len());
        let end = raw.last().map_or(0, |s| s.t) + STEP;
        for lo in (0..end).step_by(STEP as usize) {
            for hi in ((lo + STEP)..=end).step_by(STEP as usize) {
                let within = |s: &[Sample]| -> Vec<Sample> {
                    s.iter()
                        .copied()
                        .filter(|x| x.t > lo && x.t <= hi)
                        .collect()
                };
                let (a, b) = (within(&visible), within(&expanded));
                for (counter, is_rate) in [(true, true), (true, false), (false, false)] {
                    let want = extrapolated_rate(&a, lo, hi, counter, is_rate);
                    let got = extrapolated_rate(&b, lo, hi, counter, is_rate);
                    let same = match (want, got) {
                        (Some(w), Some(g)) => {
                            (w.is_nan() && g.is_nan())
                                || w == g
                                || (w - g).abs() <= 1e-9 * w.abs().max(1.0)
                        }
                        (None, None) => true,
                        _ => false,
                    };
                    assert!(same, "({lo}, {hi}] counter={counter}: {want:?} vs {got:?}");
                }
            }
        }
    }

    fn series(values: &[f64], every: i64, offset: i64) -> Vec<Sample> {
        values
            .iter()
            .zip(1..)
            .map(|(&v, i)| Sample::new(i * every - offset, v))
            .collect()
    }

    #[test]
    fn counters_with_resets_inside_and_between_windows() {
        // 60 s scrapes, 5 per window: resets inside a window (10 -> 2),
        // at a window's first sample, two in one window.
        let v = [
            1.0, 4.0, 10.0, 2.0, 3.0, 5.0, 6.0, 1.0, 2.0, 9.0, 4.0, 8.0, 1.0, 0.5, 7.0, 7.0,
        ];
        check(&series(&v, 60_000, 7_000));
        // Windows of two, three and four samples.
        check(&series(&v, 150_000, 1));
        check(&series(&v, 100_000, 3));
        check(&series(&v, 75_000, 3));
    }

    #[test]
    fn gauges_nans_and_staleness_markers() {
        let v = [
            5.0,
            -3.0,
            f64::NAN,
            2.0,
            1.0,
            STALE_NAN,
            -7.5,
            100.0,
            f64::INFINITY,
            3.0,
            -1.0,
            f64::NAN,
            -2.0,
        ];
        check(&series(&v, 60_000, 2_000));
        check(&series(&v, 100_000, 3));
    }

    #[test]
    fn means_of_whole_windows_weigh_each_sample_once() {
        use crate::functions::range::avg_over_time;
        // Windows of 5, 2, 1 and 4 samples (a gap, a short last window).
        let raw = [
            (10_000, 1.0),
            (70_000, 2.0),
            (130_000, 4.0),
            (190_000, 8.0),
            (250_000, 16.0),
            (310_000, 0.5),
            (590_000, 3.25),
            (1_000_000, -7.0),
            (1_201_000, 100.0),
            (1_202_000, 1e9),
            (1_203_000, 2.0),
            (1_500_000, 1.0),
        ];
        let raw: Vec<Sample> = raw.iter().map(|&(t, v)| Sample::new(t, v)).collect();
        let points = downsample(&raw, STEP);
        let mut expanded = Vec::new();
        for p in &points {
            assert!(expand_mean(p, &mut expanded), "{p:?}");
        }
        assert_eq!(expanded.len(), raw.len());
        for lo in (0..1_500_000).step_by(STEP as usize) {
            for hi in ((lo + STEP)..=1_500_000).step_by(STEP as usize) {
                let within = |s: &[Sample]| -> Vec<Sample> {
                    s.iter()
                        .copied()
                        .filter(|x| x.t > lo && x.t <= hi)
                        .collect()
                };
                let (want, got) = (
                    avg_over_time(&within(&raw)),
                    avg_over_time(&within(&expanded)),
                );
                let same = match (want, got) {
                    (Some(w), Some(g)) => (w - g).abs() <= 1e-12 * w.abs().max(1.0),
                    (None, None) => true,
                    _ => false,
                };
                assert!(same, "({lo}, {hi}]: {want:?} vs {got:?}");
            }
        }
        // A window whose sum overflowed is not expanded.
        let big = [Sample::new(1, f64::MAX), Sample::new(2, f64::MAX)];
        let mut out = Vec::new();
        assert!(!expand_mean(&downsample(&big, STEP)[0], &mut out));
    }

    #[test]
    fn windows_without_edges_are_not_expanded() {
        let mut p = downsample(&series(&[1.0, 2.0, 3.0], 60_000, 0), STEP)[0];
        p.edges = None;
        let mut out = Vec::new();
        assert!(!expand(&p, &mut out));
        assert_eq!(out, vec![Sample::new(p.t, 3.0)]);
    }
}
