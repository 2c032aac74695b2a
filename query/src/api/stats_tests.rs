//! `stats=all`: Prometheus's `samples` section (`totalQueryableSamples`,
//! `peakSamples`), counted by the engine as `promql/engine.go` counts them.
//! What Prometheus 2.42 answered for the same shapes of query (one series
//! scraped every 5 s, a range of 13 steps):
//! `up` `{"totalQueryableSamples":1,"peakSamples":1}` (instant),
//! `sum(up)` over 13 steps: 13 queryable, `rate(up[20s])` over 13 steps:
//! 52 (4 samples in each window, once per window),
//! `max_over_time(up[20s:5s])`: the windows' samples only (the inner
//! evaluation is not added), `up[20s]` instant: the samples in the window.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use stratus_model::{Clock, Labels, Sample, TenantId};
use tower::ServiceExt;

use super::*;
use crate::engine::{Engine, EngineOptions};
use crate::source::{MemorySource, SeriesSource};

#[derive(Debug)]
struct Fixed;
impl Clock for Fixed {
    fn now_ms(&self) -> i64 {
        600_000
    }
}

/// Series `m{i="0"}` .. `m{i="N-1"}`, one sample a minute from 0 to 600 s.
const SERIES: usize = 3;

fn app() -> Router {
    app_with(EngineOptions::default(), None)
}

fn app_with(
    opts: EngineOptions,
    results_cache: Option<Arc<crate::results::ResultsCache>>,
) -> Router {
    let mem = MemorySource::new();
    let t = TenantId::anonymous();
    for i in 0..SERIES {
        let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
            .expect("labels");
        let samples: Vec<Sample> = (0..=10).map(|k| Sample::new(k * 60_000, 1.0)).collect();
        mem.add(&t, l, &samples);
    }
    let source: Arc<dyn SeriesSource> = Arc::new(mem);
    router(QueryState {
        engine: Engine::new(source.clone(), opts),
        source,
        clock: Arc::new(Fixed),
        tenants: stratus_http::TenantPolicy::default(),
        max_body_bytes: 1 << 20,
        admin: None,
        max_pending_deletes: 0,
        results_cache,
        status: Default::default(),
    })
}

async fn samples(query: &str, range: bool) -> Value {
    samples_on(&app(), query, range, "all").await
}

async fn samples_on(app: &Router, query: &str, range: bool, stats: &str) -> Value {
    let q = query.replace('+', "%2B").replace(' ', "%20");
    let uri = if range {
        format!("/api/v1/query_range?query={q}&start=60&end=600&step=60&stats={stats}")
    } else {
        format!("/api/v1/query?query={q}&time=600&stats={stats}")
    };
    let req = Request::get(uri).body(Body::empty()).expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&body).expect("json");
    let stats = &v["data"]["stats"];
    assert!(stats["timings"]["evalTotalTime"].is_number(), "{v}");
    assert!(stats["storage"].is_object(), "{v}");
    stats["samples"].clone()
}

fn counts(s: &Value) -> (u64, u64) {
    let total = s["totalQueryableSamples"].as_u64().expect("total");
    let peak = s["peakSamples"].as_u64().expect("peak");
    (total, peak)
}

const N: u64 = SERIES as u64;
/// Steps of the range queries: 60 s .. 600 s every 60 s.
const STEPS: u64 = 10;

#[tokio::test]
async fn instant_selectors_count_the_samples_they_hand_over() {
    // One point per series.
    assert_eq!(counts(&samples("m", false).await), (N, N));
    // The window (300 s, 600 s] holds 5 samples of each series.
    assert_eq!(counts(&samples("m[5m]", false).await), (N * 5, N * 5));
}

#[tokio::test]
async fn range_queries_count_every_step() {
    // N series x STEPS points.
    assert_eq!(counts(&samples("m", true).await), (N * STEPS, N * STEPS));
    // At its peak the sum holds its input (N x STEPS); its output (STEPS
    // points) replaces it.
    let sum = counts(&samples("sum(m)", true).await);
    assert_eq!(sum, (N * STEPS, N * STEPS));
    // Each 2-minute window (t - 120 s, t] holds 2 samples of each series,
    // counted once per window; at the peak, every output point and the
    // last window are held.
    let rate = counts(&samples("rate(m[2m])", true).await);
    assert_eq!(rate, (N * 2 * STEPS, N * STEPS + 2));
    // Both sides are held while they are added.
    let add = counts(&samples("m + m", true).await);
    assert_eq!(add, (2 * N * STEPS, 2 * N * STEPS));
}

#[tokio::test]
async fn a_functions_subquery_counts_its_windows_not_its_inner_evaluation() {
    // The subquery evaluates m every minute; each 3-minute window at
    // 600 s holds 3 of its points per series.
    let (total, peak) = counts(&samples("max_over_time(m[3m:1m])", false).await);
    assert_eq!(total, N * 3);
    assert!(peak >= N * 3, "{peak}");
    // A subquery on its own counts what its inner evaluation queried.
    assert_eq!(counts(&samples("m[3m:1m]", false).await).0, N * 3);
}

#[tokio::test]
async fn no_stats_without_the_parameter_and_no_per_step_counts() {
    let req = Request::get("/api/v1/query?query=m&time=600")
        .body(Body::empty())
        .expect("request");
    let resp = app().oneshot(req).await.expect("response");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert!(v["data"].get("stats").is_none(), "{v}");
    // Per-step counts come only with Prometheus's promql-per-step-stats
    // feature (off by default).
    let s = samples("m", true).await;
    assert!(s.get("totalQueryableSamplesPerStep").is_none(), "{s}");
}

/// With Prometheus's `promql-per-step-stats` feature and `stats=all`,
/// `totalQueryableSamplesPerStep` as Prometheus 2.42 answered with the
/// feature on: `[[<step time, s>, <count>], ...]` before
/// `totalQueryableSamples`, e.g. `{"totalQueryableSamplesPerStep":
/// [[1796690100,12],[1796690160,12],[1796690220,12]],
/// "totalQueryableSamples":36,"peakSamples":13}` for `rate(cmp_m[1m])` over
/// three series; none for `stats=1`.
#[tokio::test]
async fn per_step_counts_with_the_feature_and_stats_all() {
    let mut opts = EngineOptions::default();
    assert!(opts.enable_features(["promql-per-step-stats"]).is_empty());
    let cache = Arc::new(crate::results::ResultsCache::new(
        crate::results::ResultsCacheOptions {
            split_interval: std::time::Duration::from_secs(120),
            max_freshness: std::time::Duration::ZERO,
            ..Default::default()
        },
    ));
    let app = app_with(opts, Some(cache));
    let steps = |per_step: u64| -> Value {
        (1..=STEPS)
            .map(|k| serde_json::json!([k * 60, per_step]))
            .collect()
    };
    // Twice: per-step counts bypass the results cache, so the second
    // answer counts every step again.
    for _ in 0..2 {
        let s = samples_on(&app, "m", true, "all").await;
        assert_eq!(s["totalQueryableSamplesPerStep"], steps(N), "{s}");
        assert_eq!(s["totalQueryableSamples"], N * STEPS, "{s}");
    }
    let s = samples_on(&app, "rate(m[2m])", true, "all").await;
    assert_eq!(s["totalQueryableSamplesPerStep"], steps(2 * N), "{s}");
    // An instant query has one step; a bare subquery counts its inner
    // samples at the last step.
    let s = samples_on(&app, "m", false, "all").await;
    assert_eq!(
        s["totalQueryableSamplesPerStep"],
        serde_json::json!([[600, N]])
    );
    let s = samples_on(&app, "m[3m:1m]", false, "all").await;
    assert_eq!(
        s["totalQueryableSamplesPerStep"],
        serde_json::json!([[600, 3 * N]])
    );
    // Other stats values: no per-step counts, as Prometheus.
    let s = samples_on(&app, "m", true, "1").await;
    assert!(s.get("totalQueryableSamplesPerStep").is_none(), "{s}");
    assert_eq!(s["totalQueryableSamples"], N * STEPS, "{s}");
}
