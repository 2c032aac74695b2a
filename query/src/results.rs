//! A results cache for range queries, after Mimir's query-frontend
//! (`split_queries_by_interval`, results cache, `max_cache_freshness`).
//!
//! A range query is split at multiples of [`ResultsCacheOptions::split_interval`]
//! since the epoch (UTC days by default). Each split covers the query's
//! points `start + k * step` that fall into one interval and is evaluated
//! as its own range query by the engine, which fetches that split's own
//! lookback and range windows. Every PromQL function computes a point from
//! the data around that point only, and our subqueries step on absolute
//! multiples of their step (as Prometheus's), so the points of a split are
//! the points the whole query would have produced: merging the splits per
//! series gives the same answer.
//!
//! Splits that must be evaluated run on tasks of their own,
//! [`ResultsCacheOptions::concurrency`] at a time, so they use every core.
//!
//! Splits whose every point, shifted by the query's negative offsets (they
//! read ahead), lies at least [`ResultsCacheOptions::max_freshness`] before
//! now are kept in memory and reused across refreshes; the others are
//! evaluated every time. Keys carry the source's
//! [`SeriesSource::cache_generation`], which moves when delete requests
//! change what old data answers. Errors are never cached.
//!
//! Late samples (a Prometheus resending its backlog after an outage, up to
//! `--max-sample-age` old) change old points too: a cached split is served
//! only while no data object written since it was evaluated (less
//! `max_freshness`, for listings that lag and clocks that differ) may hold
//! a sample at or before its last point (shifted by the query's read-ahead),
//! as [`SeriesSource::data_writes`] lists them. A sample at `t` changes
//! points at `t` and later only, so the splits before it stay.
//!
//! Not split and not cached: expressions with an `@` modifier. `@ start()`
//! and `@ end()` depend on the whole range; a fixed `@ t` would be safe to
//! split but is left out for now. Limits (`max_samples`, `max_series`)
//! apply to each split, not to the whole query; the timeout applies to the
//! whole.
//!
//! Known differences from the unsplit path: when distinct annotations come
//! from different splits, they are listed split by split (Prometheus keeps
//! them in a map, so no order is promised); a split answered from rollups
//! may be served at another resolution than the whole range would have
//! been. Design: `docs/adr/0018-*`,
//! late samples: `docs/adr/0035-*`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt, TryStreamExt};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;
use stratus_model::{Labels, Sample, TenantId};

use crate::annotations::Annotations;
use crate::engine::{Engine, EngineOptions, QueryResult, QueryValue};
use crate::error::QueryError;
use crate::eval::offset_ms;
use crate::source::{DataWrite, Series, SeriesSource};

/// Settings of the results cache; defaults follow Mimir's query-frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsCacheOptions {
    /// Memory the cached results may take, estimated (bytes).
    pub max_bytes: u64,
    /// Range queries are split at multiples of this since the epoch.
    pub split_interval: Duration,
    /// Points newer than this before now are never cached: late samples
    /// and the writer's own lag may still change them.
    pub max_freshness: Duration,
    /// Splits of one query evaluated at the same time.
    pub concurrency: usize,
}

impl Default for ResultsCacheOptions {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            split_interval: Duration::from_secs(24 * 3600),
            max_freshness: Duration::from_secs(600),
            concurrency: 2,
        }
    }
}

impl ResultsCacheOptions {
    /// Says which setting is out of range, and what it should be.
    pub fn validate(&self) -> Result<(), String> {
        if self.split_interval.as_millis() < 1 {
            return Err(format!(
                "results cache split interval must be at least 1ms, got {:?}",
                self.split_interval
            ));
        }
        if self.concurrency == 0 {
            return Err("results cache concurrency must be at least 1, got 0".into());
        }
        Ok(())
    }
}

/// One sub-query of a split range query: the points `start..=end` (on the
/// query's step grid) that fall into interval number `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The interval's index: its first millisecond divided by the interval.
    pub interval: i64,
    pub start: i64,
    pub end: i64,
    /// Every point is old enough to be cached.
    pub cacheable: bool,
}

/// Splits the points `start + k * step` (up to `end`) by interval of
/// `interval_ms`, aligned to multiples since the epoch. Splits whose last
/// point is at or before `cache_until` are cacheable.
pub fn plan(start: i64, end: i64, step: i64, interval_ms: i64, cache_until: i64) -> Vec<Split> {
    let mut out = Vec::new();
    if step <= 0 || interval_ms <= 0 || end < start {
        return out;
    }
    let last_k = (end - start) / step;
    let mut k = 0;
    while k <= last_k {
        let t = start + k * step;
        let interval = t.div_euclid(interval_ms);
        let interval_last_ms = (interval + 1).saturating_mul(interval_ms) - 1;
        let k_end = ((interval_last_ms - start) / step).min(last_k);
        let split_end = start + k_end * step;
        out.push(Split {
            interval,
            start: t,
            end: split_end,
            cacheable: split_end <= cache_until,
        });
        k = k_end + 1;
    }
    out
}

/// True when `e` has an `@` modifier anywhere.
pub fn has_at_modifier(e: &Expr) -> bool {
    stratus_promql::stack_guard(|| match e {
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some() || has_at_modifier(&sq.expr),
        Expr::Aggregate(a) => {
            has_at_modifier(&a.expr) || a.param.as_deref().is_some_and(has_at_modifier)
        }
        Expr::Unary(u) => has_at_modifier(&u.expr),
        Expr::Binary(b) => has_at_modifier(&b.lhs) || has_at_modifier(&b.rhs),
        Expr::Paren(p) => has_at_modifier(&p.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_at_modifier(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    })
}

/// How far (ms) past its evaluation time the expression reads: negative
/// offsets read ahead, and offsets of nested subqueries add up. 0 without
/// negative offsets.
pub fn lookahead_ms(e: &Expr) -> i64 {
    // `shift`: the sum of the offsets above `e`; a selector reads up to
    // `t - shift - its own offset`.
    fn walk(e: &Expr, shift: i64) -> i64 {
        stratus_promql::stack_guard(|| match e {
            Expr::VectorSelector(vs) => -(shift + offset_ms(&vs.offset)),
            Expr::MatrixSelector(ms) => -(shift + offset_ms(&ms.vs.offset)),
            Expr::Subquery(sq) => walk(&sq.expr, shift + offset_ms(&sq.offset)),
            Expr::Aggregate(a) => {
                let p = a.param.as_deref().map_or(0, |p| walk(p, shift));
                walk(&a.expr, shift).max(p)
            }
            Expr::Unary(u) => walk(&u.expr, shift),
            Expr::Binary(b) => walk(&b.lhs, shift).max(walk(&b.rhs, shift)),
            Expr::Paren(p) => walk(&p.expr, shift),
            Expr::Call(c) => c.args.args.iter().map(|a| walk(a, shift)).fold(0, i64::max),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => 0,
        })
    }
    walk(e, 0).max(0)
}

/// A range query for [`ResultsCache::range`].
#[derive(Debug, Clone, Copy)]
pub struct RangeQuery<'a> {
    pub tenant: &'a TenantId,
    pub expr: &'a Arc<Expr>,
    /// First point (ms).
    pub start: i64,
    /// Last point at most (ms).
    pub end: i64,
    /// Step (ms).
    pub step: i64,
}

/// Counters of the cache since it was made, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultsCacheCounts {
    /// Cacheable splits answered from the cache.
    pub hits: u64,
    /// Cacheable splits that had to be evaluated.
    pub misses: u64,
    /// Of the misses, splits found in the cache but evaluated again
    /// because late samples were written into them.
    pub late: u64,
    /// Splits evaluated because they were too fresh to cache, and queries
    /// that are never split (counted once each).
    pub uncacheable: u64,
    /// Entries stored.
    pub stored: u64,
    /// Entries evicted to stay under `max_bytes`.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Estimated bytes held now.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: TenantId,
    /// The parsed expression printed back, so formatting does not matter.
    query: Arc<str>,
    step: i64,
    /// `start mod step`: which grid the points are on.
    grid: i64,
    interval: i64,
    first: i64,
    last: i64,
    lookback_ms: i64,
    max_source_resolution_ms: i64,
    approximate_rollups: bool,
    default_subquery_step_ms: i64,
    delayed_name_removal: bool,
    generation: u64,
}

/// The answer of one split.
#[derive(Debug)]
struct Part {
    series: Vec<Series>,
    annotations: Annotations,
    resolution_ms: i64,
    /// When it was evaluated (the query's `now_ms`).
    evaluated_ms: i64,
    /// The data objects written within `max_freshness` before that which
    /// reach into the split, as the query saw them (sorted): in the
    /// answer already.
    seen: Vec<u64>,
}

/// The data objects of a tenant, newest first, each with the earliest
/// sample of every object written at or after it: what was written since a
/// given time, and how far back it reaches.
struct Writes {
    newest_first: Vec<DataWrite>,
    earliest_from: Vec<i64>,
}

impl Writes {
    fn new(mut writes: Vec<DataWrite>) -> Self {
        writes.sort_by_key(|w| std::cmp::Reverse(w.written_ms));
        let mut earliest = i64::MAX;
        let earliest_from = writes
            .iter()
            .map(|w| {
                earliest = earliest.min(w.min_time_ms);
                earliest
            })
            .collect();
        Self {
            newest_first: writes,
            earliest_from,
        }
    }

    /// The objects written at or after `since_ms` that may hold a sample
    /// at or before `until_ms`.
    fn reaching(&self, since_ms: i64, until_ms: i64) -> impl Iterator<Item = &DataWrite> {
        let n = self
            .newest_first
            .partition_point(|w| w.written_ms >= since_ms);
        // Nothing at all when even the earliest of them is later.
        let n = if n > 0 && self.earliest_from[n - 1] <= until_ms {
            n
        } else {
            0
        };
        self.newest_first[..n]
            .iter()
            .filter(move |w| w.min_time_ms <= until_ms)
    }
}

impl Part {
    /// Rough memory use, for the cache's weigher.
    fn weight(&self, key: &Key) -> u32 {
        let series: usize = self
            .series
            .iter()
            .map(|s| {
                let labels: usize = s
                    .labels
                    .iter()
                    .map(|l| 48 + l.name.len() + l.value.len())
                    .sum();
                64 + labels + s.samples.len() * std::mem::size_of::<Sample>()
            })
            .sum();
        let notes: usize = self
            .annotations
            .warnings
            .iter()
            .chain(&self.annotations.infos)
            .map(|s| 24 + s.len())
            .sum();
        let total = 256 + key.query.len() + series + notes + self.seen.len() * 8;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    late: AtomicU64,
    uncacheable: AtomicU64,
    stored: AtomicU64,
    evictions: AtomicU64,
}

/// Cached answers of range-query splits, shared by all queries of a
/// querier.
pub struct ResultsCache {
    opts: ResultsCacheOptions,
    cache: moka::sync::Cache<Key, Arc<Part>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for ResultsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsCache")
            .field("opts", &self.opts)
            .field("counts", &self.counts())
            .finish()
    }
}

impl ResultsCache {
    /// A cache with `opts`; a split interval under 1 ms counts as 1 ms and
    /// a concurrency of 0 as 1 (see [`ResultsCacheOptions::validate`]).
    pub fn new(mut opts: ResultsCacheOptions) -> Self {
        opts.split_interval = opts.split_interval.max(Duration::from_millis(1));
        opts.concurrency = opts.concurrency.max(1);
        let counters = Arc::new(Counters::default());
        let evicted = counters.clone();
        let cache = moka::sync::Cache::builder()
            .max_capacity(opts.max_bytes)
            .weigher(|k: &Key, v: &Arc<Part>| v.weight(k))
            .eviction_listener(move |_k, _v, cause| {
                if cause.was_evicted() {
                    evicted.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            opts,
            cache,
            counters,
        }
    }

    pub fn options(&self) -> &ResultsCacheOptions {
        &self.opts
    }

    /// The counters; also settles the cache's pending bookkeeping so
    /// entries and bytes are current.
    pub fn counts(&self) -> ResultsCacheCounts {
        self.cache.run_pending_tasks();
        let c = &self.counters;
        ResultsCacheCounts {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            late: c.late.load(Ordering::Relaxed),
            uncacheable: c.uncacheable.load(Ordering::Relaxed),
            stored: c.stored.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
        }
    }

    /// Evaluates a range query as `engine.range_expr` would, split by
    /// interval, with the splits old enough answered from (and stored in)
    /// the cache. `source` is the engine's source (for its cache
    /// generation); `now_ms` decides which splits are old enough.
    pub async fn range(
        &self,
        engine: &Engine,
        source: &dyn SeriesSource,
        q: &RangeQuery<'_>,
        now_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let valid_type = matches!(q.expr.value_type(), ValueType::Scalar | ValueType::Vector);
        let whole = || engine.range_expr(q.tenant, q.expr, q.start, q.end, q.step);
        if !valid_type || q.step <= 0 || q.end < q.start || has_at_modifier(q.expr) {
            // Invalid queries fail exactly as the engine fails them.
            self.counters.uncacheable.fetch_add(1, Ordering::Relaxed);
            return whole().await;
        }
        let Ok(generation) = source.cache_generation(q.tenant).await else {
            // Without a generation nothing can be trusted: evaluate as if
            // there were no cache (the engine reports the storage error if
            // reading fails there too).
            self.counters.uncacheable.fetch_add(1, Ordering::Relaxed);
            return whole().await;
        };
        let deadline = Instant::now() + engine.options().timeout;
        let freshness = i64::try_from(self.opts.max_freshness.as_millis()).unwrap_or(i64::MAX);
        let cache_until = now_ms
            .saturating_sub(freshness)
            .saturating_sub(lookahead_ms(q.expr));
        let interval_ms = i64::try_from(self.opts.split_interval.as_millis()).unwrap_or(i64::MAX);
        let splits = plan(q.start, q.end, q.step, interval_ms, cache_until);
        let writes = if splits.iter().any(|s| s.cacheable) {
            match source.data_writes(q.tenant).await {
                Ok(w) => Writes::new(w),
                Err(_) => {
                    // Without the writes a cached split cannot be trusted.
                    self.counters.uncacheable.fetch_add(1, Ordering::Relaxed);
                    return whole().await;
                }
            }
        } else {
            Writes::new(Vec::new())
        };
        let ctx = Ctx {
            engine,
            q,
            query: q.expr.to_string().into(),
            opts: engine.options().clone(),
            generation,
            deadline,
            now_ms,
            freshness_ms: freshness,
            lookahead_ms: lookahead_ms(q.expr),
            writes,
        };
        let runs: Vec<_> = splits.into_iter().map(|s| self.split(&ctx, s)).collect();
        let all = stream::iter(runs)
            .buffered(self.opts.concurrency)
            .try_collect::<Vec<_>>();
        let left = deadline.saturating_duration_since(Instant::now());
        let parts = tokio::time::timeout(left, all)
            .await
            .map_err(|_| QueryError::Timeout)??;
        Ok(merge(parts))
    }

    /// The answer of one split: from the cache, or evaluated (and stored
    /// when it is old enough). Also the samples loaded for it.
    async fn split(&self, ctx: &Ctx<'_>, s: Split) -> Result<(Arc<Part>, Counts), QueryError> {
        if !s.cacheable {
            self.counters.uncacheable.fetch_add(1, Ordering::Relaxed);
            return ctx.evaluate(s).await;
        }
        let key = ctx.key(&s);
        if let Some(hit) = self.cache.get(&key) {
            if !ctx.changed_since(&hit, &s) {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((hit, Counts::default()));
            }
            // Late samples reach into the split: evaluated again below,
            // and the new answer replaces the old.
            self.counters.late.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let (part, loaded) = ctx.evaluate(s).await?;
        if u64::from(part.weight(&key)) <= self.opts.max_bytes {
            self.cache.insert(key, part.clone());
            self.counters.stored.fetch_add(1, Ordering::Relaxed);
        }
        Ok((part, loaded))
    }
}

/// What the splits of one query share.
struct Ctx<'a> {
    engine: &'a Engine,
    q: &'a RangeQuery<'a>,
    query: Arc<str>,
    opts: EngineOptions,
    generation: u64,
    deadline: Instant,
    now_ms: i64,
    freshness_ms: i64,
    lookahead_ms: i64,
    writes: Writes,
}

impl Ctx<'_> {
    /// The objects that may change the split's points: written within
    /// `max_freshness` before `evaluated_ms` or later (a listing may lag,
    /// clocks differ), holding a sample at or before its last point (a
    /// sample at `t` changes the points at `t` and later, from `t -
    /// lookahead` with negative offsets).
    fn reaching(&self, evaluated_ms: i64, s: &Split) -> impl Iterator<Item = &DataWrite> {
        let since = evaluated_ms.saturating_sub(self.freshness_ms);
        self.writes
            .reaching(since, s.end.saturating_add(self.lookahead_ms))
    }

    /// Whether an object `part` did not see may change the split's points.
    fn changed_since(&self, part: &Part, s: &Split) -> bool {
        self.reaching(part.evaluated_ms, s)
            .any(|w| part.seen.binary_search(&w.id).is_err())
    }

    fn key(&self, s: &Split) -> Key {
        Key {
            tenant: self.q.tenant.clone(),
            query: self.query.clone(),
            step: self.q.step,
            grid: self.q.start.rem_euclid(self.q.step),
            interval: s.interval,
            first: s.start,
            last: s.end,
            lookback_ms: self.opts.lookback_delta.as_millis() as i64,
            max_source_resolution_ms: self.opts.max_source_resolution_ms,
            approximate_rollups: self.opts.approximate_rollups,
            default_subquery_step_ms: self.opts.default_subquery_step.as_millis() as i64,
            delayed_name_removal: self.opts.delayed_name_removal,
            generation: self.generation,
        }
    }

    /// Runs the engine over the split's points, within what is left of the
    /// query's time, on a task of its own so that splits use every core.
    /// The request's storage stats follow it there; the task is stopped if
    /// the query is dropped.
    async fn evaluate(&self, s: Split) -> Result<(Arc<Part>, Counts), QueryError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(QueryError::Timeout);
        }
        let engine = self.engine.with_options(EngineOptions {
            timeout: left,
            ..self.opts.clone()
        });
        let (tenant, expr, step) = (self.q.tenant.clone(), self.q.expr.clone(), self.q.step);
        let run = async move {
            engine
                .range_expr(&tenant, &expr, s.start, s.end, step)
                .await
        };
        let stats = stratus_storage::RequestStats::current();
        let mut task = AbortOnDrop(tokio::spawn(async move {
            match stats {
                Some(st) => stratus_storage::RequestStats::scope(st, run).await,
                None => run.await,
            }
        }));
        let r = (&mut task.0).await.map_err(|e| {
            QueryError::exec(format!("evaluating a range query split failed: {e}"))
        })??;
        let QueryValue::Matrix(series) = r.value else {
            return Err(QueryError::exec(
                "a range query split answered with something other than a matrix",
            ));
        };
        let part = Part {
            series,
            annotations: r.annotations,
            resolution_ms: r.resolution_ms,
            evaluated_ms: self.now_ms,
            seen: {
                let mut seen: Vec<u64> = self.reaching(self.now_ms, &s).map(|w| w.id).collect();
                seen.sort_unstable();
                seen
            },
        };
        Ok((Arc::new(part), (r.samples_loaded, r.sample_stats)))
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Joins the answers of consecutive splits: points concatenated per series,
/// series in label order (as the engine sorts them), annotations in split
/// order without repeats, the coarsest resolution.
fn merge(parts: Vec<(Arc<Part>, Counts)>) -> QueryResult {
    let mut annotations = Annotations::default();
    let mut samples_loaded = 0;
    let mut sample_stats = crate::SampleStats::default();
    let mut resolution_ms = 0;
    for (part, (loaded, stats)) in &parts {
        samples_loaded += loaded;
        sample_stats.merge(stats);
        resolution_ms = resolution_ms.max(part.resolution_ms);
        for w in &part.annotations.warnings {
            annotations.warn(w.clone());
        }
        for i in &part.annotations.infos {
            annotations.info(i.clone());
        }
    }
    // Parts not kept by the cache are moved, not copied: answers can be
    // hundreds of megabytes.
    let owned = |part: Arc<Part>| match Arc::try_unwrap(part) {
        Ok(p) => p.series,
        Err(shared) => shared.series.clone(),
    };
    let series = if parts.len() == 1 {
        parts.into_iter().flat_map(|(p, _)| owned(p)).collect()
    } else {
        let mut by_labels: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for (part, _) in parts {
            for s in owned(part) {
                match by_labels.entry(s.labels) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(s.samples);
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        e.get_mut().extend_from_slice(&s.samples)
                    }
                }
            }
        }
        by_labels
            .into_iter()
            .map(|(labels, samples)| Series { labels, samples })
            .collect()
    };
    QueryResult {
        value: QueryValue::Matrix(series),
        annotations,
        samples_loaded,
        sample_stats,
        resolution_ms,
    }
}

/// What evaluating a split counted: the samples loaded, and Prometheus's
/// sample statistics. A split answered from the cache counted nothing.
type Counts = (usize, crate::SampleStats);

/// A hash of anything hashable, for cache generations; the same value
/// hashes the same within one process (the cache is never persisted).
pub fn generation_of(value: &impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests;
