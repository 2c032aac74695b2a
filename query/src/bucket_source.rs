//! Series from the bucket: the blocks the tenant's catalog points at, and
//! the segments at or above its watermark. Blocks are read by ranged GETs
//! (footer, then the planned column pages); segments are immutable, so
//! their decoded form is cached by key. The catalog and the segment
//! listing are cached for a short time, so data written since shows up
//! after at most that long. Later blocks win over earlier ones and
//! segments over blocks on equal series and timestamp; delete requests
//! (tombstones) are applied on read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{stream, StreamExt, TryStreamExt};
use moka::sync::Cache;
use stratus_block::{
    read_downsampled, read_raw, read_series_labels, AggrPoint, BlockError, BlockFooter, Fetched,
    ReadPlan, FOOTER_HINT,
};
use stratus_codec::{
    decode_segment, BlockEntry, Catalog, CompiledTombstone, Segment, SegmentSeries,
};
use stratus_model::{
    merge_newer, Labels, MetricMetadata, Sample, TenantId, TimeRange, METRIC_NAME,
};
use stratus_storage::catalog;
use stratus_storage::keys::segments_prefix;
use stratus_storage::{BlockKey, StorageError};
use stratus_storage::{Bucket, ObjectPath, SegmentKey};
use ulid::Ulid;

use crate::matcher::{matches_all, LabelMatcher, MatchKind};
use crate::source::{in_range, SelectHints, Selection, Series, SeriesSource, SourceError};

#[derive(Debug, Clone)]
pub struct BucketSourceOptions {
    /// How long a tenant's segment listing is reused; zero lists every time.
    pub listing_ttl: Duration,
    /// Memory for decoded segments, in bytes (estimated).
    pub segment_cache_bytes: u64,
    /// Segment reads in flight at once.
    pub read_concurrency: usize,
    /// Hybrid cache of immutable object bytes (segments, block ranges)
    /// shared with other readers; none: every read goes to the bucket.
    pub object_cache: Option<Arc<stratus_storage::RangeCache>>,
}

impl Default for BucketSourceOptions {
    fn default() -> Self {
        Self {
            listing_ttl: Duration::from_secs(1),
            segment_cache_bytes: 512 << 20,
            read_concurrency: 16,
            object_cache: None,
        }
    }
}

pub struct BucketSource {
    bucket: Bucket,
    opts: BucketSourceOptions,
    listings: Cache<TenantId, Arc<Vec<ObjectPath>>>,
    segments: Cache<ObjectPath, Arc<IndexedSegment>>,
    catalogs: Cache<TenantId, Arc<CatalogView>>,
    footers: Cache<ObjectPath, Arc<BlockFooter>>,
    /// Bounds the GETs in flight: blocks, their ranges and segments are
    /// all read concurrently.
    in_flight: Arc<tokio::sync::Semaphore>,
    listing_locks: Cache<TenantId, Arc<tokio::sync::Mutex<()>>>,
    /// Label sets of the series a block holds per matcher set and range
    /// (blocks never change): `/api/v1/series`, `/labels` and label values.
    label_sets: Cache<LabelSetKey, Arc<Vec<Labels>>>,
}

/// A block, the matchers (name, operator, value) and the range clipped to
/// the block, or `None` for a range covering the whole block.
type LabelSetKey = (
    String,
    Vec<(String, &'static str, String)>,
    Option<(i64, i64)>,
);

/// The series of `segments` that match `matchers`, with their samples in
/// `range`, leaving out segments the catalog's blocks already hold
/// (older than `watermark_ms`) and series without samples in the range.
fn segment_series<'a>(
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

/// Runs `read` on the cached catalog and, if a block it names is gone
/// (replaced and deleted while the catalog was old), once more on the
/// current catalog.
async fn with_current_catalog<T, F, Fut>(read: F) -> Result<T, SourceError>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, SourceError>>,
{
    match read(false).await {
        Err(SourceError::Storage(StorageError::NotFound { .. })) => read(true).await,
        other => other,
    }
}

/// A catalog as read, with its delete requests compiled on first use and
/// kept as long as the catalog is: regexes cost tens of microseconds each
/// to build, so 1 500 requests recompiled per select made a trivial query
/// 40 ms slower.
struct CatalogView {
    catalog: Catalog,
    compiled: std::sync::OnceLock<Vec<CompiledTombstone>>,
}

impl CatalogView {
    fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            compiled: std::sync::OnceLock::new(),
        }
    }

    fn compiled_tombstones(&self) -> &[CompiledTombstone] {
        self.compiled
            .get_or_init(|| self.catalog.compiled_tombstones())
    }
}

impl std::ops::Deref for CatalogView {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}

/// A decoded segment with its series indexed by metric name.
struct IndexedSegment {
    segment: Segment,
    by_name: HashMap<String, Vec<u32>>,
    /// The time in the segment's ULID.
    ulid_ms: i64,
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
        let catalogs = Cache::builder()
            .time_to_live(opts.listing_ttl)
            .max_capacity(10_000)
            .build();
        let footers = Cache::builder().max_capacity(20_000).build();
        let in_flight = Arc::new(tokio::sync::Semaphore::new(
            opts.read_concurrency.max(1) * 4,
        ));
        Self {
            bucket,
            opts,
            listings,
            segments,
            catalogs,
            footers,
            in_flight,
            listing_locks: Cache::builder()
                .time_to_idle(Duration::from_secs(600))
                .max_capacity(10_000)
                .build(),
            label_sets: Cache::builder()
                .weigher(|_: &LabelSetKey, v: &Arc<Vec<Labels>>| {
                    let bytes: usize = v
                        .iter()
                        .map(|l| {
                            l.iter()
                                .map(|x| x.name.len() + x.value.len() + 48)
                                .sum::<usize>()
                        })
                        .sum();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .max_capacity(LABEL_SET_CACHE_BYTES)
                .build(),
        }
    }

    async fn catalog(
        &self,
        tenant: &TenantId,
        fresh: bool,
    ) -> Result<Arc<CatalogView>, SourceError> {
        let cached = !self.opts.listing_ttl.is_zero() && !fresh;
        if let Some(c) = self.catalogs.get(tenant).filter(|_| cached) {
            return Ok(c);
        }
        let c = Arc::new(CatalogView::new(
            catalog::load(&self.bucket, tenant)
                .await
                .map_err(|e| match e {
                    catalog::CommitError::Storage(s) => SourceError::Storage(s),
                    other => SourceError::Corrupt(other.to_string()),
                })?
                .catalog,
        ));
        self.catalogs.insert(tenant.clone(), c.clone());
        Ok(c)
    }

    async fn fetch(
        &self,
        key: &ObjectPath,
        ranges: Vec<std::ops::Range<u64>>,
        into: &mut Fetched,
    ) -> Result<(), SourceError> {
        let reads = ranges.into_iter().map(|r| async move {
            let bytes = self.read(key, Some(r.clone())).await?;
            Ok::<_, SourceError>((r, bytes))
        });
        let got: Vec<_> = stream::iter(reads)
            .buffered(self.opts.read_concurrency.max(1))
            .try_collect()
            .await?;
        for (r, b) in got {
            into.insert(r, b)
                .map_err(|e| SourceError::Corrupt(format!("block {key}: {e}")))?;
        }
        Ok(())
    }

    /// Bytes `range` (or all) of an immutable object, through the object
    /// cache when there is one.
    async fn read(
        &self,
        key: &ObjectPath,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<bytes::Bytes, SourceError> {
        let get = async {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|e| StorageError::Config(format!("read limiter closed: {e}")))?;
            match &range {
                Some(r) => self.bucket.get_range(key, r.clone()).await,
                None => self.bucket.get(key).await.map(|(b, _)| b),
            }
        };
        Ok(match &self.opts.object_cache {
            Some(c) => {
                c.get_or_fetch(
                    stratus_storage::RangeCache::key(key.as_ref(), range.as_ref()),
                    get,
                )
                .await?
            }
            None => get.await?,
        })
    }

    async fn footer(&self, key: &ObjectPath, len: u64) -> Result<Arc<BlockFooter>, SourceError> {
        if let Some(f) = self.footers.get(key) {
            return Ok(f);
        }
        let mut want = FOOTER_HINT.min(len);
        loop {
            let tail = self.read(key, Some(len - want..len)).await?;
            match BlockFooter::parse(len, &tail) {
                Ok(f) => {
                    let f = Arc::new(f);
                    self.footers.insert(key.clone(), f.clone());
                    return Ok(f);
                }
                Err(BlockError::NeedMore { bytes, .. }) if bytes > want && bytes <= len => {
                    want = bytes
                }
                Err(e) => return Err(SourceError::Corrupt(format!("block {key}: {e}"))),
            }
        }
    }

    async fn listing(&self, tenant: &TenantId) -> Result<Arc<Vec<ObjectPath>>, SourceError> {
        let cached = !self.opts.listing_ttl.is_zero();
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
        let bytes = self.read(key, None).await?;
        let seg = decode_segment(&bytes)
            .map_err(|e| SourceError::Corrupt(format!("segment {key}: {e}")))?;
        let ulid_ms = SegmentKey::parse(key).map_or(0, |k| k.id().timestamp_ms() as i64);
        let seg = Arc::new(IndexedSegment::new(seg, ulid_ms));
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

    /// Fetches what `matchers` over `range` need from a block: the label
    /// pages first, then only the chunks of the rows that match.
    async fn fetch_block(
        &self,
        tenant: &TenantId,
        b: &BlockEntry,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Option<(Arc<BlockFooter>, ReadPlan, Fetched, ObjectPath)>, SourceError> {
        let id = Ulid::from_string(&b.id)
            .map_err(|e| SourceError::Corrupt(format!("block id {}: {e}", b.id)))?;
        let key = BlockKey::new(tenant.clone(), id).path();
        let footer = self.footer(&key, b.bytes).await?;
        let plan = footer.plan(matchers, range);
        if plan.is_empty() {
            return Ok(None);
        }
        let mut fetched = Fetched::new();
        // A small plan is fetched whole: one round trip instead of two
        // (label pages, then the chunks of the rows that match), for a few
        // more bytes.
        let first = if plan.total_bytes() <= ONE_ROUND_TRIP_BYTES {
            plan.coalesce(COALESCE_GAP)
        } else {
            coalesce(&plan.label_ranges, COALESCE_GAP)
        };
        self.fetch(&key, first, &mut fetched).await?;
        let refined = footer
            .refine(&plan, &fetched, matchers)
            .map_err(|e| SourceError::Corrupt(format!("block {key}: {e}")))?;
        let missing = fetched.missing(&refined.coalesce(COALESCE_GAP));
        self.fetch(&key, missing, &mut fetched).await?;
        Ok(Some((footer, refined, fetched, key)))
    }

    /// The series of one raw block that match, read with ranged GETs.
    async fn read_block(
        &self,
        tenant: &TenantId,
        b: &BlockEntry,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, SourceError> {
        let Some((footer, plan, fetched, key)) =
            self.fetch_block(tenant, b, matchers, range).await?
        else {
            return Ok(Vec::new());
        };
        read_raw(&footer, &plan, &fetched, matchers, range)
            .map_err(|e| SourceError::Corrupt(format!("block {key}: {e}")))
    }

    /// The series of one rollup block that match.
    async fn read_rollup(
        &self,
        tenant: &TenantId,
        b: &BlockEntry,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<(Labels, Vec<AggrPoint>)>, SourceError> {
        let Some((footer, plan, fetched, key)) =
            self.fetch_block(tenant, b, matchers, range).await?
        else {
            return Ok(Vec::new());
        };
        read_downsampled(&footer, &plan, &fetched, matchers, range)
            .map_err(|e| SourceError::Corrupt(format!("block {key}: {e}")))
    }

    /// The label sets of the series of one block (raw or rollup) that
    /// match and whose samples span a time in `range`: label and time
    /// pages only, no chunks.
    async fn block_labels(
        &self,
        tenant: &TenantId,
        b: &BlockEntry,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Arc<Vec<Labels>>, SourceError> {
        let clipped = (range.min > b.min_time || range.max < b.max_time - 1)
            .then(|| (range.min.max(b.min_time), range.max.min(b.max_time - 1)));
        let spelled = matchers
            .iter()
            .map(|m| (m.name.clone(), m.kind.operator(), m.value.clone()))
            .collect();
        let cache_key = (b.id.clone(), spelled, clipped);
        if let Some(hit) = self.label_sets.get(&cache_key) {
            return Ok(hit);
        }
        let id = Ulid::from_string(&b.id)
            .map_err(|e| SourceError::Corrupt(format!("block id {}: {e}", b.id)))?;
        let key = BlockKey::new(tenant.clone(), id).path();
        let footer = self.footer(&key, b.bytes).await?;
        let plan = footer.labels_plan(matchers, range);
        let found = if plan.is_empty() {
            Vec::new()
        } else {
            let mut fetched = Fetched::new();
            self.fetch(&key, plan.coalesce(COALESCE_GAP), &mut fetched)
                .await?;
            read_series_labels(&footer, &plan, &fetched, matchers, range)
                .map_err(|e| SourceError::Corrupt(format!("block {key}: {e}")))?
        };
        let found = Arc::new(found);
        self.label_sets.insert(cache_key, found.clone());
        Ok(found)
    }

    async fn series_labels_with(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
        fresh: bool,
    ) -> Result<Option<Vec<Labels>>, SourceError> {
        let blocks = async {
            let cat = self.catalog(tenant, fresh).await?;
            // Only samples show what a delete request leaves.
            if cat
                .tombstones
                .iter()
                .any(|t| t.min_time <= range.max && t.max_time >= range.min)
            {
                return Ok(None);
            }
            let (_, rollups, raw) = choose_blocks(&cat, range, &SelectHints::default());
            let reads: Vec<_> = rollups
                .iter()
                .chain(raw.iter())
                .map(|b| self.block_labels(tenant, b, matchers, range))
                .collect();
            let found = stream::iter(reads)
                .buffer_unordered(self.opts.read_concurrency.max(1))
                .try_collect::<Vec<_>>()
                .await?;
            Ok::<_, SourceError>(Some((cat, found)))
        };
        let (blocks, segments) = futures::try_join!(blocks, self.segments(tenant))?;
        let Some((cat, found)) = blocks else {
            return Ok(None);
        };
        let mut out: HashSet<Labels> = HashSet::new();
        for block in &found {
            out.extend(block.iter().cloned());
        }
        for (s, _) in segment_series(&segments, cat.segment_watermark_ms, matchers, range) {
            if !out.contains(&s.labels) {
                out.insert(s.labels.clone());
            }
        }
        let mut out: Vec<Labels> = out.into_iter().collect();
        out.sort();
        Ok(Some(out))
    }
}

/// Ranges closer than this are read with one GET.
const COALESCE_GAP: u64 = 64 * 1024;

/// Memory for the label sets of blocks (estimated).
pub const LABEL_SET_CACHE_BYTES: u64 = 64 << 20;

/// Plans up to this size are fetched in one round trip.
const ONE_ROUND_TRIP_BYTES: u64 = 512 * 1024;

/// True for the functions served by the reset-adjusted rollup counter.
fn counter_function(func: Option<&str>) -> bool {
    matches!(func, Some("rate" | "increase" | "irate"))
}

/// True for the functions whose rollup points hold a count of samples.
fn counts_windows(func: Option<&str>) -> bool {
    matches!(func, Some("count_over_time" | "present_over_time"))
}

/// Which rollup aggregate stands in for the raw samples, given what the
/// evaluator does with them.
fn aggregate_for(func: Option<&str>) -> fn(&AggrPoint) -> f64 {
    match func {
        Some("sum_over_time") => |p| p.sum,
        // The engine sums the per-window counts.
        Some("count_over_time" | "present_over_time") => |p| p.count,
        Some("min_over_time") => |p| p.min,
        Some("max_over_time") => |p| p.max,
        Some("avg_over_time") => |p| {
            if p.count > 0.0 {
                p.sum / p.count
            } else {
                f64::NAN
            }
        },
        // Plain selectors and the rest: the value at the window's end.
        _ => |p| p.last,
    }
}

impl BucketSource {
    async fn select_with(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
        hints: &SelectHints,
        fresh: bool,
    ) -> Result<Selection, SourceError> {
        // The segment listing and segments are read while the catalog and
        // then the blocks are.
        let blocks = async {
            let cat = self.catalog(tenant, fresh).await?;
            let (step, rollups, raw) = choose_blocks(&cat, range, hints);

            // Every block (and the segments) is read at once; the answers are
            // merged in the order below, so which copy wins does not depend on
            // which read finished first.
            let width = self.opts.read_concurrency.max(1);
            let rollup_reads: Vec<_> = rollups
                .iter()
                .map(|r| self.read_rollup(tenant, r, matchers, range))
                .collect();
            let rollup_reads = stream::iter(rollup_reads)
                .buffered(width)
                .try_collect::<Vec<_>>();
            let raw_reads: Vec<_> = raw
                .iter()
                .map(|b| self.read_block(tenant, b, matchers, range))
                .collect();
            let raw_reads = stream::iter(raw_reads)
                .buffered(width)
                .try_collect::<Vec<_>>();
            let (rollup_data, raw_data) = futures::try_join!(rollup_reads, raw_reads)?;
            Ok::<_, SourceError>((cat, step, rollup_data, raw_data))
        };
        let ((cat, step, rollup_data, raw_data), segments) =
            futures::try_join!(blocks, self.segments(tenant))?;

        let mut merged: HashMap<Labels, Vec<Sample>> = HashMap::new();
        // Rollups hold the oldest data; counters are chained across blocks.
        let value = aggregate_for(hints.func.as_deref());
        let counter = counter_function(hints.func.as_deref());
        let mut offsets: HashMap<Labels, f64> = HashMap::new();
        let mut rollup_points = 0;
        for block in rollup_data {
            for (labels, points) in block {
                // Windows are left-open: a point at the range's start is
                // never used.
                rollup_points += points.iter().filter(|p| p.t > range.min).count();
                let offset = offsets.get(&labels).copied().unwrap_or(0.0);
                let samples: Vec<Sample> = points
                    .iter()
                    .map(|p| {
                        Sample::new(
                            p.t,
                            if counter {
                                p.counter + offset
                            } else {
                                value(p)
                            },
                        )
                    })
                    .collect();
                if let Some(last) = points.last() {
                    offsets.insert(labels.clone(), offset + last.counter_offset());
                }
                merge_newer(merged.entry(labels).or_default(), &samples);
            }
        }
        // Where rollups answer part of the range, the engine treats every
        // point as a window; a raw sample is a window of one.
        let as_windows = rollup_points > 0 && counts_windows(hints.func.as_deref());
        let raw_points = |samples: &[Sample]| -> Vec<Sample> {
            if as_windows {
                samples.iter().map(|s| Sample::new(s.t, 1.0)).collect()
            } else {
                samples.to_vec()
            }
        };
        // Raw blocks oldest id first: later ids win. Each series's parts
        // are gathered first and joined once at their exact size: appending
        // block after block would grow every vector by doubling, up to
        // twice the memory of the samples.
        let mut parts: HashMap<Labels, Vec<Vec<Sample>>> = HashMap::new();
        for block in raw_data {
            for (labels, samples) in block {
                let samples = if as_windows {
                    raw_points(&samples)
                } else {
                    samples
                };
                parts.entry(labels).or_default().push(samples);
            }
        }
        for (labels, ps) in parts {
            match merged.entry(labels) {
                std::collections::hash_map::Entry::Vacant(e) if ps.len() == 1 => {
                    e.insert(ps.into_iter().next().unwrap_or_default());
                }
                e => {
                    let into = e.or_default();
                    into.reserve_exact(ps.iter().map(Vec::len).sum());
                    for p in ps {
                        merge_newer(into, &p);
                    }
                }
            }
        }
        for (s, samples) in segment_series(&segments, cat.segment_watermark_ms, matchers, range) {
            let into = merged.entry(s.labels.clone()).or_default();
            into.reserve_exact(samples.len());
            merge_newer(into, &raw_points(samples));
        }
        apply_tombstones(cat.compiled_tombstones(), range, &mut merged);
        let mut series: Vec<Series> = merged
            .into_iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(labels, samples)| Series { labels, samples })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Selection {
            series,
            resolution_ms: if rollup_points == 0 {
                0
            } else {
                step.unwrap_or(0)
            },
        })
    }
}

/// The blocks a read of `range` uses: the rollup step chosen (if any), the
/// rollup blocks (oldest first) and the raw blocks. Rollups at the
/// coarsest step `hints` allow, or the finest one where raw data is gone
/// (retention); by default only where no raw block is.
fn choose_blocks<'a>(
    cat: &'a Catalog,
    range: TimeRange,
    hints: &SelectHints,
) -> (Option<i64>, Vec<&'a BlockEntry>, Vec<&'a BlockEntry>) {
    let raw_all = cat.blocks_overlapping(0, range.min, range.max);
    let steps: std::collections::BTreeSet<i64> = cat
        .blocks
        .iter()
        .filter(|b| b.resolution_ms > 0)
        .map(|b| b.resolution_ms)
        .collect();
    let prefer_rollups = hints.max_source_resolution_ms > 0;
    let step = if prefer_rollups {
        steps
            .range(..=hints.max_source_resolution_ms)
            .next_back()
            .copied()
    } else {
        steps.iter().next().copied()
    };
    let mut rollups: Vec<&BlockEntry> = match step {
        Some(s) => cat.blocks_overlapping(s, range.min, range.max),
        None => Vec::new(),
    };
    let overlaps =
        |a: &BlockEntry, b: &BlockEntry| a.min_time < b.max_time && a.max_time > b.min_time;
    let raw: Vec<&BlockEntry> = if prefer_rollups {
        raw_all
            .into_iter()
            .filter(|b| {
                !rollups
                    .iter()
                    .any(|r| r.min_time <= b.min_time && r.max_time >= b.max_time)
            })
            .collect()
    } else {
        rollups.retain(|r| !raw_all.iter().any(|b| overlaps(b, r)));
        raw_all
    };
    rollups.sort_by_key(|r| r.min_time);
    (step, rollups, raw)
}

/// Sorted ranges with gaps up to `gap` joined.
fn coalesce(ranges: &[std::ops::Range<u64>], gap: u64) -> Vec<std::ops::Range<u64>> {
    let mut out: Vec<std::ops::Range<u64>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end + gap => last.end = last.end.max(r.end),
            _ => out.push(r.clone()),
        }
    }
    out
}

/// Removes the samples delete requests cover (those of requests that
/// overlap `range`: the series hold no samples outside it).
fn apply_tombstones(
    tombstones: &[CompiledTombstone],
    range: TimeRange,
    series: &mut HashMap<Labels, Vec<Sample>>,
) {
    for t in tombstones
        .iter()
        .filter(|t| t.overlaps(range.min, range.max))
    {
        for (labels, samples) in series.iter_mut() {
            t.apply(labels, samples);
        }
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
        Ok(self
            .select_hinted(tenant, matchers, range, &SelectHints::default())
            .await?
            .series)
    }

    async fn select_hinted(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
        hints: &SelectHints,
    ) -> Result<Selection, SourceError> {
        with_current_catalog(|fresh| self.select_with(tenant, matchers, range, hints, fresh)).await
    }

    /// Label and time pages of blocks, no chunks, unless delete requests
    /// may cover part of the range: then the samples decide.
    async fn series_labels(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Labels>, SourceError> {
        let found =
            with_current_catalog(|fresh| self.series_labels_with(tenant, matchers, range, fresh))
                .await?;
        match found {
            Some(labels) => Ok(labels),
            None => {
                let found = self.select(tenant, matchers, range).await?;
                Ok(found.into_iter().map(|s| s.labels).collect())
            }
        }
    }

    async fn metadata(&self, tenant: &TenantId) -> Result<Vec<MetricMetadata>, SourceError> {
        let cat = self.catalog(tenant, false).await?;
        let segments = self.segments(tenant).await?;
        let mut by_family: HashMap<String, MetricMetadata> = HashMap::new();
        for md in &cat.metadata {
            by_family.insert(md.metric_family.clone(), md.clone());
        }
        for seg in segments
            .iter()
            .filter(|s| s.ulid_ms >= cat.segment_watermark_ms)
        {
            for md in &seg.segment.metadata {
                by_family.insert(md.metric_family.clone(), md.clone());
            }
        }
        let mut out: Vec<MetricMetadata> = by_family.into_values().collect();
        out.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        Ok(out)
    }

    /// A hash of the delete requests: the only change to stored data that
    /// alters old answers (compaction keeps them the same).
    async fn cache_generation(&self, tenant: &TenantId) -> Result<u64, SourceError> {
        let cat = self.catalog(tenant, false).await?;
        let requests: Vec<_> = cat
            .tombstones
            .iter()
            .map(|t| {
                let matchers: Vec<_> = t
                    .matchers
                    .iter()
                    .map(|m| (&m.name, &m.op, &m.value))
                    .collect();
                (&t.id, t.min_time, t.max_time, t.created_ms, matchers)
            })
            .collect();
        Ok(crate::results::generation_of(&requests))
    }
}
