//! A bound on the memory that running queries hold (`--query-memory-bytes`).
//!
//! Every query takes a [`Reservation`] from the querier's one [`QueryMemory`]
//! and grows it as it goes: by the series each selector loads, by the
//! samples evaluation builds, and by its answer while that is encoded. A
//! reservation that would take the total above the limit fails the query
//! instead of the process: with `execution` (422) when this query alone needs
//! more than the limit, with `unavailable` (503, worth a retry) when other
//! queries hold the memory. Nothing waits, so queries cannot deadlock on each
//! other's reservations. The figures are estimates of what the data
//! structures hold (16 bytes a sample, labels by length), not allocator
//! figures; the object and results caches have bounds of their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stratus_model::{Labels, Sample};

use crate::error::QueryError;
use crate::source::Series;
use crate::value::QueryValue;

/// The memory all running queries of one process may hold.
#[derive(Debug)]
pub struct QueryMemory {
    limit: u64,
    /// What reservations may take together: the limit less a sixteenth,
    /// kept for what the estimates miss (the allocator's own overhead,
    /// small per-series structures), so that the process's resident
    /// memory for queries stays under the limit itself.
    usable: u64,
    used: AtomicU64,
    rejected: AtomicU64,
}

impl QueryMemory {
    pub fn new(limit_bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            limit: limit_bytes,
            usable: limit_bytes - limit_bytes / 16,
            used: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// What reservations may take together (the limit less a sixteenth).
    pub fn usable(&self) -> u64 {
        self.usable
    }

    /// Bytes held by running queries now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Queries failed because their reservation could not grow.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// An empty reservation for one query.
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        Reservation {
            memory: self.clone(),
            held: AtomicU64::new(0),
            parent: None,
        }
    }
}

/// What one query (or one part of a query) holds; given back when dropped.
///
/// A request's reservation can hand out [`Reservation::child`]ren, one per
/// evaluation (a range query's splits run as several): what the children
/// hold counts toward the request, so a request whose splits together need
/// more than the limit is told so (422), not to retry.
#[derive(Debug)]
pub struct Reservation {
    memory: Arc<QueryMemory>,
    held: AtomicU64,
    /// The request this is part of.
    parent: Option<Arc<Reservation>>,
}

impl Reservation {
    /// A reservation for part of this one's request.
    pub fn child(self: &Arc<Self>) -> Reservation {
        let root = match &self.parent {
            Some(p) => p.clone(),
            None => self.clone(),
        };
        Reservation {
            memory: self.memory.clone(),
            held: AtomicU64::new(0),
            parent: Some(root),
        }
    }

    /// Takes `bytes` more, or fails the query if that would pass the limit.
    pub fn grow(&self, bytes: u64) -> Result<(), QueryError> {
        let m = &*self.memory;
        // Counted toward the request first, so that parts growing at once
        // see each other.
        let request = self.parent.as_deref().unwrap_or(self);
        let mine = request
            .held
            .fetch_add(bytes, Ordering::AcqRel)
            .saturating_add(bytes);
        if self.parent.is_some() {
            self.held.fetch_add(bytes, Ordering::AcqRel);
        }
        let mut used = m.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > m.usable {
                request.held.fetch_sub(bytes, Ordering::AcqRel);
                if self.parent.is_some() {
                    self.held.fetch_sub(bytes, Ordering::AcqRel);
                }
                m.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(if mine > m.usable {
                    QueryError::exec(format!(
                        "query would hold about {} in memory, more than the querier's limit for queries ({}, --query-memory-bytes): narrow the selectors or the time range, or raise the limit",
                        mib(mine),
                        mib(m.limit)
                    ))
                } else {
                    QueryError::Unavailable(format!(
                        "the querier's memory for queries is taken: running queries hold {} of {} (--query-memory-bytes) and this one needs {} more; retry shortly",
                        mib(used),
                        mib(m.limit),
                        mib(bytes)
                    ))
                });
            }
            match m
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    /// Gives back `bytes` taken by [`Self::grow`] (never more than held).
    pub fn shrink(&self, bytes: u64) {
        let bytes = bytes.min(self.held());
        if bytes == 0 {
            return;
        }
        if let Some(p) = &self.parent {
            p.held.fetch_sub(bytes, Ordering::AcqRel);
        }
        self.held.fetch_sub(bytes, Ordering::AcqRel);
        self.memory.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes this reservation holds; a request's include its parts'.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // A part gives its bytes back to its request too. A request is
        // dropped after its parts (they hold it), so by then it holds only
        // what it took itself.
        let held = *self.held.get_mut();
        if let Some(p) = &self.parent {
            p.held.fetch_sub(held, Ordering::AcqRel);
        }
        self.memory.used.fetch_sub(held, Ordering::AcqRel);
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Estimated bytes of one label set.
pub fn labels_bytes(l: &Labels) -> u64 {
    l.iter()
        .map(|x| {
            (std::mem::size_of::<stratus_model::Label>() + x.name.len() + x.value.len()) as u64
        })
        .sum::<u64>()
        + std::mem::size_of::<Labels>() as u64
}

/// Estimated bytes of loaded series (their vectors' capacity, not length).
pub fn series_bytes(series: &[Series]) -> u64 {
    series
        .iter()
        .map(|s| {
            labels_bytes(&s.labels) + (s.samples.capacity() * std::mem::size_of::<Sample>()) as u64
        })
        .sum()
}

/// Estimated bytes of an answer and its JSON encoding (about 30 bytes a
/// sample: `[1700000000.123,"0.123456789"],`).
pub fn answer_bytes(v: &QueryValue) -> u64 {
    const JSON_PER_SAMPLE: u64 = 30;
    match v {
        QueryValue::Scalar { .. } | QueryValue::String { .. } => 0,
        QueryValue::Vector(vs) => vs
            .iter()
            .map(|(l, _)| {
                2 * labels_bytes(l) + std::mem::size_of::<Sample>() as u64 + JSON_PER_SAMPLE
            })
            .sum(),
        QueryValue::Matrix(ms) => ms
            .iter()
            .map(|s| {
                2 * labels_bytes(&s.labels)
                    + s.samples.len() as u64
                        * (std::mem::size_of::<Sample>() as u64 + JSON_PER_SAMPLE)
            })
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_and_are_released_when_dropped() {
        let m = QueryMemory::new(1000);
        let a = m.reserve();
        let b = m.reserve();
        assert!(a.grow(400).is_ok());
        assert!(b.grow(500).is_ok());
        assert_eq!(m.used(), 900);
        assert_eq!(a.held(), 400);
        drop(a);
        assert_eq!(m.used(), 500);
        drop(b);
        assert_eq!(m.used(), 0);
        assert_eq!(m.rejected(), 0);
    }

    #[test]
    fn a_query_bigger_than_the_limit_is_an_execution_error() {
        let m = QueryMemory::new(1 << 20);
        let r = m.reserve();
        assert!(r.grow(600 << 10).is_ok());
        let e = r.grow(600 << 10).err();
        assert!(
            matches!(&e, Some(QueryError::Execution(msg)) if msg.contains("1.2 MiB") && msg.contains("--query-memory-bytes")),
            "{e:?}"
        );
        // The failed growth took nothing.
        assert_eq!(m.used(), 600 << 10);
        assert_eq!(m.rejected(), 1);
    }

    #[test]
    fn memory_held_by_others_is_unavailable_not_a_bad_query() {
        let m = QueryMemory::new(1000);
        let other = m.reserve();
        assert!(other.grow(900).is_ok());
        let r = m.reserve();
        let e = r.grow(200).err();
        assert!(
            matches!(&e, Some(e @ QueryError::Unavailable(_)) if e.status() == 503),
            "{e:?}"
        );
        drop(other);
        assert!(r.grow(200).is_ok());
        assert_eq!(m.used(), 200);
    }

    #[test]
    fn parts_of_one_request_count_together() {
        let m = QueryMemory::new(1000);
        let request = Arc::new(m.reserve());
        let a = request.child();
        let b = request.child();
        assert!(a.grow(400).is_ok());
        assert!(b.grow(400).is_ok());
        assert_eq!(request.held(), 800);
        // Together the parts would pass the limit: the request is too big,
        // retrying will not help.
        let e = b.grow(300).err();
        assert!(matches!(e, Some(QueryError::Execution(_))), "{e:?}");
        // Memory held by another request is a reason to retry.
        let other = m.reserve();
        drop(a);
        assert_eq!(request.held(), 400);
        assert!(other.grow(500).is_ok());
        let e = b.grow(200).err();
        assert!(matches!(e, Some(QueryError::Unavailable(_))), "{e:?}");
        drop(b);
        assert_eq!(request.held(), 0);
        assert!(request.grow(100).is_ok());
        drop(request);
        assert_eq!(m.used(), 500);
        drop(other);
        assert_eq!(m.used(), 0);
    }

    #[test]
    fn concurrent_growth_never_passes_the_limit() {
        let m = QueryMemory::new(10_000);
        let granted: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let m = &m;
                    s.spawn(move || {
                        let r = m.reserve();
                        let mut got = 0;
                        for _ in 0..1000 {
                            if r.grow(7).is_ok() {
                                got += 7;
                            }
                        }
                        std::mem::forget(r);
                        got
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).sum()
        });
        assert_eq!(granted, m.used());
        assert!(
            m.used() <= m.usable() && m.used() > m.usable() - 7,
            "{}",
            m.used()
        );
    }
}
