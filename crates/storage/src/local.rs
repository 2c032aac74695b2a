//! A local folder as a bucket, with the conditional writes that
//! `object_store`'s `LocalFileSystem` lacks.
//!
//! Every write is fsynced (file and directory) before it returns, so an
//! acknowledged segment survives a crash of the process and of the machine.
//! `PutMode::Create` is atomic in `LocalFileSystem` already (hard link).
//! `PutMode::Update` (if-match) is done here under an exclusive `flock` on
//! `<root>/.stratus-cas.lock`, so two processes sharing the folder can never
//! both win: read the current ETag, compare, then atomically replace.
//!
//! `LocalFileSystem` stages every write in `<file>#<n>` and renames it into
//! place; a process killed in between leaves the staging file behind,
//! hidden from listings. [`LocalStore::remove_staging_leftovers`] removes
//! old ones.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

    /// Removes staging files (`<name>#<digits>`) under the folder of
    /// `prefix` last modified more than `older_than` ago; returns how many.
    /// Blocking: call it off the async workers.
    pub fn remove_staging_leftovers(
        &self,
        prefix: &Path,
        older_than: Duration,
    ) -> std::io::Result<usize> {
        let dir = self
            .inner
            .path_to_filesystem(prefix)
            .map_err(std::io::Error::other)?;
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        let mut todo = vec![dir];
        while let Some(dir) = todo.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                // Not following links: the walk stays inside the folder.
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    todo.push(entry.path());
                    continue;
                }
                if !kind.is_file() || !is_staging_name(&entry.file_name().to_string_lossy()) {
                    continue;
                }
                let modified = entry.metadata()?.modified()?;
                if modified > cutoff {
                    continue;
                }
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    // Renamed into place or removed by someone else meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
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

/// `LocalFileSystem`'s staging names: `<name>#<digits>` (it hides exactly
/// these from listings and refuses them as keys).
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(base, n)| {
        !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_recognised() {
        for yes in ["01HZZZZZZZZZZZZZZZZZZZZZZZ.seg#1", "catalog.stc#12"] {
            assert!(is_staging_name(yes), "{yes}");
        }
        for no in ["a.seg", "a#", "#1", "a#1b", "a#b"] {
            assert!(!is_staging_name(no), "{no}");
        }
    }
}
