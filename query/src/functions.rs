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

pub mod aggregate;
pub mod histogram;
pub mod instant;
pub mod labels;
pub mod range;
pub mod time;

/// Errors that make Prometheus fail the whole query. The messages are
/// Prometheus's own, so clients see the same text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
// Each is an invalid argument of some function; the names say which.
#[allow(clippy::enum_variant_names)]
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
    }
}
