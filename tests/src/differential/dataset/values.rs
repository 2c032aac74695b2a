//! Value generators for the dataset: a seeded random source, counters,
//! random walks and classic histograms, one value per scrape slot.

use super::SLOTS;

/// SplitMix64: small, seeded, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [lo, hi].
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Counters and histograms do not reset in their first scrapes.
const FIRST_RESET_SLOT: usize = 8;

/// A counter starting at `start`, then growing by `inc` per scrape and
/// resetting now and then, never in the first [`FIRST_RESET_SLOT`] scrapes.
///
/// Counters start either at 0 (a fresh process) or far above one scrape's
/// increase (a long-running one). Only then do Prometheus 2.42 and 3.x
/// extrapolate the start of a series the same way (difference 9 in the
/// documentation of `differential`). Without early resets, a subquery with
/// a step up to 2 minutes also first sees the start value.
pub(super) fn counter(
    rng: &mut Rng,
    start: f64,
    reset_p: f64,
    mut inc: impl FnMut(&mut Rng) -> f64,
) -> Vec<f64> {
    let mut v = start;
    (0..SLOTS)
        .map(|slot| {
            if slot > 0 {
                if slot >= FIRST_RESET_SLOT && rng.chance(reset_p) {
                    v = inc(rng).floor();
                } else {
                    v += inc(rng);
                }
            }
            v
        })
        .collect()
}

/// The start of a long-running counter.
pub(super) fn long_running(rng: &mut Rng) -> f64 {
    rng.range(1e4, 1e6).floor()
}

/// A random walk starting in [lo, hi) with steps in [-step, step).
pub(super) fn walk(rng: &mut Rng, lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let mut v = rng.range(lo, hi);
    (0..SLOTS)
        .map(|_| {
            v += rng.range(-step, step);
            v
        })
        .collect()
}

/// Cumulative histogram series: bucket counts (one vector per bucket), sum
/// and count, for observations with exponentially distributed durations.
pub(super) struct HistogramData {
    pub buckets: Vec<Vec<f64>>,
    pub sum: Vec<f64>,
    pub count: Vec<f64>,
}

/// A histogram of observations with exponentially distributed durations
/// around `mean`: fresh (all zero in the first scrape) or long-running
/// (`history` observations before the first scrape).
pub(super) fn histogram(
    rng: &mut Rng,
    buckets: &[(&str, f64)],
    mean: f64,
    history: usize,
) -> HistogramData {
    let bounds: Vec<f64> = buckets.iter().map(|b| b.1).collect();
    let bounds = &bounds[..];
    let mut counts = vec![0.0; bounds.len()];
    let (mut sum, mut count) = (0.0, 0.0);
    let observe = |rng: &mut Rng, counts: &mut Vec<f64>, sum: &mut f64, count: &mut f64| {
        let d = -mean * (1.0 - rng.unit()).ln();
        for (c, &b) in counts.iter_mut().zip(bounds) {
            if d <= b {
                *c += 1.0;
            }
        }
        *sum += d;
        *count += 1.0;
    };
    for _ in 0..history {
        observe(rng, &mut counts, &mut sum, &mut count);
    }
    let mut out = HistogramData {
        buckets: vec![Vec::with_capacity(SLOTS); bounds.len()],
        sum: Vec::with_capacity(SLOTS),
        count: Vec::with_capacity(SLOTS),
    };
    for slot in 0..SLOTS {
        if slot > 0 {
            if slot >= FIRST_RESET_SLOT && rng.chance(0.01) {
                counts.iter_mut().for_each(|c| *c = 0.0);
                sum = 0.0;
                count = 0.0;
            }
            for _ in 0..rng.int(0, 30) {
                observe(rng, &mut counts, &mut sum, &mut count);
            }
        }
        for (series, &c) in out.buckets.iter_mut().zip(&counts) {
            series.push(c);
        }
        out.sum.push(sum);
        out.count.push(count);
    }
    out
}
