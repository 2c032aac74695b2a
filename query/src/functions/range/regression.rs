//! `deriv`, `predict_linear` and `double_exponential_smoothing`.

use stratus_model::Sample;

use crate::functions::aggregate::kahan_inc;
use crate::functions::FunctionError;

/// Least-squares regression of value over time, with x in seconds relative
/// to `intercept_time_ms` and Kahan-compensated sums. Returns the slope
/// (per second) and the value at `intercept_time_ms`.
///
/// A constant series has slope 0 and intercept equal to its value, exactly
/// (no rounding noise), except a constant ±Inf series, which gives NaN for
/// both. `samples` must not be empty.
pub fn linear_regression(samples: &[Sample], intercept_time_ms: i64) -> (f64, f64) {
    let init_y = samples.first().map_or(f64::NAN, |s| s.v);
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Per-second slope of the least-squares line (x relative to the first
/// sample for precision). `None` with fewer than two samples.
pub fn deriv(samples: &[Sample]) -> Option<f64> {
    let [first, _, ..] = samples else {
        return None;
    };
    Some(linear_regression(samples, first.t).0)
}

/// Value of the least-squares line `duration_s` seconds after `eval_t_ms`.
///
/// `eval_t_ms` is the evaluation step's timestamp, not the `@` time nor the
/// offset-shifted window end: `predict_linear(x[5m] @ 3000, 3600)`
/// evaluated at 600s predicts for 600s + 3600s. `None` with fewer than two
/// samples.
pub fn predict_linear(samples: &[Sample], eval_t_ms: i64, duration_s: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(samples, eval_t_ms);
    Some(slope * duration_s + intercept)
}

/// Holt's double exponential smoothing (`double_exponential_smoothing`,
/// formerly `holt_winters`) with smoothing factor `sf` and trend factor
/// `tf`.
///
/// A factor outside (0, 1) fails the query, even for a window with fewer
/// than two samples; NaN factors pass the check (and yield NaN). `Ok(None)`
/// with fewer than two samples.
pub fn double_exponential_smoothing(
    samples: &[Sample],
    sf: f64,
    tf: f64,
) -> Result<Option<f64>, FunctionError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(FunctionError::InvalidSmoothingFactor(sf));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(FunctionError::InvalidTrendFactor(tf));
    }
    let [first, second, ..] = samples else {
        return Ok(None);
    };
    let mut s0 = 0.0;
    let mut s1 = first.v;
    let mut b = second.v - first.v;
    for (i, s) in samples.iter().enumerate().skip(1) {
        let x = sf * s.v;
        if i > 1 {
            // The trend after the first step blends the last smoothed
            // change with the previous trend.
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}
