//! Segments: the tenant's listing (cached for a short time, listed once
//! by queries that miss together) and the head each tenant's segments at
//! or above the watermark are read into, each segment once, or a pack of
//! them at once. A query that finds the head far behind reads the bucket
//! itself ([`super::cold`]) while the head catches up in the background.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{stream, StreamExt};
use moka::sync::Cache;
use stratus_codec::PackEntry;
use stratus_model::{Labels, Sample, TenantId, TimeRange};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{ObjectPath, SegmentKey};
use tracing::{info, warn};

use super::caching_bucket::CachingBucket;
use super::cold::{self, Cold, Want};
use super::head::{Decoded, HeadStats, TenantHead};
use super::packs::{self, Held, Listing};
use crate::matcher::LabelMatcher;
use crate::source::SourceError;

/// A segment key and the time in its ULID.
type Listed = (ObjectPath, i64);

/// A catch-up that failed is not tried again for this long.
const CATCH_UP_RETRY: Duration = Duration::from_secs(30);

/// A query that finds more segments than this missing from the head
/// (not counting hand-overs) reads the bucket itself, and the head catches
/// up in the background.
const COLD_AFTER: usize = 64;

/// The recent data a query sees: the tenant's head, or what a cold read
/// found for it.
pub(super) enum Recent {
    Head(Arc<TenantHead>),
    Cold(Cold),
}

impl Recent {
    pub(super) fn select(
        self,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Vec<(Labels, Vec<Sample>)> {
        match self {
            Recent::Head(h) => h.select(matchers, range),
            Recent::Cold(c) => c.select(),
        }
    }

    pub(super) fn label_sets(&self, matchers: &[LabelMatcher], range: TimeRange) -> Vec<Labels> {
        match self {
            Recent::Head(h) => h.label_sets(matchers, range),
            Recent::Cold(c) => c.label_sets(),
        }
    }

    pub(super) fn label_names(&self, range: TimeRange) -> Vec<String> {
        match self {
            Recent::Head(h) => h.label_names(range),
            Recent::Cold(c) => c.label_names(),
        }
    }

    pub(super) fn label_values(&self, name: &str, range: TimeRange) -> Vec<String> {
        match self {
            Recent::Head(h) => h.label_values(name, range),
            Recent::Cold(c) => c.label_values(name),
        }
    }
}

/// One object the head sync reads: a segment, or a pack holding only
/// segments claimed by this sync.
enum Unit {
    Segment(ObjectPath, i64),
    Pack(ObjectPath, i64),
}

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
    listings: Cache<TenantId, Arc<Listing>>,
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
    ) -> Result<Arc<Listing>, SourceError> {
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
        let mut keys: Vec<(u128, Listed)> = objects
            .into_iter()
            .filter_map(|o| {
                let id = SegmentKey::parse(&o.key)?.id();
                Some((u128::from(id), (o.key, id.timestamp_ms() as i64)))
            })
            .collect();
        keys.sort_by_key(|k| k.0);
        let (ulids, keys) = keys.into_iter().unzip();
        let listing = Arc::new(Listing { keys, ulids });
        if cached {
            self.listings.insert(tenant.clone(), listing.clone());
        }
        Ok(listing)
    }

    fn head_of(&self, tenant: &TenantId) -> Arc<TenantHead> {
        let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(TenantHead::new()))
            .clone()
    }

    /// The tenant's head (truncated to the watermark) when it is far
    /// behind the listing: more than [`COLD_AFTER`] listed segments neither
    /// in it nor handed over, or a catch-up under way. `None` when a sync
    /// brings it up to date. With the listing.
    async fn behind(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
        watermark_ms: i64,
    ) -> Result<(Option<Arc<TenantHead>>, Arc<Listing>), SourceError> {
        let head = self.head_of(tenant);
        head.truncate(watermark_ms);
        let listing = self.listing(store, tenant).await?;
        let far = head.catching_up.load(Ordering::Acquire) || {
            let handed = self.pending_keys(tenant);
            head.unclaimed(&listing.keys, watermark_ms, |k| handed.contains(k)) > COLD_AFTER
        };
        Ok((far.then_some(head), listing))
    }

    /// The recent data of a query over `range`: the head, brought up to
    /// date, or, when the head is far behind (or catching up), what a cold
    /// read of the packs and segments finds for `want`; then the head
    /// catches up in the background.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn recent(
        self: &Arc<Self>,
        store: &Arc<CachingBucket>,
        tenant: &TenantId,
        watermark_ms: i64,
        packs: &[PackEntry],
        want: Want<'_>,
        range: TimeRange,
    ) -> Result<Recent, SourceError> {
        let (head, listing) = self.behind(store, tenant, watermark_ms).await?;
        let Some(head) = head else {
            return Ok(Recent::Head(
                self.head(store, tenant, watermark_ms, packs).await?,
            ));
        };
        // As many reads in flight as the bucket wrapper allows: a cold read
        // is a few round trips of many small GETs.
        let width = self.read_concurrency * 4;
        let found = async {
            let held =
                packs::holdings(store, tenant, packs, &listing, watermark_ms, 0, width).await?;
            cold::read(store, &held, &listing, watermark_ms, want, range, width).await
        }
        .await;
        // The head catches up once this answer is in, so the first query
        // does not share the machine with it.
        self.catch_up(store, tenant, &head, watermark_ms, packs);
        Ok(Recent::Cold(found?))
    }

    /// The data objects above the watermark, for the results cache: the
    /// head's segments when it is current; else (cold, as in
    /// [`Self::recent`]) the packs, each written as its first segment, and
    /// the segments no pack holds, read as holding samples of any age.
    pub(super) async fn writes(
        self: &Arc<Self>,
        store: &Arc<CachingBucket>,
        tenant: &TenantId,
        watermark_ms: i64,
        packs: &[PackEntry],
    ) -> Result<Vec<crate::source::DataWrite>, SourceError> {
        use crate::source::DataWrite;
        let (head, listing) = self.behind(store, tenant, watermark_ms).await?;
        let Some(head) = head else {
            return Ok(self
                .head(store, tenant, watermark_ms, packs)
                .await?
                .writes());
        };
        let width = self.read_concurrency * 4;
        let held = packs::holdings(store, tenant, packs, &listing, watermark_ms, 0, width).await?;
        self.catch_up(store, tenant, &head, watermark_ms, packs);
        let mut out: Vec<DataWrite> = held
            .iter()
            .map(|h| DataWrite {
                id: crate::results::generation_of(&h.key),
                written_ms: h.segments.first().map_or(h.last_ms, |&p| listing.keys[p].1),
                min_time_ms: h.entry.min_time,
            })
            .collect();
        out.extend(
            packs::unpacked(&listing, &held, watermark_ms)
                .into_iter()
                .map(|pos| DataWrite {
                    id: crate::results::generation_of(&listing.keys[pos].0),
                    written_ms: listing.keys[pos].1,
                    min_time_ms: i64::MIN,
                }),
        );
        Ok(out)
    }

    /// Brings the tenant's head up to date in the background, unless that
    /// is under way.
    fn catch_up(
        self: &Arc<Self>,
        store: &Arc<CachingBucket>,
        tenant: &TenantId,
        head: &Arc<TenantHead>,
        watermark_ms: i64,
        packs: &[PackEntry],
    ) {
        let failed = *head
            .catch_up_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if failed.is_some_and(|at| at.elapsed() < CATCH_UP_RETRY)
            || head.catching_up.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (segments, store, tenant, head, packs) = (
            self.clone(),
            store.clone(),
            tenant.clone(),
            head.clone(),
            packs.to_vec(),
        );
        tokio::spawn(async move {
            let began = std::time::Instant::now();
            let done = segments.head(&store, &tenant, watermark_ms, &packs).await;
            *head
                .catch_up_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = done.is_err().then(std::time::Instant::now);
            match done {
                Ok(h) => info!(
                    tenant = %tenant,
                    series = h.stats().series,
                    seconds = began.elapsed().as_secs_f64(),
                    "the head of recent data caught up"
                ),
                Err(e) => {
                    warn!(tenant = %tenant, error = %e, retry_s = CATCH_UP_RETRY.as_secs(), "the head of recent data could not catch up; queries read the bucket until it does")
                }
            }
            head.catching_up.store(false, Ordering::Release);
        });
    }

    /// The tenant's head with every listed segment at or above
    /// `watermark_ms` in it, and nothing below it. Only segments not yet in
    /// the head are read, a pack whole where it holds only such segments;
    /// the listing is the cached one.
    pub(super) async fn head(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
        watermark_ms: i64,
        packs: &[PackEntry],
    ) -> Result<Arc<TenantHead>, SourceError> {
        let head = self.head_of(tenant);
        head.truncate(watermark_ms);
        let listing = self.listing(store, tenant).await?;
        let lock = head.clone();
        let _sync = lock.sync.lock().await;
        // Taken under the lock: a query that starts after a hand-over
        // either adds it or waits for the one that does.
        let mut handed: HashMap<ObjectPath, Bytes> = HashMap::new();
        let mut keys: Vec<Listed> = Vec::with_capacity(listing.keys.len());
        for (key, ulid, bytes) in self.take_pending(tenant) {
            keys.push((key.clone(), ulid));
            handed.insert(key, bytes);
        }
        keys.extend(listing.keys.iter().cloned());
        // In ULID order, so a later segment's value wins on equal times.
        keys.sort();
        let todo = head.claim(&keys, watermark_ms);
        let units = match self
            .units(store, tenant, &listing, &todo, &handed, watermark_ms, packs)
            .await
        {
            Ok(u) => u,
            Err(e) => {
                head.release(&todo);
                return Err(e);
            }
        };
        // Handed-over segments need no read. Each read is decoded (on a
        // blocking thread) as soon as it is in, while other reads wait;
        // units are added in order.
        let jobs: Vec<(ObjectPath, bool, Option<Bytes>)> = units
            .iter()
            .map(|(unit, _)| match unit {
                Unit::Segment(key, _) => (key.clone(), false, handed.remove(key)),
                Unit::Pack(key, _) => (key.clone(), true, None),
            })
            .collect();
        let reads = jobs.into_iter().map(|(key, pack, held)| async move {
            let bytes = match held {
                Some(b) => b,
                None => store.read(&key, None).await?,
            };
            let decoded = tokio::task::spawn_blocking(move || decode_unit(bytes, pack)).await;
            decoded
                .map_err(|e| segment_error(&key, e))?
                .map_err(|e| segment_error(&key, e))
        });
        let mut reads = stream::iter(reads).buffered(self.read_concurrency);
        let mut done = 0;
        while let Some(decoded) = reads.next().await {
            let (unit, _) = &units[done];
            let (key, ulid) = match unit {
                Unit::Segment(k, u) | Unit::Pack(k, u) => (k, *u),
            };
            let mut added = Ok(());
            match decoded {
                Ok(parts) => {
                    for d in parts {
                        added = self.apply(&head, key, ulid, d).await;
                        if added.is_err() {
                            break;
                        }
                    }
                }
                Err(e) => added = Err(e),
            }
            if let Err(e) = added {
                for (_, claims) in &units[done..] {
                    head.release(claims);
                }
                return Err(e);
            }
            done += 1;
        }
        Ok(head)
    }

    /// What a sync reads for the claimed segments `todo`: packs that hold
    /// only claimed segments (all of theirs), and the other segments one by
    /// one, in ULID order (a pack at its last segment), each with the
    /// claims it settles.
    #[allow(clippy::too_many_arguments)]
    async fn units(
        &self,
        store: &CachingBucket,
        tenant: &TenantId,
        listing: &Listing,
        todo: &[Listed],
        handed: &HashMap<ObjectPath, Bytes>,
        watermark_ms: i64,
        packs: &[PackEntry],
    ) -> Result<Vec<(Unit, Vec<Listed>)>, SourceError> {
        let mut order: Vec<(u128, Unit, Vec<Listed>)> = Vec::new();
        let mut taken: HashSet<&ObjectPath> = HashSet::new();
        // Packs pay off only when they replace many reads.
        let to_read = todo.iter().filter(|(k, _)| !handed.contains_key(k)).count();
        if !packs.is_empty() && to_read > 1 {
            let claimed: HashMap<&ObjectPath, i64> = todo.iter().map(|(k, u)| (k, *u)).collect();
            // Packs holding only segments the head already has are not
            // looked at (nor their indexes read): the oldest claim bounds
            // them.
            let oldest = todo
                .iter()
                .filter_map(|(k, _)| SegmentKey::parse(k))
                .map(|k| u128::from(k.id()))
                .min()
                .unwrap_or(0);
            let held: Vec<Held> = packs::holdings(
                store,
                tenant,
                packs,
                listing,
                watermark_ms,
                oldest,
                self.read_concurrency,
            )
            .await?;
            for h in held {
                let keys: Vec<&ObjectPath> =
                    h.segments.iter().map(|&p| &listing.keys[p].0).collect();
                let whole = keys.len() as u64 == h.entry.segments
                    && keys
                        .iter()
                        .all(|k| claimed.contains_key(k) && !handed.contains_key(*k));
                if !whole || keys.len() < 2 {
                    continue;
                }
                let claims = keys.iter().map(|k| ((*k).clone(), claimed[k])).collect();
                taken.extend(keys.iter().copied());
                order.push((h.last, Unit::Pack(h.key, h.last_ms), claims));
            }
        }
        for (key, ulid) in todo {
            if taken.contains(key) {
                continue;
            }
            let id = SegmentKey::parse(key)
                .map(|k| u128::from(k.id()))
                .unwrap_or(0);
            order.push((
                id,
                Unit::Segment(key.clone(), *ulid),
                vec![(key.clone(), *ulid)],
            ));
        }
        order.sort_by_key(|(id, _, _)| *id);
        Ok(order.into_iter().map(|(_, u, c)| (u, c)).collect())
    }

    /// Keys of the tenant's hand-overs not yet added.
    fn pending_keys(&self, tenant: &TenantId) -> HashSet<ObjectPath> {
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.by_tenant
            .get(tenant)
            .map(|q| q.iter().map(|(k, _, _)| k.clone()).collect())
            .unwrap_or_default()
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

/// A segment, or each group of a pack, checked and decoded.
fn decode_unit(bytes: Bytes, pack: bool) -> Result<Vec<Decoded>, stratus_codec::CodecError> {
    if !pack {
        return Ok(vec![Decoded::new(bytes)?]);
    }
    let index = stratus_codec::PackIndex::of_pack(&bytes)?;
    index
        .groups
        .iter()
        .map(|g| Decoded::new(bytes.slice(g.offset as usize..(g.offset + g.len) as usize)))
        .collect()
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
