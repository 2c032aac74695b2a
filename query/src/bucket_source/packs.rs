//! Segment packs (ADR 0033): which listed segments each pack of the
//! catalog holds, and reads of a pack's index and groups.
//!
//! A pack holds the segments from `first` to `last` that were listed when
//! it was made. When the listing shows exactly `segments` keys in that
//! range, those are the ones; when it shows more (a segment that became
//! visible late), the pack's index names them.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{stream, StreamExt, TryStreamExt};
use stratus_codec::{PackEntry, PackIndex};
use stratus_model::TenantId;
use stratus_storage::{ObjectPath, PackKey};
use ulid::Ulid;

use super::caching_bucket::CachingBucket;
use crate::source::SourceError;

/// A tenant's segment listing: keys in ULID order with their ULID time,
/// and the ULIDs themselves (same order).
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub(super) keys: Vec<(ObjectPath, i64)>,
    pub(super) ulids: Vec<u128>,
}

impl Listing {
    /// Positions of the listed segments from `first` to `last`.
    fn between(&self, first: u128, last: u128) -> std::ops::Range<usize> {
        let lo = self.ulids.partition_point(|&u| u < first);
        let hi = self.ulids.partition_point(|&u| u <= last);
        lo..hi.max(lo)
    }
}

/// A pack of the catalog, with the listed segments it holds.
pub(super) struct Held {
    pub(super) entry: PackEntry,
    pub(super) key: ObjectPath,
    /// The ULID of its last segment and that ULID's time: its data counts
    /// as written then.
    pub(super) last: u128,
    pub(super) last_ms: i64,
    /// Positions in the listing of the segments it holds.
    pub(super) segments: Vec<usize>,
    /// Its index, when it had to be read to know the segments.
    pub(super) index: Option<Arc<PackIndex>>,
}

fn ulid(s: &str, what: &str, key: &ObjectPath) -> Result<Ulid, SourceError> {
    Ulid::from_string(s)
        .map_err(|e| SourceError::corrupt(key, format!("pack {key}: {what} {s:?}: {e}")))
}

/// The packs of `packs` at or above the watermark whose last segment is
/// at or after `from` (a ULID), with the listed segments each holds;
/// indexes are read (in parallel) only for packs whose range shows more
/// segments than they hold.
#[allow(clippy::too_many_arguments)]
pub(super) async fn holdings(
    store: &CachingBucket,
    tenant: &TenantId,
    packs: &[PackEntry],
    listing: &Listing,
    watermark_ms: i64,
    from: u128,
    width: usize,
) -> Result<Vec<Held>, SourceError> {
    let mut held = Vec::with_capacity(packs.len());
    let mut unsure = Vec::new();
    for p in packs {
        // A bad id names no object: the catalog that holds it is at fault.
        let id = ulid(&p.id, "id", &stratus_storage::keys::catalog(tenant))?;
        let key = PackKey::new(tenant.clone(), id).path();
        let first = ulid(&p.first, "first", &key)?;
        let last = ulid(&p.last, "last", &key)?;
        if (last.timestamp_ms() as i64) < watermark_ms || u128::from(last) < from {
            continue;
        }
        let range = listing.between(u128::from(first), u128::from(last));
        if range.len() as u64 != p.segments {
            unsure.push(held.len());
        }
        held.push(Held {
            entry: p.clone(),
            key,
            last: u128::from(last),
            last_ms: last.timestamp_ms() as i64,
            segments: range.collect(),
            index: None,
        });
    }
    let reads = unsure.into_iter().map(|i| {
        let (key, entry) = (held[i].key.clone(), held[i].entry.clone());
        async move { Ok::<_, SourceError>((i, index(store, &key, &entry).await?)) }
    });
    let indexes: Vec<(usize, Arc<PackIndex>)> = stream::iter(reads)
        .buffer_unordered(width.max(1))
        .try_collect()
        .await?;
    for (i, idx) in indexes {
        let named: HashSet<u128> = idx.segments.iter().copied().collect();
        let h = &mut held[i];
        h.segments
            .retain(|&pos| named.contains(&listing.ulids[pos]));
        h.index = Some(idx);
    }
    Ok(held)
}

/// Positions of the listed segments at or above the watermark that none
/// of `held` holds, in ULID order.
pub(super) fn unpacked(listing: &Listing, held: &[Held], watermark_ms: i64) -> Vec<usize> {
    let covered: HashSet<usize> = held
        .iter()
        .flat_map(|h| h.segments.iter().copied())
        .collect();
    (0..listing.keys.len())
        .filter(|pos| listing.keys[*pos].1 >= watermark_ms && !covered.contains(pos))
        .collect()
}

/// The index of a pack, by the range its catalog entry gives.
pub(super) async fn index(
    store: &CachingBucket,
    key: &ObjectPath,
    entry: &PackEntry,
) -> Result<Arc<PackIndex>, SourceError> {
    let end = entry
        .index_offset
        .checked_add(entry.index_len)
        .filter(|&e| e <= entry.bytes)
        .ok_or_else(|| {
            SourceError::corrupt(
                key,
                format!(
                    "pack {key}: the catalog places its index at {}+{} in {} bytes",
                    entry.index_offset, entry.index_len, entry.bytes
                ),
            )
        })?;
    let tail = store.read(key, Some(entry.index_offset..end)).await?;
    let idx = PackIndex::decode(&tail, entry.index_offset)
        .map_err(|e| SourceError::corrupt(key, format!("pack {key}: {e}")))?;
    Ok(Arc::new(idx))
}
