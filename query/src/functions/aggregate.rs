//! Accumulators shared by the aggregation operators (`sum`, `avg`,
//! `stddev`, `stdvar`, `quantile`, `min`, `max`) and the `*_over_time`
//! functions, with the float behaviour of Prometheus v3.0's
//! `promql/engine.go` and `promql/quantile.go`.

use std::cmp::Ordering;

#[cfg(test)]
mod tests;

/// One step of Kahan-Babuška-Neumaier summation: adds `inc` to `sum` and
/// returns the new sum and compensation. When the sum overflows to ±Inf the
/// compensation is reset to 0, as Prometheus does.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A compensated running sum.
///
/// `sum_over_time` starts from zero ([`KahanSum::default`]), the `sum`
/// aggregation from the first sample ([`KahanSum::starting_at`]); both give
/// the same values (a lone `-0` comes out as `+0` either way).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    #[cfg(test)]
    pub fn starting_at(first: f64) -> Self {
        Self { sum: first, c: 0.0 }
    }

    pub fn add(&mut self, v: f64) {
        (self.sum, self.c) = kahan_inc(v, self.sum, self.c);
    }

    /// The sum plus its compensation (just the sum once it is infinite).
    pub fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

/// The mean of `avg` and `avg_over_time` for floats: a Kahan-compensated
/// direct sum while it stays finite, then (once it would overflow) an
/// incremental mean, again Kahan-compensated, that keeps an infinite mean
/// unless a NaN or an infinity of the other sign arrives.
///
/// Starts empty; the first [`MeanAcc::add`] sets the sum. `value()` of an
/// empty accumulator is NaN.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanAcc {
    sum: f64,
    c: f64,
    mean: f64,
    count: f64,
    incremental: bool,
}

impl MeanAcc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            (self.sum, self.c) = (v, 0.0);
            return;
        }
        if !self.incremental {
            let (sum, c) = kahan_inc(v, self.sum, self.c);
            if !sum.is_infinite() {
                (self.sum, self.c) = (sum, c);
                return;
            }
            // The sum would overflow: continue with the incremental mean.
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        if self.mean.is_infinite() {
            // Inf - Inf would turn the mean into NaN although it is right
            // already; a finite value cannot move an infinite mean either.
            let same_infinity = v.is_infinite() && (self.mean > 0.0) == (v > 0.0);
            if same_infinity || v.is_finite() {
                return;
            }
        }
        let current = self.mean + self.c;
        (self.mean, self.c) = kahan_inc(v / self.count - current / self.count, self.mean, self.c);
    }

    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            (self.sum + self.c) / self.count
        }
    }
}

/// Welford's online variance as the `stddev`/`stdvar` aggregations compute
/// it (no Kahan compensation there, unlike `stddev_over_time`). A group
/// whose first value is NaN or ±Inf is NaN.
///
/// Starts empty; `stdvar()` of an empty accumulator is NaN.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VarianceAcc {
    mean: f64,
    m2: f64,
    count: f64,
}

impl VarianceAcc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.mean = v;
            self.m2 = if v.is_finite() { 0.0 } else { f64::NAN };
            return;
        }
        let delta = v - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (v - self.mean);
    }

    pub fn stdvar(&self) -> f64 {
        self.m2 / self.count
    }

    pub fn stddev(&self) -> f64 {
        self.stdvar().sqrt()
    }
}

/// The `max` aggregation's step: a NaN maximum is replaced by anything.
pub fn max_step(current: f64, v: f64) -> f64 {
    if current < v || current.is_nan() {
        v
    } else {
        current
    }
}

/// The `min` aggregation's step: a NaN minimum is replaced by anything.
pub fn min_step(current: f64, v: f64) -> f64 {
    if current > v || current.is_nan() {
        v
    } else {
        current
    }
}

/// Prometheus's φ-quantile of `values` (sorted in place, NaN first):
/// linear interpolation between the closest ranks of `q * (n - 1)`.
/// NaN for no values or a NaN `q`, -Inf for `q < 0`, +Inf for `q > 1`.
///
/// The interpolation is literally `lower * (1 - w) + upper * w`, so an
/// infinite value at either index yields NaN when its weight is 0 (e.g.
/// `q = 1` over `[1, +Inf]`), as in Prometheus.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Ascending order with NaN below everything, as Prometheus's
/// `vectorByValueHeap` sorts.
pub(crate) fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}
