//! Where a committed segment goes: straight to the bucket (the default), or
//! to the local write-ahead log, which uploads it in the background.

use std::sync::Arc;

use bytes::Bytes;
use stratus_storage::{Bucket, SegmentKey};

use crate::wal::Wal;

#[derive(Clone)]
pub enum Sink {
    /// Acknowledge once the segment PUT returned.
    Bucket(Bucket),
    /// Acknowledge once the segment is fsynced to the local WAL.
    Wal(Arc<Wal>),
}

impl Sink {
    pub async fn write(&self, key: &SegmentKey, bytes: Bytes) -> Result<(), String> {
        match self {
            Sink::Bucket(b) => b
                .put(&key.path(), bytes)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Sink::Wal(w) => w
                .append(key, bytes)
                .await
                .map_err(|e| format!("local WAL write failed: {e}")),
        }
    }

    pub async fn shutdown(&self) {
        if let Sink::Wal(w) = self {
            w.shutdown().await;
        }
    }
}
