//! Where the evaluator's data comes from. [`SeriesSource`] hides whether
//! series come from memory (tests), from segments in the bucket, and later
//! from Parquet blocks: the evaluator sees merged series.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
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
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait SeriesSource: Send + Sync {
    /// Every series that matches all `matchers` and has samples in `range`
    /// (inclusive), with those samples.
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Series>, SourceError>;

    /// Metric metadata of a tenant, newest first per family.
    async fn metadata(&self, _tenant: &TenantId) -> Result<Vec<MetricMetadata>, SourceError> {
        Ok(Vec::new())
    }
}

/// Appends `samples` of a newer source to `into`; on equal timestamps the
/// newer sample wins. Both inputs sorted; the result is sorted.
pub fn merge_newer(into: &mut Vec<Sample>, newer: &[Sample]) {
    if newer.is_empty() {
        return;
    }
    if into.last().is_none_or(|last| last.t < newer[0].t) {
        into.extend_from_slice(newer);
        return;
    }
    let old = std::mem::take(into);
    into.reserve(old.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < newer.len() {
        match old[i].t.cmp(&newer[j].t) {
            std::cmp::Ordering::Less => {
                into.push(old[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                into.push(newer[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                into.push(newer[j]);
                i += 1;
                j += 1;
            }
        }
    }
    into.extend_from_slice(&old[i..]);
    into.extend_from_slice(&newer[j..]);
}

/// Samples of `samples` (sorted) inside `range`, inclusive.
pub fn in_range(samples: &[Sample], range: TimeRange) -> &[Sample] {
    let lo = samples.partition_point(|s| s.t < range.min);
    let hi = samples.partition_point(|s| s.t <= range.max);
    &samples[lo..hi.max(lo)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample::new(t, v)
    }

    #[test]
    fn newer_samples_win_on_equal_timestamps() {
        let mut a = vec![s(1, 1.0), s(3, 1.0), s(5, 1.0)];
        merge_newer(&mut a, &[s(2, 2.0), s(3, 2.0), s(6, 2.0)]);
        assert_eq!(
            a,
            vec![s(1, 1.0), s(2, 2.0), s(3, 2.0), s(5, 1.0), s(6, 2.0)]
        );
        let mut b = vec![s(1, 1.0)];
        merge_newer(&mut b, &[s(2, 2.0)]);
        assert_eq!(b, vec![s(1, 1.0), s(2, 2.0)]);
    }

    #[test]
    fn range_is_inclusive() {
        let v = vec![s(1, 0.0), s(2, 0.0), s(3, 0.0), s(4, 0.0)];
        assert_eq!(in_range(&v, TimeRange::new(2, 3)).len(), 2);
        assert!(in_range(&v, TimeRange::new(5, 9)).is_empty());
    }
}
