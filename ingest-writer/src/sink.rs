//! Where a committed segment goes: straight to the bucket (the default), or
//! to the local write-ahead log, which uploads it in the background.

use std::sync::Arc;

use bytes::Bytes;
use stratus_storage::{Bucket, SegmentKey, StorageError};
use tracing::warn;

use crate::wal::Wal;

/// Why a segment was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Bucket(#[from] StorageError),
    #[error("local WAL write failed: {0}")]
    Wal(#[from] std::io::Error),
}

impl SinkError {
    /// What the client is told (the detail, with the segment's key, goes
    /// to the log): see [`StorageError::client_message`].
    pub fn client_message(&self, key: &SegmentKey) -> String {
        match self {
            SinkError::Bucket(e) => e.client_message(),
            SinkError::Wal(e) => {
                let full = matches!(e.raw_os_error(), Some(28 | 122))
                    || matches!(
                        e.kind(),
                        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                    );
                let message = if full {
                    "a write to the local write-ahead log failed: its disk is full"
                } else {
                    "a write to the local write-ahead log failed"
                };
                warn!(segment = %key, error = %e, answer = message, "WAL error");
                message.into()
            }
        }
    }
}

#[derive(Clone)]
pub enum Sink {
    /// Acknowledge once the segment PUT returned.
    Bucket(Bucket),
    /// Acknowledge once the segment is fsynced to the local WAL.
    Wal(Arc<Wal>),
}

impl Sink {
    pub async fn write(&self, key: &SegmentKey, bytes: Bytes) -> Result<(), SinkError> {
        match self {
            Sink::Bucket(b) => Ok(b.put(&key.path(), bytes).await.map(|_| ())?),
            Sink::Wal(w) => Ok(w.append(key, bytes).await?),
        }
    }

    pub async fn shutdown(&self) {
        if let Sink::Wal(w) = self {
            w.shutdown().await;
        }
    }
}
