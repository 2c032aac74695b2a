use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use stratus_model::{TimeRange, STALE_NAN};

use super::*;
use crate::engine::parse;
use crate::matcher::LabelMatcher;
use crate::source::MemorySource;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// Midnight UTC, 2023-11-14.
const BASE: i64 = 19_675 * DAY;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("valid labels")
}

/// Three days of data (from two hours before `BASE`), scraped every
/// minute: counters with a reset, gauges with a stale marker and a gap, and
/// histogram buckets.
fn data() -> MemorySource {
    let mem = MemorySource::new();
    let t = TenantId::anonymous();
    let from = BASE - 2 * HOUR;
    let to = BASE + 3 * DAY;
    let times = || (from..=to).step_by(MIN as usize);
    for (i, (job, code)) in [("api", "200"), ("api", "500"), ("web", "200")]
        .iter()
        .enumerate()
    {
        let l = labels(&[
            ("__name__", "http_requests_total"),
            ("job", job),
            ("code", code),
        ]);
        let mut v = 0.0;
        let samples: Vec<Sample> = times()
            .map(|ts| {
                v += (i + 1) as f64 * 0.5 + ((ts / MIN) % 7) as f64;
                // A restart in the middle of day 2.
                if i == 0 && ts == BASE + DAY + 13 * HOUR {
                    v = 1.0;
                }
                Sample::new(ts, v)
            })
            .collect();
        mem.add(&t, l, &samples);
    }
    for (i, host) in ["a", "b"].iter().enumerate() {
        let l = labels(&[("__name__", "temperature"), ("host", host)]);
        let mut samples = Vec::new();
        for ts in times() {
            // Host b goes away at 20:00 on day 1 (stale marker) and comes
            // back at 02:00 on day 2.
            let gone = BASE + 20 * HOUR..BASE + DAY + 2 * HOUR;
            if i == 1 && gone.contains(&ts) {
                if ts == gone.start {
                    samples.push(Sample::new(ts, STALE_NAN));
                }
                continue;
            }
            let v = 20.0 + ((ts / MIN) as f64 / 90.0).sin() * 5.0 + i as f64;
            samples.push(Sample::new(ts, v));
        }
        mem.add(&t, l, &samples);
    }
    for (j, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
        let l = labels(&[("__name__", "latency_seconds_bucket"), ("le", le)]);
        let mut v = 0.0;
        let samples: Vec<Sample> = times()
            .map(|ts| {
                v += (j + 1) as f64 * 2.0 + ((ts / MIN) % 3) as f64 * j as f64;
                Sample::new(ts, v)
            })
            .collect();
        mem.add(&t, l, &samples);
    }
    mem
}

const QUERIES: &[&str] = &[
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[2h])",
    "sum by (job) (rate(http_requests_total[10m]))",
    "sum(rate(http_requests_total[1h])) / sum(rate(http_requests_total[1h] offset 1d))",
    "topk(1, rate(http_requests_total[5m]))",
    "bottomk(2, temperature)",
    "histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(latency_seconds_bucket[1h]))",
    "temperature offset 1h",
    "temperature offset -1h",
    "rate(http_requests_total[30m] offset -30m)",
    "max_over_time(rate(http_requests_total[5m])[1h:5m])",
    "min_over_time(temperature[2h:7m] offset 3m)",
    "timestamp(temperature)",
    "time()",
    "time() - timestamp(temperature)",
    "absent(temperature{host=\"b\"})",
    "absent(nothing_here)",
    "count_over_time(temperature[30h])",
    "avg_over_time(temperature[36h])",
    "deriv(temperature[20m])",
    "resets(http_requests_total[3h])",
    "temperature > 22",
    "label_replace(temperature, \"h\", \"$1\", \"host\", \"(.*)\") * 2",
    "sort(temperature)",
    "rate(temperature[5m])",
    "temperature @ end()",
    "rate(http_requests_total[5m] @ start())",
];

struct Counting {
    inner: MemorySource,
    selects: Mutex<Vec<TimeRange>>,
    generation: AtomicU64,
}

impl Counting {
    fn new(inner: MemorySource) -> Self {
        Self {
            inner,
            selects: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The ranges selected since the last call.
    fn take(&self) -> Vec<TimeRange> {
        std::mem::take(&mut *self.selects.lock().expect("lock"))
    }
}

#[async_trait::async_trait]
impl SeriesSource for Counting {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<Series>, crate::source::SourceError> {
        self.selects.lock().expect("lock").push(range);
        self.inner.select(tenant, matchers, range).await
    }

    async fn cache_generation(&self, _t: &TenantId) -> Result<u64, crate::source::SourceError> {
        Ok(self.generation.load(Ordering::Relaxed))
    }
}

fn setup() -> (Arc<Counting>, Engine) {
    let source = Arc::new(Counting::new(data()));
    let engine = Engine::new(source.clone(), EngineOptions::default());
    (source, engine)
}

async fn cached(
    cache: &ResultsCache,
    engine: &Engine,
    source: &dyn SeriesSource,
    query: &str,
    (start, end, step): (i64, i64, i64),
    now: i64,
) -> Result<QueryResult, QueryError> {
    let expr = std::sync::Arc::new(parse(query)?);
    let tenant = TenantId::anonymous();
    let q = RangeQuery {
        tenant: &tenant,
        expr: &expr,
        start,
        end,
        step,
    };
    cache.range(engine, source, &q, now).await
}

fn assert_same(query: &str, what: &str, want: &QueryResult, got: &QueryResult) {
    assert_eq!(
        got.value, want.value,
        "{query} ({what}): the cached path answered differently"
    );
    assert_eq!(
        got.annotations, want.annotations,
        "{query} ({what}): annotations differ"
    );
    assert_eq!(got.resolution_ms, want.resolution_ms, "{query} ({what})");
}

/// For many queries, steps and grids, the split and cached answer equals
/// the engine's whole answer: on the first run (misses), the second
/// (hits) and with `now` inside the range (partly cached).
#[tokio::test]
async fn cached_answers_equal_uncached_answers() {
    let (source, engine) = setup();
    let tenant = TenantId::anonymous();
    let mut checked = 0;
    let mut non_empty = 0;
    let mut annotated = 0;
    for step in [15_000, 60_000, 7 * MIN, HOUR] {
        for misalign in [0, 7_000] {
            let start = BASE + 5 * HOUR + misalign;
            let end = (start + 2 * DAY + 5 * HOUR).min(start + 10_000 * step);
            let cache = ResultsCache::new(ResultsCacheOptions::default());
            let later = BASE + 10 * DAY;
            for query in QUERIES {
                let want = engine
                    .range(&tenant, query, start, end, step)
                    .await
                    .map_err(|e| format!("{query}: {e}"))
                    .expect("the engine answers");
                let what = format!("step {step}, start {start}");
                let before = cache.counts();
                let first = cached(&cache, &engine, &*source, query, (start, end, step), later)
                    .await
                    .expect("first run");
                assert_same(query, &format!("{what}, first run"), &want, &first);
                let second = cached(&cache, &engine, &*source, query, (start, end, step), later)
                    .await
                    .expect("second run");
                assert_same(query, &format!("{what}, second run"), &want, &second);
                let after = cache.counts();
                if query.contains('@') {
                    assert_eq!(after.hits, before.hits, "{query}: `@` is never cached");
                    assert_eq!(after.misses, before.misses, "{query}");
                } else {
                    let splits = plan(start, end, step, DAY, i64::MAX).len() as u64;
                    assert!(splits >= 2, "{what}: {splits} splits");
                    assert_eq!(after.misses - before.misses, splits, "{query} {what}");
                    assert_eq!(after.hits - before.hits, splits, "{query} {what}");
                }
                let now = BASE + DAY + 16 * HOUR;
                let partly = cached(&cache, &engine, &*source, query, (start, end, step), now)
                    .await
                    .expect("partly cached run");
                assert_same(query, &format!("{what}, now inside"), &want, &partly);
                checked += 1;
                if !want.annotations.is_empty() {
                    annotated += 1;
                }
                if matches!(&want.value, QueryValue::Matrix(m) if !m.is_empty()) {
                    non_empty += 1;
                }
            }
        }
    }
    assert_eq!(checked, QUERIES.len() * 8);
    // `absent(temperature{host="b"})` is empty on some grids only.
    assert!(
        non_empty >= checked - 8,
        "{non_empty} of {checked} non-empty"
    );
    // A warning (sort) and an info (rate of a gauge) are compared too.
    assert_eq!(annotated, 2 * 8, "queries with annotations");
}

#[test]
fn splits_follow_utc_intervals_and_the_step_grid() {
    let step = 7 * MIN;
    let start = BASE - 3 * HOUR + 11_000;
    let end = BASE + 2 * DAY + HOUR;
    let splits = plan(start, end, step, DAY, BASE + 12 * HOUR);
    let mut points = Vec::new();
    for s in &splits {
        assert!(s.start <= s.end, "{s:?}");
        assert_eq!(s.start.div_euclid(DAY), s.interval, "{s:?}");
        assert_eq!(s.end.div_euclid(DAY), s.interval, "{s:?}");
        assert_eq!((s.start - start) % step, 0, "{s:?} is off the grid");
        assert_eq!((s.end - start) % step, 0, "{s:?} is off the grid");
        assert_eq!(s.cacheable, s.end <= BASE + 12 * HOUR, "{s:?}");
        points.extend((s.start..=s.end).step_by(step as usize));
    }
    let want: Vec<i64> = (start..=end).step_by(step as usize).collect();
    assert_eq!(points, want, "the splits cover every point once");
    assert_eq!(
        splits.iter().map(|s| s.interval).collect::<Vec<_>>(),
        vec![BASE / DAY - 1, BASE / DAY, BASE / DAY + 1, BASE / DAY + 2]
    );
    assert_eq!(
        splits.iter().map(|s| s.cacheable).collect::<Vec<_>>(),
        vec![true, false, false, false],
        "only the split ending before BASE + 12h is cacheable"
    );
    // One point, and a step wider than the interval.
    assert_eq!(plan(BASE, BASE, 1, DAY, 0).len(), 1);
    assert_eq!(plan(BASE, BASE + 3 * DAY, 2 * DAY, DAY, 0).len(), 2);
    assert!(plan(BASE, BASE - 1, 60_000, DAY, 0).is_empty());
}

#[test]
fn lookahead_sums_negative_offsets_and_at_is_found() {
    let la = |q: &str| lookahead_ms(&parse(q).expect("parses"));
    assert_eq!(la("rate(x[5m])"), 0);
    assert_eq!(la("x offset 1h"), 0);
    assert_eq!(la("x offset -1h + y offset -2h"), 2 * HOUR);
    assert_eq!(la("max_over_time(x[1h] offset -10m)"), 10 * MIN);
    assert_eq!(
        la("max_over_time((x offset -1h)[1h:5m] offset -1h)"),
        2 * HOUR
    );
    assert_eq!(la("max_over_time((x offset 2h)[1h:5m] offset -1h)"), 0);
    let at = |q: &str| has_at_modifier(&parse(q).expect("parses"));
    assert!(at("sum(x @ end())"));
    assert!(at("max_over_time(x[5m:1m] @ 100)"));
    assert!(at("rate(x[5m] @ start())"));
    assert!(!at("rate(x[5m] offset 5m)"));
}

#[tokio::test]
async fn old_intervals_are_not_read_again() {
    let (source, engine) = setup();
    let range = (BASE, BASE + 3 * DAY - MIN, MIN);
    let query = "sum by (job) (rate(http_requests_total[5m]))";
    let long_after = BASE + 30 * DAY;
    let cache = ResultsCache::new(ResultsCacheOptions::default());
    let first = cached(&cache, &engine, &*source, query, range, long_after)
        .await
        .expect("first");
    assert_eq!(source.take().len(), 3, "one select per day");
    let second = cached(&cache, &engine, &*source, query, range, long_after)
        .await
        .expect("second");
    assert_eq!(source.take(), vec![], "all three days come from the cache");
    assert_eq!(
        first,
        QueryResult {
            samples_loaded: first.samples_loaded,
            sample_stats: first.sample_stats.clone(),
            ..second.clone()
        }
    );
    assert_eq!(second.samples_loaded, 0, "nothing was loaded");
    assert_eq!(
        second.sample_stats,
        Default::default(),
        "nothing was evaluated"
    );
    let c = cache.counts();
    assert_eq!(
        (c.hits, c.misses, c.stored, c.entries),
        (3, 3, 3, 3),
        "{c:?}"
    );
    assert!(c.bytes > 0, "{c:?}");

    // A delete request elsewhere changes the generation: everything is
    // evaluated again.
    source.generation.store(1, Ordering::Relaxed);
    cached(&cache, &engine, &*source, query, range, long_after)
        .await
        .expect("after the generation changed");
    assert_eq!(source.take().len(), 3, "each day is read again");
    assert_eq!(cache.counts().misses, 6);
}

#[tokio::test]
async fn only_the_fresh_interval_is_evaluated_again() {
    let (source, engine) = setup();
    let query = "rate(http_requests_total[5m])";
    let last_day = BASE + 2 * DAY;
    let range = (BASE, last_day + 12 * HOUR, MIN);
    let now = last_day + 12 * HOUR + 30_000;
    let cache = ResultsCache::new(ResultsCacheOptions::default());
    let want = engine
        .range(&TenantId::anonymous(), query, range.0, range.1, range.2)
        .await
        .expect("whole");
    source.take();
    for run in 0..2 {
        let got = cached(&cache, &engine, &*source, query, range, now)
            .await
            .expect("cached");
        assert_same(query, &format!("run {run}"), &want, &got);
        let reads = source.take();
        if run == 0 {
            assert_eq!(reads.len(), 3, "{reads:?}");
            continue;
        }
        assert_eq!(reads.len(), 1, "only the last day is read: {reads:?}");
        assert!(
            reads
                .iter()
                .all(|r| r.max >= last_day && r.min >= last_day - HOUR),
            "reads outside the last day: {reads:?}"
        );
    }
    let c = cache.counts();
    assert_eq!((c.hits, c.misses, c.uncacheable), (2, 2, 2), "{c:?}");
}

#[tokio::test]
async fn negative_offsets_reaching_into_the_fresh_window_are_not_cached() {
    let (source, engine) = setup();
    let freshness = 10 * MIN;
    // The range ends 30 minutes before the freshness window: plain reads
    // are old enough, reads shifted an hour ahead are not.
    let end = BASE + DAY + 6 * HOUR;
    let now = end + freshness + 30 * MIN;
    let range = (BASE + DAY, end, MIN);
    let cache = ResultsCache::new(ResultsCacheOptions::default());
    for (query, cacheable) in [("temperature", true), ("temperature offset -1h", false)] {
        for _ in 0..2 {
            cached(&cache, &engine, &*source, query, range, now)
                .await
                .expect("answers");
        }
        let reads = source.take().len();
        if cacheable {
            assert_eq!(reads, 1, "{query}: the second run is a hit");
        } else {
            assert_eq!(reads, 2, "{query}: both runs read the data");
        }
    }
    let c = cache.counts();
    assert_eq!((c.hits, c.misses, c.uncacheable), (1, 1, 2), "{c:?}");
    assert_eq!(c.entries, 1, "only the query without offset was stored");
}

#[tokio::test]
async fn errors_are_not_cached_and_match_the_engine() {
    let (source, engine) = setup();
    let strict = engine.with_options(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let cache = ResultsCache::new(ResultsCacheOptions::default());
    let range = (BASE, BASE + 2 * DAY, HOUR);
    let later = BASE + 10 * DAY;
    let err = cached(
        &cache,
        &strict,
        &*source,
        "rate(http_requests_total[1h])",
        range,
        later,
    )
    .await
    .expect_err("too many samples");
    assert_eq!(err, QueryError::TooManySamples);
    assert_eq!(cache.counts().entries, 0, "{:?}", cache.counts());
    // Invalid queries fail as in the engine.
    for (query, step) in [("http_requests_total[5m]", HOUR), ("up", 0)] {
        let want = engine
            .range(&TenantId::anonymous(), query, range.0, range.1, step)
            .await
            .expect_err("invalid");
        let got = cached(
            &cache,
            &engine,
            &*source,
            query,
            (range.0, range.1, step),
            later,
        )
        .await
        .expect_err("invalid");
        assert_eq!(got, want, "{query}");
    }
}

#[tokio::test]
async fn eviction_keeps_the_cache_under_its_size() {
    let (source, engine) = setup();
    let cache = ResultsCache::new(ResultsCacheOptions {
        max_bytes: 64 << 10,
        ..ResultsCacheOptions::default()
    });
    let range = (BASE, BASE + 3 * DAY - MIN, MIN);
    for q in [
        "http_requests_total",
        "temperature",
        "latency_seconds_bucket",
    ] {
        cached(&cache, &engine, &*source, q, range, BASE + 10 * DAY)
            .await
            .expect("answers");
    }
    let c = cache.counts();
    assert!(c.bytes <= 64 << 10, "{c:?}");
    assert!(c.evictions > 0, "{c:?}");
    assert!(c.stored > c.entries, "{c:?}");
}

/// Which data objects may change a split: written since `since`, holding a
/// sample at or before its end.
#[test]
fn late_writes_reach_the_splits_at_and_after_their_samples() {
    let w = |id, written_ms, min_time_ms| DataWrite {
        id,
        written_ms,
        min_time_ms,
    };
    let writes = Writes::new(vec![w(1, 100, 50), w(2, 300, 10), w(3, 200, 400)]);
    let ids = |since, until| -> Vec<u64> { writes.reaching(since, until).map(|w| w.id).collect() };
    assert_eq!(ids(0, 1_000), [2, 3, 1]);
    assert_eq!(ids(150, 1_000), [2, 3]);
    assert_eq!(
        ids(150, 100),
        [2],
        "a sample at 400 changes nothing before it"
    );
    assert_eq!(ids(150, 5), Vec::<u64>::new());
    assert_eq!(ids(400, 1_000), Vec::<u64>::new(), "nothing written since");
}
