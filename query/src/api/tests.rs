use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use stratus_model::{Clock, Labels, MetricMetadata, MetricType, Sample, TenantId};
use tower::ServiceExt;

use super::*;
use crate::engine::Engine;
use crate::engine::EngineOptions;
use crate::matcher::LabelMatcher;
use crate::source::MemorySource;
use crate::source::SeriesSource;
use std::time::Duration;
use stratus_model::TimeRange;

#[derive(Debug)]
struct Fixed;
impl Clock for Fixed {
    fn now_ms(&self) -> i64 {
        600_000
    }
}

struct WithMeta(MemorySource);

#[async_trait::async_trait]
impl SeriesSource for WithMeta {
    async fn select(
        &self,
        t: &TenantId,
        m: &[LabelMatcher],
        r: TimeRange,
    ) -> Result<Vec<crate::source::Series>, crate::source::SourceError> {
        self.0.select(t, m, r).await
    }
    async fn metadata(
        &self,
        _t: &TenantId,
    ) -> Result<Vec<MetricMetadata>, crate::source::SourceError> {
        Ok(vec![MetricMetadata {
            metric_family: "up".into(),
            metric_type: MetricType::Gauge,
            help: "1 if the target is up".into(),
            unit: String::new(),
        }])
    }
}

fn app() -> Router {
    app_with(EngineOptions::default())
}

fn app_with(opts: EngineOptions) -> Router {
    app_cached(opts, None)
}

fn app_cached(
    opts: EngineOptions,
    results_cache: Option<Arc<crate::results::ResultsCache>>,
) -> Router {
    let mem = MemorySource::new();
    let t = TenantId::anonymous();
    for (job, v) in [("a", 1.0), ("b", 0.0)] {
        let l = Labels::from_pairs([("__name__", "up"), ("job", job)]).expect("labels");
        let samples: Vec<Sample> = (0..=10).map(|i| Sample::new(i * 60_000, v)).collect();
        mem.add(&t, l, &samples);
    }
    let other = TenantId::new("team-b").expect("tenant");
    mem.add(
        &other,
        Labels::from_pairs([("__name__", "secret")]).expect("l"),
        &[Sample::new(0, 7.0)],
    );
    let source: Arc<dyn SeriesSource> = Arc::new(WithMeta(mem));
    router(QueryState {
        engine: Engine::new(source.clone(), opts),
        source,
        clock: Arc::new(Fixed),
        tenants: stratus_http::TenantPolicy::default(),
        max_body_bytes: 1 << 20,
        admin: None,
        max_pending_deletes: 0,
        results_cache,
        status: Arc::new(status()),
    })
}

async fn call(req: Request<Body>) -> (StatusCode, Value) {
    let resp = app().oneshot(req).await.expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

fn post(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request")
}

#[tokio::test]
async fn instant_query_by_get_and_post() {
    for req in [
        get("/api/v1/query?query=up%7Bjob%3D%22a%22%7D&time=120"),
        post(
            "/api/v1/query",
            "query=up%7Bjob%3D%22a%22%7D&time=1970-01-01T00:02:00Z",
        ),
    ] {
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["resultType"], "vector");
        assert_eq!(body["data"]["result"][0]["metric"]["job"], "a");
        assert_eq!(
            body["data"]["result"][0]["value"],
            serde_json::json!([120, "1"])
        );
    }
}

#[tokio::test]
async fn range_query_matrix_and_scalars() {
    let (status, body) = call(get(
        "/api/v1/query_range?query=sum(up)&start=0&end=300&step=1m",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let values = body["data"]["result"][0]["values"]
        .as_array()
        .expect("values");
    assert_eq!(values.len(), 6);
    assert_eq!(values[5], serde_json::json!([300, "1"]));
    let (_, body) = call(get("/api/v1/query?query=1%2B1&time=5.5")).await;
    assert_eq!(
        body["data"],
        serde_json::json!({"resultType": "scalar", "result": [5.5, "2"]})
    );
}

#[tokio::test]
async fn errors_have_prometheus_types_and_statuses() {
    let cases = [
        (
            "/api/v1/query?query=sum(",
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        ("/api/v1/query", StatusCode::BAD_REQUEST, "bad_data"),
        (
            "/api/v1/query?query=up&time=soon",
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=0&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up%5B5m%5D&start=0&end=10&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        ("/api/v1/series", StatusCode::BAD_REQUEST, "bad_data"),
    ];
    for (uri, status, kind) in cases {
        let (got, body) = call(get(uri)).await;
        assert_eq!(got, status, "{uri}: {body}");
        if !kind.is_empty() {
            assert_eq!(body["status"], "error", "{uri}");
            assert_eq!(body["errorType"], kind, "{uri}: {body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
    let (_, body) = call(get(
        "/api/v1/query_range?query=up&start=0&end=100000&step=1",
    ))
    .await;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("11,000 points")),
        "{body}"
    );
}

#[tokio::test]
async fn many_to_many_is_an_execution_error() {
    let (status, body) = call(get("/api/v1/query?query=up%20%2B%20on()%20up&time=60")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errorType"], "execution");
}

#[tokio::test]
async fn series_labels_values_and_metadata() {
    let (_, body) = call(get("/api/v1/series?match%5B%5D=up&start=0&end=600")).await;
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(
        body["data"][0],
        serde_json::json!({"__name__": "up", "job": "a"})
    );
    let (_, body) = call(get("/api/v1/labels")).await;
    assert_eq!(body["data"], serde_json::json!(["__name__", "job"]));
    let (_, body) = call(get("/api/v1/label/job/values?match%5B%5D=up")).await;
    assert_eq!(body["data"], serde_json::json!(["a", "b"]));
    let (_, body) = call(get("/api/v1/label/__name__/values?limit=1")).await;
    assert_eq!(body["data"], serde_json::json!(["up"]));
    let (_, body) = call(get("/api/v1/metadata")).await;
    assert_eq!(body["data"]["up"][0]["type"], "gauge");
    let (_, body) = call(get("/api/v1/status/buildinfo")).await;
    assert!(body["data"]["version"]
        .as_str()
        .is_some_and(|v| v.starts_with('3')));
    let (_, body) = call(get(
        "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)",
    ))
    .await;
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (_, body) = call(get("/api/v1/query_exemplars?query=up&start=0&end=1")).await;
    assert_eq!(body["data"], serde_json::json!([]));
    // /api/v1/rules and /api/v1/alerts belong to the ruler's router
    // (stratus-alerting), merged next to this one by the binaries.
}

#[tokio::test]
async fn tenants_see_only_their_data() {
    let req = Request::get("/api/v1/query?query=secret&time=60")
        .header("x-scope-orgid", "team-b")
        .body(Body::empty())
        .expect("request");
    let (_, body) = call(req).await;
    assert_eq!(body["data"]["result"][0]["value"][1], "7");
    let (_, body) = call(get("/api/v1/query?query=secret&time=60")).await;
    assert_eq!(body["data"]["result"], serde_json::json!([]));
}

async fn call_on(app: &Router, uri: &str) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(get(uri)).await.expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

/// Each limit fails the query in Prometheus's format, and the next query
/// on the same server works.
#[tokio::test]
async fn limits_fail_cleanly_and_the_server_stays_healthy() {
    let cases = [
        (
            EngineOptions {
                max_samples: 5,
                ..EngineOptions::default()
            },
            "/api/v1/query_range?query=up&start=0&end=600&step=60",
            StatusCode::UNPROCESSABLE_ENTITY,
            "execution",
            "too many samples",
        ),
        (
            EngineOptions {
                max_series: 1,
                ..EngineOptions::default()
            },
            "/api/v1/query?query=up&time=60",
            StatusCode::UNPROCESSABLE_ENTITY,
            "execution",
            "more than 1 series",
        ),
        (
            EngineOptions {
                memory: Some(crate::memory::QueryMemory::new(64)),
                ..EngineOptions::default()
            },
            "/api/v1/query_range?query=up&start=0&end=600&step=60",
            StatusCode::UNPROCESSABLE_ENTITY,
            "execution",
            "more than the querier's limit for queries",
        ),
        (
            EngineOptions::default(),
            "/api/v1/query?query=up&time=60&timeout=0.000000001",
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "timed out",
        ),
    ];
    for (opts, uri, status, kind, needle) in cases {
        let app = app_with(opts);
        let (got, body) = call_on(&app, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert_eq!(body["errorType"], kind, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{body}"
        );
        let (got, body) = call_on(&app, "/api/v1/query?query=1&time=60").await;
        assert_eq!(got, StatusCode::OK, "still answers after the limit: {body}");
    }
}

/// What a query holds of the memory bound is given back when it ends,
/// answered or failed.
#[tokio::test]
async fn query_memory_is_given_back_after_every_query() {
    let memory = crate::memory::QueryMemory::new(1 << 20);
    let app = app_with(EngineOptions {
        memory: Some(memory.clone()),
        max_samples: 30,
        ..EngineOptions::default()
    });
    for (uri, status) in [
        (
            "/api/v1/query_range?query=up&start=0&end=600&step=60",
            StatusCode::OK,
        ),
        ("/api/v1/query?query=rate(up[5m])&time=600", StatusCode::OK),
        (
            "/api/v1/query_range?query=up&start=0&end=6000&step=1",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, body) = call_on(&app, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert_eq!(memory.used(), 0, "{uri}");
    }
    assert_eq!(memory.rejected(), 0);
}

/// Memory held by other queries fails a query with a 503 to retry; once
/// it is given back the same query answers, and the failed one held
/// nothing afterwards.
#[tokio::test]
async fn query_memory_taken_by_others_is_a_503() {
    let memory = crate::memory::QueryMemory::new(1 << 20);
    let app = app_with(EngineOptions {
        memory: Some(memory.clone()),
        ..EngineOptions::default()
    });
    let uri = "/api/v1/query_range?query=up&start=0&end=600&step=60";
    let others = memory.reserve();
    others.grow(memory.usable() - 100).expect("others");
    let (got, body) = call_on(&app, uri).await;
    assert_eq!(got, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorType"], "unavailable", "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("retry")),
        "{body}"
    );
    assert_eq!(memory.used(), memory.usable() - 100);
    assert_eq!(memory.rejected(), 1);
    drop(others);
    let (got, body) = call_on(&app, uri).await;
    assert_eq!(got, StatusCode::OK, "{body}");
    assert_eq!(memory.used(), 0);
}

async fn raw_body(app: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let resp = app.clone().oneshot(get(uri)).await.expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, body.to_vec())
}

/// With the results cache, range queries answer the same bytes as
/// without, on a miss and on a hit.
#[tokio::test]
async fn range_queries_answer_the_same_with_the_results_cache() {
    use crate::results::{ResultsCache, ResultsCacheOptions};
    let cache = Arc::new(ResultsCache::new(ResultsCacheOptions {
        // Splits of two minutes over the ten minutes of data; the fixed
        // clock says 600 s, so everything is old enough.
        split_interval: Duration::from_secs(120),
        max_freshness: Duration::ZERO,
        ..ResultsCacheOptions::default()
    }));
    let plain = app_with(EngineOptions::default());
    let cached = app_cached(EngineOptions::default(), Some(cache.clone()));
    let queries = [
        "sum(up)",
        "rate(up%5B3m%5D)",
        "up%20offset%201m",
        "up%20offset%20-1m",
        "time()",
        "absent(nothing)",
        "sort(up)",
        "up%20%40%20end()",
        "up%5B5m%5D",
    ];
    for q in queries {
        for (start, end, step) in [("0", "600", "30s"), ("15", "590", "45")] {
            let uri = format!("/api/v1/query_range?query={q}&start={start}&end={end}&step={step}");
            let (want_status, want) = raw_body(&plain, &uri).await;
            for run in ["miss", "hit"] {
                let (status, got) = raw_body(&cached, &uri).await;
                assert_eq!(status, want_status, "{uri} ({run})");
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{uri} ({run})"
                );
            }
        }
    }
    let c = cache.counts();
    assert!(c.hits >= 6 * 2 * 3, "{c:?}");
    assert!(c.entries > 0, "{c:?}");
}

/// A source that GETs one object from the bucket per select, so the
/// request's `stats=all` counts show which selects ran.
struct Fetching {
    inner: MemorySource,
    bucket: stratus_storage::Bucket,
}

#[async_trait::async_trait]
impl SeriesSource for Fetching {
    async fn select(
        &self,
        t: &TenantId,
        m: &[LabelMatcher],
        r: TimeRange,
    ) -> Result<Vec<crate::source::Series>, crate::source::SourceError> {
        self.bucket
            .get(&stratus_storage::ObjectPath::from("probe"))
            .await?;
        self.inner.select(t, m, r).await
    }
}

/// Splits evaluated concurrently stay inside the request's stats scope:
/// a miss counts one GET per split, a hit none.
#[tokio::test]
async fn stats_count_the_requests_of_the_splits_that_ran() {
    use crate::results::{ResultsCache, ResultsCacheOptions};
    let bucket = stratus_storage::Bucket::in_memory();
    bucket
        .put(
            &stratus_storage::ObjectPath::from("probe"),
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .expect("put");
    let inner = MemorySource::new();
    let l = Labels::from_pairs([("__name__", "up")]).expect("labels");
    let samples: Vec<Sample> = (0..=10).map(|i| Sample::new(i * 60_000, 1.0)).collect();
    inner.add(&TenantId::anonymous(), l, &samples);
    let source: Arc<dyn SeriesSource> = Arc::new(Fetching { inner, bucket });
    let cache = Arc::new(ResultsCache::new(ResultsCacheOptions {
        split_interval: Duration::from_secs(120),
        max_freshness: Duration::ZERO,
        ..ResultsCacheOptions::default()
    }));
    let app = router(QueryState {
        engine: Engine::new(source.clone(), EngineOptions::default()),
        source,
        clock: Arc::new(Fixed),
        tenants: stratus_http::TenantPolicy::default(),
        max_body_bytes: 1 << 20,
        admin: None,
        max_pending_deletes: 0,
        results_cache: Some(cache),
        status: Default::default(),
    });
    // Points 0..540 s in five splits of two minutes, all older than now
    // (600 s).
    let uri = "/api/v1/query_range?query=sum(up)&start=0&end=540&step=60&stats=all";
    for want in [5, 0] {
        let (status, body) = call_on(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["stats"]["storage"]["getRequests"], want,
            "{body}"
        );
    }
}

/// A querier over `bucket` with the admin API on and `max_pending_deletes`.
fn admin_app(bucket: stratus_storage::Bucket, max_pending_deletes: usize) -> Router {
    let source: Arc<dyn SeriesSource> = Arc::new(crate::BucketSource::new(
        bucket.clone(),
        crate::BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..crate::BucketSourceOptions::default()
        },
    ));
    router(QueryState {
        engine: Engine::new(source.clone(), EngineOptions::default()),
        source,
        clock: Arc::new(Fixed),
        tenants: stratus_http::TenantPolicy::default(),
        max_body_bytes: 1 << 20,
        admin: Some(bucket),
        max_pending_deletes,
        results_cache: None,
        status: Default::default(),
    })
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn delete(selector: &str, tenant: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/v1/admin/tsdb/delete_series")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(t) = tenant {
        b = b.header("x-scope-orgid", t);
    }
    b.body(Body::from(format!("match%5B%5D={selector}")))
        .expect("request")
}

/// `--max-pending-deletes`: past the limit a tenant's delete requests are
/// refused with a 400 that names the limit, its value and the tenant, and
/// nothing is recorded; other tenants are not affected.
#[tokio::test]
async fn delete_requests_past_the_pending_limit_are_bad_data() {
    let bucket = stratus_storage::Bucket::in_memory();
    let app = admin_app(bucket.clone(), 2);
    for _ in 0..2 {
        let (status, _) = send(&app, delete("up%7Bjob%3D%22a%22%7D", None)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, body) = send(&app, delete("up%7Bjob%3D%22a%22%7D", None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorType"], "bad_data");
    let error = body["error"].as_str().expect("error");
    for part in [
        "--max-pending-deletes",
        "is 2",
        "\"anonymous\"",
        "2 delete requests pending",
    ] {
        assert!(error.contains(part), "{error:?} lacks {part:?}");
    }
    let cat = stratus_storage::catalog::load(&bucket, &TenantId::anonymous())
        .await
        .expect("catalog")
        .catalog;
    assert_eq!(cat.tombstones.len(), 2);
    let (status, _) = send(&app, delete("up", Some("team-b"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the limit is per tenant");
}

/// Storage failures reach query clients in Stratus's terms: the bucket
/// is unreachable or full, with a 503 when a retry may help; never the
/// backend's own text.
#[tokio::test]
async fn storage_failures_are_named_without_backend_internals() {
    use stratus_storage::{FaultConfig, FaultyStore, InjectedFailure, RetryPolicy};
    let store = Arc::new(FaultyStore::new(
        Arc::new(stratus_storage::InMemory::new()),
        FaultConfig::default(),
    ));
    let bucket = stratus_storage::Bucket::new(store.clone(), RetryPolicy::no_retries());
    let app = admin_app(bucket, 0);
    let clean = |body: &Value| {
        let error = body["error"].as_str().expect("error").to_string();
        for internal in [
            "Generic",
            "FaultyStore",
            "LocalFileSystem",
            "injected",
            "os error",
        ] {
            assert!(!error.contains(internal), "{error:?} shows {internal:?}");
        }
        error
    };
    store.set_config(FaultConfig {
        fail_ratio: 1.0,
        ..FaultConfig::default()
    });
    for uri in [
        "/api/v1/query?query=up&time=60",
        "/api/v1/series?match%5B%5D=up",
        "/api/v1/labels",
        "/api/v1/metadata",
    ] {
        let (status, body) = send(&app, get(uri)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
        assert_eq!(body["errorType"], "unavailable", "{uri}");
        let error = clean(&body);
        assert!(
            error.contains("the bucket is unreachable"),
            "{uri}: {error}"
        );
    }
    store.set_config(FaultConfig {
        fail_ratio: 1.0,
        writes_only: true,
        fail_with: InjectedFailure::Full,
        ..FaultConfig::default()
    });
    let (status, body) = send(&app, delete("up", None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let error = clean(&body);
    assert_eq!(error, "a write to the bucket failed: the bucket is full");
}

/// A tenant id with `*` (valid for Mimir) is stored under `a%2Ab`; its
/// segments are found and queried like any other tenant's.
#[tokio::test]
async fn a_tenant_id_with_a_star_is_queried_from_its_escaped_folder() {
    let bucket = stratus_storage::Bucket::in_memory();
    let tenant = TenantId::new("a*b").expect("tenant");
    let mut b = stratus_codec::SegmentBuilder::new(&tenant);
    b.add_series(
        &Labels::from_pairs([("__name__", "up")]).expect("labels"),
        &[Sample::new(60_000, 3.0)],
    )
    .expect("series");
    let key = stratus_storage::SegmentKey::new(tenant.clone(), ulid::Ulid::from_parts(60_000, 1));
    assert!(
        key.path().as_ref().starts_with("tenants/a%2Ab/"),
        "{}",
        key.path()
    );
    bucket
        .put(
            &key.path(),
            bytes::Bytes::from(b.finish().expect("segment")),
        )
        .await
        .expect("put");
    let app = admin_app(bucket, 0);
    let req = Request::get("/api/v1/query?query=up&time=60")
        .header("x-scope-orgid", "a*b")
        .body(Body::empty())
        .expect("request");
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "3", "{body}");
}

/// Steps as Prometheus reads them: any positive length is a step (a
/// sub-millisecond one allows one point at most), zero and negative ones
/// get their own message, too many points theirs.
#[tokio::test]
async fn steps_shorter_than_a_millisecond_are_steps() {
    let (status, body) = call(get(
        "/api/v1/query_range?query=1&start=100&end=100&step=0.0001",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"][0]["values"][0][1], "1");
    let (status, body) = call(get(
        "/api/v1/query_range?query=1&start=100&end=110&step=0.0001",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("exceeded maximum resolution of 11,000 points")),
        "{body}"
    );
    for step in ["0", "-1", "-0.5", "0s"] {
        let (status, body) = call(get(&format!(
            "/api/v1/query_range?query=1&start=100&end=110&step={step}"
        )))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{step}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("zero or negative query resolution step")),
            "{step}: {body}"
        );
    }
}

/// A label name that is not UTF-8 in the path is a JSON `bad_data`, as
/// every other bad parameter.
#[tokio::test]
async fn a_label_name_that_is_not_utf8_is_bad_data() {
    let (status, body) = call(get("/api/v1/label/%FF/values")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorType"], "bad_data", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid label name")),
        "{body}"
    );
    let (status, _) = call(get("/api/v1/label/job/values")).await;
    assert_eq!(status, StatusCode::OK);
}

fn status() -> ServerStatus {
    ServerStatus {
        start_time_ms: 1_700_000_000_000,
        settings: vec![
            ("listen_addr".into(), "127.0.0.1:9494".into()),
            ("query_timeout".into(), "2m".into()),
        ],
        alertmanagers: vec!["http://127.0.0.1:9494/api/v2/alerts".into()],
        storage_retention: "30d".into(),
    }
}

#[tokio::test]
async fn runtimeinfo_has_prometheus_shape() {
    let (status, body) = call(get("/api/v1/status/runtimeinfo")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    let d = &body["data"];
    assert_eq!(d["startTime"], "2023-11-14T22:13:20Z");
    assert_eq!(d["lastConfigTime"], "2023-11-14T22:13:20Z");
    assert_eq!(d["reloadConfigSuccess"], true);
    assert_eq!(d["storageRetention"], "30d");
    assert!(d["CWD"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    assert!(d["GOMAXPROCS"].as_u64().is_some_and(|n| n >= 1), "{body}");
    for zero in ["corruptionCount", "goroutineCount"] {
        assert_eq!(d[zero], 0, "{zero}");
    }
    for empty in ["GOGC", "GODEBUG"] {
        assert_eq!(d[empty], "", "{empty}");
    }
}

#[tokio::test]
async fn flags_name_settings_as_flags_with_string_values() {
    let (status, body) = call(get("/api/v1/status/flags")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["data"],
        serde_json::json!({"listen-addr": "127.0.0.1:9494", "query-timeout": "2m"})
    );
}

#[tokio::test]
async fn config_is_the_settings_as_yaml() {
    let (status, body) = call(get("/api/v1/status/config")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["data"]["yaml"],
        "listen_addr: \"127.0.0.1:9494\"\nquery_timeout: \"2m\"\n"
    );
}

#[tokio::test]
async fn alertmanagers_lists_the_notifier() {
    let (status, body) = call(get("/api/v1/alertmanagers")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["data"],
        serde_json::json!({
            "activeAlertmanagers": [{"url": "http://127.0.0.1:9494/api/v2/alerts"}],
            "droppedAlertmanagers": [],
        })
    );
}

#[tokio::test]
async fn status_endpoints_answer_empty_without_settings() {
    // The Lambda function's querier: no settings, no alertmanagers.
    for (path, want) in [
        ("/api/v1/status/flags", serde_json::json!({})),
        ("/api/v1/status/config", serde_json::json!({"yaml": ""})),
        (
            "/api/v1/alertmanagers",
            serde_json::json!({"activeAlertmanagers": [], "droppedAlertmanagers": []}),
        ),
    ] {
        let resp = admin_app(stratus_storage::Bucket::in_memory(), 0)
            .oneshot(get(path))
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["data"], want, "{path}");
    }
}
