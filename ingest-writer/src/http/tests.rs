use std::sync::Arc;
use std::time::Duration;

use crate::metrics::IngestMetrics;
use crate::validate::Limits;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use prost::Message;
use stratus_codec::decode_segment;
use stratus_model::{Clock, TenantId};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{Bucket, FaultConfig, FaultyStore, InMemory, ObjectStore, RetryPolicy};
use tower::ServiceExt;

use super::*;
use crate::commit::{CommitConfig, Committer};
use crate::proto::{LabelV1, RequestV2, SampleProto, TimeSeriesV1, TimeSeriesV2, WriteRequestV1};
use crate::push::PushResponse;
use crate::validate::Reason;
use crate::Sink;

const NOW: i64 = 1_700_000_000_000;

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        NOW
    }
}

struct Fixture {
    router: Router,
    bucket: Bucket,
    store: Arc<FaultyStore>,
    metrics: IngestMetrics,
}

fn fixture(http: HttpLimits) -> Fixture {
    let store = Arc::new(FaultyStore::new(
        Arc::new(InMemory::new()),
        FaultConfig::default(),
    ));
    let bucket = Bucket::new(
        store.clone() as Arc<dyn ObjectStore>,
        RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            attempt_timeout: Duration::from_secs(2),
        },
    );
    let metrics = IngestMetrics::new(&mut Registry::default());
    let committer = Committer::start(
        CommitConfig {
            window: Duration::from_millis(5),
            ..CommitConfig::default()
        },
        Sink::Bucket(bucket.clone()),
        metrics.clone(),
    );
    let state = IngestState {
        committer,
        limits: Arc::new(Limits::default()),
        tenants: stratus_http::TenantPolicy::new(http.multitenancy),
        http: Arc::new(http),
        metrics: metrics.clone(),
        clock: Arc::new(FixedClock),
    };
    Fixture {
        router: router(state),
        bucket,
        store,
        metrics,
    }
}

fn snappy(b: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(b).expect("snappy")
}

/// Label pairs and (timestamp, value) samples of one test series.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn v1_body(series: &[TestSeries<'_>]) -> Vec<u8> {
    let req = WriteRequestV1 {
        timeseries: series
            .iter()
            .map(|(labels, samples)| TimeSeriesV1 {
                labels: labels
                    .iter()
                    .map(|(n, v)| LabelV1 {
                        name: bytes::Bytes::copy_from_slice(n.as_bytes()),
                        value: bytes::Bytes::copy_from_slice(v.as_bytes()),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| SampleProto { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    snappy(&req.encode_to_vec())
}

fn write(body: Vec<u8>, content_type: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/v1/write").header("content-encoding", "snappy");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Body::from(body)).expect("request")
}

async fn send(f: &Fixture, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let resp = f.router.clone().oneshot(req).await.expect("response");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn stored_samples(bucket: &Bucket, tenant: &str) -> u64 {
    let tenant = TenantId::new(tenant).expect("tenant");
    let mut n = 0;
    for o in bucket.list(&segments_prefix(&tenant)).await.expect("list") {
        let (b, _) = bucket.get(&o.key).await.expect("get");
        n += decode_segment(&b).expect("segment").num_samples;
    }
    n
}

#[tokio::test]
async fn v1_write_is_stored_and_answered_204() {
    let f = fixture(HttpLimits::default());
    let body = v1_body(&[(
        &[("__name__", "up"), ("job", "a")],
        &[(NOW, 1.0), (NOW + 1, 2.0)],
    )]);
    let (status, headers, text) = send(&f, write(body, Some("application/x-protobuf"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert!(
        headers.get(SAMPLES_WRITTEN).is_none(),
        "1.0 answers carry no 2.0 headers"
    );
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 2);
    assert_eq!(f.metrics.samples_accepted.get(), 2);
}

#[tokio::test]
async fn v2_write_reports_what_was_written() {
    let f = fixture(HttpLimits::default());
    let req = RequestV2 {
        symbols: ["", "__name__", "up", "job", "x"]
            .iter()
            .map(|s| bytes::Bytes::copy_from_slice(s.as_bytes()))
            .collect(),
        timeseries: vec![TimeSeriesV2 {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![SampleProto {
                value: 1.0,
                timestamp: NOW,
            }],
            ..Default::default()
        }],
    };
    let (status, headers, text) = send(
        &f,
        write(snappy(&req.encode_to_vec()), Some(CONTENT_TYPE_V2)),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(
        headers.get(SAMPLES_WRITTEN).map(|v| v.as_bytes()),
        Some(b"1".as_slice())
    );
    assert_eq!(
        headers.get(HISTOGRAMS_WRITTEN).map(|v| v.as_bytes()),
        Some(b"0".as_slice())
    );
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 1);
}

#[tokio::test]
async fn partial_writes_store_the_valid_part_and_answer_400() {
    let f = fixture(HttpLimits::default());
    let body = v1_body(&[
        (&[("__name__", "ok")], &[(NOW, 1.0)]),
        (
            &[("__name__", "bad"), ("a-b", "x")],
            &[(NOW, 1.0), (NOW + 1, 1.0)],
        ),
        (&[("__name__", "old")], &[(NOW - 86_400_000, 1.0)]),
    ]);
    let (status, _, text) = send(&f, write(body, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains(r#"label name "a-b""#), "{text}");
    assert!(text.contains("older than the accepted window"), "{text}");
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 1);
    assert_eq!(f.metrics.rejected(Reason::LabelNameInvalid).get(), 2);
    assert_eq!(f.metrics.rejected(Reason::SampleTooOld).get(), 1);
    assert_eq!(f.metrics.samples_received.get(), 4);
}

#[tokio::test]
async fn malformed_requests_get_their_status() {
    let f = fixture(HttpLimits {
        max_body_bytes: 4096,
        max_decompressed_bytes: 8192,
        multitenancy: false,
    });
    let ok = || v1_body(&[(&[("__name__", "up")], &[(NOW, 1.0)])]);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            write(ok(), Some("application/json")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/x-protobuf",
        ),
        (
            write(ok(), Some("application/x-protobuf;proto=foo.Bar")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "foo.Bar",
        ),
        (
            Request::post("/api/v1/write")
                .header("content-encoding", "gzip")
                .body(Body::from(ok()))
                .expect("req"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected snappy",
        ),
        (
            write(b"not snappy at all".to_vec(), None),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
        (
            write(snappy(b"\xff\xff\xff\xff"), None),
            StatusCode::BAD_REQUEST,
            "protobuf",
        ),
        (
            write(vec![0u8; 5000], None),
            StatusCode::PAYLOAD_TOO_LARGE,
            "4096",
        ),
        (
            write(snappy(&vec![0u8; 9000]), None),
            StatusCode::PAYLOAD_TOO_LARGE,
            "8192",
        ),
        (
            Request::post("/api/v1/write")
                .header("x-scope-orgid", "a/b")
                .body(Body::from(ok()))
                .expect("req"),
            StatusCode::BAD_REQUEST,
            "X-Scope-OrgID",
        ),
    ];
    for (req, want, needle) in cases {
        let (status, _, text) = send(&f, req).await;
        assert_eq!(status, want, "{text}");
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 0);
}

#[tokio::test]
async fn multitenancy_requires_an_org_id() {
    let f = fixture(HttpLimits {
        multitenancy: true,
        ..HttpLimits::default()
    });
    let body = || v1_body(&[(&[("__name__", "up")], &[(NOW, 1.0)])]);
    let (status, _, _) = send(&f, write(body(), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let req = Request::post("/api/v1/write")
        .header("x-scope-orgid", "team-a")
        .body(Body::from(body()))
        .expect("req");
    let (status, _, _) = send(&f, req).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(stored_samples(&f.bucket, "team-a").await, 1);
}

#[tokio::test]
async fn storage_outage_is_a_retryable_503_and_counted() {
    let f = fixture(HttpLimits::default());
    f.store.set_config(FaultConfig {
        fail_ratio: 1.0,
        writes_only: true,
        ..FaultConfig::default()
    });
    let body = v1_body(&[(&[("__name__", "up")], &[(NOW, 1.0), (NOW + 1, 1.0)])]);
    let (status, _, text) = send(&f, write(body, None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("storage unavailable"), "{text}");
    assert_eq!(f.metrics.rejected(Reason::StorageUnavailable).get(), 2);
    assert_eq!(f.metrics.samples_accepted.get(), 0);
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 0);
}

/// A 503 says what failed in Stratus's terms, not the backend's: a full
/// local disk used to show as "Generic LocalFileSystem error: Unable to
/// copy data to file: ...".
#[tokio::test]
async fn a_full_bucket_is_named_without_backend_internals() {
    let f = fixture(HttpLimits::default());
    f.store.set_config(FaultConfig {
        fail_ratio: 1.0,
        writes_only: true,
        fail_with: stratus_storage::InjectedFailure::Full,
        ..FaultConfig::default()
    });
    let body = v1_body(&[(&[("__name__", "up")], &[(NOW, 1.0)])]);
    let (status, _, text) = send(&f, write(body, None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        text.contains("a write to the bucket failed: the bucket is full"),
        "{text}"
    );
    for internal in [
        "Generic",
        "LocalFileSystem",
        "Unable to copy",
        "os error",
        "tenants/",
    ] {
        assert!(!text.contains(internal), "{text:?} shows {internal:?}");
    }
    let (status, _, text) = send(&f, push(r#"{"metrics":[{"name":"m","value":1}]}"#)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("the bucket is full"), "{text}");
    assert!(!text.contains("LocalFileSystem"), "{text}");
}

fn push(json: &str) -> Request<Body> {
    Request::post("/api/v1/push")
        .header("content-type", "application/json")
        .body(Body::from(json.to_string()))
        .expect("request")
}

#[tokio::test]
async fn push_api_accepts_reports_and_rejects() {
    let f = fixture(HttpLimits::default());
    let ok = r#"{"metrics":[
        {"name":"backup_bytes","type":"gauge","value":1.5,"timestamp":1700000000,"tags":{"host":"db1"}},
        {"name":"backup_ok","value":"NaN","timestamp":1700000000123}]}"#;
    let (status, _, text) = send(&f, push(ok)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let r: PushResponse = serde_json::from_str(&text).expect("json");
    assert_eq!(
        (r.status.as_str(), r.accepted, r.rejected),
        ("success", 2, 0)
    );
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 2);

    let partial = r#"{"metrics":[
        {"name":"fine","value":1,"timestamp":1700000000},
        {"name":"1bad","value":1},
        {"name":"x","value":"high"},
        {"name":"y","value":1,"type":"thermometer"}]}"#;
    let (status, _, text) = send(&f, push(partial)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let r: PushResponse = serde_json::from_str(&text).expect("json");
    assert_eq!((r.accepted, r.rejected, r.errors.len()), (1, 3, 3));
    assert!(r.errors[0].starts_with("metrics[1]"), "{:?}", r.errors);
    assert_eq!(f.metrics.rejected(Reason::MetricNameInvalid).get(), 1);
    assert_eq!(f.metrics.rejected(Reason::InvalidValue).get(), 1);
    assert_eq!(f.metrics.rejected(Reason::InvalidMetricType).get(), 1);

    let (status, _, text) = send(
        &f,
        push(r#"{"metrics":[{"name":"z","value":1,"timestamp":1}]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("older than"), "{text}");

    let (status, _, text) = send(&f, push(r#"{"metric":[]}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("not valid push JSON"), "{text}");
}

/// Every kind of bad series, sent over HTTP: a 400 naming the problem, and
/// the counter of its reason moved by the samples refused.
#[tokio::test]
async fn every_bad_input_has_status_message_and_counter() {
    let f = fixture(HttpLimits::default());
    let long = "x".repeat(3000);
    let many: Vec<(String, String)> = (0..31)
        .map(|i| (format!("l{i:02}"), "v".to_string()))
        .collect();
    let mut many_pairs: Vec<(&str, &str)> = vec![("__name__", "up")];
    many_pairs.extend(many.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    let two: &[(i64, f64)] = &[(NOW, 1.0), (NOW + 1, 2.0)];
    let long_name = [("__name__", "up"), (long.as_str(), "v")];
    let long_value = [("__name__", "up"), ("a", long.as_str())];
    let old: &[(i64, f64)] = &[(NOW - 4 * 3_600_000 - 1, 1.0)];
    let future: &[(i64, f64)] = &[(NOW + 600_001, 1.0)];
    let cases: Vec<(TestSeries<'_>, Reason, &str)> = vec![
        (
            (&[("job", "x")], two),
            Reason::MissingMetricName,
            "no metric name",
        ),
        (
            (&[("__name__", "1up")], two),
            Reason::MetricNameInvalid,
            "[a-zA-Z_:][a-zA-Z0-9_:]*",
        ),
        (
            (&[("__name__", "up"), ("a-b", "x")], two),
            Reason::LabelNameInvalid,
            "[a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            (&[("__name__", "up"), ("a", "1"), ("a", "2")], two),
            Reason::DuplicateLabelNames,
            "more than once",
        ),
        (
            (&many_pairs, two),
            Reason::MaxLabelNamesPerSeries,
            "the limit is 30",
        ),
        (
            (&long_name, two),
            Reason::LabelNameTooLong,
            "the limit is 1024",
        ),
        (
            (&long_value, two),
            Reason::LabelValueTooLong,
            "the limit is 2048",
        ),
        (
            (&[("__name__", "up")], old),
            Reason::SampleTooOld,
            "older than the accepted window of 4h",
        ),
        (
            (&[("__name__", "up")], future),
            Reason::SampleTooFarInFuture,
            "more than 10m in the future",
        ),
    ];
    for ((labels, samples), reason, needle) in cases {
        let before = f.metrics.rejected(reason).get();
        let (status, _, text) = send(&f, write(v1_body(&[(labels, samples)]), None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason:?}: {text}");
        assert!(
            text.contains(needle),
            "{reason:?}: {needle:?} not in {text:?}"
        );
        assert_eq!(
            f.metrics.rejected(reason).get() - before,
            samples.len() as u64,
            "{reason:?}"
        );
    }

    // Not UTF-8, native histograms: built by hand.
    let raw = |name: &[u8], value: &[u8], histograms: usize, samples: usize| {
        let ts = TimeSeriesV1 {
            labels: vec![
                LabelV1 {
                    name: bytes::Bytes::from_static(b"__name__"),
                    value: bytes::Bytes::from_static(b"up"),
                },
                LabelV1 {
                    name: bytes::Bytes::copy_from_slice(name),
                    value: bytes::Bytes::copy_from_slice(value),
                },
            ],
            samples: vec![
                SampleProto {
                    value: 1.0,
                    timestamp: NOW
                };
                samples
            ],
            histograms: vec![bytes::Bytes::from_static(b"\x08\x01"); histograms],
            ..Default::default()
        };
        snappy(
            &WriteRequestV1 {
                timeseries: vec![ts],
                metadata: vec![],
            }
            .encode_to_vec(),
        )
    };
    for (body, reason, needle, n) in [
        (
            raw(b"a", &[0xff, 0xfe], 0, 1),
            Reason::InvalidUtf8,
            "not valid UTF-8",
            1,
        ),
        (
            raw(b"a", b"b", 3, 0),
            Reason::NativeHistogramUnsupported,
            "not supported yet",
            3,
        ),
    ] {
        let before = f.metrics.rejected(reason).get();
        let (status, _, text) = send(&f, write(body, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason:?}: {text}");
        assert!(text.contains(needle), "{reason:?}: {text}");
        assert_eq!(f.metrics.rejected(reason).get() - before, n, "{reason:?}");
    }

    // remote_write 2.0: a label ref past the symbol table.
    let req = RequestV2 {
        symbols: ["", "__name__", "up"]
            .iter()
            .map(|s| bytes::Bytes::copy_from_slice(s.as_bytes()))
            .collect(),
        timeseries: vec![TimeSeriesV2 {
            labels_refs: vec![1, 7],
            samples: vec![SampleProto {
                value: 1.0,
                timestamp: NOW,
            }],
            ..Default::default()
        }],
    };
    let (status, headers, text) = send(
        &f,
        write(snappy(&req.encode_to_vec()), Some(CONTENT_TYPE_V2)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("refers past the 3 symbols"), "{text}");
    assert_eq!(
        headers.get(SAMPLES_WRITTEN).map(|v| v.as_bytes()),
        Some(b"0".as_slice())
    );
    assert_eq!(f.metrics.rejected(Reason::InvalidSymbolRef).get(), 1);

    // JSON push: timestamps and values that are not numbers, unknown types.
    for (json, reason, needle) in [
        (
            r#"{"metrics":[{"name":"a","value":1,"timestamp":"NaN"}]}"#,
            Reason::InvalidTimestamp,
            "not a finite number",
        ),
        (
            r#"{"metrics":[{"name":"a","value":[1]}]}"#,
            Reason::InvalidValue,
            "is not a number",
        ),
        (
            r#"{"metrics":[{"name":"a","value":1,"type":"thermometer"}]}"#,
            Reason::InvalidMetricType,
            "thermometer",
        ),
    ] {
        let before = f.metrics.rejected(reason).get();
        let (status, _, text) = send(&f, push(json)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason:?}: {text}");
        assert!(text.contains(needle), "{reason:?}: {text}");
        assert_eq!(f.metrics.rejected(reason).get() - before, 1, "{reason:?}");
    }
    assert_eq!(
        stored_samples(&f.bucket, "anonymous").await,
        0,
        "nothing bad was stored"
    );
}

/// Issue 13, item 1: a timestamp past year 9999 (or `i64::MAX`) panicked
/// the handler while it printed the "too far in the future" message; the
/// connection dropped and the valid series were not written.
#[tokio::test]
async fn timestamps_past_year_9999_get_a_400_and_the_rest_is_written() {
    let f = fixture(HttpLimits::default());
    let body = v1_body(&[
        (&[("__name__", "ok")], &[(NOW, 1.0)]),
        (&[("__name__", "far")], &[(253_402_300_800_000, 1.0)]),
        (&[("__name__", "max")], &[(i64::MAX, 1.0)]),
        (&[("__name__", "min")], &[(i64::MIN, 1.0)]),
    ]);
    let (status, _, text) = send(&f, write(body, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("10000-01-01T00:00:00Z"), "{text}");
    assert!(text.contains(&i64::MAX.to_string()), "{text}");
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 1);
    assert_eq!(f.metrics.rejected(Reason::SampleTooFarInFuture).get(), 2);

    // The JSON push: milliseconds past year 9999.
    let (status, _, text) = send(
        &f,
        push(r#"{"metrics":[{"name":"fine","value":1,"timestamp":1700000000},{"name":"far","value":1,"timestamp":253402300800000}]}"#),
    )
    .await;
    assert!(
        status.is_client_error() || status.is_success(),
        "{status} {text}"
    );
    assert!(text.contains("future"), "{text}");
    assert_eq!(stored_samples(&f.bucket, "anonymous").await, 2);
}

mod duplicates;
