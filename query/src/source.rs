//! Where the evaluator's data comes from. [`SeriesSource`] hides whether
//! series come from memory (tests), from segments in the bucket, and later
//! from Parquet blocks: the evaluator sees merged series.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

use async_trait::async_trait;
pub use stratus_model::{in_range, merge_newer};
use stratus_model::{Labels, MetricMetadata, Sample, TenantId, TimeRange};

use crate::matcher::{matches_all, LabelMatcher};

/// One series with its samples: sorted by time, one per timestamp,
/// staleness markers kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading storage failed: {0}")]
    Storage(#[from] stratus_storage::StorageError),
    /// An object was read but cannot be decoded.
    #[error("stored data is unreadable: {message}")]
    Corrupt {
        /// The object, when one is to blame.
        key: Option<String>,
        message: String,
    },
    /// A bound of the querier refuses the read for now (503).
    #[error("{0}")]
    Unavailable(String),
}

impl SourceError {
    /// The object at `key` is unreadable: `message` says why.
    pub fn corrupt(key: impl std::fmt::Display, message: impl Into<String>) -> Self {
        SourceError::Corrupt {
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    /// Stored data is unreadable and no one object is to blame.
    pub fn corrupt_unkeyed(message: impl Into<String>) -> Self {
        SourceError::Corrupt {
            key: None,
            message: message.into(),
        }
    }
}

/// What the evaluator will do with a selector's data, so a source can serve
/// it from rollups with the right aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// The function whose range argument the selector is (`rate`,
    /// `max_over_time`, ...); `None` for a plain instant selector.
    pub func: Option<String>,
    /// Rollups of at most this step (ms) may be used even where raw data is
    /// still kept, where they give the raw answer (see `range_ms` and
    /// `grid`); 0 uses rollups only where raw data is gone.
    pub max_source_resolution_ms: i64,
    /// Rollups up to `max_source_resolution_ms` may serve the selector even
    /// where they only approximate the raw answer (the user asked for that
    /// resolution).
    pub approximate: bool,
    /// The selector's range (ms): `5m` of `rate(x[5m])`; for a plain
    /// selector, the lookback delta.
    pub range_ms: i64,
    /// When the evaluator reads the selector; `None` where this is not
    /// known in advance (inside subqueries): then no rollup gives the raw
    /// answer for sure.
    pub grid: Option<EvalGrid>,
}

/// Evaluation times `first_ms + k * step_ms` (ms), offsets applied; a
/// single time has step 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalGrid {
    pub first_ms: i64,
    pub step_ms: i64,
}

/// Series, and the rollup step they were read at (0: raw samples).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub series: Vec<Series>,
    pub resolution_ms: i64,
    /// Rollups served the selector where they only approximate the raw
    /// answer (raw data gone, or a resolution the user asked for).
    pub approximate: bool,
}

#[async_trait]
pub trait SeriesSource: Send + Sync {
    /// [`SeriesSource::select`] with hints; sources without rollups ignore
    /// them.
    async fn select_hinted(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
        _hints: &SelectHints,
    ) -> Result<Selection, SourceError> {
        Ok(Selection {
            series: self.select(tenant, matchers, range).await?,
            resolution_ms: 0,
            approximate: false,
        })
    }

    /// Every series that matches all `matchers` and has samples in `range`
    /// (inclusive), with those samples.
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Series>, SourceError>;

    /// The label sets of the series [`SeriesSource::select`] would return,
    /// sorted, for the series, labels and label-values APIs. Sources may
    /// answer from what they know without reading samples, and then list a
    /// series whose samples span `range` without one inside it.
    async fn series_labels(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Labels>, SourceError> {
        let found = self.select(tenant, matchers, range).await?;
        Ok(found.into_iter().map(|s| s.labels).collect())
    }

    /// The label names of the series [`SeriesSource::series_labels`]
    /// would list, sorted, for `/api/v1/labels`. Sources with an index may
    /// answer without `matchers` from it at block granularity (as
    /// Prometheus does): the names of every block overlapping `range`.
    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<String>, SourceError> {
        let series = self.series_labels(tenant, matchers, range).await?;
        Ok(names_or_values_of(&series, None))
    }

    /// The values of label `name` in the series
    /// [`SeriesSource::series_labels`] would list, sorted, for
    /// `/api/v1/label/<name>/values`; granularity as for
    /// [`SeriesSource::label_names`].
    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<String>, SourceError> {
        let series = self.series_labels(tenant, matchers, range).await?;
        Ok(names_or_values_of(&series, Some(name)))
    }

    /// Metric metadata of a tenant, newest first per family.
    async fn metadata(&self, _tenant: &TenantId) -> Result<Vec<MetricMetadata>, SourceError> {
        Ok(Vec::new())
    }

    /// A number that changes whenever data already stored may answer
    /// differently (delete requests), so cached results keyed by it are
    /// never served stale. Appending new samples does not change it.
    async fn cache_generation(&self, _tenant: &TenantId) -> Result<u64, SourceError> {
        Ok(0)
    }

    /// The data objects of a tenant the source reads now, each with when
    /// it was written and the earliest sample it may hold: the results
    /// cache drops a cached split that one written after it may change
    /// (late samples). Empty: the source never adds samples to the past.
    async fn data_writes(&self, _tenant: &TenantId) -> Result<Vec<DataWrite>, SourceError> {
        Ok(Vec::new())
    }
}

/// One data object as [`SeriesSource::data_writes`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataWrite {
    /// Tells it from the others (a hash of its key).
    pub id: u64,
    /// When it was written (Unix ms, its ULID's time).
    pub written_ms: i64,
    /// No sample in it is older than this (Unix ms).
    pub min_time_ms: i64,
}

/// The distinct label names of `series` (`name` `None`) or the values of
/// label `name`, sorted.
pub(crate) fn names_or_values_of(series: &[Labels], name: Option<&str>) -> Vec<String> {
    match name {
        None => names_of(series),
        Some(name) => values_of(series, name),
    }
}

/// The distinct label names of `series`, sorted.
fn names_of(series: &[Labels]) -> Vec<String> {
    let names: BTreeSet<&str> = series
        .iter()
        .flat_map(|l| l.iter().map(|x| x.name.as_str()))
        .collect();
    names.into_iter().map(String::from).collect()
}

/// The distinct values of label `name` in `series`, sorted.
fn values_of(series: &[Labels], name: &str) -> Vec<String> {
    let values: BTreeSet<&str> = series.iter().filter_map(|l| l.get(name)).collect();
    values.into_iter().map(String::from).collect()
}

/// Series in memory, for tests and the conformance runner.
#[derive(Debug, Default)]
pub struct MemorySource {
    tenants: RwLock<BTreeMap<TenantId, BTreeMap<Labels, Vec<Sample>>>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples; later additions win on equal timestamps.
    pub fn add(&self, tenant: &TenantId, labels: Labels, samples: &[Sample]) {
        let mut sorted = samples.to_vec();
        sorted.sort_by_key(|s| s.t);
        let mut t = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let series = t
            .entry(tenant.clone())
            .or_default()
            .entry(labels)
            .or_default();
        merge_newer(series, &sorted);
    }

    pub fn clear(&self) {
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[async_trait]
impl SeriesSource for MemorySource {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Series>, SourceError> {
        let t = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        let Some(series) = t.get(tenant) else {
            return Ok(Vec::new());
        };
        Ok(series
            .iter()
            .filter(|(labels, _)| matches_all(matchers, labels))
            .filter_map(|(labels, samples)| {
                let s = in_range(samples, range);
                (!s.is_empty()).then(|| Series {
                    labels: labels.clone(),
                    samples: s.to_vec(),
                })
            })
            .collect())
    }
}
