//! The label sets of the series a block holds, per matcher set and range,
//! read from label and time pages only and cached (blocks never change):
//! `/api/v1/series`, `/labels` and label values.

use std::sync::Arc;

use moka::sync::Cache;
use stratus_block::{read_series_labels, Fetched};
use stratus_codec::BlockEntry;
use stratus_model::{Labels, TenantId, TimeRange};

use super::blocks::{block_path, COALESCE_GAP};
use super::caching_bucket::CachingBucket;
use crate::matcher::LabelMatcher;
use crate::source::SourceError;

/// Memory for the label sets of blocks (estimated).
pub const LABEL_SET_CACHE_BYTES: u64 = 64 << 20;

/// A block, the matchers (name, operator, value) and the range clipped to
/// the block, or `None` for a range covering the whole block.
type LabelSetKey = (
    String,
    Vec<(String, &'static str, String)>,
    Option<(i64, i64)>,
);

/// The cached label sets of blocks.
pub(super) struct BlockLabels {
    cache: Cache<LabelSetKey, Arc<Vec<Labels>>>,
}

impl BlockLabels {
    pub(super) fn new() -> Self {
        Self {
            cache: Cache::builder()
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

    /// The label sets of the series of one block (raw or rollup) that
    /// match and whose samples span a time in `range`: label and time
    /// pages only, no chunks.
    pub(super) async fn of_block(
        &self,
        store: &CachingBucket,
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
        if let Some(hit) = self.cache.get(&cache_key) {
            return Ok(hit);
        }
        let key = block_path(tenant, b)?;
        let footer = store.footer(&key, b.bytes).await?;
        let plan = footer.labels_plan(matchers, range);
        let found = if plan.is_empty() {
            Vec::new()
        } else {
            let mut fetched = Fetched::new();
            store
                .fetch(&key, plan.coalesce(COALESCE_GAP), &mut fetched)
                .await?;
            read_series_labels(&footer, &plan, &fetched, matchers, range)
                .map_err(|e| SourceError::corrupt(&key, format!("block {key}: {e}")))?
        };
        let found = Arc::new(found);
        self.cache.insert(cache_key, found.clone());
        Ok(found)
    }
}
