//! Core data types shared by every Stratus component: labels, samples,
//! tenant ids, time ranges and metric metadata. No IO lives here.

mod labels;
mod metadata;
mod sample;
mod tenant;

pub use labels::{Label, Labels, LabelsError, NameValidation, METRIC_NAME};
pub use metadata::{MetricMetadata, MetricType};
pub use sample::{is_stale_nan, Sample, TimeRange, STALE_NAN, STALE_NAN_BITS};
pub use tenant::{TenantError, TenantId, ANONYMOUS_TENANT};
