//! The functions' handlers driven by the events AWS sends them: Function
//! URL and API Gateway v2 requests (fixtures in `tests/fixtures/`, bodies
//! filled in at run time so sample times are current), an EventBridge
//! Scheduler invocation and an API Gateway authorizer request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Router;
use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use stratus_codec::decode_segment;
use stratus_lambda::{
    authorizer, compact, ingest_app, query_app, ScheduledEvent, Settings, MAX_BUFFERED_BODY,
};
use stratus_model::{Clock, SystemClock, TenantId};
use stratus_storage::keys::segments_prefix;
use stratus_storage::Bucket;
use stratus_tests::rw::{encode_v1, SeriesData};
use tower::ServiceExt;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

/// Sends `event` through `app` as `lambda_http::run` does and returns the
/// JSON response Lambda would get.
async fn invoke(app: Router, event: Value) -> Value {
    let req: LambdaRequest = serde_json::from_value(event).expect("a Lambda HTTP event");
    let adapter = lambda_http::Adapter::from(app);
    let resp = adapter
        .oneshot(LambdaEvent::new(req, Context::default()))
        .await
        .expect("response");
    serde_json::to_value(resp).expect("serialisable")
}

/// Every sample of every segment in the bucket, by series.
async fn stored(bucket: &Bucket) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut out: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for o in bucket
        .list(&segments_prefix(&TenantId::anonymous()))
        .await
        .expect("list")
    {
        let (bytes, _) = bucket.get(&o.key).await.expect("get");
        for s in decode_segment(&bytes).expect("segment").series {
            out.entry(s.labels.to_string())
                .or_default()
                .extend(s.samples.iter().map(|x| (x.t, x.v.to_bits())));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn series(now: i64) -> Vec<SeriesData> {
    (0..3)
        .map(|i| {
            (
                vec![
                    ("__name__".to_string(), "lambda_test_total".to_string()),
                    ("shard".to_string(), i.to_string()),
                ],
                (0..10)
                    .map(|k| (now - 60_000 + k * 5_000, (i * 100 + k) as f64))
                    .collect(),
            )
        })
        .collect()
}

fn with_body(mut event: Value, body: &[u8]) -> Value {
    event["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(body));
    event["headers"]["content-length"] = Value::String(body.len().to_string());
    event
}

#[tokio::test]
async fn remote_write_through_a_function_url_and_api_gateway_lands_the_same_samples() {
    let now = SystemClock.now_ms();
    let body = encode_v1(&series(now));
    let settings = Settings::default();
    let mut landed = Vec::new();
    for name in ["function-url-write.json", "apigw-v2-write.json"] {
        let bucket = Bucket::in_memory();
        let resp = invoke(
            ingest_app(bucket.clone(), &settings)
                .await
                .expect("ingest app"),
            with_body(fixture(name), &body),
        )
        .await;
        assert_eq!(resp["statusCode"], 204, "{name}: {resp}");
        landed.push(stored(&bucket).await);
    }
    assert_eq!(landed[0].len(), 3, "{:?}", landed[0]);
    assert_eq!(landed[0], landed[1]);
    for (labels, samples) in series(now) {
        let key = format!(
            "{{__name__=\"{}\", shard=\"{}\"}}",
            labels[0].1, labels[1].1
        );
        let got = landed[0]
            .iter()
            .find(|(k, _)| k.contains(&format!("shard=\"{}\"", labels[1].1)))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want, "{key}");
    }

    // A body that is not snappy gets the server's 400, through the event.
    let resp = invoke(
        ingest_app(Bucket::in_memory(), &settings)
            .await
            .expect("ingest app"),
        with_body(fixture("function-url-write.json"), b"not snappy"),
    )
    .await;
    assert_eq!(resp["statusCode"], 400, "{resp}");

    // A route it does not serve: Prometheus's plain-text 404.
    let app = ingest_app(Bucket::in_memory(), &settings)
        .await
        .expect("ingest app");
    let req = axum::http::Request::get("/api/v1/query")
        .body(axum::body::Body::empty())
        .expect("request");
    let r = app.oneshot(req).await.expect("response");
    assert_eq!(r.status(), axum::http::StatusCode::NOT_FOUND);
    let body = axum::body::to_bytes(r.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"404 page not found\n");
}

#[tokio::test]
async fn queries_through_a_function_url_answer_like_the_server() {
    let now = SystemClock.now_ms();
    let bucket = Bucket::in_memory();
    let settings = Settings::default();
    let write = invoke(
        ingest_app(bucket.clone(), &settings)
            .await
            .expect("ingest app"),
        with_body(fixture("function-url-write.json"), &encode_v1(&series(now))),
    )
    .await;
    assert_eq!(write["statusCode"], 204, "{write}");

    let mut event = fixture("function-url-query.json");
    let query = "sum(lambda_test_total)";
    event["rawQueryString"] = Value::String(format!(
        "query=sum%28lambda_test_total%29&time={}",
        now as f64 / 1000.0
    ));
    event["queryStringParameters"] = serde_json::json!({
        "query": query,
        "time": (now as f64 / 1000.0).to_string(),
    });
    let resp = invoke(query_app(bucket.clone(), &settings), event).await;
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert_eq!(resp["isBase64Encoded"], false, "JSON goes back as text");
    let body: Value = serde_json::from_str(resp["body"].as_str().expect("body")).expect("json");
    assert_eq!(body["status"], "success", "{body}");
    // The last samples are 9, 109 and 209.
    assert_eq!(body["data"]["result"][0]["value"][1], "327", "{body}");

    // An answer larger than a buffered response can carry is refused with
    // a Prometheus-style error, never cut off.
    // A label value of about `n` bytes makes an answer of a little more:
    // `label_join` repeats a 64 KiB separator between empty values, so the
    // query stays far below the 256 KiB a query text may have.
    let label_query = |n: usize| {
        let mut event = fixture("function-url-query.json");
        let sep = "y".repeat(64 * 1024);
        let q = format!(
            "label_join(vector(1), \"x\", \"{sep}\"{})",
            ", \"a\"".repeat(n / sep.len() + 1)
        );
        // As Grafana sends queries: a POST with a form body.
        event["requestContext"]["http"]["method"] = Value::String("POST".into());
        event["headers"]["content-type"] =
            Value::String("application/x-www-form-urlencoded".into());
        event["body"] = Value::String(
            serde_urlencoded::to_string([("query", q.as_str()), ("time", "1000")]).expect("form"),
        );
        event
    };
    let head = |v: &Value| v.to_string().chars().take(300).collect::<String>();
    // Below the limit, the answer comes back whole.
    let settings = Settings {
        http: stratus_ingest::HttpLimits {
            max_body_bytes: 3 * MAX_BUFFERED_BODY,
            ..Default::default()
        },
        ..Settings::default()
    };
    let resp = invoke(
        query_app(bucket.clone(), &settings),
        label_query(MAX_BUFFERED_BODY / 2),
    )
    .await;
    assert_eq!(resp["statusCode"], 200, "{}", head(&resp));
    assert!(resp["body"].as_str().expect("body").len() > MAX_BUFFERED_BODY / 2);
    let resp = invoke(query_app(bucket, &settings), label_query(MAX_BUFFERED_BODY)).await;
    assert_eq!(resp["statusCode"], 422, "{}", head(&resp));
    let body: Value = serde_json::from_str(resp["body"].as_str().expect("body")).expect("json");
    assert_eq!(body["errorType"], "execution");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("larger than 4 MiB"),
        "{body}"
    );
}

#[tokio::test]
async fn a_scheduled_invocation_compacts_within_its_budget() {
    let now = SystemClock.now_ms();
    let bucket = Bucket::in_memory();
    let settings = Settings::default();
    let old = now - 50 * 60_000;
    let write = invoke(
        ingest_app(bucket.clone(), &settings)
            .await
            .expect("ingest app"),
        with_body(fixture("function-url-write.json"), &encode_v1(&series(old))),
    )
    .await;
    assert_eq!(write["statusCode"], 204, "{write}");

    let mut event: ScheduledEvent =
        serde_json::from_value(fixture("scheduler.json")).expect("scheduler event");
    assert_eq!(
        event.execution_id.as_deref(),
        Some("8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d")
    );
    // As of three hours from now: the 2 h range of the samples is over
    // and the segment is past its grace period.
    event.scheduled_time = Some(stratus_model::time::format_rfc3339(
        now + 3 * 3_600_000,
        stratus_model::time::Fraction::Millis,
    ));

    // An invocation whose deadline has passed starts nothing.
    let r = compact(bucket.clone(), &settings, &event, Some(Instant::now()))
        .await
        .expect("pass");
    assert!(r.unfinished && r.jobs == 0, "{r:?}");
    // One with time left compacts the segment into a block.
    let r = compact(
        bucket.clone(),
        &settings,
        &event,
        Some(Instant::now() + Duration::from_secs(900)),
    )
    .await
    .expect("pass");
    assert!(!r.unfinished, "{r:?}");
    // One 2 h block; when the samples' UTC day is also over by then (a
    // run in the last hours of a day), the same pass merges it into a day
    // block and writes its 5 m and 1 h rollups.
    let day_over = (old.div_euclid(86_400_000) + 1) * 86_400_000 + 3_600_000 <= now + 3 * 3_600_000;
    let blocks = if day_over { 4 } else { 1 };
    assert_eq!(
        (r.segments_compacted, r.blocks_written),
        (1, blocks),
        "{r:?}"
    );
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["unfinished"], false);
}

#[test]
fn the_authorizer_accepts_only_configured_tokens() {
    let req: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_value(fixture("apigw-v2-authorizer.json")).expect("authorizer event");
    let good = vec![authorizer::token_digest("s3cr3t-t0ken")];
    assert!(authorizer::authorize(&good, &req).is_authorized);
    let other = vec![authorizer::token_digest("another")];
    assert!(!authorizer::authorize(&other, &req).is_authorized);
    assert!(!authorizer::authorize(&[], &req).is_authorized);
    // No identity source, no header: denied.
    let mut bare = req.clone();
    bare.identity_source = None;
    bare.headers.clear();
    assert!(!authorizer::authorize(&good, &bare).is_authorized);
    // A basic-auth header is not a bearer token.
    let mut basic = req;
    basic.identity_source = Some(vec!["Basic czNjcjN0LXQwa2Vu".into()]);
    assert!(!authorizer::authorize(&good, &basic).is_authorized);
    // The digest is SHA-256 in lowercase hex.
    assert_eq!(
        authorizer::token_digest("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// The query function answers browsers as the server does (CORS as
/// Prometheus's `--web.cors.origin`, preflights 204) and serves every
/// route under Mimir's `/prometheus` prefix too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_function_answers_browsers_and_the_prometheus_prefix() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    let call = |app: Router, method: &str, path: &str, origin: Option<&str>| {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let req = req.body(Body::empty()).expect("request");
        async move {
            let r = app.oneshot(req).await.expect("response");
            let allow = r
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().expect("ascii").to_string());
            let methods = r.headers().get("access-control-allow-methods").cloned();
            let status = r.status();
            let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, allow, methods, body)
        }
    };
    let bucket = Bucket::in_memory();
    let app = query_app(bucket.clone(), &Settings::default());
    let grafana = Some("https://grafana.example");
    let (status, allow, methods, _) =
        call(app.clone(), "GET", "/api/v1/query?query=1", grafana).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(allow.as_deref(), Some("*"));
    assert_eq!(
        methods.as_ref().map(|v| v.to_str().expect("ascii")),
        Some("GET, POST, OPTIONS")
    );
    for path in ["/api/v1/query", "/prometheus/config/v1/rules"] {
        let (status, allow, _, _) = call(app.clone(), "OPTIONS", path, grafana).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
        assert_eq!(allow.as_deref(), Some("*"), "{path}");
    }
    for path in [
        "/api/v1/query?query=1&time=1700000000",
        "/config/v1/rules",
        "/api/v2/silences",
    ] {
        let plain = call(app.clone(), "GET", path, None).await;
        let prefixed = call(app.clone(), "GET", &format!("/prometheus{path}"), None).await;
        // Rules of a tenant without any answer 404 with a message, as
        // Mimir; an unserved route would answer an empty 404.
        assert!(!plain.3.is_empty(), "{path}: {}", plain.0);
        assert_eq!((plain.0, plain.3), (prefixed.0, prefixed.3), "{path}");
    }

    // A path no route serves: Prometheus's plain-text 404, as the server.
    for path in [
        "/api/v1/nonexistent",
        "/prometheus/api/v2/nonexistent",
        "/foo",
    ] {
        let (status, _, _, body) = call(app.clone(), "GET", path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(&body[..], b"404 page not found\n", "{path}");
    }

    let settings = Settings::from_lookup(|k| {
        (k == "STRATUS_WEB_CORS_ORIGIN").then(|| r"https://grafana\.example".to_string())
    })
    .expect("settings");
    let app = query_app(bucket, &settings);
    let (_, allow, _, _) = call(app.clone(), "GET", "/api/v1/labels", grafana).await;
    assert_eq!(allow.as_deref(), Some("https://grafana.example"));
    let (status, allow, methods, _) = call(
        app,
        "OPTIONS",
        "/prometheus/api/v1/labels",
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(allow, None);
    assert!(methods.is_some());
}
