//! PromQL functions as pure functions over samples, label sets and floats,
//! with Prometheus 3's semantics for float samples.
//!
//! The evaluator owns series selection, steps and output labels; these
//! modules only compute values:
//!
//! - [`range`]: functions over one series' samples in a range window
//!   (`rate`, `deriv`, `*_over_time`, ...).
//! - [`instant`]: element-wise float math (`abs`, `round`, `clamp`, trig).
//! - [`time`]: date functions on Unix seconds (`year`, `day_of_week`, ...).
//! - [`histogram`]: classic-histogram `histogram_quantile`.
//! - [`aggregate`]: accumulators the aggregation operators share (Kahan
//!   sum, mean, variance, quantile).
//! - [`labels`]: `label_replace` and `label_join`.
//! - [`annotations`]: the warnings and infos Prometheus attaches to results.

pub mod aggregate;
pub mod annotations;
pub mod histogram;
pub mod instant;
pub mod labels;
pub mod range;
pub mod time;

pub use aggregate::{kahan_inc, quantile, KahanSum, MeanAcc, VarianceAcc};
pub use annotations::Annotation;
pub use histogram::{bucket_quantile, parse_bucket_bound, Bucket, BucketQuantile};
pub use instant::{clamp, clamp_max, clamp_min, round, simple_math};
pub use labels::{label_join, label_replace, GoRegex, LabelJoin, LabelReplace};
pub use range::{
    avg_over_time, changes, count_over_time, deriv, double_exponential_smoothing,
    extrapolated_rate, idelta, instant_value, irate, last_over_time, mad_over_time, max_over_time,
    min_over_time, predict_linear, present_over_time, quantile_over_time, resets, stddev_over_time,
    stdvar_over_time, sum_over_time,
};
pub use time::date_function;

/// Errors that make Prometheus fail the whole query. The messages are
/// Prometheus's own, so clients see the same text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunctionError {
    /// The regex argument of `label_replace` does not compile; carries the
    /// regex as the user wrote it.
    #[error("invalid regular expression in label_replace(): {0}")]
    InvalidRegex(String),
    #[error("invalid destination label name in label_replace(): {0}")]
    InvalidReplaceDestination(String),
    #[error("invalid source label name in label_join(): {0}")]
    InvalidJoinSource(String),
    #[error("invalid destination label name in label_join(): {0}")]
    InvalidJoinDestination(String),
    /// `double_exponential_smoothing` with a smoothing factor outside (0, 1).
    #[error(
        "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
        stratus_model::strutil::format_f(*.0, 6)
    )]
    InvalidSmoothingFactor(f64),
    /// `double_exponential_smoothing` with a trend factor outside (0, 1).
    #[error("invalid trend factor. Expected: 0 < tf < 1, got: {}", stratus_model::strutil::format_f(*.0, 6))]
    InvalidTrendFactor(f64),
    /// Two output series of `label_replace`/`label_join` (or any function
    /// that drops `__name__`) ended up with the same label set.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
}

impl FunctionError {
    /// These errors come from the query itself; running it again cannot
    /// help.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_match_prometheus() {
        assert_eq!(
            FunctionError::InvalidRegex("(.*".into()).to_string(),
            "invalid regular expression in label_replace(): (.*"
        );
        assert_eq!(
            FunctionError::InvalidSmoothingFactor(1.0).to_string(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        assert_eq!(
            FunctionError::InvalidTrendFactor(f64::INFINITY).to_string(),
            "invalid trend factor. Expected: 0 < tf < 1, got: +Inf"
        );
        assert_eq!(
            FunctionError::InvalidTrendFactor(-0.25).to_string(),
            "invalid trend factor. Expected: 0 < tf < 1, got: -0.250000"
        );
        assert!(!FunctionError::DuplicateLabelset.is_retryable());
    }
}
