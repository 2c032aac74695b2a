//! The writer component, built in one place: `stratus all`, the split
//! servers, the ingest Lambda function and the ruler (whose output goes
//! through the same commit path) all start it with [`Writer::start`].

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use prometheus_client::registry::Registry;
use stratus_model::SystemClock;
use stratus_storage::Bucket;

use crate::commit::{CommitConfig, Committer};
use crate::metrics::IngestMetrics;
use crate::request::{HttpLimits, IngestState};
use crate::sink::Sink;
use crate::validate::Limits;
use crate::wal::Wal;

/// What a writer is built from, besides its bucket.
#[derive(Debug, Clone, Default)]
pub struct WriterConfig {
    pub commit: CommitConfig,
    pub limits: Limits,
    pub http: HttpLimits,
    /// A local write-ahead log folder: a write is acknowledged once it is
    /// in this folder, and uploaded after. Without one, a write is
    /// acknowledged once its segment is in the bucket.
    pub wal_dir: Option<PathBuf>,
}

/// The remote_write and push routes over a running group commit.
#[derive(Clone)]
pub struct Writer {
    state: IngestState,
}

impl Writer {
    /// Opens the WAL folder (when there is one) and starts the group
    /// commit; its metrics are registered in `registry`.
    pub async fn start(
        bucket: Bucket,
        config: WriterConfig,
        registry: &mut Registry,
    ) -> Result<Writer, WriterError> {
        let metrics = IngestMetrics::new(registry);
        let sink = match &config.wal_dir {
            Some(dir) => Sink::Wal(Wal::open(dir, bucket, metrics.clone()).await.map_err(
                |source| WriterError::Wal {
                    dir: dir.clone(),
                    source,
                },
            )?),
            None => Sink::Bucket(bucket),
        };
        let committer = Committer::start(config.commit, sink, metrics.clone());
        Ok(Writer {
            state: IngestState {
                committer,
                limits: Arc::new(config.limits),
                tenants: stratus_http::TenantPolicy::new(config.http.multitenancy),
                http: Arc::new(config.http),
                metrics,
                clock: Arc::new(SystemClock),
            },
        })
    }

    /// `POST /api/v1/write` (remote_write 1.0 and 2.0) and `/api/v1/push`.
    pub fn router(&self) -> Router {
        crate::http::router(self.state.clone())
    }

    /// The commit path, for other writers in the process (rule output).
    pub fn committer(&self) -> &Committer {
        &self.state.committer
    }

    /// Tells `observer` of every segment this writer stores (`stratus all`
    /// hands them to its querier's head).
    pub fn observe_segments(&self, observer: crate::commit::SegmentObserver) {
        self.state.committer.observe(observer);
    }

    /// Writes the open batch and waits for the uploads in flight.
    pub async fn shutdown(&self) {
        self.state.committer.shutdown().await;
    }
}

/// A writer that could not start.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("opening the WAL folder {}: {source}", dir.display())]
    Wal {
        dir: PathBuf,
        source: std::io::Error,
    },
}
