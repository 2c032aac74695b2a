//! [`Bucket`]: the one handle through which Stratus reads and writes objects.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};
use stratus_model::TenantId;
use tracing::{debug, warn};

use crate::{keys, LocalStore, Result, RetryPolicy, StorageBackend, StorageConfig, StorageError};

/// What a conditional write compares against: the ETag (and version, where
/// the store has versions) seen when the object was read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

/// An object as a listing or a HEAD shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: Path,
    pub size: u64,
    pub last_modified_ms: i64,
    pub version: ObjectVersion,
}

impl From<object_store::ObjectMeta> for ObjectInfo {
    fn from(m: object_store::ObjectMeta) -> Self {
        Self {
            key: m.location,
            size: m.size,
            last_modified_ms: m.last_modified.timestamp_millis(),
            version: ObjectVersion {
                e_tag: m.e_tag,
                version: m.version,
            },
        }
    }
}

/// A bucket: an object store plus retries and per-attempt timeouts.
/// Cheap to clone.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    retry: RetryPolicy,
    /// The local folder behind `store`, when it is one: the only backend
    /// that can leave staging files of killed uploads behind.
    local: Option<Arc<LocalStore>>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.store)
    }
}

impl Bucket {
    pub fn new(store: Arc<dyn ObjectStore>, retry: RetryPolicy) -> Self {
        Self {
            store,
            retry,
            local: None,
        }
    }

    /// A local folder as a bucket (see [`LocalStore`]).
    pub fn local(store: Arc<LocalStore>, retry: RetryPolicy) -> Self {
        Self {
            store: store.clone(),
            retry,
            local: Some(store),
        }
    }

    /// An empty in-memory bucket, for tests.
    pub fn in_memory() -> Self {
        Self::new(Arc::new(InMemory::new()), RetryPolicy::default())
    }

    /// Opens the bucket a configuration describes.
    pub fn from_config(config: &StorageConfig) -> Result<Self> {
        config.validate()?;
        let store: Arc<dyn ObjectStore> = match config.backend {
            StorageBackend::Memory => Arc::new(InMemory::new()),
            StorageBackend::Local => {
                let local = LocalStore::new(&config.data_dir).map_err(|e| {
                    StorageError::Config(format!(
                        "cannot use {} as the data folder: {e}",
                        config.data_dir.display()
                    ))
                })?;
                return Ok(Self::local(Arc::new(local), config.retry.clone()));
            }
            StorageBackend::S3 => {
                let s3 = &config.s3;
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_virtual_hosted_style_request(!s3.path_style)
                    // Retries are ours (bounded for ingest latency), not the client's.
                    .with_retry(object_store::RetryConfig {
                        max_retries: 0,
                        ..Default::default()
                    })
                    .with_client_options(
                        ClientOptions::new()
                            .with_timeout(s3.request_timeout)
                            .with_connect_timeout(Duration::from_secs(5)),
                    );
                if let Some(region) = &s3.region {
                    b = b.with_region(region);
                }
                if let Some(endpoint) = &s3.endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                if let Some(t) = &s3.session_token {
                    b = b.with_token(t);
                }
                Arc::new(b.build().map_err(|e| StorageError::Config(e.to_string()))?)
            }
        };
        Ok(Self::new(store, config.retry.clone()))
    }

    /// The underlying store, for readers that need `object_store` directly
    /// (e.g. Parquet's async reader). Bypasses retries.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Runs `f` until it succeeds, fails for good, or attempts run out.
    async fn with_retry<T, F, Fut>(&self, op: &'static str, key: &Path, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let mut attempt = 1;
        loop {
            let timeout = self.retry.attempt_timeout;
            let err = match tokio::time::timeout(timeout, f()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => StorageError::from_store(op, key.as_ref(), e),
                Err(_) => StorageError::Timeout {
                    op,
                    key: key.to_string(),
                    timeout,
                },
            };
            if !err.is_retryable() || attempt >= self.retry.max_attempts {
                return Err(err);
            }
            let backoff = self.retry.backoff(attempt);
            warn!(op, key = %key, attempt, ?backoff, error = %err, "storage call failed, retrying");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn put_mode(
        &self,
        op: &'static str,
        key: &Path,
        data: Bytes,
        mode: PutMode,
    ) -> Result<ObjectVersion> {
        let r = self
            .with_retry(op, key, || {
                let opts = PutOptions {
                    mode: mode.clone(),
                    ..Default::default()
                };
                self.store
                    .put_opts(key, PutPayload::from_bytes(data.clone()), opts)
            })
            .await?;
        Ok(ObjectVersion {
            e_tag: r.e_tag,
            version: r.version,
        })
    }

    /// Writes `data` at `key`, replacing what was there.
    pub async fn put(&self, key: &Path, data: Bytes) -> Result<ObjectVersion> {
        self.put_mode("put", key, data, PutMode::Overwrite).await
    }

    /// Writes `data` only if nothing is at `key` (`If-None-Match: *`), else
    /// [`StorageError::AlreadyExists`]. After an attempt whose outcome was
    /// unknown (timeout), a retry may report `AlreadyExists` for our own
    /// write: callers that care re-read the object.
    pub async fn put_if_absent(&self, key: &Path, data: Bytes) -> Result<ObjectVersion> {
        self.put_mode("put_if_absent", key, data, PutMode::Create)
            .await
    }

    /// Replaces the object at `key` only if it is still at `expected`
    /// (`If-Match`), else [`StorageError::PreconditionFailed`]. The same
    /// caveat as [`Bucket::put_if_absent`] applies to ambiguous retries.
    pub async fn put_if_match(
        &self,
        key: &Path,
        data: Bytes,
        expected: &ObjectVersion,
    ) -> Result<ObjectVersion> {
        let mode = PutMode::Update(UpdateVersion {
            e_tag: expected.e_tag.clone(),
            version: expected.version.clone(),
        });
        self.put_mode("put_if_match", key, data, mode).await
    }

    /// Reads a whole object with the version to pass to a conditional write.
    pub async fn get(&self, key: &Path) -> Result<(Bytes, ObjectVersion)> {
        self.with_retry("get", key, || async {
            let r = self.store.get(key).await?;
            let version = ObjectVersion {
                e_tag: r.meta.e_tag.clone(),
                version: r.meta.version.clone(),
            };
            Ok((r.bytes().await?, version))
        })
        .await
        .inspect(|(b, _)| crate::stats::record_get(b.len() as u64))
    }

    /// Reads bytes `range` of an object.
    pub async fn get_range(&self, key: &Path, range: Range<u64>) -> Result<Bytes> {
        self.with_retry("get_range", key, || {
            self.store.get_range(key, range.clone())
        })
        .await
        .inspect(|b| crate::stats::record_get(b.len() as u64))
    }

    pub async fn head(&self, key: &Path) -> Result<ObjectInfo> {
        self.with_retry("head", key, || self.store.head(key))
            .await
            .map(ObjectInfo::from)
    }

    /// Deletes `key`; deleting a missing object succeeds.
    pub async fn delete(&self, key: &Path) -> Result<()> {
        match self
            .with_retry("delete", key, || self.store.delete(key))
            .await
        {
            Err(StorageError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Every object under `prefix`, sorted by key.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<ObjectInfo>> {
        crate::stats::record_list();
        let mut out: Vec<ObjectInfo> = self
            .with_retry("list", prefix, || {
                self.store
                    .list(Some(prefix))
                    .map_ok(ObjectInfo::from)
                    .try_collect::<Vec<_>>()
            })
            .await?;
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Objects under `prefix` whose key sorts after `offset`, sorted by key.
    /// S3 pushes the offset down (`start-after`), so this is the cheap way to
    /// list what arrived since a known key.
    pub async fn list_after(&self, prefix: &Path, offset: &Path) -> Result<Vec<ObjectInfo>> {
        crate::stats::record_list();
        let mut out: Vec<ObjectInfo> = self
            .with_retry("list", prefix, || {
                self.store
                    .list_with_offset(Some(prefix), offset)
                    .map_ok(ObjectInfo::from)
                    .try_collect::<Vec<_>>()
            })
            .await?;
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The names of the "folders" directly under `prefix`, sorted.
    pub async fn list_dirs(&self, prefix: &Path) -> Result<Vec<String>> {
        crate::stats::record_list();
        let r = self
            .with_retry("list", prefix, || {
                self.store.list_with_delimiter(Some(prefix))
            })
            .await?;
        let mut dirs: Vec<String> = r
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        dirs.sort_unstable();
        Ok(dirs)
    }

    /// Every tenant with a folder under `tenants/`, sorted by folder name.
    /// The one way tenants are discovered (compactor, ruler, notifier,
    /// admin commands): folder names are unescaped by
    /// [`keys::tenant_from_dir`], the reverse of how keys are built.
    pub async fn tenants(&self) -> Result<Vec<TenantId>> {
        let dirs = self.list_dirs(&keys::tenants_root()).await?;
        Ok(dirs
            .iter()
            .filter_map(|d| {
                let t = keys::tenant_from_dir(d);
                if t.is_none() {
                    debug!(folder = %d, "ignoring a tenants/ folder that is not an escaped tenant id");
                }
                t
            })
            .collect())
    }

    /// Removes the staging files that killed uploads left under `prefix`
    /// of a local-folder bucket, and returns how many. `object_store`'s
    /// local store writes each object to `<key>#<n>` and renames it into
    /// place; a process killed in between leaves the staging file, which
    /// no listing shows and nothing else removes. Only files last
    /// modified more than `older_than` ago are removed, so no upload in
    /// flight (in this process or another sharing the folder) loses its
    /// file. Other backends have no such files: 0.
    pub async fn remove_staging_leftovers(
        &self,
        prefix: &Path,
        older_than: Duration,
    ) -> Result<usize> {
        let Some(local) = self.local.clone() else {
            return Ok(0);
        };
        let at = prefix.clone();
        tokio::task::spawn_blocking(move || local.remove_staging_leftovers(&at, older_than))
            .await
            .map_err(|e| StorageError::from_store("delete", prefix.as_ref(), e.into()))?
            .map_err(|e| {
                StorageError::from_store(
                    "delete",
                    prefix.as_ref(),
                    object_store::Error::Generic {
                        store: "LocalStore",
                        source: Box::new(e),
                    },
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FaultConfig, FaultyStore};

    fn faulty(fail_ratio: f64, attempts: u32) -> (Arc<FaultyStore>, Bucket) {
        let store = Arc::new(FaultyStore::new(
            Arc::new(InMemory::new()),
            FaultConfig {
                fail_ratio,
                ..Default::default()
            },
        ));
        let policy = RetryPolicy {
            max_attempts: attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            attempt_timeout: Duration::from_millis(200),
        };
        (store.clone(), Bucket::new(store, policy))
    }

    #[tokio::test]
    async fn retries_until_attempts_run_out() {
        let (store, bucket) = faulty(1.0, 3);
        let err = bucket
            .put(&Path::from("a"), Bytes::from_static(b"x"))
            .await
            .expect_err("always failing");
        assert!(err.is_retryable(), "{err}");
        assert_eq!(store.calls(), 3);
    }

    #[tokio::test]
    async fn missing_objects_are_not_retried() {
        let (store, bucket) = faulty(0.0, 5);
        let err = bucket.get(&Path::from("nope")).await.expect_err("missing");
        assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
        assert_eq!(store.calls(), 1);
    }

    #[tokio::test]
    async fn stalled_calls_time_out_and_are_retried() {
        let (store, bucket) = faulty(0.0, 2);
        store.set_config(FaultConfig {
            stall_ratio: 1.0,
            stall: Duration::from_secs(30),
            ..Default::default()
        });
        let err = bucket
            .put(&Path::from("a"), Bytes::from_static(b"x"))
            .await
            .expect_err("stalled");
        assert!(matches!(err, StorageError::Timeout { .. }), "{err}");
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test]
    async fn a_flaky_store_is_survived_by_retrying() {
        let (store, bucket) = faulty(0.5, 30);
        for i in 0..20 {
            let key = Path::from(format!("k{i}"));
            bucket
                .put(&key, Bytes::from(vec![i as u8]))
                .await
                .expect("retried put");
            let (data, _) = bucket.get(&key).await.expect("retried get");
            assert_eq!(data.as_ref(), [i as u8]);
        }
        assert!(store.injected_failures() > 0);
    }
}
