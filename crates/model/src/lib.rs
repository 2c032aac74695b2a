//! Core data types shared by every Stratus component: labels, samples,
//! tenant ids, time ranges and metric metadata. No IO lives here.

mod labels;
mod matcher;
mod metadata;
pub mod panics;
mod sample;
pub mod strutil;
mod tenant;
pub mod time;

pub use labels::{Label, Labels, LabelsError, NameValidation, METRIC_NAME};
pub use matcher::{compile_regex, matches_all, LabelMatcher, MatchKind};
pub use metadata::{MetricMetadata, MetricType};
pub use sample::{
    in_range, is_stale_nan, merge_newer, Sample, TimeRange, STALE_NAN, STALE_NAN_BITS,
};
pub use tenant::{TenantError, TenantId, ANONYMOUS_TENANT};

/// The time source, passed in so tests can set "now".
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
