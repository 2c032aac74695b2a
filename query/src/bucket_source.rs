//! Series from the segments in the bucket. Segments are immutable, so their
//! decoded form is cached by key; the listing of a tenant's segments is
//! cached for a short time, so data written since shows up after at most
//! that long.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{stream, StreamExt, TryStreamExt};
use moka::sync::Cache;
use stratus_codec::{decode_segment, Segment, SegmentSeries};
use stratus_model::{Labels, MetricMetadata, Sample, TenantId, TimeRange, METRIC_NAME};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{Bucket, ObjectPath, SegmentKey};

use crate::matcher::{matches_all, LabelMatcher, MatchKind};
use crate::source::{in_range, merge_newer, Series, SeriesSource, SourceError};

#[derive(Debug, Clone)]
pub struct BucketSourceOptions {
    /// How long a tenant's segment listing is reused; zero lists every time.
    pub listing_ttl: Duration,
    /// Memory for decoded segments, in bytes (estimated).
    pub segment_cache_bytes: u64,
    /// Segment reads in flight at once.
    pub read_concurrency: usize,
}

impl Default for BucketSourceOptions {
    fn default() -> Self {
        Self {
            listing_ttl: Duration::from_secs(1),
            segment_cache_bytes: 512 << 20,
            read_concurrency: 16,
        }
    }
}

pub struct BucketSource {
    bucket: Bucket,
    opts: BucketSourceOptions,
    listings: Cache<TenantId, Arc<Vec<ObjectPath>>>,
    segments: Cache<ObjectPath, Arc<IndexedSegment>>,
}

/// A decoded segment with its series indexed by metric name.
struct IndexedSegment {
    segment: Segment,
    by_name: HashMap<String, Vec<u32>>,
}

impl IndexedSegment {
    fn new(segment: Segment) -> Self {
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, s) in segment.series.iter().enumerate() {
            let name = s.labels.metric_name().unwrap_or("");
            by_name.entry(name.to_string()).or_default().push(i as u32);
        }
        Self { segment, by_name }
    }

    /// The series that can match: those of the metric name when a matcher
    /// fixes it, else all.
    fn candidates<'a>(
        &'a self,
        matchers: &[LabelMatcher],
    ) -> Box<dyn Iterator<Item = &'a SegmentSeries> + 'a> {
        let name = matchers.iter().find_map(|m| match m.kind {
            MatchKind::Equal if m.name == METRIC_NAME => Some(m.value.as_str()),
            _ => None,
        });
        match name {
            Some(n) => Box::new(
                self.by_name
                    .get(n)
                    .into_iter()
                    .flatten()
                    .map(|&i| &self.segment.series[i as usize]),
            ),
            None => Box::new(self.segment.series.iter()),
        }
    }
}

/// A rough size of a decoded segment, for the cache's budget.
fn weight(s: &IndexedSegment) -> u32 {
    let s = &s.segment;
    let labels: usize = s
        .series
        .iter()
        .map(|x| {
            x.labels
                .iter()
                .map(|l| l.name.len() + l.value.len() + 48)
                .sum::<usize>()
        })
        .sum();
    let bytes = labels + s.num_samples as usize * 16 + s.series.len() * 64;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl BucketSource {
    pub fn new(bucket: Bucket, opts: BucketSourceOptions) -> Self {
        let listings = Cache::builder()
            .time_to_live(opts.listing_ttl)
            .max_capacity(10_000)
            .build();
        let segments = Cache::builder()
            .weigher(|_: &ObjectPath, s: &Arc<IndexedSegment>| weight(s))
            .max_capacity(opts.segment_cache_bytes)
            .build();
        Self {
            bucket,
            opts,
            listings,
            segments,
        }
    }

    async fn listing(&self, tenant: &TenantId) -> Result<Arc<Vec<ObjectPath>>, SourceError> {
        let cached = !self.opts.listing_ttl.is_zero();
        if let Some(l) = self.listings.get(tenant).filter(|_| cached) {
            return Ok(l);
        }
        let objects = self.bucket.list(&segments_prefix(tenant)).await?;
        let keys: Vec<ObjectPath> = objects
            .into_iter()
            .filter(|o| SegmentKey::parse(&o.key).is_some())
            .map(|o| o.key)
            .collect();
        let keys = Arc::new(keys);
        if cached {
            self.listings.insert(tenant.clone(), keys.clone());
        }
        Ok(keys)
    }

    async fn segment(&self, key: &ObjectPath) -> Result<Arc<IndexedSegment>, SourceError> {
        if let Some(s) = self.segments.get(key) {
            return Ok(s);
        }
        let (bytes, _) = self.bucket.get(key).await?;
        let seg = decode_segment(&bytes)
            .map_err(|e| SourceError::Corrupt(format!("segment {key}: {e}")))?;
        let seg = Arc::new(IndexedSegment::new(seg));
        self.segments.insert(key.clone(), seg.clone());
        Ok(seg)
    }

    /// Every segment of a tenant, oldest first.
    async fn segments(&self, tenant: &TenantId) -> Result<Vec<Arc<IndexedSegment>>, SourceError> {
        let keys = self.listing(tenant).await?;
        let keys: Vec<ObjectPath> = keys.as_ref().clone();
        let reads = keys
            .into_iter()
            .map(|k| async move { self.segment(&k).await });
        stream::iter(reads)
            .buffered(self.opts.read_concurrency.max(1))
            .try_collect()
            .await
    }
}

#[async_trait]
impl SeriesSource for BucketSource {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Series>, SourceError> {
        let segments = self.segments(tenant).await?;
        let mut merged: HashMap<&Labels, Vec<Sample>> = HashMap::new();
        let mut order: Vec<&Labels> = Vec::new();
        for indexed in &segments {
            let seg = &indexed.segment;
            if seg.series.is_empty() || seg.max_time < range.min || seg.min_time > range.max {
                continue;
            }
            for s in indexed.candidates(matchers) {
                let samples = in_range(&s.samples, range);
                if samples.is_empty() || !matches_all(matchers, &s.labels) {
                    continue;
                }
                let into = merged.entry(&s.labels).or_insert_with(|| {
                    order.push(&s.labels);
                    Vec::new()
                });
                merge_newer(into, samples);
            }
        }
        let mut out: Vec<Series> = order
            .into_iter()
            .filter_map(|l| {
                merged.remove(l).map(|samples| Series {
                    labels: l.clone(),
                    samples,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    async fn metadata(&self, tenant: &TenantId) -> Result<Vec<MetricMetadata>, SourceError> {
        let segments = self.segments(tenant).await?;
        let mut by_family: HashMap<String, MetricMetadata> = HashMap::new();
        for seg in &segments {
            for md in &seg.segment.metadata {
                by_family.insert(md.metric_family.clone(), md.clone());
            }
        }
        let mut out: Vec<MetricMetadata> = by_family.into_values().collect();
        out.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        Ok(out)
    }
}
