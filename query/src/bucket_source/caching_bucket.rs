//! Reads of immutable objects (segments, block ranges and footers) through
//! one wrapper of the bucket: the shared object cache when there is one,
//! a cache of parsed block footers, and a bound on the GETs in flight.
//! Mutable objects (the catalog, listings) are not read through here.

use std::sync::Arc;

use futures::{stream, StreamExt, TryStreamExt};
use moka::sync::Cache;
use stratus_block::{BlockError, BlockFooter, Fetched, FOOTER_HINT};
use stratus_storage::{Bucket, ObjectPath, RangeCache, StorageError};

use crate::source::SourceError;

/// The bucket, as the reader of immutable objects sees it.
pub(super) struct CachingBucket {
    bucket: Bucket,
    /// Hybrid cache of object bytes shared with other readers; none: every
    /// read goes to the bucket.
    object_cache: Option<Arc<RangeCache>>,
    footers: Cache<ObjectPath, Arc<BlockFooter>>,
    /// Bounds the GETs in flight: blocks, their ranges and segments are
    /// all read concurrently.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Ranged reads of one object in flight at once.
    read_concurrency: usize,
}

impl CachingBucket {
    pub(super) fn new(
        bucket: Bucket,
        object_cache: Option<Arc<RangeCache>>,
        read_concurrency: usize,
    ) -> Self {
        let read_concurrency = read_concurrency.max(1);
        Self {
            bucket,
            object_cache,
            footers: Cache::builder().max_capacity(20_000).build(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(read_concurrency * 4)),
            read_concurrency,
        }
    }

    /// The bucket itself, for mutable objects (catalog, listings).
    pub(super) fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Bytes `range` (or all) of an immutable object, through the object
    /// cache when there is one.
    pub(super) async fn read(
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
        Ok(match &self.object_cache {
            Some(c) => {
                c.get_or_fetch(RangeCache::key(key.as_ref(), range.as_ref()), get)
                    .await?
            }
            None => get.await?,
        })
    }

    /// Reads `ranges` of an immutable object into `into`.
    pub(super) async fn fetch(
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
            .buffered(self.read_concurrency)
            .try_collect()
            .await?;
        for (r, b) in got {
            into.insert(r, b)
                .map_err(|e| SourceError::corrupt(key, format!("block {key}: {e}")))?;
        }
        Ok(())
    }

    /// The parsed footer of the block at `key`, `len` bytes long.
    pub(super) async fn footer(
        &self,
        key: &ObjectPath,
        len: u64,
    ) -> Result<Arc<BlockFooter>, SourceError> {
        Ok(self.footer_and_tail(key, len).await?.0)
    }

    /// As [`CachingBucket::footer`], with the tail of the file read for
    /// it (when it was read now, not found parsed): the footer hint
    /// covers the last column chunks too, or a small block whole, so a
    /// reader need not fetch those bytes again.
    pub(super) async fn footer_and_tail(
        &self,
        key: &ObjectPath,
        len: u64,
    ) -> Result<
        (
            Arc<BlockFooter>,
            Option<(std::ops::Range<u64>, bytes::Bytes)>,
        ),
        SourceError,
    > {
        if let Some(f) = self.footers.get(key) {
            return Ok((f, None));
        }
        let mut want = FOOTER_HINT.min(len);
        loop {
            let tail = self.read(key, Some(len - want..len)).await?;
            match BlockFooter::parse(len, &tail) {
                Ok(f) => {
                    let f = Arc::new(f);
                    self.footers.insert(key.clone(), f.clone());
                    return Ok((f, Some((len - want..len, tail))));
                }
                Err(BlockError::NeedMore { bytes, .. }) if bytes > want && bytes <= len => {
                    want = bytes
                }
                Err(e) => return Err(SourceError::corrupt(key, format!("block {key}: {e}"))),
            }
        }
    }
}
