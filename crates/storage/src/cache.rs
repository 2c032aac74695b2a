//! A hybrid (memory + local disk) cache of immutable object bytes, on the
//! `foyer` crate: whole segments and byte ranges of Parquet blocks. Keys
//! are the object's path plus the range; segment and block paths carry a
//! ULID that is never reused, so a key always names the same bytes and an
//! entry can never be stale. Never put mutable objects (the catalog) here.

use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use foyer::{
    BlockEngineConfig, DeviceBuilder, Event, EventListener, FsDeviceBuilder, HybridCache,
    HybridCacheBuilder, HybridCachePolicy, RejectAll, Statistics, StorageFilter,
    StorageFilterCondition, StorageFilterResult,
};

use crate::error::{Result, StorageError};

/// Memory for disk writes being flushed.
const DISK_WRITE_BUFFER_BYTES: usize = 64 << 20;
/// Disk writes waiting beyond this are skipped (the entry stays in memory
/// until evicted).
const DISK_WRITE_QUEUE_BYTES: usize = 512 << 20;

/// Sizes of the two tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCacheConfig {
    /// Memory tier, in bytes of cached data.
    pub memory_bytes: usize,
    /// Folder of the disk tier (`/tmp/...` in Lambda); none: memory only.
    pub disk_dir: Option<PathBuf>,
    /// Disk tier, in bytes.
    pub disk_bytes: usize,
}

impl Default for RangeCacheConfig {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            disk_dir: None,
            disk_bytes: 1 << 30,
        }
    }
}

/// Hits, misses and evictions so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Entries the memory tier evicted to make room (they stay on the disk
    /// tier when there is one), and their bytes.
    pub memory_evictions: u64,
    pub memory_evicted_bytes: u64,
    /// Entries the disk tier dropped when it reclaimed space, and their
    /// bytes on disk.
    pub disk_evictions: u64,
    pub disk_evicted_bytes: u64,
}

pub struct RangeCache {
    inner: HybridCache<String, Bytes>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: Arc<Evictions>,
    disk_evictions: Arc<Evictions>,
}

/// Counts what a tier evicts.
#[derive(Debug, Default)]
struct Evictions {
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl EventListener for Evictions {
    type Key = String;
    type Value = Bytes;

    fn on_leave(&self, reason: Event, key: &String, value: &Bytes) {
        if matches!(reason, Event::Evict) {
            self.entries.fetch_add(1, Ordering::Relaxed);
            self.bytes
                .fetch_add((key.len() + value.len()) as u64, Ordering::Relaxed);
        }
    }
}

/// Counts what the disk tier drops: when it reclaims a block of the disk
/// to make room, foyer asks its reinsertion filter about every entry in
/// the block. This condition counts and admits; the `RejectAll` after it
/// drops them all, as foyer's default filter does.
#[derive(Debug)]
struct CountDiskDrops(Arc<Evictions>);

impl StorageFilterCondition for CountDiskDrops {
    fn filter(&self, _: &Arc<Statistics>, _: u64, size: usize) -> StorageFilterResult {
        self.0.entries.fetch_add(1, Ordering::Relaxed);
        self.0.bytes.fetch_add(size as u64, Ordering::Relaxed);
        StorageFilterResult::Admit
    }
}

impl std::fmt::Debug for RangeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeCache")
            .field("counts", &self.counts())
            .finish()
    }
}

fn cache_err(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Config(format!("cache: {what}: {e}"))
}

impl RangeCache {
    /// Builds the cache; the disk tier's folder is created if missing.
    pub async fn new(cfg: &RangeCacheConfig) -> Result<Self> {
        // Entries go to disk as they are inserted, so the disk tier also
        // survives a restart of the process (it is recovered on open).
        let evictions = Arc::new(Evictions::default());
        let disk_evictions = Arc::new(Evictions::default());
        let builder = HybridCacheBuilder::new()
            .with_name("stratus-objects")
            .with_event_listener(evictions.clone())
            .with_policy(HybridCachePolicy::WriteOnInsertion)
            .memory(cfg.memory_bytes.max(1 << 20))
            .with_weighter(|k: &String, v: &Bytes| k.len() + v.len())
            .storage();
        let builder = match &cfg.disk_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    cache_err(
                        &format!("creating the disk tier folder {}", dir.display()),
                        e,
                    )
                })?;
                let device = FsDeviceBuilder::new(dir)
                    .with_capacity(cfg.disk_bytes.max(64 << 20))
                    .build()
                    .map_err(|e| cache_err("opening the disk tier", e))?;
                // A cold query inserts up to about a hundred MiB of ranges
                // at once; foyer skips disk writes past its submit queue
                // (16 MiB by default), and a skipped range evicted from
                // memory later costs a GET on a dashboard refresh.
                builder.with_engine_config(
                    BlockEngineConfig::new(device)
                        .with_buffer_pool_size(DISK_WRITE_BUFFER_BYTES)
                        .with_submit_queue_size_threshold(DISK_WRITE_QUEUE_BYTES)
                        .with_reinsertion_filter(
                            StorageFilter::new()
                                .with_condition(CountDiskDrops(disk_evictions.clone()))
                                .with_condition(RejectAll),
                        ),
                )
            }
            None => builder,
        };
        let inner = builder
            .build()
            .await
            .map_err(|e| cache_err("building", e))?;
        Ok(Self {
            inner,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions,
            disk_evictions,
        })
    }

    /// The cache key of `range` of the object at `path`; `None`: the whole
    /// object.
    pub fn key(path: &str, range: Option<&Range<u64>>) -> String {
        match range {
            Some(r) => format!("{path}#{}-{}", r.start, r.end),
            None => format!("{path}#all"),
        }
    }

    /// The cached bytes of `key`, or those `fetch` brings, which are then
    /// cached.
    pub async fn get_or_fetch<F>(&self, key: String, fetch: F) -> Result<Bytes>
    where
        F: Future<Output = Result<Bytes>>,
    {
        if let Ok(Some(e)) = self.inner.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(e.value().clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let bytes = fetch.await?;
        self.inner.insert(key, bytes.clone());
        Ok(bytes)
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            memory_evictions: self.evictions.entries.load(Ordering::Relaxed),
            memory_evicted_bytes: self.evictions.bytes.load(Ordering::Relaxed),
            disk_evictions: self.disk_evictions.entries.load(Ordering::Relaxed),
            disk_evicted_bytes: self.disk_evictions.bytes.load(Ordering::Relaxed),
        }
    }

    /// Writes what is in flight to the disk tier and stops it.
    pub async fn close(&self) -> Result<()> {
        self.inner
            .close()
            .await
            .map_err(|e| cache_err("closing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_from_memory_and_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = RangeCacheConfig {
            memory_bytes: 1 << 20,
            disk_dir: Some(dir.path().join("cache")),
            disk_bytes: 64 << 20,
        };
        let cache = RangeCache::new(&cfg).await.expect("cache");
        let key = RangeCache::key("tenants/t/blocks/01J.parquet", Some(&(0..4)));
        let got = cache
            .get_or_fetch(key.clone(), async { Ok(Bytes::from_static(b"abcd")) })
            .await
            .expect("fetch");
        assert_eq!(&got[..], b"abcd");
        let never = || async { Err(StorageError::Config("must not be fetched".into())) };
        // Second time: from memory, no fetch.
        let again = cache.get_or_fetch(key.clone(), never()).await.expect("hit");
        assert_eq!(&again[..], b"abcd");
        assert_eq!((cache.counts().hits, cache.counts().misses), (1, 1));
        cache.close().await.expect("close");
        drop(cache);
        // A new process: memory is empty, the disk tier still has it.
        let reopened = RangeCache::new(&cfg).await.expect("reopen");
        let from_disk = reopened.get_or_fetch(key, never()).await.expect("disk hit");
        assert_eq!(&from_disk[..], b"abcd");
        assert_eq!((reopened.counts().hits, reopened.counts().misses), (1, 0));
        assert_ne!(
            RangeCache::key("a", None),
            RangeCache::key("a", Some(&(0..1)))
        );
    }

    fn key(i: u64) -> String {
        RangeCache::key("tenants/t/blocks/01J.parquet", Some(&(i..i + 1)))
    }

    /// Entry `i` through a miss: `size` bytes of `i as u8`.
    async fn insert(cache: &RangeCache, i: u64, size: usize) {
        cache
            .get_or_fetch(key(i), async move { Ok(Bytes::from(vec![i as u8; size])) })
            .await
            .expect("fetch");
    }

    /// A cache with 1 MiB of memory and `disk_bytes` of disk in a fresh
    /// folder (kept as long as the returned guard).
    async fn with_disk(disk_bytes: usize) -> (tempfile::TempDir, RangeCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = RangeCacheConfig {
            memory_bytes: 1 << 20,
            disk_dir: Some(dir.path().join("cache")),
            disk_bytes,
        };
        let cache = RangeCache::new(&cfg).await.expect("cache");
        (dir, cache)
    }

    #[tokio::test]
    async fn counts_what_the_memory_tier_evicts() {
        let cfg = RangeCacheConfig {
            memory_bytes: 1 << 20,
            disk_dir: None,
            disk_bytes: 0,
        };
        let cache = RangeCache::new(&cfg).await.expect("cache");
        // 64 entries of 64 KiB: four times the memory tier.
        for i in 0..64u64 {
            insert(&cache, i, 64 << 10).await;
        }
        let c = cache.counts();
        assert_eq!(c.misses, 64);
        assert!(
            c.memory_evictions >= 40,
            "1 MiB holds at most 16 entries of 64 KiB, so at least 48 of 64 must have been evicted (some slack for sharding): {c:?}"
        );
        assert!(
            c.memory_evicted_bytes >= c.memory_evictions * (64 << 10),
            "{c:?}"
        );
        assert_eq!((c.disk_evictions, c.disk_evicted_bytes), (0, 0));
    }

    #[tokio::test]
    async fn a_burst_of_inserts_reaches_the_disk_tier() {
        let (_dir, cache) = with_disk(256 << 20).await;
        // 96 MiB at once, as a cold query's block ranges come: six times
        // foyer's default write queue.
        for i in 0..96u64 {
            insert(&cache, i, 1 << 20).await;
        }
        cache.inner.storage().wait().await;
        let never = || async { Err(StorageError::Config("must not be fetched".into())) };
        for i in 0..96u64 {
            let got = cache.get_or_fetch(key(i), never()).await;
            assert!(
                got.as_ref()
                    .is_ok_and(|b| b.len() == 1 << 20 && b[0] == i as u8),
                "entry {i} is neither in memory nor on disk"
            );
        }
    }

    #[tokio::test]
    async fn counts_what_the_disk_tier_drops() {
        let (_dir, cache) = with_disk(64 << 20).await;
        // 192 entries of 1 MiB: three times the disk tier.
        for i in 0..192u64 {
            insert(&cache, i, 1 << 20).await;
            // Reclaiming runs in the background: let each write and the
            // reclaim it started finish, so every drop is counted.
            cache.inner.storage().wait().await;
        }
        let c = cache.counts();
        assert!(
            c.disk_evictions >= 128,
            "64 MiB of disk holds at most 64 entries of 1 MiB, so at least 128 of 192 had to go: {c:?}"
        );
        assert!(
            c.disk_evicted_bytes >= c.disk_evictions * (1 << 20),
            "{c:?}"
        );
    }
}
