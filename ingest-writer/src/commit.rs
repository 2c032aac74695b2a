//! Group commit: requests arriving within a short window share one segment
//! per tenant, and each request is answered only after that segment is
//! durable. A failed write fails every request of the batch with a
//! retryable error, so nothing is acknowledged that is not stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stratus_codec::SegmentBuilder;
use stratus_model::{Labels, MetricMetadata, Sample, TenantId};
use stratus_storage::SegmentKey;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, error, warn};
use ulid::Generator;

use crate::metrics::{IngestMetrics, ResultLabel};
use crate::sink::Sink;
use crate::validate::Reason;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommitConfig {
    /// How long the first request of a batch waits for others to join it.
    /// 0 writes every request on its own (the Lambda form).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// A batch this large is written at once, without waiting for the window.
    pub max_batch_samples: usize,
    /// Segment writes in flight at once.
    pub max_inflight_flushes: usize,
    /// Samples waiting or being written beyond which requests are refused
    /// with a retryable error instead of queueing without bound.
    pub max_pending_samples: usize,
}

impl Default for CommitConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(200),
            max_batch_samples: 2_000_000,
            max_inflight_flushes: 4,
            max_pending_samples: 20_000_000,
        }
    }
}

/// Why a commit was not acknowledged. All are retryable for the client.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CommitError {
    #[error("storage unavailable, the write was not stored and can be retried: {0}")]
    Storage(String),
    #[error("ingest is overloaded ({pending} samples waiting, limit {limit}); retry later")]
    Overloaded { pending: usize, limit: usize },
    #[error("ingest is shutting down; retry against another instance")]
    ShuttingDown,
}

impl CommitError {
    pub fn reason(&self) -> Reason {
        match self {
            CommitError::Storage(_) => Reason::StorageUnavailable,
            CommitError::Overloaded { .. } | CommitError::ShuttingDown => Reason::Overloaded,
        }
    }
}

type Waiter = oneshot::Sender<Result<(), CommitError>>;

#[derive(Default)]
struct TenantBatch {
    series: HashMap<Labels, Vec<Sample>>,
    metadata: HashMap<String, MetricMetadata>,
    samples: usize,
    waiters: Vec<Waiter>,
}

#[derive(Default)]
struct Pending {
    tenants: HashMap<TenantId, TenantBatch>,
    samples: usize,
    opened_at: Option<Instant>,
}

struct Shared {
    config: CommitConfig,
    sink: Sink,
    metrics: IngestMetrics,
    pending: Mutex<Pending>,
    wake: Notify,
    closed: AtomicBool,
    /// Samples taken out of `pending` whose write has not finished.
    inflight_samples: AtomicUsize,
    flush_slots: Arc<Semaphore>,
    ids: Mutex<Generator>,
}

/// The group-commit engine. Cheap to clone; [`Committer::shutdown`] writes
/// what is pending and waits for writes in flight.
#[derive(Clone)]
pub struct Committer {
    shared: Arc<Shared>,
    flusher: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Committer {
    pub fn start(config: CommitConfig, sink: Sink, metrics: IngestMetrics) -> Self {
        let slots = config.max_inflight_flushes.max(1);
        let shared = Arc::new(Shared {
            config,
            sink,
            metrics,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            inflight_samples: AtomicUsize::new(0),
            flush_slots: Arc::new(Semaphore::new(slots)),
            ids: Mutex::new(Generator::new()),
        });
        let flusher = tokio::spawn(flush_loop(shared.clone()));
        Self {
            shared,
            flusher: Arc::new(Mutex::new(Some(flusher))),
        }
    }

    /// Adds validated series to the current batch and waits until the
    /// batch's segment for `tenant` is durable.
    pub async fn commit(
        &self,
        tenant: &TenantId,
        series: Vec<(Labels, Vec<Sample>)>,
        metadata: Vec<MetricMetadata>,
    ) -> Result<(), CommitError> {
        let s = &self.shared;
        if s.closed.load(Ordering::Acquire) {
            return Err(CommitError::ShuttingDown);
        }
        let n: usize = series.iter().map(|(_, v)| v.len()).sum();
        if n == 0 && metadata.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut p = lock(&s.pending);
            let waiting = p.samples + s.inflight_samples.load(Ordering::Acquire);
            if waiting + n > s.config.max_pending_samples && waiting > 0 {
                return Err(CommitError::Overloaded {
                    pending: waiting,
                    limit: s.config.max_pending_samples,
                });
            }
            let batch = p.tenants.entry(tenant.clone()).or_default();
            for (labels, samples) in series {
                batch.series.entry(labels).or_default().extend(samples);
            }
            for md in metadata {
                batch.metadata.insert(md.metric_family.clone(), md);
            }
            batch.samples += n;
            batch.waiters.push(tx);
            p.samples += n;
            let first = p.opened_at.is_none();
            if first {
                p.opened_at = Some(Instant::now());
            }
            if first || p.samples >= s.config.max_batch_samples {
                s.wake.notify_one();
            }
        }
        rx.await
            .unwrap_or_else(|_| Err(CommitError::Storage("write task ended".into())))
    }

    /// Stops taking writes, writes the open batch, and waits for every write
    /// in flight.
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let handle = lock(&self.flusher).take();
        if let Some(h) = handle {
            if let Err(e) = h.await {
                error!(error = %e, "flush loop failed");
            }
        }
        self.shared.sink.shutdown().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn flush_loop(s: Arc<Shared>) {
    loop {
        // Wait for a batch to open (or for shutdown).
        let opened_at = loop {
            let (opened, closed) = (lock(&s.pending).opened_at, s.closed.load(Ordering::Acquire));
            match opened {
                Some(t) => break Some(t),
                None if closed => break None,
                None => s.wake.notified().await,
            }
        };
        let Some(opened_at) = opened_at else { break };
        // Let the window fill, unless the batch is full or we are closing.
        let deadline = tokio::time::Instant::from_std(opened_at + s.config.window);
        loop {
            let full = lock(&s.pending).samples >= s.config.max_batch_samples;
            if full || s.closed.load(Ordering::Acquire) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = s.wake.notified() => {}
            }
        }
        let Ok(slot) = s.flush_slots.clone().acquire_owned().await else {
            break;
        };
        let batch = {
            let mut p = lock(&s.pending);
            s.inflight_samples.fetch_add(p.samples, Ordering::AcqRel);
            std::mem::take(&mut *p)
        };
        let s2 = s.clone();
        tokio::spawn(async move {
            flush(&s2, batch).await;
            drop(slot);
        });
    }
    // Wait until every write in flight has finished.
    let all = u32::try_from(s.config.max_inflight_flushes.max(1)).unwrap_or(u32::MAX);
    let _ = s.flush_slots.acquire_many(all).await;
}

async fn flush(s: &Arc<Shared>, batch: Pending) {
    let writes = batch.tenants.into_iter().map(|(tenant, tb)| {
        let id = {
            let mut g = lock(&s.ids);
            // The generator only fails when 2^80 ids were made in one ms.
            g.generate().unwrap_or_else(|_| ulid::Ulid::new())
        };
        let key = SegmentKey::new(tenant, id);
        write_tenant(s, key, tb)
    });
    futures::future::join_all(writes).await;
    s.inflight_samples
        .fetch_sub(batch.samples, Ordering::AcqRel);
}

async fn write_tenant(s: &Arc<Shared>, key: SegmentKey, tb: TenantBatch) {
    let samples = tb.samples as u64;
    let tenant = key.tenant().clone();
    let (series, metadata) = (tb.series, tb.metadata);
    let encoded = tokio::task::spawn_blocking(move || encode(&tenant, series, metadata)).await;
    let result = match encoded {
        Ok(Ok(bytes)) => {
            let len = bytes.len() as u64;
            let start = Instant::now();
            let r = s.sink.write(&key, bytes).await;
            let m = &s.metrics;
            m.segment_upload_duration
                .observe(start.elapsed().as_secs_f64());
            let result = if r.is_ok() { "ok" } else { "error" };
            m.segment_uploads
                .get_or_create(&ResultLabel { result })
                .inc();
            match r {
                Ok(()) => {
                    m.segment_bytes.inc_by(len);
                    m.segment_samples.inc_by(samples);
                    m.samples_accepted.inc_by(samples);
                    debug!(segment = %key, bytes = len, samples, "segment written");
                    Ok(())
                }
                Err(e) => {
                    warn!(segment = %key, error = %e, "segment write failed; the batch is refused");
                    Err(CommitError::Storage(e.to_string()))
                }
            }
        }
        Ok(Err(e)) => {
            error!(segment = %key, error = %e, "segment encoding failed");
            Err(CommitError::Storage(format!(
                "encoding the segment failed: {e}"
            )))
        }
        Err(e) => Err(CommitError::Storage(format!("encoding task failed: {e}"))),
    };
    for w in tb.waiters {
        let _ = w.send(result.clone());
    }
}

/// Sorts each series by time (the later of two samples with the same
/// timestamp wins, as it arrived later) and encodes the segment.
fn encode(
    tenant: &TenantId,
    series: HashMap<Labels, Vec<Sample>>,
    metadata: HashMap<String, MetricMetadata>,
) -> stratus_codec::Result<bytes::Bytes> {
    let mut b = SegmentBuilder::new(tenant);
    let mut buf: Vec<Sample> = Vec::new();
    for (labels, mut samples) in series {
        samples.sort_by_key(|s| s.t); // stable: arrival order kept per timestamp
        buf.clear();
        for smp in samples {
            match buf.last_mut() {
                Some(last) if last.t == smp.t => *last = smp,
                _ => buf.push(smp),
            }
        }
        b.add_series(&labels, &buf)?;
    }
    for md in metadata.into_values() {
        b.add_metadata(md);
    }
    Ok(bytes::Bytes::from(b.finish()?))
}

#[cfg(test)]
mod tests;
