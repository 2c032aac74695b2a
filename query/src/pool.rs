//! Where PromQL evaluation runs: threads of its own, never the async
//! runtime's workers, so a heavy query cannot delay acknowledgements,
//! `/-/ready` or anything else the process serves (ADR 0023).
//!
//! At most `max_concurrency` evaluations run at once (Prometheus's
//! `--query.max-concurrency`, 20 by default); more wait for a turn until
//! their deadline. They run on long-lived threads with large stacks,
//! started as needed up to that many (a thread per query would leave the
//! allocator a dead thread's heap to reclaim after every query, and
//! resident memory would creep up query after query). An evaluation whose
//! caller went away (the client disconnected, a timeout fired) is told to
//! stop at its next check.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::error::QueryError;

/// Prometheus's default `--query.max-concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: usize = 20;

/// Stack of an evaluation thread. Recursion over expressions also moves to
/// new segments when it runs low (`stratus_promql::stack_guard`); this
/// only makes that rare.
const STACK_BYTES: usize = 16 * 1024 * 1024;

/// The evaluation threads of one process.
#[derive(Debug)]
pub struct QueryPool {
    turns: Arc<Semaphore>,
    max: usize,
    running: Arc<AtomicU64>,
    queued: AtomicU64,
    workers: Workers,
}

type Job = Box<dyn FnOnce() + Send>;

/// Called by a query thread after each evaluation (the binary sets it to
/// hand freed memory back to the operating system).
static AFTER_EVALUATION: OnceLock<fn()> = OnceLock::new();

/// Sets what query threads call after each evaluation; the first call wins.
pub fn set_after_evaluation(f: fn()) {
    let _ = AFTER_EVALUATION.set(f);
}

/// Threads that take jobs from one queue.
#[derive(Debug)]
struct Workers {
    jobs: Mutex<Sender<Job>>,
    queue: Arc<Mutex<Receiver<Job>>>,
    started: AtomicUsize,
    /// Threads waiting for a job.
    idle: Arc<AtomicUsize>,
}

impl Workers {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        Self {
            jobs: Mutex::new(tx),
            queue: Arc::new(Mutex::new(rx)),
            started: AtomicUsize::new(0),
            idle: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Queues `job`, first starting a thread when none is idle and fewer
    /// than `max` exist. The caller holds one of `max` turns, so a job
    /// never waits for long without a thread.
    fn submit(&self, job: Job, max: usize) -> std::io::Result<()> {
        if self.idle.load(Ordering::Acquire) == 0
            && self.started.fetch_add(1, Ordering::AcqRel) < max
        {
            let (queue, idle) = (self.queue.clone(), self.idle.clone());
            let started = std::thread::Builder::new()
                .name("stratus-query".into())
                .stack_size(STACK_BYTES)
                .spawn(move || loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    idle.fetch_sub(1, Ordering::AcqRel);
                    match next {
                        Ok(job) => {
                            job();
                            if let Some(after) = AFTER_EVALUATION.get() {
                                after();
                            }
                        }
                        Err(_) => return,
                    }
                });
            if let Err(e) = started {
                self.started.fetch_sub(1, Ordering::AcqRel);
                if self.started.load(Ordering::Acquire) == 0 {
                    return Err(e);
                }
            }
        } else if self.started.load(Ordering::Acquire) > max {
            self.started.fetch_sub(1, Ordering::AcqRel);
        }
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| std::io::Error::other("the query threads are gone"))
    }
}

/// Tells an evaluation its caller went away.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Cancels on drop: held by the awaiting side.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl QueryPool {
    pub fn new(max_concurrency: usize) -> Arc<Self> {
        let max = max_concurrency.max(1);
        Arc::new(Self {
            turns: Arc::new(Semaphore::new(max)),
            max,
            running: Arc::new(AtomicU64::new(0)),
            queued: AtomicU64::new(0),
            workers: Workers::new(),
        })
    }

    /// The pool every engine uses unless given its own.
    pub fn shared_default() -> Arc<Self> {
        static POOL: OnceLock<Arc<QueryPool>> = OnceLock::new();
        POOL.get_or_init(|| QueryPool::new(DEFAULT_MAX_CONCURRENCY))
            .clone()
    }

    pub fn max_concurrency(&self) -> usize {
        self.max
    }

    /// Evaluations running now.
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }

    /// Evaluations waiting for a turn now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `f` on an evaluation thread once a turn is free, waiting at
    /// most until `deadline`. `f` gets a [`Cancel`] that turns true when
    /// the returned future is dropped.
    pub async fn run<T, F>(&self, deadline: Instant, f: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(Cancel) -> Result<T, QueryError> + Send + 'static,
    {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let left = deadline.saturating_duration_since(Instant::now());
        let turn = tokio::time::timeout(left, self.turns.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        let permit = match turn {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(QueryError::Unavailable("the query pool is closed".into())),
            Err(_) => return Err(QueryError::QueueTimeout),
        };
        let cancel = Cancel::default();
        let _guard = CancelOnDrop(cancel.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let running = self.running.clone();
        running.fetch_add(1, Ordering::Relaxed);
        // The turn and the running count are given back when the
        // evaluation ends, not when the caller stops waiting: a cancelled
        // evaluation holds its turn until it notices.
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(cancel)));
            running.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            let _ = tx.send(out);
        });
        if let Err(e) = self.workers.submit(job, self.max) {
            self.running.fetch_sub(1, Ordering::Relaxed);
            return Err(QueryError::Unavailable(format!(
                "cannot start a query thread: {e}"
            )));
        }
        let out = rx.await;
        match out {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => {
                stratus_model::panics::record("query");
                Err(QueryError::Internal(format!(
                    "query evaluation panicked: {}",
                    stratus_model::panics::message(&*panic)
                )))
            }
            Err(_) => Err(QueryError::Internal(
                "query thread ended without an answer".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_off_the_runtime_and_returns_the_answer() {
        let pool = QueryPool::new(2);
        let runtime_thread = std::thread::current().id();
        let (v, thread) = pool
            .run(Instant::now() + Duration::from_secs(5), |_| {
                Ok((41 + 1, std::thread::current().id()))
            })
            .await
            .expect("run");
        assert_eq!(v, 42);
        assert_ne!(thread, runtime_thread);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_not_a_crash() {
        let pool = QueryPool::new(1);
        let e = pool
            .run(
                Instant::now() + Duration::from_secs(5),
                |_| -> Result<(), _> { panic!("boom") },
            )
            .await
            .err();
        assert!(
            matches!(&e, Some(QueryError::Internal(m)) if m.contains("boom")),
            "{e:?}"
        );
        // The turn was given back.
        assert_eq!(
            pool.run(Instant::now() + Duration::from_secs(5), |_| Ok(1))
                .await
                .ok(),
            Some(1)
        );
    }

    #[tokio::test]
    async fn waits_for_a_turn_until_the_deadline() {
        let pool = QueryPool::new(1);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(Instant::now() + Duration::from_secs(30), move |_| {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                    Ok(())
                })
                .await
            })
        };
        started_rx.await.expect("started");
        let e = pool
            .run(Instant::now() + Duration::from_millis(50), |_| Ok(()))
            .await
            .err();
        assert_eq!(e, Some(QueryError::QueueTimeout));
        assert_eq!(QueryError::QueueTimeout.status(), 503);
        release_tx.send(()).expect("release");
        assert!(busy.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn dropping_the_caller_cancels_the_evaluation() {
        let pool = QueryPool::new(1);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel::<bool>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let handle = tokio::spawn(async move {
            pool.run(Instant::now() + Duration::from_secs(30), move |cancel| {
                let _ = started_tx.send(());
                let t0 = Instant::now();
                while !cancel.is_cancelled() && t0.elapsed() < Duration::from_secs(20) {
                    std::thread::yield_now();
                }
                let _ = seen_tx.send(cancel.is_cancelled());
                Ok(())
            })
            .await
        });
        started_rx.await.expect("started");
        handle.abort();
        let seen =
            tokio::task::spawn_blocking(move || seen_rx.recv_timeout(Duration::from_secs(20)))
                .await
                .expect("join");
        assert_eq!(seen.ok(), Some(true));
    }
}
