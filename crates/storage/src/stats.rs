//! Storage requests counted per query: a [`RequestStats`] put in scope
//! around a piece of work (`RequestStats::scope`) counts every GET, the
//! bytes it brought and every LIST the bucket makes inside it, on the
//! same task. The query API reports them with `stats=all`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Requests made while in scope.
#[derive(Debug, Default)]
pub struct RequestStats {
    gets: AtomicU64,
    get_bytes: AtomicU64,
    lists: AtomicU64,
}

/// A copy of the counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    /// Whole-object and ranged GETs.
    pub gets: u64,
    /// Bytes those GETs returned.
    pub get_bytes: u64,
    /// LIST requests (one per listing call, whatever its pages).
    pub lists: u64,
}

tokio::task_local! {
    static CURRENT: Arc<RequestStats>;
}

/// Every request of the process, in scope or not (for `/metrics`).
static PROCESS: RequestStats = RequestStats {
    gets: AtomicU64::new(0),
    get_bytes: AtomicU64::new(0),
    lists: AtomicU64::new(0),
};

/// The GETs, bytes and LISTs of the whole process so far.
pub fn process_counts() -> RequestCounts {
    PROCESS.counts()
}

impl RequestStats {
    /// Runs `f` counting its storage requests into `stats`.
    pub async fn scope<F: Future>(stats: Arc<RequestStats>, f: F) -> F::Output {
        CURRENT.scope(stats, f).await
    }

    /// The stats in scope on this task, to carry into tasks it spawns.
    pub fn current() -> Option<Arc<RequestStats>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            gets: self.gets.load(Ordering::Relaxed),
            get_bytes: self.get_bytes.load(Ordering::Relaxed),
            lists: self.lists.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn record_get(bytes: u64) {
    PROCESS.gets.fetch_add(1, Ordering::Relaxed);
    PROCESS.get_bytes.fetch_add(bytes, Ordering::Relaxed);
    let _ = CURRENT.try_with(|s| {
        s.gets.fetch_add(1, Ordering::Relaxed);
        s.get_bytes.fetch_add(bytes, Ordering::Relaxed);
    });
}

pub(crate) fn record_list() {
    PROCESS.lists.fetch_add(1, Ordering::Relaxed);
    let _ = CURRENT.try_with(|s| {
        s.lists.fetch_add(1, Ordering::Relaxed);
    });
}
