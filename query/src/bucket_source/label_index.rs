//! Label names and values for lookups without matchers, per block and
//! cached (blocks never change): the names from the footer, the values of
//! a label from the dictionary pages of its column (no data page), as
//! Prometheus answers them from each block's index. A block whose footer
//! or column does not allow it answers from its label sets
//! ([`super::labels`]) instead. Recent data answers from the head's
//! postings ([`super::head`]).

use std::sync::Arc;

use moka::sync::Cache;
use stratus_block::{read_label_values, Fetched};
use stratus_codec::BlockEntry;
use stratus_model::TenantId;

use super::blocks::block_path;
use super::caching_bucket::CachingBucket;
use crate::source::SourceError;

/// Memory for the names and values of blocks (estimated).
pub const LABEL_INDEX_CACHE_BYTES: u64 = 32 << 20;

/// A block and what was asked of it: `None` its label names, `Some(name)`
/// the values of label `name`.
type IndexKey = (String, Option<String>);

/// The answer for one block: `None` when it cannot come from the footer
/// and dictionary pages alone.
type IndexAnswer = Option<Arc<Vec<String>>>;

/// The cached label names and values of blocks.
pub(super) struct BlockLabelIndex {
    cache: Cache<IndexKey, IndexAnswer>,
}

impl BlockLabelIndex {
    pub(super) fn new() -> Self {
        Self {
            cache: Cache::builder()
                .weigher(|k: &IndexKey, v: &IndexAnswer| {
                    let strings = v
                        .as_ref()
                        .map_or(0, |v| v.iter().map(|s| s.len() + 24).sum::<usize>());
                    let key = k.0.len() + k.1.as_ref().map_or(0, String::len) + 64;
                    u32::try_from(strings + key).unwrap_or(u32::MAX)
                })
                .max_capacity(LABEL_INDEX_CACHE_BYTES)
                .build(),
        }
    }

    /// The label names of block `b` (`name` `None`) or the values of label
    /// `name`, sorted; `None` when the block cannot tell without its label
    /// pages (a column chunk not wholly dictionary-encoded, statistics
    /// missing). Reads the footer and, for values, the column's dictionary
    /// pages only.
    pub(super) async fn of_block(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
        b: &BlockEntry,
        name: Option<&str>,
    ) -> Result<IndexAnswer, SourceError> {
        let cache_key = (b.id.clone(), name.map(String::from));
        if let Some(hit) = self.cache.get(&cache_key) {
            return Ok(hit);
        }
        let key = block_path(tenant, b)?;
        let footer = store.footer(&key, b.bytes).await?;
        let found = match name {
            None => footer.label_names(),
            Some(name) => match footer.label_values_ranges(name) {
                None => None,
                Some(ranges) => {
                    let mut fetched = Fetched::new();
                    store.fetch(&key, ranges, &mut fetched).await?;
                    read_label_values(&footer, name, &fetched)
                        .map_err(|e| SourceError::corrupt(&key, format!("block {key}: {e}")))?
                }
            },
        };
        let found = found.map(Arc::new);
        self.cache.insert(cache_key, found.clone());
        Ok(found)
    }
}
