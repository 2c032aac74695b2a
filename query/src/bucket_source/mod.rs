//! Series from the bucket: the blocks the tenant's catalog points at, and
//! the segments at or above its watermark. Blocks are read by ranged GETs
//! (footer, then the planned column pages); segments are immutable, so
//! their decoded form is cached by key. The catalog and the segment
//! listing are cached for a short time, so data written since shows up
//! after at most that long. Later blocks win over earlier ones and
//! segments over blocks on equal series and timestamp; delete requests
//! (tombstones) are applied on read.
//!
//! The parts, each used only by the ones listed after it:
//! - [`caching_bucket`]: reads of immutable objects (object cache, footer
//!   cache, the bound on GETs in flight);
//! - [`catalogs`]: the cached catalogs and the retry on a current one;
//! - [`head`]: the in-memory index of recent segments (ADR 0030);
//! - [`packs`]: which segments the catalog's packs hold, their indexes;
//! - [`cold`]: recent data read for one query while its head catches up;
//! - [`segments`]: the segment listing and the heads, kept current;
//! - [`blocks`]: ranged reads of one raw or rollup block;
//! - [`labels`]: the cached label sets of blocks;
//! - [`label_index`]: the cached label names and values of blocks, for
//!   lookups without matchers;
//! - [`rollup`]: the choice of resolution (raw or a rollup step);
//! - [`merge`]: merging rollups, raw blocks and segments, tombstones;
//! - this module: [`BucketSource`], which puts them together.

mod blocks;
mod caching_bucket;
mod catalogs;
mod cold;
mod head;
mod label_index;
mod labels;
mod merge;
mod packs;
mod rollup;
mod segments;
mod windows;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{stream, StreamExt, TryStreamExt};
use stratus_model::{Labels, MetricMetadata, TenantId, TimeRange};
use stratus_storage::{Bucket, ObjectPath};

use crate::matcher::LabelMatcher;
use crate::source::{DataWrite, SelectHints, Selection, Series, SeriesSource, SourceError};
use caching_bucket::CachingBucket;
use catalogs::{with_current_catalog, CatalogView, Catalogs};
use cold::Want;
pub use head::HeadStats;
use label_index::BlockLabelIndex;
pub use label_index::LABEL_INDEX_CACHE_BYTES;
use labels::BlockLabels;
pub use labels::LABEL_SET_CACHE_BYTES;
use segments::Segments;

#[derive(Debug, Clone)]
pub struct BucketSourceOptions {
    /// How long a tenant's segment listing is reused; zero lists every time.
    pub listing_ttl: Duration,
    /// Memory the head of recent segments may hold (estimated); a query
    /// that needs more fails with 503 until the compactor catches up.
    /// 0: no bound.
    pub head_bytes: u64,
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
            head_bytes: 0,
            read_concurrency: 16,
            object_cache: None,
        }
    }
}

pub struct BucketSource {
    store: Arc<CachingBucket>,
    opts: BucketSourceOptions,
    catalogs: Catalogs,
    segments: Arc<Segments>,
    /// Label sets of the series a block holds per matcher set and range.
    label_sets: BlockLabels,
    /// Label names and values of blocks.
    label_index: BlockLabelIndex,
}

impl BucketSource {
    pub fn new(bucket: Bucket, opts: BucketSourceOptions) -> Self {
        Self {
            store: Arc::new(CachingBucket::new(
                bucket,
                opts.object_cache.clone(),
                opts.read_concurrency,
            )),
            catalogs: Catalogs::new(opts.listing_ttl),
            segments: Arc::new(Segments::new(
                opts.listing_ttl,
                opts.read_concurrency,
                opts.head_bytes,
            )),
            label_sets: BlockLabels::new(),
            label_index: BlockLabelIndex::new(),
            opts,
        }
    }

    async fn catalog(
        &self,
        tenant: &TenantId,
        fresh: bool,
    ) -> Result<Arc<CatalogView>, SourceError> {
        self.catalogs.get(self.store.bucket(), tenant, fresh).await
    }

    async fn series_labels_with(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
        fresh: bool,
    ) -> Result<Option<Vec<Labels>>, SourceError> {
        let cat = self.catalog(tenant, fresh).await?;
        // Only samples show what a delete request leaves.
        if cat.deletes_overlap(range) {
            return Ok(None);
        }
        let blocks = async {
            let choice = rollup::choose_blocks(&cat, range, &SelectHints::default());
            let reads: Vec<_> = choice
                .rollups
                .iter()
                .chain(choice.raw.iter())
                .map(|b| {
                    self.label_sets
                        .of_block(&self.store, tenant, b, matchers, range)
                })
                .collect();
            stream::iter(reads)
                .buffer_unordered(self.opts.read_concurrency.max(1))
                .try_collect::<Vec<_>>()
                .await
        };
        let head = self.recent(tenant, &cat, Want::Series(matchers), range);
        let (found, head) = futures::try_join!(blocks, head)?;
        let mut out: HashSet<Labels> = HashSet::new();
        for block in &found {
            out.extend(block.iter().cloned());
        }
        out.extend(head.label_sets(matchers, range));
        let mut out: Vec<Labels> = out.into_iter().collect();
        out.sort();
        Ok(Some(out))
    }

    /// The label names (`name` `None`) or the values of label `name` of
    /// the blocks overlapping `range` and of the segment series with
    /// samples in it, without matchers: each block answers from its footer
    /// and dictionary pages where it can, else from its label sets. `None`
    /// when delete requests overlap the range (only samples show what they
    /// leave).
    async fn names_or_values_with(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        range: TimeRange,
        fresh: bool,
    ) -> Result<Option<Vec<String>>, SourceError> {
        let cat = self.catalog(tenant, fresh).await?;
        // Only samples show what a delete request leaves.
        if cat.deletes_overlap(range) {
            return Ok(None);
        }
        let blocks = async {
            let choice = rollup::choose_blocks(&cat, range, &SelectHints::default());
            let reads: Vec<_> = choice
                .rollups
                .iter()
                .chain(choice.raw.iter())
                .map(|b| async move {
                    if let Some(found) = self
                        .label_index
                        .of_block(&self.store, tenant, b, name)
                        .await?
                    {
                        return Ok::<_, SourceError>(found);
                    }
                    let sets = self
                        .label_sets
                        .of_block(&self.store, tenant, b, &[], range)
                        .await?;
                    Ok(Arc::new(crate::source::names_or_values_of(&sets, name)))
                })
                .collect();
            stream::iter(reads)
                .buffer_unordered(self.opts.read_concurrency.max(1))
                .try_collect::<Vec<_>>()
                .await
        };
        let head = self.recent(tenant, &cat, Want::Names, range);
        let (found, head) = futures::try_join!(blocks, head)?;
        let mut out: BTreeSet<String> = match name {
            None => head.label_names(range),
            Some(name) => head.label_values(name, range),
        }
        .into_iter()
        .collect();
        for block in &found {
            for v in block.iter() {
                if !out.contains(v) {
                    out.insert(v.clone());
                }
            }
        }
        Ok(Some(out.into_iter().collect()))
    }

    /// [`Self::names_or_values_with`] on a current catalog, or from the
    /// series where it cannot answer (matchers, delete requests).
    async fn names_or_values(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<String>, SourceError> {
        if matchers.is_empty() {
            let found =
                with_current_catalog(|fresh| self.names_or_values_with(tenant, name, range, fresh))
                    .await?;
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let series = self.series_labels(tenant, matchers, range).await?;
        Ok(crate::source::names_or_values_of(&series, name))
    }

    async fn select_with(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
        hints: &SelectHints,
        fresh: bool,
    ) -> Result<Selection, SourceError> {
        let cat = self.catalog(tenant, fresh).await?;
        // The head is brought up to date while the blocks are read.
        let blocks = async {
            let choice = rollup::choose_blocks(&cat, range, hints);

            // Every block is read at once; the answers are merged in the
            // order below, so which copy wins does not depend on which read
            // finished first.
            let width = self.opts.read_concurrency.max(1);
            let rollup_reads: Vec<_> = choice
                .rollups
                .iter()
                .map(|r| blocks::read_rollup(&self.store, tenant, r, matchers, range))
                .collect();
            let rollup_reads = stream::iter(rollup_reads)
                .buffered(width)
                .try_collect::<Vec<_>>();
            let raw_reads: Vec<_> = choice
                .raw
                .iter()
                .map(|b| blocks::read_block(&self.store, tenant, b, matchers, range))
                .collect();
            let raw_reads = stream::iter(raw_reads)
                .buffered(width)
                .try_collect::<Vec<_>>();
            let (rollup_data, raw_data) = futures::try_join!(rollup_reads, raw_reads)?;
            let (step, approximate, expand) = (choice.step, choice.approximate, choice.expand);
            drop(choice);
            Ok::<_, SourceError>((step, approximate, expand, rollup_data, raw_data))
        };
        let head = self.recent(tenant, &cat, Want::Series(matchers), range);
        let ((step, approximate, expand, rollup_data, raw_data), head) =
            futures::try_join!(blocks, head)?;

        let merge::Merged {
            series: mut merged,
            rollup_points,
            unexpanded,
        } = merge::merge_sources(
            hints.func.as_deref(),
            expand,
            range,
            rollup_data,
            raw_data,
            head.select(matchers, range),
        );
        merge::apply_tombstones(cat.compiled_tombstones(), range, &mut merged);
        Ok(Selection {
            series: merge::into_series(merged),
            resolution_ms: if rollup_points == 0 {
                0
            } else {
                step.unwrap_or(0)
            },
            approximate: (approximate || unexpanded > 0) && rollup_points > 0,
        })
    }

    /// The recent data (segments and packs above the watermark of `cat`)
    /// a query over `range` sees, for `want`.
    async fn recent(
        &self,
        tenant: &TenantId,
        cat: &CatalogView,
        want: Want<'_>,
        range: TimeRange,
    ) -> Result<segments::Recent, SourceError> {
        self.segments
            .recent(
                &self.store,
                tenant,
                cat.segment_watermark_ms,
                &cat.packs,
                want,
                range,
            )
            .await
    }

    /// Hands a segment this process has just written to the head, so that
    /// queries see it without waiting for the listing (`stratus all`); it
    /// is decoded by the next query that needs it.
    pub fn offer_segment(&self, tenant: &TenantId, key: ObjectPath, bytes: bytes::Bytes) {
        self.segments.offer(tenant, key, bytes);
    }

    /// What the heads of recent segments hold.
    pub fn head_stats(&self) -> HeadStats {
        self.segments.stats()
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

    /// Without matchers, from the blocks' footers and the segments (see
    /// [`BucketSource::names_or_values_with`]); with matchers, from the
    /// series.
    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<String>, SourceError> {
        self.names_or_values(tenant, None, matchers, range).await
    }

    /// Without matchers, from the dictionary pages of the blocks' label
    /// columns and the segments; with matchers, from the series.
    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<String>, SourceError> {
        self.names_or_values(tenant, Some(name), matchers, range)
            .await
    }

    async fn metadata(&self, tenant: &TenantId) -> Result<Vec<MetricMetadata>, SourceError> {
        let cat = self.catalog(tenant, false).await?;
        let head = self
            .segments
            .head(&self.store, tenant, cat.segment_watermark_ms, &cat.packs)
            .await?;
        let mut by_family: HashMap<String, MetricMetadata> = HashMap::new();
        for md in &cat.metadata {
            by_family.insert(md.metric_family.clone(), md.clone());
        }
        for md in head.metadata() {
            by_family.insert(md.metric_family.clone(), md);
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

    /// The catalog's blocks (by their ULID time and range start) and the
    /// head's segments (by their ULID time and earliest sample), after the
    /// head has taken every listed segment.
    async fn data_writes(&self, tenant: &TenantId) -> Result<Vec<DataWrite>, SourceError> {
        let cat = self.catalog(tenant, false).await?;
        let recent = self
            .segments
            .writes(&self.store, tenant, cat.segment_watermark_ms, &cat.packs)
            .await?;
        let blocks = cat.blocks.iter().map(|b| DataWrite {
            id: crate::results::generation_of(&b.id),
            written_ms: ulid::Ulid::from_string(&b.id).map_or(i64::MAX, |u| {
                i64::try_from(u.timestamp_ms()).unwrap_or(i64::MAX)
            }),
            min_time_ms: b.min_time,
        });
        Ok(blocks.chain(recent).collect())
    }
}
