//! Packing: the segments written since the last pack are merged into one
//! indexed object within seconds (segment format version 2, ADR 0033), so
//! a reader that starts cold fetches a few indexes and the series it
//! needs, not thousands of segments whole. Packs change no data: blocks
//! are still made from the segments, and readers read any segment no pack
//! in the catalog holds.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use bytes::Bytes;
use futures::{stream, FutureExt, StreamExt, TryStreamExt};
use stratus_codec::{build_pack, PackEntry, PendingDelete};
use stratus_model::TenantId;
use stratus_storage::catalog::{self, CommitError};
use stratus_storage::keys::{packs_prefix, segments_prefix};
use stratus_storage::{ObjectPath, PackKey, SegmentKey};
use tracing::{debug, info, warn};
use ulid::Ulid;

use crate::config::ms;
use crate::{Compactor, CompactorError, Result};

/// Segments one pack holds at most.
pub const MAX_SEGMENTS_PER_PACK: usize = 2_000;

/// Bytes of segments one pack holds at most (bounds the packer's memory:
/// the segments, their merged series and the pack are held at once).
pub const MAX_SEGMENT_BYTES_PER_PACK: u64 = 256 << 20;

/// Segments younger than this (by the wall clock) wait for the next pass:
/// one whose upload began earlier may still become visible, and a pack
/// made past it makes readers read the pack's index to learn what it holds.
const SETTLE_MS: i64 = 2_000;

/// Segment reads in flight while packing.
const READS_IN_FLIGHT: usize = 8;

/// What a packing pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackReport {
    pub packs_written: usize,
    pub segments_packed: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Packs whose catalog commit lost to another writer (removed again).
    pub conflicts: usize,
    /// Unreferenced pack objects removed.
    pub orphans_deleted: usize,
}

impl Compactor {
    /// Packs every tenant's unpacked segments at or above its watermark.
    pub async fn pack_once(&self, now_ms: i64) -> Result<PackReport> {
        let mut report = PackReport::default();
        let mut first_error = None;
        for tenant in self.bucket.tenants().await? {
            let pass = AssertUnwindSafe(self.pack_tenant(&tenant, now_ms, &mut report))
                .catch_unwind()
                .await;
            let failed = match pass {
                Ok(r) => r.err(),
                Err(panic) => {
                    self.metrics.panics.inc();
                    Some(CompactorError::Panic(format!(
                        "packing the segments of tenant {tenant}: {}",
                        crate::run::panic_message(panic.as_ref())
                    )))
                }
            };
            if let Some(e) = failed {
                warn!(tenant = %tenant, error = %e, "packing segments failed; the next pass retries");
                self.metrics.failure(e.reason());
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn pack_tenant(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        report: &mut PackReport,
    ) -> Result<()> {
        let base = catalog::load(&self.bucket, tenant).await?;
        let cat = &base.catalog;
        self.delete_orphan_packs(tenant, cat, report).await?;
        // After the newest packed segment: a segment that becomes visible
        // late, below it, is left to readers as it is.
        let newest = match cat.packs.last() {
            Some(p) => Some(
                Ulid::from_string(&p.last)
                    .map_err(|e| CompactorError::Corrupt(format!("pack {}: last {e}", p.id)))?,
            ),
            None => None,
        };
        let listed = match newest {
            Some(last) => {
                let after = SegmentKey::new(tenant.clone(), last).path();
                self.bucket
                    .list_after(&segments_prefix(tenant), &after)
                    .await?
            }
            None => self.bucket.list(&segments_prefix(tenant)).await?,
        };
        let newest = newest.map(u128::from);
        let settled = stratus_model::Clock::now_ms(&stratus_model::SystemClock) - SETTLE_MS;
        let mut todo: Vec<(u128, ObjectPath, u64)> = listed
            .into_iter()
            .filter_map(|o| {
                let id = SegmentKey::parse(&o.key)?.id();
                let ms = id.timestamp_ms() as i64;
                let fresh = ms >= cat.segment_watermark_ms
                    && ms <= settled
                    && newest.is_none_or(|n| u128::from(id) > n);
                fresh.then(|| (u128::from(id), o.key, o.size))
            })
            .collect();
        todo.sort_by_key(|t| t.0);
        let mut bytes = 0u64;
        let take = todo
            .iter()
            .take(MAX_SEGMENTS_PER_PACK)
            .take_while(|t| {
                bytes += t.2;
                bytes <= MAX_SEGMENT_BYTES_PER_PACK
            })
            .count()
            .max(todo.len().min(1));
        todo.truncate(take);
        let (Some(first), Some(last)) = (todo.first(), todo.last()) else {
            return Ok(());
        };
        let (first, last) = (Ulid::from(first.0), Ulid::from(last.0));

        let keys: Vec<(u128, ObjectPath)> =
            todo.iter().map(|(id, k, _)| (*id, k.clone())).collect();
        let segments: Vec<(u128, Bytes)> =
            stream::iter(keys.into_iter().map(|(id, key)| async move {
                let (b, _) = self.bucket.get(&key).await?;
                Ok::<_, CompactorError>((id, b))
            }))
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        let read: u64 = segments.iter().map(|(_, b)| b.len() as u64).sum();
        let t = tenant.clone();
        let (pack, summary) = tokio::task::spawn_blocking(move || {
            let refs: Vec<(u128, &[u8])> = segments.iter().map(|(u, b)| (*u, &b[..])).collect();
            build_pack(&t, &refs)
        })
        .await
        .map_err(|e| CompactorError::Panic(format!("packing tenant {tenant}: {e}")))?
        .map_err(|e| CompactorError::Corrupt(format!("packing segments {first}..{last}: {e}")))?;

        let id = Ulid::new();
        let key = PackKey::new(tenant.clone(), id).path();
        let written = pack.len() as u64;
        self.bucket.put(&key, Bytes::from(pack)).await?;
        let entry = PackEntry {
            id: id.to_string(),
            first: first.to_string(),
            last: last.to_string(),
            segments: todo.len() as u64,
            min_time: summary.min_time,
            max_time: summary.max_time,
            series: summary.series,
            samples: summary.samples,
            bytes: written,
            index_offset: summary.index_offset,
            index_len: summary.index_len,
        };
        let mut next = cat.clone();
        next.packs.push(entry);
        next.generation += 1;
        next.updated_ms = now_ms;
        match catalog::commit(&self.bucket, tenant, &base, &next).await {
            Ok(_) => {
                report.packs_written += 1;
                report.segments_packed += todo.len();
                report.bytes_read += read;
                report.bytes_written += written;
                debug!(tenant = %tenant, segments = todo.len(), bytes = written, "segments packed");
                Ok(())
            }
            Err(CommitError::Conflict { .. }) => {
                info!(tenant = %tenant, "catalog changed while packing; the next pass packs again");
                report.conflicts += 1;
                self.bucket.delete(&key).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes pack objects no catalog entry or pending delete names, once
    /// older than the orphan delay (a packer may still be about to commit
    /// a younger one).
    async fn delete_orphan_packs(
        &self,
        tenant: &TenantId,
        cat: &stratus_codec::Catalog,
        report: &mut PackReport,
    ) -> Result<()> {
        let wall = stratus_model::Clock::now_ms(&stratus_model::SystemClock);
        for o in self.bucket.list(&packs_prefix(tenant)).await? {
            let Some(k) = PackKey::parse(&o.key) else {
                continue;
            };
            let id = k.id().to_string();
            let named = cat.packs.iter().any(|p| p.id == id)
                || cat
                    .pending_deletes
                    .iter()
                    .any(|d| matches!(d, PendingDelete::Pack { id: p, .. } if *p == id));
            if !named && k.id().timestamp_ms() as i64 + ms(self.cfg.orphan_delay) <= wall {
                self.bucket.delete(&o.key).await?;
                report.orphans_deleted += 1;
            }
        }
        Ok(())
    }

    /// Packs every `interval` until `stop` resolves.
    pub async fn pack_loop(
        &self,
        interval: Duration,
        clock: &dyn stratus_model::Clock,
        stop: impl std::future::Future<Output = ()>,
    ) {
        crate::run::every(interval, stop, || async {
            match self.pack_once(clock.now_ms()).await {
                Ok(r) if r.packs_written > 0 => debug!(
                    packs = r.packs_written,
                    segments = r.segments_packed,
                    "packing pass done"
                ),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "packing pass failed; the next pass retries"),
            }
        })
        .await
    }
}

/// The packs a catalog change at watermark `to` retires: those holding no
/// segment at or above it, moved to the pending deletes due at `due_ms`.
pub(crate) fn retire_packs(c: &mut stratus_codec::Catalog, to: i64, due_ms: i64) {
    let (gone, kept): (Vec<PackEntry>, Vec<PackEntry>) = c
        .packs
        .drain(..)
        .partition(|p| Ulid::from_string(&p.last).is_ok_and(|u| (u.timestamp_ms() as i64) < to));
    c.packs = kept;
    for p in gone {
        c.pending_deletes
            .push(PendingDelete::Pack { id: p.id, due_ms });
    }
}
