//! Validation of incoming series and samples. Everything rejected is given a
//! reason (the `reason` label of `stratus_ingest_samples_rejected_total`) and
//! a message that says what was expected and what came.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratus_model::{Labels, NameValidation, Sample, METRIC_NAME};

/// Limits applied to every write. Defaults follow Mimir's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Samples older than now minus this are rejected. The default, 4 h,
    /// takes whatever a Prometheus back from an outage can still resend:
    /// its WAL holds at most about 3 h of samples (the head spans up to
    /// 1.5 times the 2 h block range before it is compacted and the WAL
    /// cut), plus an hour for the resend queue's lag and clock skew.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub max_sample_age: Duration,
    /// Samples newer than now plus this are rejected.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub max_future: Duration,
    pub name_validation: NameValidation,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_sample_age: Duration::from_secs(4 * 3600),
            max_future: Duration::from_secs(600),
            name_validation: NameValidation::Legacy,
        }
    }
}

/// Why a series or sample was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    MissingMetricName,
    MetricNameInvalid,
    LabelNameInvalid,
    DuplicateLabelNames,
    MaxLabelNamesPerSeries,
    LabelNameTooLong,
    LabelValueTooLong,
    InvalidUtf8,
    SampleTooOld,
    SampleTooFarInFuture,
    InvalidTimestamp,
    InvalidValue,
    InvalidMetricType,
    NativeHistogramUnsupported,
    InvalidSymbolRef,
    /// A sample whose series and timestamp an earlier sample of the same
    /// request has: dropped, the first kept, as Prometheus does; the
    /// request does not fail for it.
    DuplicateTimestamp,
    StorageUnavailable,
    Overloaded,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingMetricName => "missing_metric_name",
            Reason::MetricNameInvalid => "metric_name_invalid",
            Reason::LabelNameInvalid => "label_name_invalid",
            Reason::DuplicateLabelNames => "duplicate_label_names",
            Reason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            Reason::LabelNameTooLong => "label_name_too_long",
            Reason::LabelValueTooLong => "label_value_too_long",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::SampleTooOld => "sample_too_old",
            Reason::SampleTooFarInFuture => "sample_too_far_in_future",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::InvalidValue => "invalid_value",
            Reason::InvalidMetricType => "invalid_metric_type",
            Reason::NativeHistogramUnsupported => "native_histogram_unsupported",
            Reason::InvalidSymbolRef => "invalid_symbol_ref",
            Reason::DuplicateTimestamp => "duplicate_timestamp",
            Reason::StorageUnavailable => "storage_unavailable",
            Reason::Overloaded => "overloaded",
        }
    }

    pub const ALL: [Reason; 18] = [
        Reason::MissingMetricName,
        Reason::MetricNameInvalid,
        Reason::LabelNameInvalid,
        Reason::DuplicateLabelNames,
        Reason::MaxLabelNamesPerSeries,
        Reason::LabelNameTooLong,
        Reason::LabelValueTooLong,
        Reason::InvalidUtf8,
        Reason::SampleTooOld,
        Reason::SampleTooFarInFuture,
        Reason::InvalidTimestamp,
        Reason::InvalidValue,
        Reason::InvalidMetricType,
        Reason::NativeHistogramUnsupported,
        Reason::InvalidSymbolRef,
        Reason::DuplicateTimestamp,
        Reason::StorageUnavailable,
        Reason::Overloaded,
    ];
}

/// A rejection: the reason and the message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Shows a series in messages without letting a huge one flood the client.
pub fn describe<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> String {
    const MAX: usize = 200;
    let mut name = String::new();
    let mut rest = String::new();
    for (n, v) in pairs {
        let (n, v) = (String::from_utf8_lossy(n), String::from_utf8_lossy(v));
        if n == METRIC_NAME {
            name = v.into_owned();
        } else {
            if !rest.is_empty() {
                rest.push_str(", ");
            }
            let _ = write!(rest, "{n}={v:?}");
        }
    }
    let mut s = format!("{name}{{{rest}}}");
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("…}");
    }
    s
}

impl Limits {
    /// The accepted timestamps around `now_ms`, inclusive.
    pub fn window(&self, now_ms: i64) -> (i64, i64) {
        (
            now_ms.saturating_sub(millis(self.max_sample_age)),
            now_ms.saturating_add(millis(self.max_future)),
        )
    }

    /// Checks a sample's timestamp against the accepted window around `now_ms`.
    pub fn sample(&self, s: Sample, now_ms: i64, labels: &Labels) -> Result<(), Rejection> {
        let (oldest, newest) = self.window(now_ms);
        if s.t < oldest {
            return Err(Rejection::new(
                Reason::SampleTooOld,
                format!(
                    "sample of series {labels} at {} is older than the accepted window of {} (oldest accepted: {})",
                    fmt_ms(s.t),
                    stratus_model::time::format_std_duration(self.max_sample_age),
                    fmt_ms(oldest)
                ),
            ));
        }
        if s.t > newest {
            return Err(Rejection::new(
                Reason::SampleTooFarInFuture,
                format!(
                    "sample of series {labels} at {} is more than {} in the future (newest accepted: {})",
                    fmt_ms(s.t),
                    stratus_model::time::format_std_duration(self.max_future),
                    fmt_ms(newest)
                ),
            ));
        }
        Ok(())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A timestamp as RFC 3339 with its raw milliseconds, e.g.
/// `2024-01-01T00:00:00Z (1704067200000)`; any `i64` prints.
pub fn fmt_ms(ms: i64) -> String {
    let when = stratus_model::time::format_rfc3339(ms, stratus_model::time::Fraction::None);
    format!("{when} ({ms})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_past_year_9999_are_refused_with_a_message() {
        let limits = Limits::default();
        let l = Labels::from_pairs([("__name__", "up")]).expect("labels");
        let now = 1_700_000_000_000;
        for t in [253_402_300_800_000, i64::MAX, i64::MIN] {
            let e = limits
                .sample(Sample::new(t, 1.0), now, &l)
                .expect_err("out of range");
            assert!(e.message.contains(&t.to_string()), "{}", e.message);
        }
        assert_eq!(
            fmt_ms(253_402_300_800_000),
            "10000-01-01T00:00:00Z (253402300800000)"
        );
    }

    #[test]
    fn sample_window() {
        let limits = Limits::default();
        let l = Labels::from_pairs([("__name__", "up")]).expect("labels");
        let now = 1_700_000_000_000;
        assert!(limits.sample(Sample::new(now, 1.0), now, &l).is_ok());
        // Four hours back: the backlog a Prometheus resends after an outage.
        assert!(limits
            .sample(Sample::new(now - 4 * 3_600_000, 1.0), now, &l)
            .is_ok());
        let old = limits
            .sample(Sample::new(now - 4 * 3_600_000 - 1, 1.0), now, &l)
            .expect_err("old");
        assert_eq!(old.reason, Reason::SampleTooOld);
        assert!(old.message.contains("2023-11-14T"), "{}", old.message);
        let future = limits
            .sample(Sample::new(now + 600_001, 1.0), now, &l)
            .expect_err("future");
        assert_eq!(future.reason, Reason::SampleTooFarInFuture);
    }

    #[test]
    fn describe_truncates_huge_series() {
        let long = "ü".repeat(500);
        let d = describe([
            (b"__name__".as_slice(), b"up".as_slice()),
            (b"a".as_slice(), long.as_bytes()),
        ]);
        assert!(d.len() < 220, "{}", d.len());
        assert!(d.starts_with("up{a="));
    }
}
