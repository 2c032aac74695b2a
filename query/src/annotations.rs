//! Warnings and infos of one query, as Prometheus returns them: each kind
//! an [`Annotation`] with the values its text needs, collected per query in
//! [`Annotations`].
//!
//! Texts are those of Prometheus v3.0 (`util/annotations/annotations.go`).
//! Prometheus adds ` (line:col)` of the offending expression when it renders
//! an annotation for the API; that position is the evaluator's to append.
//! Prometheus deduplicates annotations by their full text.

use stratus_model::strutil::{format_g, quote};

/// One annotation with the values its message needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    // Warnings.
    /// `quantile`, `quantile_over_time`, `histogram_quantile` with a
    /// quantile outside [0, 1] or NaN.
    InvalidQuantile {
        q: f64,
    },
    /// `limit_ratio` with a ratio outside [-1, 1]; `capped_to` is the value
    /// used instead.
    InvalidRatio {
        ratio: f64,
        capped_to: f64,
    },
    /// A classic-histogram bucket series whose `le` label is missing or does
    /// not parse as a float.
    BadBucketLabel {
        /// `None` where Prometheus 3 leaves the name out (its default:
        /// the name is gone before `histogram_quantile` sees the buckets).
        metric_name: Option<String>,
        label: String,
    },
    /// A range (or vector) mixing floats and native histograms where a
    /// function cannot handle the mix (`rate`, `sum_over_time`, ...).
    MixedFloatsHistograms {
        metric_name: String,
    },
    /// An aggregation (`sum`, `avg`) over a mix of floats and histograms.
    MixedFloatsHistogramsAggregation,
    /// `histogram_quantile` found classic buckets and a native histogram
    /// for the same series.
    MixedClassicNativeHistograms {
        metric_name: String,
    },
    NativeHistogramNotCounter {
        metric_name: String,
    },
    NativeHistogramNotGauge {
        metric_name: String,
    },
    MixedExponentialCustomHistograms {
        metric_name: String,
    },
    IncompatibleCustomBucketsHistograms {
        metric_name: String,
    },
    IncompatibleBucketLayoutInBinOp {
        operator: String,
    },
    /// Stratus's own: a function (empty: a plain selector) was served by
    /// rollups of `step_ms` that only approximate its raw answer, because
    /// raw samples are gone (retention) or `max_source_resolution` asked
    /// for them.
    RollupApproximation {
        function: String,
        step_ms: i64,
    },
    // Infos.
    /// `rate`/`increase` over a float series whose name does not look like
    /// a counter; see [`possible_non_counter`].
    PossibleNonCounter {
        metric_name: String,
    },
    /// `histogram_quantile` had to force the classic buckets monotonic.
    HistogramQuantileForcedMonotonicity {
        /// As for [`Annotation::BadBucketLabel`].
        metric_name: Option<String>,
    },
    /// A binary operator met sample types it cannot combine (`histogram`,
    /// `float`); the element is dropped.
    IncompatibleTypesInBinOp {
        lhs_type: String,
        operator: String,
        rhs_type: String,
    },
    /// An aggregation that only handles floats (`min`, `max`, `stddev`,
    /// `stdvar`, `quantile`, `topk`, `bottomk`) skipped a histogram;
    /// `aggregation` is the operator's name.
    HistogramIgnoredInAggregation {
        aggregation: String,
    },
    /// A range function that only handles floats (`*_over_time` except
    /// sum/avg/count/last/present, `deriv`, `predict_linear`,
    /// `double_exponential_smoothing`, `mad_over_time`) skipped the
    /// histograms of a mixed range.
    HistogramIgnoredInMixedRange {
        metric_name: String,
    },
}

const WARNING: &str = "PromQL warning";
const INFO: &str = "PromQL info";

impl Annotation {
    /// Warnings go to the response's `warnings`, infos to `infos`.
    pub fn is_warning(&self) -> bool {
        !matches!(
            self,
            Annotation::PossibleNonCounter { .. }
                | Annotation::HistogramQuantileForcedMonotonicity { .. }
                | Annotation::IncompatibleTypesInBinOp { .. }
                | Annotation::HistogramIgnoredInAggregation { .. }
                | Annotation::HistogramIgnoredInMixedRange { .. }
        )
    }

    /// Prometheus's text, without the trailing position.
    pub fn message(&self) -> String {
        let kind = if self.is_warning() { WARNING } else { INFO };
        let body = match self {
            Annotation::InvalidQuantile { q } => {
                format!("quantile value should be between 0 and 1, got {}", format_g(*q))
            }
            Annotation::InvalidRatio { ratio, capped_to } => format!(
                "ratio value should be between -1 and 1, got {}, capping to {}",
                format_g(*ratio),
                format_g(*capped_to)
            ),
            Annotation::BadBucketLabel { metric_name, label } => format!(
                "bucket label \"le\" is missing or has a malformed value of {}{}",
                quote(label),
                for_metric_name(metric_name.as_deref())
            ),
            Annotation::MixedFloatsHistograms { metric_name } => format!(
                "encountered a mix of histograms and floats for metric name {}",
                quote(metric_name)
            ),
            Annotation::MixedFloatsHistogramsAggregation => {
                "encountered a mix of histograms and floats for aggregation".to_owned()
            }
            Annotation::MixedClassicNativeHistograms { metric_name } => format!(
                "vector contains a mix of classic and native histograms for metric name {}",
                quote(metric_name)
            ),
            Annotation::NativeHistogramNotCounter { metric_name } => format!(
                "this native histogram metric is not a counter: {}",
                quote(metric_name)
            ),
            Annotation::NativeHistogramNotGauge { metric_name } => format!(
                "this native histogram metric is not a gauge: {}",
                quote(metric_name)
            ),
            Annotation::MixedExponentialCustomHistograms { metric_name } => format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                quote(metric_name)
            ),
            Annotation::IncompatibleCustomBucketsHistograms { metric_name } => format!(
                "vector contains histograms with incompatible custom buckets for metric name {}",
                quote(metric_name)
            ),
            Annotation::IncompatibleBucketLayoutInBinOp { operator } => format!(
                "incompatible bucket layout encountered for binary operator {operator}"
            ),
            Annotation::RollupApproximation { function, step_ms } => format!(
                "{} was computed from {} rollups (downsampled data), which only approximate it; raw samples are no longer kept for part of the range, or max_source_resolution asked for rollups",
                if function.is_empty() { "a selector" } else { function },
                stratus_model::time::format_std_duration(std::time::Duration::from_millis(
                    u64::try_from(*step_ms).unwrap_or(0)
                ))
            ),
            Annotation::PossibleNonCounter { metric_name } => format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                quote(metric_name)
            ),
            Annotation::HistogramQuantileForcedMonotonicity { metric_name } => format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile){}",
                for_metric_name(metric_name.as_deref())
            ),
            Annotation::IncompatibleTypesInBinOp {
                lhs_type,
                operator,
                rhs_type,
            } => format!(
                "incompatible sample types encountered for binary operator {}: {lhs_type} {operator} {rhs_type}",
                quote(operator)
            ),
            Annotation::HistogramIgnoredInAggregation { aggregation } => {
                format!("ignored histogram in {aggregation} aggregation")
            }
            Annotation::HistogramIgnoredInMixedRange { metric_name } => format!(
                "ignored histograms in a range containing both floats and histograms for metric name {}",
                quote(metric_name)
            ),
        };
        format!("{kind}: {body}")
    }
}

fn for_metric_name(name: Option<&str>) -> String {
    name.map_or_else(String::new, |n| format!(" for metric name {}", quote(n)))
}

impl std::fmt::Display for Annotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// The warnings and infos of one query, each text once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds `a` to the warnings or the infos, once.
    pub fn add(&mut self, a: Annotation) {
        if a.is_warning() {
            self.warn(a.message());
        } else {
            self.info(a.message());
        }
    }

    pub fn warn(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    pub fn info(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.infos.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_prometheus() {
        let name = || "foo".to_owned();
        let cases = [
            (
                Annotation::InvalidQuantile { q: f64::NAN },
                "PromQL warning: quantile value should be between 0 and 1, got NaN",
            ),
            (
                Annotation::InvalidQuantile { q: 1.01 },
                "PromQL warning: quantile value should be between 0 and 1, got 1.01",
            ),
            (
                Annotation::InvalidRatio { ratio: -1.1, capped_to: -1.0 },
                "PromQL warning: ratio value should be between -1 and 1, got -1.1, capping to -1",
            ),
            (
                Annotation::BadBucketLabel { metric_name: Some(name()), label: "x".into() },
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"x\" for metric name \"foo\"",
            ),
            (
                Annotation::MixedFloatsHistograms { metric_name: name() },
                "PromQL warning: encountered a mix of histograms and floats for metric name \"foo\"",
            ),
            (
                Annotation::MixedFloatsHistogramsAggregation,
                "PromQL warning: encountered a mix of histograms and floats for aggregation",
            ),
            (
                Annotation::MixedClassicNativeHistograms { metric_name: name() },
                "PromQL warning: vector contains a mix of classic and native histograms for metric name \"foo\"",
            ),
            (
                Annotation::NativeHistogramNotCounter { metric_name: name() },
                "PromQL warning: this native histogram metric is not a counter: \"foo\"",
            ),
            (
                Annotation::PossibleNonCounter { metric_name: name() },
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"foo\"",
            ),
            (
                Annotation::HistogramQuantileForcedMonotonicity { metric_name: Some(name()) },
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"foo\"",
            ),
            (
                Annotation::IncompatibleTypesInBinOp {
                    lhs_type: "histogram".into(),
                    operator: "+".into(),
                    rhs_type: "float".into(),
                },
                "PromQL info: incompatible sample types encountered for binary operator \"+\": histogram + float",
            ),
            (
                Annotation::HistogramIgnoredInAggregation { aggregation: "max".into() },
                "PromQL info: ignored histogram in max aggregation",
            ),
            (
                Annotation::HistogramIgnoredInMixedRange { metric_name: name() },
                "PromQL info: ignored histograms in a range containing both floats and histograms for metric name \"foo\"",
            ),
        ];
        let rollup = Annotation::RollupApproximation {
            function: "rate".into(),
            step_ms: 3_600_000,
        };
        assert!(rollup.is_warning());
        assert!(
            rollup
                .message()
                .starts_with("PromQL warning: rate was computed from 1h rollups"),
            "{rollup}"
        );
        let unnamed = Annotation::BadBucketLabel {
            metric_name: None,
            label: "x".into(),
        };
        assert_eq!(
            unnamed.message(),
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"x\""
        );
        let non_ascii = Annotation::PossibleNonCounter {
            metric_name: "m\u{e9}tric\n".into(),
        };
        assert!(
            non_ascii.message().ends_with(": \"m\u{e9}tric\\n\""),
            "{non_ascii}"
        );
        for (annotation, want) in cases {
            assert_eq!(annotation.message(), want);
            assert_eq!(annotation.is_warning(), want.starts_with("PromQL warning"));
        }
    }
}
