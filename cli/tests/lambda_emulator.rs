//! The serverless stack on one machine against an emulated S3 (moto):
//! a real Prometheus remote_writes through the ingest function's handler
//! behind a Function-URL-shaped front (the event AWS would send, base64
//! body and all), the compactor handler runs as EventBridge Scheduler
//! would invoke it, and the query handler answers the same PromQL as
//! `stratus query` (server mode) on the same bucket, byte for byte.
//!
//! Duration of the write phase: STRATUS_E2E_SECONDS (default 30).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stratus_lambda::{compact, ingest_app, local, query_app, ScheduledEvent, Settings};
use stratus_storage::keys::{blocks_prefix, segments_prefix};
use stratus_storage::Bucket;
use stratus_tests::differential::get_answer;
use stratus_tests::prometheus::{metric_sum, NodeExporter, Prometheus};
use stratus_tests::s3::S3Emulator;
use stratus_tests::stratus::StratusProcess;
use tokio::net::TcpListener;

async fn serve(app: axum::Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn get(url: &str) -> String {
    reqwest::get(url)
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET")
        .text()
        .await
        .expect("body")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_writes_through_the_functions_and_queries_match_server_mode() {
    let seconds: u64 = std::env::var("STRATUS_E2E_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let s3 = S3Emulator::start().expect("S3 emulator");
    s3.create_bucket("metrics").await.expect("bucket");
    let settings = Settings {
        storage: s3.storage_config("metrics"),
        ..Settings::default()
    };
    let bucket = Bucket::from_config(&settings.storage).expect("bucket");
    let ingest = serve(local::function_url(
        ingest_app(bucket.clone(), &settings)
            .await
            .expect("ingest app"),
    ))
    .await;
    let query = serve(local::function_url(query_app(bucket.clone(), &settings))).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeExporter::start(&dir.path().join("node.log")).expect("node-exporter");
    let config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['127.0.0.1:{node}']}}]
remote_write:
  - url: http://127.0.0.1:{ingest}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, max_shards: 2}}
"#,
        node = node.port,
    );
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("mkdir");
    let mut prom = Prometheus::start(&prom_dir, &config, &[]).expect("prometheus");
    let started = now_ms();

    // Write for a while; every send must succeed.
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5).min(until - Instant::now())).await;
        prom.child.check_running().expect("prometheus alive");
        let m = get(&prom.url("/metrics")).await;
        let failed =
            metric_sum(&m, "prometheus_remote_storage_samples_failed_total").expect("failed");
        assert_eq!(failed, 0.0, "failed sends through the ingest function");
    }
    // Stop Prometheus once its queue is empty, so the data stands still.
    let drained = Instant::now() + Duration::from_secs(30);
    loop {
        let m = get(&prom.url("/metrics")).await;
        let pending = metric_sum(&m, "prometheus_remote_storage_samples_pending").unwrap_or(0.0);
        if pending == 0.0 || Instant::now() > drained {
            let sent = metric_sum(&m, "prometheus_remote_storage_samples_total").expect("sent");
            for name in [
                "prometheus_remote_storage_samples_failed_total",
                "prometheus_remote_storage_samples_retried_total",
                "prometheus_remote_storage_samples_dropped_total",
            ] {
                assert_eq!(metric_sum(&m, name).expect(name), 0.0, "{name}");
            }
            assert!(sent > 1000.0, "Prometheus sent {sent} samples");
            println!("Prometheus sent {sent} samples through the ingest function");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    prom.child
        .terminate(Duration::from_secs(20))
        .expect("prometheus stops");
    let ended = now_ms();
    let tenant = stratus_model::TenantId::anonymous();
    let segments = bucket
        .list(&segments_prefix(&tenant))
        .await
        .expect("list")
        .len();
    assert!(segments > 0, "the ingest function wrote segments");

    // The compactor, invoked as the schedule invokes it, as of three hours
    // later: every segment is past its grace period and 2 h range.
    let mut event: ScheduledEvent = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../lambda/tests/fixtures/scheduler.json"
        ))
        .expect("fixture"),
    )
    .expect("scheduler event");
    event.scheduled_time = Some(stratus_model::time::format_rfc3339(
        ended + 3 * 3_600_000,
        stratus_model::time::Fraction::Millis,
    ));
    let r = compact(
        bucket.clone(),
        &settings,
        &event,
        Some(Instant::now() + Duration::from_secs(600)),
    )
    .await
    .expect("compaction");
    assert!(
        !r.unfinished && r.segments_compacted == segments && r.blocks_written > 0,
        "{r:?}, {segments} segments"
    );
    let blocks = bucket.list(&blocks_prefix(&tenant)).await.expect("list");
    assert!(!blocks.is_empty());

    // Server mode on the same bucket.
    let mut server = StratusProcess::start_with_env(
        Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("unused"),
        &dir.path().join("stratus.log"),
        &[
            "--s3-bucket",
            "metrics",
            "--s3-endpoint",
            &s3.endpoint,
            "--s3-path-style",
            "--s3-region",
            "us-east-1",
            "--compaction-interval",
            "1h",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    )
    .expect("stratus query");

    let (start, end) = (started as f64 / 1000.0, ended as f64 / 1000.0);
    let mid = (start + end) / 2.0;
    let queries = [
        "up".to_string(),
        "count by (job) ({__name__=~\".+\"})".into(),
        "sum by (mode) (rate(node_cpu_seconds_total[10s]))".into(),
        "max_over_time(node_memory_MemFree_bytes[30s])".into(),
        "sum(rate(node_network_receive_bytes_total[10s]))".into(),
        "increase(node_cpu_seconds_total{mode=\"idle\"}[15s])".into(),
        "go_gc_duration_seconds{quantile=\"0.5\"}".into(),
    ];
    let mut paths = Vec::new();
    for q in &queries {
        let enc = |s: &str| serde_urlencoded::to_string([("query", s)]).expect("encode");
        paths.push(format!("/api/v1/query?{}&time={mid}", enc(q)));
        paths.push(format!(
            "/api/v1/query_range?{}&start={start}&end={end}&step=2",
            enc(q)
        ));
    }
    paths.push("/api/v1/labels".into());
    paths.push("/api/v1/label/job/values".into());
    paths.push(format!("/api/v1/series?match[]=up&start={start}&end={end}"));
    let client = reqwest::Client::new();
    let function = format!("http://127.0.0.1:{query}");
    let mut non_empty = 0;
    for p in &paths {
        let a = get_answer(&client, &function, p).await.expect("function");
        let b = get_answer(&client, &server.url(""), p)
            .await
            .expect("server");
        assert_eq!(a.json["status"], "success", "{p}: {}", a.body);
        assert_eq!(a.body, b.body, "{p}: the function and the server differ");
        let data = &a.json["data"];
        if data
            .get("result")
            .map_or(data.as_array().is_some_and(|x| !x.is_empty()), |r| {
                r.as_array().is_some_and(|x| !x.is_empty())
            })
        {
            non_empty += 1;
        }
    }
    assert!(
        non_empty >= paths.len() - 2,
        "only {non_empty} of {} answers hold data",
        paths.len()
    );
    server.child.check_running().expect("server alive");
    // The server reports its bucket reads and its object cache.
    let m = get(&server.url("/metrics")).await;
    for name in [
        "stratus_storage_get_requests_total",
        "stratus_storage_get_bytes_total",
        "stratus_object_cache_misses_total",
    ] {
        let v = metric_sum(&m, name).unwrap_or(0.0);
        assert!(v > 0.0, "{name} = {v} after answering queries");
    }
    // Exported even when nothing was evicted yet.
    for name in [
        "stratus_object_cache_memory_evictions_total",
        "stratus_object_cache_disk_evictions_total",
    ] {
        assert!(metric_sum(&m, name).is_ok(), "no {name} in /metrics");
    }
    // The default query memory bound, all of it given back after the
    // queries (none runs now).
    assert_eq!(
        metric_sum(&m, "stratus_query_memory_limit_bytes").ok(),
        Some((2u64 << 30) as f64)
    );
    assert_eq!(
        metric_sum(&m, "stratus_query_memory_used_bytes").ok(),
        Some(0.0)
    );
    assert_eq!(
        metric_sum(&m, "stratus_query_memory_rejected_total").ok(),
        Some(0.0)
    );
    println!(
        "{} answers identical between the query function and server mode; {segments} segments compacted into {} blocks",
        paths.len(),
        blocks.len()
    );
}
