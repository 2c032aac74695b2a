//! A local folder as a bucket, with the conditional writes that
//! `object_store`'s `LocalFileSystem` lacks.
//!
//! Every write is fsynced (file and directory) before it returns, so an
//! acknowledged segment survives a crash of the process and of the machine.
//! `PutMode::Create` is atomic in `LocalFileSystem` already (hard link).
//! `PutMode::Update` (if-match) is done here under an exclusive `flock` on
//! `<root>/.stratus-cas.lock`, so two processes sharing the folder can never
//! both win: read the current ETag, compare, then atomically replace.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

const LOCK_FILE: &str = ".stratus-cas.lock";

#[derive(Debug)]
pub struct LocalStore {
    inner: Arc<LocalFileSystem>,
    lock_path: PathBuf,
}

impl LocalStore {
    /// Opens (and creates if needed) the folder `root` as a bucket.
    pub fn new(root: &FsPath) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let inner = LocalFileSystem::new_with_prefix(&root)
            .map_err(std::io::Error::other)?
            .with_automatic_cleanup(true)
            .with_fsync(true);
        Ok(Self {
            inner: Arc::new(inner),
            lock_path: root.join(LOCK_FILE),
        })
    }

    async fn put_if_match(
        &self,
        location: &Path,
        payload: PutPayload,
        expected: object_store::UpdateVersion,
    ) -> object_store::Result<PutResult> {
        let lock_path = self.lock_path.clone();
        let lock = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| object_store::Error::JoinError { source: e })?
        .map_err(|e| object_store::Error::Generic {
            store: "LocalStore",
            source: Box::new(e),
        })?;
        // The lock is held until `lock` drops at the end of this function.
        let current = match self.inner.head(location).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { path, source }) => {
                return Err(object_store::Error::Precondition { path, source })
            }
            Err(e) => return Err(e),
        };
        if current.e_tag != expected.e_tag {
            return Err(object_store::Error::Precondition {
                path: location.to_string(),
                source: format!(
                    "etag is {:?}, the write expected {:?}",
                    current.e_tag, expected.e_tag
                )
                .into(),
            });
        }
        let result = self
            .inner
            .put_opts(location, payload, PutOptions::default())
            .await;
        drop(lock);
        result
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match opts.mode {
            PutMode::Update(v) => self.put_if_match(location, payload, v).await,
            _ => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
