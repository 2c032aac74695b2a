//! A wrapper that makes any store fail, stall or slow down on demand: for
//! the failure tests real stores cannot produce at will, and for benchmarks
//! that need object-storage latency on one machine.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// What to inject. Ratios are between 0 and 1 and drawn per call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Share of calls that fail at once with a retryable error.
    pub fail_ratio: f64,
    /// Share of calls that stall for `stall` before going through (set it
    /// beyond the attempt timeout to simulate a hung request).
    pub stall_ratio: f64,
    #[serde(with = "stratus_model::time::serde_duration")]
    pub stall: Duration,
    /// Added to every call, like the first-byte latency of object storage.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub latency: Duration,
    /// Only writes (put, delete, copy) are affected when true.
    pub writes_only: bool,
    /// What an injected failure looks like.
    pub fail_with: InjectedFailure,
    /// Calls about a key starting with this panic, for tests of what
    /// survives a panic (a bug) in code that uses the store.
    pub panic_on_prefix: Option<String>,
}

/// The error an injected failure returns, shaped like what the real
/// backends return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectedFailure {
    /// A retryable backend error (a dropped connection, a 5xx).
    #[default]
    Unreachable,
    /// A local folder whose disk is full, as `LocalFileSystem` reports it
    /// (`Generic LocalFileSystem error: Unable to copy data to file: ...`
    /// around an `ENOSPC` `io::Error`).
    Full,
    /// An S3-style 403.
    Denied,
}

/// Wraps a store and injects the faults of a [`FaultConfig`] that can be
/// changed while it runs.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    config: RwLock<FaultConfig>,
    calls: AtomicU64,
    injected_failures: AtomicU64,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, config: FaultConfig) -> Self {
        Self {
            inner,
            config: RwLock::new(config),
            calls: AtomicU64::new(0),
            injected_failures: AtomicU64::new(0),
        }
    }

    pub fn set_config(&self, config: FaultConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    pub fn config(&self) -> FaultConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Calls that reached the wrapper.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls failed on purpose.
    pub fn injected_failures(&self) -> u64 {
        self.injected_failures.load(Ordering::Relaxed)
    }

    /// Decides the fate of one call: the delay before it, and whether it
    /// then fails.
    fn draw(&self, write: bool) -> (Duration, bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let cfg = self.config();
        if cfg.writes_only && !write {
            return (Duration::ZERO, false);
        }
        let mut rng = rand::rng();
        let stall = rng.random_bool(cfg.stall_ratio.clamp(0.0, 1.0));
        let fail = rng.random_bool(cfg.fail_ratio.clamp(0.0, 1.0));
        if fail {
            self.injected_failures.fetch_add(1, Ordering::Relaxed);
        }
        let delay = cfg.latency + if stall { cfg.stall } else { Duration::ZERO };
        (delay, fail)
    }

    /// Applies latency, stalls and failures for one call.
    async fn before(&self, op: &'static str, write: bool) -> object_store::Result<()> {
        let (delay, fail) = self.draw(write);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if fail {
            return Err(injected(op, self.config().fail_with));
        }
        Ok(())
    }

    /// What every call does before it reaches the inner store: the panic
    /// on a configured prefix, then latency, stalls and failures.
    async fn enter(
        &self,
        op: &'static str,
        key: Option<&Path>,
        write: bool,
    ) -> object_store::Result<()> {
        self.maybe_panic(op, key);
        self.before(op, write).await
    }

    /// Panics if `key` is under the configured panic prefix.
    fn maybe_panic(&self, op: &'static str, key: Option<&Path>) {
        let cfg = self.config();
        let (Some(prefix), Some(key)) = (cfg.panic_on_prefix, key) else {
            return;
        };
        if key.as_ref().starts_with(prefix.as_str()) {
            panic!("FaultyStore: injected panic in {op} of {key}");
        }
    }

    /// The streaming form of [`Self::before`]: the stream is made only if
    /// the call is not failed.
    fn gated_stream<T: Send + 'static>(
        &self,
        op: &'static str,
        write: bool,
        make: impl FnOnce() -> BoxStream<'static, object_store::Result<T>>,
    ) -> BoxStream<'static, object_store::Result<T>> {
        let (delay, fail) = self.draw(write);
        let wait = stream::once(tokio::time::sleep(delay)).filter_map(|_| async { None });
        if fail {
            let kind = self.config().fail_with;
            return wait
                .chain(stream::once(async move { Err(injected(op, kind)) }))
                .boxed();
        }
        wait.chain(make()).boxed()
    }
}

fn injected(op: &'static str, kind: InjectedFailure) -> object_store::Error {
    match kind {
        InjectedFailure::Unreachable => object_store::Error::Generic {
            store: "FaultyStore",
            source: format!("injected failure of {op}").into(),
        },
        InjectedFailure::Full => object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(CopyError(std::io::Error::from_raw_os_error(28))),
        },
        InjectedFailure::Denied => object_store::Error::PermissionDenied {
            path: format!("injected denial of {op}"),
            source: "Server returned non-2xx status code: 403 Forbidden".into(),
        },
    }
}

/// The shape of `LocalFileSystem`'s write error (its own type is private).
#[derive(Debug)]
struct CopyError(std::io::Error);

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unable to copy data to file: {}", self.0)
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner.to_string())
            .field("config", &self.config())
            .finish()
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.enter("put", Some(location), true).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.enter("put_multipart", Some(location), true).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.enter("get", Some(location), false).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.enter("get_ranges", Some(location), false).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let inner = self.inner.clone();
        self.gated_stream("delete", true, move || inner.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.maybe_panic("list", prefix);
        let inner = self.inner.clone();
        let prefix = prefix.cloned();
        self.gated_stream("list", false, move || inner.list(prefix.as_ref()))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.maybe_panic("list", prefix);
        let inner = self.inner.clone();
        let (prefix, offset) = (prefix.cloned(), offset.clone());
        self.gated_stream("list", false, move || {
            inner.list_with_offset(prefix.as_ref(), &offset)
        })
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.enter("list", prefix, false).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.enter("copy", Some(to), true).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.enter("rename", Some(to), true).await?;
        self.inner.rename_opts(from, to, options).await
    }
}
