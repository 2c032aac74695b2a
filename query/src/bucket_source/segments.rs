//! Segments: the tenant's listing (cached for a short time, listed once
//! by queries that miss together) and the decoded segments, cached by key
//! (segments are immutable).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{stream, StreamExt, TryStreamExt};
use moka::sync::Cache;
use stratus_codec::{decode_segment, Segment, SegmentSeries};
use stratus_model::{Sample, TenantId, TimeRange, METRIC_NAME};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{ObjectPath, SegmentKey};

use super::caching_bucket::CachingBucket;
use crate::matcher::{matches_all, LabelMatcher, MatchKind};
use crate::source::{in_range, SourceError};

/// A decoded segment with its series indexed by metric name.
pub(super) struct IndexedSegment {
    pub(super) segment: Segment,
    by_name: HashMap<String, Vec<u32>>,
    /// The time in the segment's ULID.
    pub(super) ulid_ms: i64,
}

impl IndexedSegment {
    fn new(segment: Segment, ulid_ms: i64) -> Self {
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, s) in segment.series.iter().enumerate() {
            let name = s.labels.metric_name().unwrap_or("");
            by_name.entry(name.to_string()).or_default().push(i as u32);
        }
        Self {
            segment,
            by_name,
            ulid_ms,
        }
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

/// The series of `segments` that match `matchers`, with their samples in
/// `range`, leaving out segments the catalog's blocks already hold
/// (older than `watermark_ms`) and series without samples in the range.
pub(super) fn segment_series<'a>(
    segments: &'a [Arc<IndexedSegment>],
    watermark_ms: i64,
    matchers: &'a [LabelMatcher],
    range: TimeRange,
) -> impl Iterator<Item = (&'a SegmentSeries, &'a [Sample])> + 'a {
    segments
        .iter()
        .filter(move |indexed| {
            let seg = &indexed.segment;
            !seg.series.is_empty()
                && seg.max_time >= range.min
                && seg.min_time <= range.max
                && indexed.ulid_ms >= watermark_ms
        })
        .flat_map(move |indexed| indexed.candidates(matchers))
        .filter_map(move |s| {
            let samples = in_range(&s.samples, range);
            (!samples.is_empty() && matches_all(matchers, &s.labels)).then_some((s, samples))
        })
}

/// The tenants' segment listings and the decoded segments.
pub(super) struct Segments {
    listing_ttl: Duration,
    read_concurrency: usize,
    listings: Cache<TenantId, Arc<Vec<ObjectPath>>>,
    listing_locks: Cache<TenantId, Arc<tokio::sync::Mutex<()>>>,
    decoded: Cache<ObjectPath, Arc<IndexedSegment>>,
}

impl Segments {
    pub(super) fn new(listing_ttl: Duration, cache_bytes: u64, read_concurrency: usize) -> Self {
        Self {
            listing_ttl,
            read_concurrency: read_concurrency.max(1),
            listings: Cache::builder()
                .time_to_live(listing_ttl)
                .max_capacity(10_000)
                .build(),
            listing_locks: Cache::builder()
                .time_to_idle(Duration::from_secs(600))
                .max_capacity(10_000)
                .build(),
            decoded: Cache::builder()
                .weigher(|_: &ObjectPath, s: &Arc<IndexedSegment>| weight(s))
                .max_capacity(cache_bytes)
                .build(),
        }
    }

    async fn listing(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
    ) -> Result<Arc<Vec<ObjectPath>>, SourceError> {
        let cached = !self.listing_ttl.is_zero();
        if let Some(l) = self.listings.get(tenant).filter(|_| cached) {
            return Ok(l);
        }
        // Queries (and splits of one query) that miss together list once.
        let lock = self
            .listing_locks
            .get_with(tenant.clone(), || Arc::new(tokio::sync::Mutex::new(())));
        let _listing = lock.lock().await;
        if let Some(l) = self.listings.get(tenant).filter(|_| cached) {
            return Ok(l);
        }
        let objects = store.bucket().list(&segments_prefix(tenant)).await?;
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

    async fn segment(
        &self,
        store: &CachingBucket,
        key: &ObjectPath,
    ) -> Result<Arc<IndexedSegment>, SourceError> {
        if let Some(s) = self.decoded.get(key) {
            return Ok(s);
        }
        let bytes = store.read(key, None).await?;
        let seg = decode_segment(&bytes)
            .map_err(|e| SourceError::corrupt(key, format!("segment {key}: {e}")))?;
        let ulid_ms = SegmentKey::parse(key).map_or(0, |k| k.id().timestamp_ms() as i64);
        let seg = Arc::new(IndexedSegment::new(seg, ulid_ms));
        self.decoded.insert(key.clone(), seg.clone());
        Ok(seg)
    }

    /// Every segment of a tenant, oldest first.
    pub(super) async fn all(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
    ) -> Result<Vec<Arc<IndexedSegment>>, SourceError> {
        let keys = self.listing(store, tenant).await?;
        let keys: Vec<ObjectPath> = keys.as_ref().clone();
        let reads = keys
            .into_iter()
            .map(|k| async move { self.segment(store, &k).await });
        stream::iter(reads)
            .buffered(self.read_concurrency)
            .try_collect()
            .await
    }
}
