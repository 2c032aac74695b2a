//! Delete requests and retention show in query answers at once and, after
//! compaction, in the bucket: the deleted samples are gone from the blocks,
//! expired blocks are deleted, and the object count drops.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use stratus_codec::SegmentBuilder;
use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
use stratus_model::{Clock, Labels, Sample, SystemClock, TenantId};
use stratus_query::api::{router, QueryState};
use stratus_query::{BucketSource, BucketSourceOptions, Engine, EngineOptions, SeriesSource};
use stratus_storage::keys::{blocks_prefix, tenant_root};
use stratus_storage::{catalog, BlockKey, Bucket};
use tower::ServiceExt;

const H: i64 = 3_600_000;
const D: i64 = 24 * H;

struct World {
    bucket: Bucket,
    app: axum::Router,
    tenant: TenantId,
    base: i64,
    now: i64,
}

/// Two series, one sample a minute for three days; the data ends before now.
async fn world() -> World {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let now = SystemClock.now_ms();
    let base = now - now.rem_euclid(D) - 3 * D;
    for part in 0..12 {
        let mut b = SegmentBuilder::new(&tenant);
        for job in ["a", "b"] {
            let l = Labels::from_pairs([("__name__", "kept_total"), ("job", job)]).expect("labels");
            let samples: Vec<Sample> = (0..360)
                .map(|k| Sample::new(base + part * 6 * H + k * 60_000, k as f64))
                .collect();
            b.add_series(&l, &samples).expect("series");
        }
        let id = ulid::Ulid::from_parts((now - 2 * H + part * 1000) as u64, part as u128);
        stratus_tests::segments::put(&bucket, &tenant, id, b).await;
    }
    let source: Arc<dyn SeriesSource> = Arc::new(BucketSource::new(
        bucket.clone(),
        BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..BucketSourceOptions::default()
        },
    ));
    let app = router(QueryState {
        engine: Engine::new(source.clone(), EngineOptions::default()),
        source,
        clock: Arc::new(SystemClock),
        tenants: stratus_http::TenantPolicy::default(),
        max_body_bytes: 1 << 20,
        admin: Some(bucket.clone()),
        max_pending_deletes: 0,
        results_cache: None,
        status: Default::default(),
    });
    World {
        bucket,
        app,
        tenant,
        base,
        now,
    }
}

impl World {
    async fn pass(&self, now: i64, cfg: CompactorConfig) {
        Compactor::new(
            self.bucket.clone(),
            cfg,
            CompactorMetrics::new(&mut Registry::default()),
        )
        .run_once(now)
        .await
        .expect("compaction pass");
    }

    /// Samples of `job` in `[from, to)` as the API counts them.
    async fn count(&self, job: &str, from: i64, to: i64) -> f64 {
        self.count_with_infos(job, from, to).await.0
    }

    /// Samples of `job` in `(from, to]`, a PromQL window: with `from` and
    /// `to` on rollup window ends, rollups count exactly.
    async fn window_count(&self, job: &str, from: i64, to: i64) -> (f64, Vec<String>) {
        self.count_at(job, to - from, to).await
    }

    /// The count of samples in `[from, to)`, and the `infos` the API
    /// attached to the answer.
    async fn count_with_infos(&self, job: &str, from: i64, to: i64) -> (f64, Vec<String>) {
        self.count_at(job, to - from, to - 1).await
    }

    /// `count_over_time` of `job` over `range` ms at `at`, and the infos.
    async fn count_at(&self, job: &str, range: i64, at: i64) -> (f64, Vec<String>) {
        let q = format!("count_over_time(kept_total{{job=\"{job}\"}}[{}ms])", range);
        let uri = format!(
            "/api/v1/query?query={}&time={}",
            urlencode(&q),
            at as f64 / 1000.0
        );
        let resp = self
            .app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let count = v["data"]["result"][0]["value"][1]
            .as_str()
            .map_or(0.0, |s| s.parse().expect("number"));
        let infos = v["infos"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        (count, infos)
    }

    /// Samples of `job` in `[from, to)` physically in the raw blocks.
    async fn stored(&self, job: &str, from: i64, to: i64) -> usize {
        let cat = catalog::load(&self.bucket, &self.tenant)
            .await
            .expect("catalog")
            .catalog;
        let mut n = 0;
        for b in cat.blocks.iter().filter(|b| b.resolution_ms == 0) {
            let key = BlockKey::new(
                self.tenant.clone(),
                ulid::Ulid::from_string(&b.id).expect("id"),
            )
            .path();
            let (bytes, _) = self.bucket.get(&key).await.expect("block");
            let (_, series) = stratus_block::read_all(&bytes).expect("read");
            for (l, s) in series {
                if l.get("job") == Some(job) {
                    n += s.iter().filter(|x| x.t >= from && x.t < to).count();
                }
            }
        }
        n
    }

    async fn objects(&self) -> usize {
        self.bucket
            .list(&tenant_root(&self.tenant))
            .await
            .expect("list")
            .len()
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_requests_hide_at_once_and_leave_the_blocks_after_compaction() {
    let w = world().await;
    let cfg = CompactorConfig::default();
    w.pass(w.now + H, cfg.clone()).await;
    let (day2, day3) = (w.base + D, w.base + 2 * D);
    assert_eq!(w.count("a", day2, day3).await, 1440.0);
    assert_eq!(w.stored("a", day2, day3).await, 1440);

    let req = Request::post("/api/v1/admin/tsdb/delete_series")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "match%5B%5D={}&start={}&end={}",
            urlencode("kept_total{job=\"a\"}"),
            day2 as f64 / 1000.0,
            (day3 - 1) as f64 / 1000.0
        )))
        .expect("request");
    let resp = w.app.clone().oneshot(req).await.expect("resp");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // Hidden at once, before any compaction; the other series is intact.
    assert_eq!(w.count("a", day2, day3).await, 0.0);
    assert_eq!(w.count("a", w.base, day2).await, 1440.0);
    assert_eq!(w.count("b", day2, day3).await, 1440.0);
    assert_eq!(
        w.stored("a", day2, day3).await,
        1440,
        "still in the blocks until compaction"
    );

    // The compactor rewrites the blocks and forgets the request.
    w.pass(w.now + 2 * H, cfg.clone()).await;
    w.pass(w.now + 2 * H, cfg.clone()).await;
    assert_eq!(w.stored("a", day2, day3).await, 0, "gone from the blocks");
    assert_eq!(w.stored("a", w.base, day2).await, 1440);
    assert_eq!(w.stored("b", day2, day3).await, 1440);
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(
        cat.tombstones.is_empty(),
        "applied requests are forgotten: {:?}",
        cat.tombstones
    );
    assert_eq!(w.count("a", day2, day3).await, 0.0);
    assert_eq!(w.count("b", day2, day3).await, 1440.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_blocks_from_answers_and_the_bucket() {
    let w = world().await;
    let mut cfg = CompactorConfig::default();
    w.pass(w.now + H, cfg.clone()).await;
    w.pass(w.now + D, cfg.clone()).await; // past every delete delay
    let before = w.objects().await;
    assert_eq!(w.count("a", w.base, w.base + D).await, 1440.0);

    // Keep raw data for 2 days, as of a time that puts only the first day
    // beyond it.
    cfg.retention_raw = Duration::from_secs(2 * 24 * 3600);
    let at = w.base + 3 * D + H;
    w.pass(at, cfg.clone()).await;
    // Raw samples past retention are gone from the answers' source, but the
    // day's rollups (kept longer, as in Thanos) still answer it.
    let (count, infos) = w.window_count("a", w.base, w.base + D).await;
    assert_eq!(
        count, 1440.0,
        "expired raw ranges are answered from rollups"
    );
    assert!(
        infos.iter().any(|i| i.contains("rollups")),
        "the answer says it came from rollups: {infos:?}"
    );
    let (_, infos) = w.count_with_infos("a", w.base + D, w.base + 2 * D).await;
    assert!(infos.is_empty(), "raw answers carry no note: {infos:?}");
    assert_eq!(
        w.window_count("a", w.base + D / 2, w.base + D + D / 2)
            .await
            .0,
        1440.0,
        "a window half in rollups and half in raw blocks counts each sample once"
    );
    assert_eq!(
        w.count("a", w.base + D, w.base + 2 * D).await,
        1440.0,
        "newer data stays"
    );
    // Once the rollups expire too, nothing answers the first day.
    cfg.retention_downsampled = Duration::from_secs(2 * 24 * 3600);
    w.pass(at, cfg.clone()).await;
    assert_eq!(
        w.count("a", w.base, w.base + D).await,
        0.0,
        "expired data is no longer answered"
    );
    // The expired blocks are deleted once the delay has passed.
    w.pass(at + 20 * 60_000, cfg.clone()).await;
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(cat
        .blocks
        .iter()
        .filter(|b| b.resolution_ms == 0)
        .all(|b| b.max_time > w.base + D));
    let after = w.objects().await;
    assert!(
        after < before,
        "objects: {before} before retention, {after} after"
    );
    let blocks = w
        .bucket
        .list(&blocks_prefix(&w.tenant))
        .await
        .expect("list")
        .len();
    assert_eq!(blocks, cat.blocks.len(), "only live blocks remain");
    println!("objects before retention {before}, after {after}");
}

/// Answers of `query` at `t` for job "a" through an engine with `max_res`
/// (as a user asking for that resolution: approximate rollups allowed;
/// `i64::MAX`: the API's `auto`, exact rollups only), and the rollup step
/// it read.
async fn answer(w: &World, query: &str, t: i64, max_res: i64) -> (f64, i64) {
    let source: Arc<dyn SeriesSource> = Arc::new(BucketSource::new(
        w.bucket.clone(),
        BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..BucketSourceOptions::default()
        },
    ));
    let engine = Engine::new(
        source,
        EngineOptions {
            max_source_resolution_ms: max_res,
            approximate_rollups: max_res > 0 && max_res < i64::MAX,
            ..EngineOptions::default()
        },
    );
    let r = engine.instant(&w.tenant, query, t).await.expect("query");
    let v = match r.value {
        stratus_query::QueryValue::Vector(v) => v
            .iter()
            .find(|(l, _)| l.get("job") == Some("a"))
            .map_or(f64::NAN, |(_, s)| s.v),
        other => panic!("{other:?}"),
    };
    (v, r.resolution_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_answer_within_their_resolution_and_replace_expired_raw_data() {
    let w = world().await;
    w.pass(w.now + H, CompactorConfig::default()).await;
    w.pass(w.now + D, CompactorConfig::default()).await;
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(
        cat.blocks.iter().any(|b| b.resolution_ms == 300_000)
            && cat.blocks.iter().any(|b| b.resolution_ms == H)
    );

    // A counter growing by 1 a minute, reset every 6 h; 1 sample a minute.
    // At window ends, with ranges made of whole windows, max, count, sum,
    // increase and rate (from the windows' edges, ADR 0034) and plain
    // values from rollups are exact; asked for a coarser resolution than
    // is exact, increase and rate may differ by one step's growth.
    let cases: [(&str, Option<f64>); 6] = [
        ("increase(kept_total[3h])", Some(1.0)),
        ("rate(kept_total[3h]) * 60", Some(1.0 / 180.0)),
        ("max_over_time(kept_total[3h])", None),
        ("count_over_time(kept_total[3h])", None),
        ("sum_over_time(kept_total[3h])", None),
        ("kept_total", None),
    ];
    let mut compared = 0;
    for res in [300_000i64, H] {
        let minutes = (res / 60_000) as f64;
        for k in 1..6 {
            // Evaluate at window ends, inside the first day.
            let t = w.base + 3 * H + k * 2 * res;
            for (q, per_minute) in cases {
                let (raw, raw_res) = answer(&w, q, t, 0).await;
                let (rolled, used) = answer(&w, q, t, res).await;
                assert_eq!(
                    raw_res, 0,
                    "raw data is kept: {q} must not read rollups by default"
                );
                // Asked for a resolution: the coarsest exact rollup at or
                // below it, else the coarsest there is (approximate).
                assert!(
                    used > 0 && used <= res && (per_minute.is_none() || used == res),
                    "{q} with max_source_resolution {res} read {used} ms rollups"
                );
                // Under `auto`, rollups serve only where they are exact.
                let (auto, auto_res) = answer(&w, q, t, i64::MAX).await;
                // A plain selector needs the staleness markers rollups
                // skip (ADR 0029).
                if q == "kept_total" {
                    assert_eq!(
                        auto_res, 0,
                        "{q}: rollups only approximate it, auto reads raw"
                    );
                } else {
                    assert!(
                        auto_res > 0,
                        "{q}: whole windows at window ends read rollups"
                    );
                }
                assert!(
                    (auto - raw).abs() <= 1e-9 * raw.abs(),
                    "{q} at +{}m under auto: raw {raw}, auto {auto}",
                    (t - w.base) / 60_000
                );
                let tolerance = per_minute.map_or(1e-9 * raw.abs(), |m| m * 2.0 * minutes);
                assert!(
                    (raw - rolled).abs() <= tolerance,
                    "{q} at +{}m with {res} ms rollups: raw {raw}, rollups {rolled}",
                    (t - w.base) / 60_000
                );
                compared += 1;
            }
        }
    }
    // Raw data still kept: the default answer is the raw one, exactly.
    let t = w.base + 5 * H;
    let (raw, _) = answer(&w, "increase(kept_total[3h])", t, 0).await;
    // Once raw data of the first day is gone, rollups answer by default.
    let cfg = CompactorConfig {
        retention_raw: Duration::from_secs(2 * 24 * 3600),
        ..CompactorConfig::default()
    };
    w.pass(w.base + 3 * D + H, cfg).await;
    let (after, used) = answer(&w, "increase(kept_total[3h])", t, 0).await;
    assert_eq!(
        used, 300_000,
        "expired raw data is answered from the finest rollups"
    );
    assert!(
        after.is_finite() && (after - raw).abs() <= 2.0 * 5.0,
        "raw {raw}, after retention {after}"
    );
    println!("compared {compared} answers from rollups with raw ones; after raw retention: {raw} -> {after}");
}

/// `query_range` over the API; the values of job "a" and the infos.
async fn range(
    w: &World,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
    extra: &str,
) -> (Vec<f64>, Vec<String>) {
    let uri = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step={}{extra}",
        urlencode(query),
        start as f64 / 1000.0,
        end as f64 / 1000.0,
        step / 1000
    );
    let resp = w
        .app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let values = v["data"]["result"]
        .as_array()
        .expect("matrix")
        .iter()
        .find(|s| s["metric"]["job"] == "a")
        .map(|s| {
            s["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|p| p[1].as_str().expect("value").parse().expect("number"))
                .collect()
        })
        .unwrap_or_default();
    // Infos, then warnings.
    let infos = ["infos", "warnings"]
        .iter()
        .filter_map(|k| v[k].as_array())
        .flatten()
        .filter_map(|i| i.as_str().map(String::from))
        .collect();
    (values, infos)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_queries_with_long_steps_read_rollups_by_default() {
    let w = world().await;
    w.pass(w.now + H, CompactorConfig::default()).await;
    w.pass(w.now + D, CompactorConfig::default()).await;
    let q = "sum_over_time(kept_total[1h])";
    let (start, end) = (w.base + 2 * H, w.base + 2 * D);

    // A dashboard step of 1 h: a range of one hour is more than one 5 m
    // window, not more than one 1 h window.
    let (auto, infos) = range(&w, q, start, end, H, "").await;
    assert!(
        infos.iter().any(|i| i.contains("5m rollups")),
        "a 1 h step reads 5 m rollups: {infos:?}"
    );
    assert!(
        !infos.iter().any(|i| i.contains("warning")),
        "exact: no warning: {infos:?}"
    );
    let (raw, raw_infos) = range(&w, q, start, end, H, "&max_source_resolution=raw").await;
    assert!(raw_infos.is_empty(), "raw on request: {raw_infos:?}");
    assert_eq!(auto.len(), raw.len());
    assert!(!raw.is_empty());
    // Whole windows: sums from rollups equal sums of raw samples.
    for (k, (a, r)) in auto.iter().zip(&raw).enumerate() {
        assert!(
            (a - r).abs() <= 1e-9 * r.abs(),
            "step {k}: rollups {a}, raw {r}"
        );
    }

    // A short step stays on raw samples, and so does a start off the
    // rollup grid.
    let (_, infos) = range(&w, q, start, start + 6 * H, 60_000, "").await;
    assert!(infos.is_empty(), "a 1 m step reads raw samples: {infos:?}");
    let (_, infos) = range(&w, q, start + 60_000, end, H, "").await;
    assert!(
        infos.is_empty(),
        "an unaligned start reads raw samples: {infos:?}"
    );
    // 1 h rollups serve ranges of whole hours longer than one, at whole hours.
    let q2 = "sum_over_time(kept_total[2h])";
    let (rolled, infos) = range(&w, q2, start, end, 5 * H, "").await;
    assert!(
        infos.iter().any(|i| i.contains("1h rollups")),
        "a 2 h range at a 5 h step reads 1 h rollups: {infos:?}"
    );
    let (raw, _) = range(&w, q2, start, end, 5 * H, "&max_source_resolution=raw").await;
    assert_eq!(rolled, raw, "sums of whole windows are exact");
    // Rates of whole windows read the windows' edges under auto, exactly
    // (ADR 0034); from rollups where not exact only when asked for (a
    // start off the grid), and then with a warning.
    let q3 = "rate(kept_total[1h])";
    let (rolled, infos) = range(&w, q3, start, end, H, "").await;
    assert!(
        infos.iter().any(|i| i.contains("1h rollups"))
            && !infos.iter().any(|i| i.contains("warning")),
        "rate of whole windows reads 1 h rollups under auto: {infos:?}"
    );
    let (raw, _) = range(&w, q3, start, end, H, "&max_source_resolution=raw").await;
    assert_eq!(rolled.len(), raw.len());
    for (k, (a, r)) in rolled.iter().zip(&raw).enumerate() {
        assert!(
            (a - r).abs() <= 1e-9 * r.abs(),
            "step {k}: rate from rollups {a}, raw {r}"
        );
    }
    let (_, infos) = range(&w, q3, start + 60_000, end, H, "&max_source_resolution=5m").await;
    assert!(
        infos
            .iter()
            .any(|i| i.starts_with("PromQL warning: rate was computed from 5m rollups")),
        "an approximation asked for carries a warning: {infos:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_past_its_deadline_stops_between_jobs_and_the_next_goes_on() {
    let w = world().await;
    let c = Compactor::new(
        w.bucket.clone(),
        CompactorConfig::default(),
        CompactorMetrics::new(&mut Registry::default()),
    );
    let spent = c
        .run_once_until(w.now + H, Some(std::time::Instant::now()))
        .await
        .expect("pass");
    assert!(spent.unfinished, "{spent:?}");
    assert_eq!(spent.jobs, 0, "no job starts after the deadline");
    let later = std::time::Instant::now() + Duration::from_secs(600);
    let full = c
        .run_once_until(w.now + H, Some(later))
        .await
        .expect("pass");
    assert!(!full.unfinished && full.blocks_written > 0, "{full:?}");
    assert_eq!(w.count("a", w.base, w.base + D).await, 1440.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_all_reports_the_bucket_requests_a_query_made() {
    let w = world().await;
    let ask = |stats: &str| {
        let uri = format!(
            "/api/v1/query?query={}&time={}{stats}",
            urlencode("sum(kept_total)"),
            (w.base + D) as f64 / 1000.0
        );
        let app = w.app.clone();
        async move {
            let resp = app
                .oneshot(Request::get(uri).body(Body::empty()).expect("req"))
                .await
                .expect("resp");
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .expect("body");
            serde_json::from_slice::<serde_json::Value>(&body).expect("json")
        }
    };
    // A fresh source: the first query reads the segments it needs.
    let first = ask("&stats=all").await;
    let plain = ask("").await;
    assert!(plain["data"].get("stats").is_none(), "{plain}");
    let s = &first["data"]["stats"];
    assert!(s["timings"]["evalTotalTime"].as_f64().is_some(), "{first}");
    let gets = s["storage"]["getRequests"].as_u64().expect("gets");
    let bytes = s["storage"]["getBytes"].as_u64().expect("bytes");
    assert!(gets >= 4 && bytes > 0, "{s}");
    assert!(s["storage"]["listRequests"].as_u64().expect("lists") >= 1);
    // Decoded segments are cached: asking again fetches fewer objects.
    let again = ask("&stats=all").await;
    let gets_again = again["data"]["stats"]["storage"]["getRequests"]
        .as_u64()
        .expect("gets");
    assert!(gets_again < gets, "first {gets} GETs, then {gets_again}");
    assert_eq!(first["data"]["result"], again["data"]["result"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_querier_sharing_the_object_cache_fetches_no_segment_again() {
    use stratus_storage::{RangeCache, RangeCacheConfig, RequestStats};
    let w = world().await;
    // Blocks for the first two days, segments for the rest.
    w.pass(w.now + H, CompactorConfig::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Arc::new(
        RangeCache::new(&RangeCacheConfig {
            memory_bytes: 8 << 20,
            disk_dir: Some(dir.path().join("cache")),
            disk_bytes: 64 << 20,
        })
        .await
        .expect("cache"),
    );
    let run = |cache: Option<Arc<RangeCache>>| {
        let bucket = w.bucket.clone();
        let tenant = w.tenant.clone();
        let t = w.base + 2 * D + H;
        async move {
            let source: Arc<dyn SeriesSource> = Arc::new(BucketSource::new(
                bucket,
                BucketSourceOptions {
                    object_cache: cache,
                    ..BucketSourceOptions::default()
                },
            ));
            let engine = Engine::new(source, EngineOptions::default());
            let stats = Arc::new(RequestStats::default());
            let r = RequestStats::scope(
                stats.clone(),
                engine.instant(&tenant, "sum(count_over_time(kept_total[3d]))", t),
            )
            .await
            .expect("query");
            (format!("{:?}", r.value), stats.counts())
        }
    };
    let (first, cold) = run(Some(cache.clone())).await;
    // A second querier process would start with empty memory caches of
    // its own: only the shared object cache is warm.
    let (second, warm) = run(Some(cache.clone())).await;
    let (uncached, none) = run(None).await;
    assert_eq!(first, second);
    assert_eq!(first, uncached);
    assert!(cold.gets > 1, "{cold:?}");
    assert_eq!(
        warm.gets, 1,
        "only the catalog, which can change, is read again; blocks and segments come from the cache: {warm:?}"
    );
    assert_eq!(
        none.gets, cold.gets,
        "without a cache every object is fetched"
    );
    // Every object the first querier fetched (all but the catalog) was a
    // hit for the second.
    assert_eq!(cache.counts().hits, cold.gets - 1, "{:?}", cache.counts());
}

/// A backlog of 1 500 delete requests (one sample each) is worked off in
/// one pass: the pass does not give up half way, every requested sample
/// leaves the blocks, and every request is forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_finishes_a_backlog_of_1500_delete_requests() {
    let w = world().await;
    let cfg = CompactorConfig::default();
    w.pass(w.now + H, cfg.clone()).await;
    let day2 = w.base + D;
    assert_eq!(w.stored("a", day2, day2 + 1500 * 60_000).await, 1500);
    let created = SystemClock.now_ms();
    let requests: Vec<stratus_codec::Tombstone> = (0..1500)
        .map(|i| stratus_codec::Tombstone {
            id: ulid::Ulid::new().to_string(),
            matchers: vec![
                stratus_codec::TombstoneMatcher {
                    name: "__name__".into(),
                    op: "=".into(),
                    value: "kept_total".into(),
                },
                stratus_codec::TombstoneMatcher {
                    name: "job".into(),
                    op: "=~".into(),
                    value: "a|z".into(),
                },
            ],
            min_time: day2 + i * 60_000,
            max_time: day2 + i * 60_000,
            created_ms: created,
        })
        .collect();
    catalog::add_delete_requests(&w.bucket, &w.tenant, &requests, 0, created)
        .await
        .expect("requests recorded");
    assert_eq!(w.count("a", day2, day2 + 1500 * 60_000).await, 0.0);

    let report = Compactor::new(
        w.bucket.clone(),
        cfg.clone(),
        CompactorMetrics::new(&mut Registry::default()),
    )
    .run_once(w.now + 2 * H)
    .await
    .expect("the pass finishes the work it planned");
    assert!(!report.unfinished, "{report:?}");
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(cat.tombstones.is_empty(), "{} left", cat.tombstones.len());
    assert_eq!(w.stored("a", day2, day2 + 1500 * 60_000).await, 0);
    assert_eq!(w.stored("a", w.base, day2).await, 1440);
    assert_eq!(w.stored("b", day2, day2 + 1500 * 60_000).await, 1500);
    assert!(report.jobs < 100, "{} jobs for one backlog", report.jobs);
}

/// A querier over `w`'s bucket with the server's default listing TTL.
fn querier(w: &World) -> axum::Router {
    let source: Arc<dyn SeriesSource> = Arc::new(BucketSource::new(
        w.bucket.clone(),
        BucketSourceOptions::default(),
    ));
    router(QueryState {
        engine: Engine::new(source.clone(), EngineOptions::default()),
        source,
        clock: Arc::new(SystemClock),
        tenants: stratus_http::TenantPolicy::default(),
        max_body_bytes: 1 << 20,
        admin: None,
        max_pending_deletes: 0,
        results_cache: None,
        status: Default::default(),
    })
}

/// The median time of 9 runs of `uri` (after one to warm the caches).
async fn median_latency(app: &axum::Router, uri: &str) -> Duration {
    let mut took = Vec::new();
    for i in 0..10 {
        let started = std::time::Instant::now();
        let resp = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        assert_eq!(resp.status(), StatusCode::OK);
        if i > 0 {
            took.push(started.elapsed());
        }
    }
    took.sort();
    took[took.len() / 2]
}

/// Delete requests are compiled once per catalog read, not per query:
/// with 1 500 regex delete requests pending, a trivial query costs about
/// what it costs without them (recompiling them took some 40 ms a query).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_delete_requests_do_not_slow_a_trivial_query() {
    let w = world().await;
    w.pass(w.now + H, CompactorConfig::default()).await;
    let uri = format!(
        "/api/v1/query?query={}&time={}",
        urlencode("kept_total{job=\"b\"}"),
        (w.base + D) as f64 / 1000.0
    );
    let without = median_latency(&querier(&w), &uri).await;
    let created = SystemClock.now_ms();
    let requests: Vec<stratus_codec::Tombstone> = (0..1500)
        .map(|i| stratus_codec::Tombstone {
            id: ulid::Ulid::new().to_string(),
            matchers: vec![stratus_codec::TombstoneMatcher {
                name: "job".into(),
                op: "=~".into(),
                value: format!("a|x{i}"),
            }],
            min_time: w.base + i * 60_000,
            max_time: w.base + i * 60_000,
            created_ms: created,
        })
        .collect();
    catalog::add_delete_requests(&w.bucket, &w.tenant, &requests, 0, created)
        .await
        .expect("requests recorded");
    let app = querier(&w);
    let with = median_latency(&app, &uri).await;
    println!("trivial query: {without:?} without delete requests, {with:?} with 1500");
    assert!(
        with < without * 4 + Duration::from_millis(5),
        "{with:?} with 1 500 delete requests, {without:?} without"
    );
    // They still apply: every sample of `a` in the day is deleted.
    let q = format!(
        "/api/v1/query?query={}&time={}",
        urlencode("count_over_time(kept_total{job=\"a\"}[1d])"),
        (w.base + D) as f64 / 1000.0
    );
    let resp = app
        .clone()
        .oneshot(Request::get(q).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(0), "{v}");
}
