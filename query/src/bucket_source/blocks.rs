//! Reads of one block by ranged GETs: the footer, then the label pages,
//! then only the chunks of the rows that match.

use std::sync::Arc;

use stratus_block::{read_downsampled, read_raw, AggrPoint, BlockFooter, Fetched, ReadPlan};
use stratus_codec::BlockEntry;
use stratus_model::{Labels, Sample, TenantId, TimeRange};
use stratus_storage::{BlockKey, ObjectPath};
use ulid::Ulid;

use super::caching_bucket::CachingBucket;
use crate::matcher::LabelMatcher;
use crate::source::SourceError;

/// Ranges closer than this are read with one GET.
pub(super) const COALESCE_GAP: u64 = 64 * 1024;

/// Plans up to this size are fetched in one round trip.
const ONE_ROUND_TRIP_BYTES: u64 = 512 * 1024;

/// The object key of a block the catalog names.
pub(super) fn block_path(tenant: &TenantId, b: &BlockEntry) -> Result<ObjectPath, SourceError> {
    let id = Ulid::from_string(&b.id)
        .map_err(|e| SourceError::corrupt_unkeyed(format!("block id {}: {e}", b.id)))?;
    Ok(BlockKey::new(tenant.clone(), id).path())
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

/// Fetches what `matchers` over `range` need from a block: the label
/// pages first, then only the chunks of the rows that match.
async fn fetch_block(
    store: &CachingBucket,
    tenant: &TenantId,
    b: &BlockEntry,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Result<Option<(Arc<BlockFooter>, ReadPlan, Fetched, ObjectPath)>, SourceError> {
    let key = block_path(tenant, b)?;
    let (footer, tail) = store.footer_and_tail(&key, b.bytes).await?;
    let plan = footer.plan(matchers, range);
    if plan.is_empty() {
        return Ok(None);
    }
    let mut fetched = Fetched::new();
    // The bytes read for the footer are not fetched again.
    if let Some((r, bytes)) = tail {
        fetched
            .insert(r, bytes)
            .map_err(|e| SourceError::corrupt(&key, format!("block {key}: {e}")))?;
    }
    // A small plan is fetched whole: one round trip instead of two
    // (label pages, then the chunks of the rows that match), for a few
    // more bytes.
    let first = if plan.total_bytes() <= ONE_ROUND_TRIP_BYTES {
        plan.coalesce(COALESCE_GAP)
    } else {
        coalesce(&plan.label_ranges, COALESCE_GAP)
    };
    let first = fetched.missing(&first);
    store.fetch(&key, first, &mut fetched).await?;
    let refined = footer
        .refine(&plan, &fetched, matchers)
        .map_err(|e| SourceError::corrupt(&key, format!("block {key}: {e}")))?;
    let missing = fetched.missing(&refined.coalesce(COALESCE_GAP));
    store.fetch(&key, missing, &mut fetched).await?;
    Ok(Some((footer, refined, fetched, key)))
}

/// The series of one raw block that match, read with ranged GETs.
pub(super) async fn read_block(
    store: &CachingBucket,
    tenant: &TenantId,
    b: &BlockEntry,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Result<Vec<(Labels, Vec<Sample>)>, SourceError> {
    let Some((footer, plan, fetched, key)) = fetch_block(store, tenant, b, matchers, range).await?
    else {
        return Ok(Vec::new());
    };
    read_raw(&footer, &plan, &fetched, matchers, range)
        .map_err(|e| SourceError::corrupt(&key, format!("block {key}: {e}")))
}

/// The series of one rollup block that match.
pub(super) async fn read_rollup(
    store: &CachingBucket,
    tenant: &TenantId,
    b: &BlockEntry,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Result<Vec<(Labels, Vec<AggrPoint>)>, SourceError> {
    let Some((footer, plan, fetched, key)) = fetch_block(store, tenant, b, matchers, range).await?
    else {
        return Ok(Vec::new());
    };
    read_downsampled(&footer, &plan, &fetched, matchers, range)
        .map_err(|e| SourceError::corrupt(&key, format!("block {key}: {e}")))
}
