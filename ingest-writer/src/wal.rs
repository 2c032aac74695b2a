//! The optional local write-ahead log, for deployments with a disk that want
//! acknowledgements independent of object-storage latency or outages.
//!
//! A committed segment is written to `<dir>/<tenant>/<ULID>.seg` (through a
//! temporary file, fsynced, renamed, directory fsynced) and acknowledged.
//! A background task uploads each file under the same key and deletes it
//! once the PUT succeeded; on start, files left by an earlier run are
//! uploaded first. Re-uploading after a crash writes the same key with the
//! same bytes, so it is idempotent.
//!
//! Temporary files (`<ULID>.seg.tmp`) are removed at open only: there they
//! are leftovers of a run that died before acknowledging them. While the
//! WAL runs, one is an append in progress, and the uploader leaves it
//! alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use stratus_model::TenantId;
use stratus_storage::{Bucket, SegmentKey};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};
use ulid::Ulid;

use crate::metrics::IngestMetrics;

const SUFFIX: &str = ".seg";
const TMP_SUFFIX: &str = ".seg.tmp";

pub struct Wal {
    dir: PathBuf,
    bucket: Bucket,
    metrics: IngestMetrics,
    wake: Notify,
    closing: AtomicBool,
    uploader: Mutex<Option<JoinHandle<()>>>,
    /// How long shutdown keeps uploading before leaving files for the next start.
    drain_limit: Duration,
}

impl Wal {
    /// Opens the WAL folder, removes unfinished temporary files (never
    /// acknowledged) and starts uploading what an earlier run left.
    pub async fn open(
        dir: &Path,
        bucket: Bucket,
        metrics: IngestMetrics,
    ) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)?;
        let wal = Arc::new(Self {
            dir: dir.to_path_buf(),
            bucket,
            metrics,
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            uploader: Mutex::new(None),
            drain_limit: Duration::from_secs(10),
        });
        let removed = wal.remove_temporaries()?;
        if removed > 0 {
            info!(files = removed, dir = %dir.display(), "removed unfinished WAL files of an earlier run (never acknowledged)");
        }
        let found = wal.pending_files()?;
        if !found.is_empty() {
            info!(segments = found.len(), dir = %dir.display(), "replaying local WAL");
        }
        wal.metrics.wal_pending_segments.set(found.len() as i64);
        let handle = tokio::spawn(upload_loop(wal.clone()));
        *wal.uploader.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(wal)
    }

    /// Makes `bytes` durable in the WAL under `key`.
    pub async fn append(&self, key: &SegmentKey, bytes: Bytes) -> std::io::Result<()> {
        let tenant_dir = self.dir.join(key.tenant().as_str());
        let name = key.id().to_string();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let created = !tenant_dir.exists();
            std::fs::create_dir_all(&tenant_dir)?;
            let tmp = tenant_dir.join(format!("{name}{TMP_SUFFIX}"));
            let dst = tenant_dir.join(format!("{name}{SUFFIX}"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &dst)?;
            sync_dir(&tenant_dir)?;
            if created {
                if let Some(parent) = tenant_dir.parent() {
                    sync_dir(parent)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)??;
        self.metrics.wal_pending_segments.inc();
        self.wake.notify_one();
        Ok(())
    }

    /// Removes the temporary files in the WAL folder: only ever called at
    /// open, before any append of this run can have created one.
    fn remove_temporaries(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for tenant_entry in std::fs::read_dir(&self.dir)? {
            let tenant_entry = tenant_entry?;
            if !tenant_entry.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(tenant_entry.path())? {
                let path = f?.path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(TMP_SUFFIX))
                {
                    std::fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Segment files waiting for upload, oldest first. Temporary files
    /// are appends in progress: skipped.
    fn pending_files(&self) -> std::io::Result<Vec<(SegmentKey, PathBuf)>> {
        let mut out = Vec::new();
        for tenant_entry in std::fs::read_dir(&self.dir)? {
            let tenant_entry = tenant_entry?;
            if !tenant_entry.file_type()?.is_dir() {
                continue;
            }
            let tenant_name = tenant_entry.file_name().to_string_lossy().into_owned();
            let Ok(tenant) = TenantId::new(&tenant_name) else {
                warn!(dir = %tenant_entry.path().display(), "ignoring a WAL folder that is not a tenant id");
                continue;
            };
            for f in std::fs::read_dir(tenant_entry.path())? {
                let path = f?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.ends_with(TMP_SUFFIX) {
                    continue;
                }
                match name
                    .strip_suffix(SUFFIX)
                    .and_then(|id| Ulid::from_string(id).ok())
                {
                    Some(id) => out.push((SegmentKey::new(tenant.clone(), id), path)),
                    None => {
                        warn!(file = %path.display(), "ignoring a WAL file that is not a segment")
                    }
                }
            }
        }
        out.sort_by_key(|(k, _)| k.id());
        Ok(out)
    }

    /// Uploads every pending file once; returns how many are left.
    async fn upload_pending(&self, until_closed_or_done: bool) -> usize {
        let files = match self.pending_files() {
            Ok(f) => f,
            Err(e) => {
                error!(error = %e, dir = %self.dir.display(), "cannot read the WAL folder");
                return 1;
            }
        };
        let total = files.len();
        for (done, (key, path)) in files.into_iter().enumerate() {
            if until_closed_or_done && self.closing.load(Ordering::Acquire) {
                return total - done;
            }
            let data = match tokio::fs::read(&path).await {
                Ok(d) => Bytes::from(d),
                Err(e) => {
                    error!(file = %path.display(), error = %e, "cannot read WAL segment");
                    return total - done;
                }
            };
            if let Err(e) = self.bucket.put(&key.path(), data).await {
                warn!(segment = %key, error = %e, "WAL upload failed; will retry");
                return total - done;
            }
            if let Err(e) = std::fs::remove_file(&path) {
                error!(file = %path.display(), error = %e, "uploaded WAL segment could not be removed");
                return total - done;
            }
            self.metrics.wal_pending_segments.dec();
        }
        0
    }

    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        self.wake.notify_one();
        let handle = self
            .uploader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        // A last bounded attempt; what is left is uploaded on the next start.
        let left = tokio::time::timeout(self.drain_limit, self.upload_pending(false))
            .await
            .unwrap_or(1);
        if left > 0 {
            info!(dir = %self.dir.display(), "WAL segments left for the next start");
        }
    }
}

async fn upload_loop(wal: Arc<Wal>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if wal.closing.load(Ordering::Acquire) {
            return;
        }
        let left = wal.upload_pending(true).await;
        if left == 0 {
            backoff = Duration::from_millis(200);
            wal.wake.notified().await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = wal.wake.notified() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
