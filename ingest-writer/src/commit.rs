//! Group commit: requests arriving within a short window share one segment
//! per tenant, and each request is answered only after that segment is
//! durable. A failed write fails every request of the batch with a
//! retryable error, so nothing is acknowledged that is not stored.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use stratus_codec::{Interner, SegmentBuilder};
use stratus_model::{MetricMetadata, Sample, TenantId};
use stratus_storage::SegmentKey;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, error, warn};
use ulid::Generator;

use crate::batch::WriteBatch;
use crate::metrics::{IngestMetrics, ResultLabel};
use crate::sink::Sink;
use crate::validate::Reason;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommitConfig {
    /// How long the first request of a batch waits for others to join it.
    /// 0 writes every request on its own (the Lambda form).
    #[serde(with = "stratus_model::time::serde_duration")]
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
    /// The segment was not stored; the message says why in Stratus's
    /// terms ([`crate::sink::SinkError::client_message`]).
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

/// What one tenant's segment will hold: label strings interned once, each
/// series keyed by its label refs, samples in arrival order.
#[derive(Default)]
struct TenantBatch {
    symbols: Interner,
    index: HashTable<u32>,
    hasher: RandomState,
    series: Vec<(Box<[u32]>, Vec<Sample>)>,
    metadata: HashMap<String, MetricMetadata>,
    samples: usize,
    waiters: Vec<Waiter>,
}

impl TenantBatch {
    /// Merges a request's accepted series. `map` and `refs` are scratch.
    fn add(&mut self, batch: &WriteBatch<'_>, map: &mut Vec<u32>, refs: &mut Vec<u32>) {
        map.clear();
        map.resize(batch.num_symbols(), u32::MAX);
        let Self {
            symbols,
            index,
            hasher,
            series,
            ..
        } = self;
        for (local, samples) in batch.series() {
            refs.clear();
            for &r in local {
                let id = &mut map[r as usize];
                if *id == u32::MAX {
                    *id = symbols.intern(batch.resolve(r));
                }
                refs.push(*id);
            }
            let hash = hasher.hash_one(&refs[..]);
            let i = match index.find(hash, |&i| *series[i as usize].0 == refs[..]) {
                Some(&i) => i,
                None => {
                    let i = series.len() as u32;
                    series.push((refs[..].into(), Vec::with_capacity(samples.len())));
                    index.insert_unique(hash, i, |&i| hasher.hash_one(&*series[i as usize].0));
                    i
                }
            };
            series[i as usize].1.extend_from_slice(samples);
        }
        for md in &batch.metadata {
            self.metadata.insert(md.metric_family.clone(), md.clone());
        }
    }
}

#[derive(Default)]
struct Pending {
    tenants: HashMap<TenantId, TenantBatch>,
    samples: usize,
    opened_at: Option<Instant>,
    /// Scratch of [`TenantBatch::add`], kept to avoid allocating per request.
    map: Vec<u32>,
    refs: Vec<u32>,
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
    /// Told of every segment stored (see [`Committer::observe`]).
    observer: std::sync::OnceLock<SegmentObserver>,
}

/// Called with every segment a committer has stored, after the store and
/// before the writes in it are acknowledged. Must not block.
pub type SegmentObserver = Arc<dyn Fn(&SegmentKey, &bytes::Bytes) + Send + Sync>;

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
            observer: std::sync::OnceLock::new(),
        });
        let flusher = tokio::spawn(flush_loop(shared.clone()));
        Self {
            shared,
            flusher: Arc::new(Mutex::new(Some(flusher))),
        }
    }

    /// Tells `observer` of every segment stored from now on (the first
    /// observer set stays).
    pub fn observe(&self, observer: SegmentObserver) {
        let _ = self.shared.observer.set(observer);
    }

    /// Adds a request's validated series to the current batch and waits
    /// until the batch's segment for `tenant` is durable.
    pub async fn commit(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<(), CommitError> {
        let s = &self.shared;
        if s.closed.load(Ordering::Acquire) {
            return Err(CommitError::ShuttingDown);
        }
        let n = batch.num_samples();
        if n == 0 && batch.metadata.is_empty() {
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
            let Pending {
                tenants, map, refs, ..
            } = &mut *p;
            let tb = tenants.entry(tenant.clone()).or_default();
            tb.add(batch, map, refs);
            tb.samples += n;
            tb.waiters.push(tx);
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

    /// [`Committer::commit`] for callers holding owned label sets that are
    /// already valid (recording rules, tests).
    pub async fn commit_series(
        &self,
        tenant: &TenantId,
        series: Vec<(stratus_model::Labels, Vec<Sample>)>,
        metadata: Vec<MetricMetadata>,
    ) -> Result<(), CommitError> {
        let mut batch = WriteBatch::new();
        for (labels, samples) in &series {
            batch.push_labels(labels, samples);
        }
        batch.metadata = metadata;
        self.commit(tenant, &batch).await
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
            Pending {
                tenants: std::mem::take(&mut p.tenants),
                samples: std::mem::take(&mut p.samples),
                opened_at: p.opened_at.take(),
                map: Vec::new(),
                refs: Vec::new(),
            }
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
    let waiters = tb.waiters;
    let (symbols, series, metadata) = (tb.symbols, tb.series, tb.metadata);
    let encoded =
        tokio::task::spawn_blocking(move || encode(&tenant, symbols, series, metadata)).await;
    let result = match encoded {
        Ok(Ok(bytes)) => {
            let len = bytes.len() as u64;
            let start = Instant::now();
            let stored = s.observer.get().map(|_| bytes.clone());
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
                    if let (Some(observe), Some(bytes)) = (s.observer.get(), &stored) {
                        observe(&key, bytes);
                    }
                    m.segment_bytes.inc_by(len);
                    m.segment_samples.inc_by(samples);
                    m.samples_accepted.inc_by(samples);
                    debug!(segment = %key, bytes = len, samples, "segment written");
                    Ok(())
                }
                Err(e) => {
                    let answer = e.client_message(&key);
                    warn!(segment = %key, %answer, "segment write failed; the batch is refused");
                    Err(CommitError::Storage(answer))
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
    for w in waiters {
        let _ = w.send(result.clone());
    }
}

/// Sorts each series by time (the later of two samples with the same
/// timestamp wins, as it arrived later) and encodes the segment.
fn encode(
    tenant: &TenantId,
    symbols: Interner,
    series: Vec<(Box<[u32]>, Vec<Sample>)>,
    metadata: HashMap<String, MetricMetadata>,
) -> stratus_codec::Result<bytes::Bytes> {
    let mut b = SegmentBuilder::with_interner(tenant, symbols);
    let mut buf: Vec<Sample> = Vec::new();
    for (refs, mut samples) in series {
        if !samples.windows(2).all(|p| p[0].t < p[1].t) {
            samples.sort_by_key(|s| s.t); // stable: arrival order kept per timestamp
        }
        buf.clear();
        for smp in samples {
            match buf.last_mut() {
                Some(last) if last.t == smp.t => *last = smp,
                _ => buf.push(smp),
            }
        }
        b.add_series_refs(&refs, &buf)?;
    }
    for md in metadata.into_values() {
        b.add_metadata(md);
    }
    Ok(bytes::Bytes::from(b.finish()?))
}

#[cfg(test)]
mod tests;
