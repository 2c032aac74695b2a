//! Functions over one series' float samples in a range window.
//!
//! Every function takes the samples Prometheus 3 hands a range function:
//! the float samples with `range_start < t <= range_end` (left-open),
//! sorted by time, staleness markers removed. Prometheus does not call a
//! range function at all for an empty window; here an empty slice yields
//! `None` ("no output point for this step"), except for [`resets`] and
//! [`changes`], which return plain counts (0).
//!
//! All range functions drop the metric name except `last_over_time`.
//!
//! Sources: `promql/functions.go` and `promql/quantile.go` of Prometheus
//! v3.0 (float paths), checked against the main branch.

mod over_time;
mod rate;
mod regression;
#[cfg(test)]
mod tests;

#[cfg(test)]
use stratus_model::Sample;

pub use over_time::{
    avg_over_time, count_over_time, last_over_time, mad_over_time, max_over_time, min_over_time,
    present_over_time, quantile_over_time, stddev_over_time, stdvar_over_time, sum_over_time,
};
pub use rate::{changes, extrapolated_rate, instant_value, resets};
#[cfg(test)]
pub use rate::{idelta, irate};
pub use regression::{deriv, double_exponential_smoothing, predict_linear};

/// A range function that needs nothing but the window's samples.
#[cfg(test)]
pub type SamplesFn = fn(&[Sample]) -> Option<f64>;

/// Looks up the range functions whose only argument is the range vector:
/// `avg_over_time`, `changes`, `count_over_time`, `deriv`, `idelta`,
/// `irate`, `last_over_time`, `mad_over_time`, `max_over_time`,
/// `min_over_time`, `present_over_time`, `resets`, `stddev_over_time`,
/// `stdvar_over_time`, `sum_over_time`.
///
/// Not covered, because they need more than the samples: `rate`,
/// `increase`, `delta` ([`extrapolated_rate`]), `predict_linear`,
/// `quantile_over_time`, `double_exponential_smoothing`, and
/// `absent_over_time` (a matter of series, not values).
#[cfg(test)]
pub fn samples_function(name: &str) -> Option<SamplesFn> {
    let f: SamplesFn = match name {
        "avg_over_time" => avg_over_time,
        "changes" => |s| (!s.is_empty()).then(|| changes(s)),
        "count_over_time" => count_over_time,
        "deriv" => deriv,
        "idelta" => idelta,
        "irate" => irate,
        "last_over_time" => last_over_time,
        "mad_over_time" => mad_over_time,
        "max_over_time" => max_over_time,
        "min_over_time" => min_over_time,
        "present_over_time" => present_over_time,
        "resets" => |s| (!s.is_empty()).then(|| resets(s)),
        "stddev_over_time" => stddev_over_time,
        "stdvar_over_time" => stdvar_over_time,
        "sum_over_time" => sum_over_time,
        _ => return None,
    };
    Some(f)
}
