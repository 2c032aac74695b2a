//! Segments: the tenant's listing (cached for a short time, listed once
//! by queries that miss together) and the head each tenant's segments at
//! or above the watermark are read into, each segment once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{stream, StreamExt};
use moka::sync::Cache;
use stratus_model::TenantId;
use stratus_storage::keys::segments_prefix;
use stratus_storage::{ObjectPath, SegmentKey};

use super::caching_bucket::CachingBucket;
use super::head::{Decoded, HeadStats, TenantHead};
use crate::source::SourceError;

/// A segment key and the time in its ULID.
type Listed = (ObjectPath, i64);

/// Bytes of segments handed over by a writer in this process and not yet
/// added to a head, over all tenants; past it, the oldest are left to the
/// listing.
const PENDING_BYTES: usize = 64 << 20;

/// Segments handed over and not yet added, per tenant, oldest first.
#[derive(Default)]
struct Pending {
    by_tenant: HashMap<TenantId, Vec<(ObjectPath, i64, Bytes)>>,
    bytes: usize,
}

/// The tenants' segment listings and heads.
pub(super) struct Segments {
    listing_ttl: Duration,
    read_concurrency: usize,
    listings: Cache<TenantId, Arc<Vec<Listed>>>,
    listing_locks: Cache<TenantId, Arc<tokio::sync::Mutex<()>>>,
    heads: Mutex<HashMap<TenantId, Arc<TenantHead>>>,
    pending: Mutex<Pending>,
    /// What all heads together may hold; 0: no bound.
    limit: usize,
}

fn ulid_ms(key: &ObjectPath) -> Option<i64> {
    SegmentKey::parse(key).map(|k| k.id().timestamp_ms() as i64)
}

impl Segments {
    pub(super) fn new(listing_ttl: Duration, read_concurrency: usize, limit: u64) -> Self {
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
            heads: Mutex::new(HashMap::new()),
            pending: Mutex::new(Pending::default()),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }
    }

    async fn listing(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
    ) -> Result<Arc<Vec<Listed>>, SourceError> {
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
        let mut keys: Vec<Listed> = objects
            .into_iter()
            .filter_map(|o| ulid_ms(&o.key).map(|t| (o.key, t)))
            .collect();
        keys.sort();
        let keys = Arc::new(keys);
        if cached {
            self.listings.insert(tenant.clone(), keys.clone());
        }
        Ok(keys)
    }

    fn head_of(&self, tenant: &TenantId) -> Arc<TenantHead> {
        let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(TenantHead::new()))
            .clone()
    }

    /// The tenant's head with every listed segment at or above
    /// `watermark_ms` in it, and nothing below it. Only segments not yet in
    /// the head are read; the listing is the cached one.
    pub(super) async fn head(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
        watermark_ms: i64,
    ) -> Result<Arc<TenantHead>, SourceError> {
        let head = self.head_of(tenant);
        head.truncate(watermark_ms);
        let listed = self.listing(store, tenant).await?;
        let lock = head.clone();
        let _sync = lock.sync.lock().await;
        // Taken under the lock: a query that starts after a hand-over
        // either adds it or waits for the one that does.
        let mut handed: HashMap<ObjectPath, Bytes> = HashMap::new();
        let mut keys: Vec<Listed> = Vec::with_capacity(listed.len());
        for (key, ulid, bytes) in self.take_pending(tenant) {
            keys.push((key.clone(), ulid));
            handed.insert(key, bytes);
        }
        keys.extend(listed.iter().cloned());
        // In ULID order, so a later segment's value wins on equal times.
        keys.sort();
        let todo = head.claim(&keys, watermark_ms);
        // Handed-over segments need no read. Each read is decoded (on a
        // blocking thread) as soon as it is in, while other reads wait;
        // segments are added in order.
        let reads = todo.clone().into_iter().map(|(key, _)| {
            let held = handed.remove(&key);
            async move {
                let bytes = match held {
                    Some(b) => b,
                    None => store.read(&key, None).await?,
                };
                let decoded = tokio::task::spawn_blocking(move || Decoded::new(bytes)).await;
                decoded
                    .map_err(|e| segment_error(&key, e))?
                    .map_err(|e| segment_error(&key, e))
            }
        });
        let mut reads = stream::iter(reads).buffered(self.read_concurrency);
        let mut done = 0;
        while let Some(decoded) = reads.next().await {
            let (key, ulid) = &todo[done];
            let added = match decoded {
                Ok(d) => self.apply(&head, key, *ulid, d).await,
                Err(e) => Err(e),
            };
            if let Err(e) = added {
                head.release(&todo[done..]);
                return Err(e);
            }
            done += 1;
        }
        Ok(head)
    }

    fn take_pending(&self, tenant: &TenantId) -> Vec<(ObjectPath, i64, Bytes)> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let taken = p.by_tenant.remove(tenant).unwrap_or_default();
        p.bytes -= taken.iter().map(|(_, _, b)| b.len()).sum::<usize>();
        taken
    }

    /// Keeps a segment this process just wrote, to be added to the head by
    /// the next query without a listing or a read (and without any work
    /// until a query comes). Past [`PENDING_BYTES`] the tenant's oldest
    /// hand-overs are dropped: the listing finds them.
    pub(super) fn offer(&self, tenant: &TenantId, key: ObjectPath, bytes: Bytes) {
        let Some(ulid) = ulid_ms(&key) else {
            return;
        };
        if bytes.len() > PENDING_BYTES {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let p = &mut *p;
        let queue = p.by_tenant.entry(tenant.clone()).or_default();
        p.bytes += bytes.len();
        // Bounded per tenant's queue: other tenants' hand-overs are
        // theirs to drop.
        let mut drop_n = 0;
        while p.bytes > PENDING_BYTES && drop_n < queue.len() {
            p.bytes -= queue[drop_n].2.len();
            drop_n += 1;
        }
        queue.drain(..drop_n);
        if p.bytes > PENDING_BYTES {
            p.bytes -= bytes.len();
            return;
        }
        queue.push((key, ulid, bytes));
    }

    /// What the heads hold, over all tenants.
    pub(super) fn stats(&self) -> HeadStats {
        let heads: Vec<Arc<TenantHead>> = {
            let heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
            heads.values().cloned().collect()
        };
        let init = HeadStats {
            limit: self.limit,
            ..HeadStats::default()
        };
        heads
            .iter()
            .map(|h| h.stats())
            .fold(init, |a, b| HeadStats {
                series: a.series + b.series,
                segments: a.segments + b.segments,
                bytes: a.bytes + b.bytes,
                limit: a.limit,
            })
    }
}

/// A segment that could not be decoded or added.
fn segment_error(key: &ObjectPath, e: impl std::fmt::Display) -> SourceError {
    SourceError::corrupt(key, format!("segment {key}: {e}"))
}

impl Segments {
    /// Adds a decoded segment written at `ulid` on a blocking thread,
    /// unless the heads would pass their bound.
    async fn apply(
        &self,
        head: &Arc<TenantHead>,
        key: &ObjectPath,
        ulid: i64,
        d: Decoded,
    ) -> Result<(), SourceError> {
        if self.limit > 0 {
            let held = self.held_bytes();
            if held + d.bytes() > self.limit {
                return Err(SourceError::Unavailable(format!(
                    "the head of recent data holds {held} bytes and segment {key} needs up to {} more, \
                     over --query-head-bytes {}: the compactor has not caught up with the writers \
                     (or the bound is too small for the active series)",
                    d.bytes(),
                    self.limit
                )));
            }
        }
        let h = head.clone();
        let id = crate::results::generation_of(key);
        tokio::task::spawn_blocking(move || h.apply(d, ulid, id))
            .await
            .map_err(|e| segment_error(key, e))
    }

    fn held_bytes(&self) -> usize {
        let heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads.values().map(|h| h.bytes()).sum()
    }
}
