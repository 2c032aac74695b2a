//! The `*_over_time` family.

use stratus_model::Sample;

use crate::functions::aggregate::{self, kahan_inc, KahanSum, MeanAcc};

#[cfg(test)]
mod tests;

/// Mean of the window, computed like the `avg` aggregation: Kahan sum,
/// falling back to an incremental mean once the sum would overflow.
pub fn avg_over_time(samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut acc = MeanAcc::default();
    for s in samples {
        acc.add(s.v);
    }
    Some(acc.value())
}

/// Kahan-compensated sum, starting from zero.
pub fn sum_over_time(samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sum = KahanSum::default();
    for s in samples {
        sum.add(s.v);
    }
    Some(sum.value())
}

pub fn count_over_time(samples: &[Sample]) -> Option<f64> {
    (!samples.is_empty()).then_some(samples.len() as f64)
}

/// The last value. Unlike every other range function, Prometheus keeps the
/// metric name for `last_over_time`.
pub fn last_over_time(samples: &[Sample]) -> Option<f64> {
    samples.last().map(|s| s.v)
}

pub fn present_over_time(samples: &[Sample]) -> Option<f64> {
    (!samples.is_empty()).then_some(1.0)
}

/// Maximum; a NaN is replaced by any later value, a later NaN is ignored,
/// so only an all-NaN window gives NaN.
pub fn max_over_time(samples: &[Sample]) -> Option<f64> {
    let (first, rest) = samples.split_first()?;
    Some(
        rest.iter()
            .fold(first.v, |acc, s| aggregate::max_step(acc, s.v)),
    )
}

/// Minimum, with the NaN rules of [`max_over_time`].
pub fn min_over_time(samples: &[Sample]) -> Option<f64> {
    let (first, rest) = samples.split_first()?;
    Some(
        rest.iter()
            .fold(first.v, |acc, s| aggregate::min_step(acc, s.v)),
    )
}

/// φ-quantile of the window's values (see [`aggregate::quantile`]).
///
/// Prometheus warns when `q` is NaN or outside [0, 1] and the window has
/// samples: emit `Annotation::InvalidQuantile` whenever this returns
/// `Some`.
pub fn quantile_over_time(q: f64, samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut values: Vec<f64> = samples.iter().map(|s| s.v).collect();
    Some(aggregate::quantile(q, &mut values))
}

/// Population variance by Welford's algorithm with Kahan-compensated mean
/// and sum of squares, as Prometheus computes it for ranges.
pub fn stdvar_over_time(samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in samples {
        count += 1.0;
        let delta = s.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.v - (mean + c_mean)), aux, c_aux);
    }
    Some((aux + c_aux) / count)
}

pub fn stddev_over_time(samples: &[Sample]) -> Option<f64> {
    stdvar_over_time(samples).map(f64::sqrt)
}

/// Median absolute deviation from the median (experimental in Prometheus).
pub fn mad_over_time(samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut values: Vec<f64> = samples.iter().map(|s| s.v).collect();
    let median = aggregate::quantile(0.5, &mut values);
    let mut deviations: Vec<f64> = samples.iter().map(|s| (s.v - median).abs()).collect();
    Some(aggregate::quantile(0.5, &mut deviations))
}
