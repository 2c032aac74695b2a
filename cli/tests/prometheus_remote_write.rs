//! A real Prometheus (Debian's package) scrapes a real node-exporter and
//! itself and remote_writes into `stratus all` for a few minutes: no send
//! may fail or be retried, and everything Prometheus delivered must be in
//! the stored segments.
//!
//! Duration: STRATUS_E2E_SECONDS (default 180).

use std::path::Path;
use std::time::Duration;

use stratus_storage::{Bucket, StorageConfig};
use stratus_tests::prometheus::{metric_sum, NodeExporter, Prometheus};
use stratus_tests::segments::all_samples;
use stratus_tests::stratus::StratusProcess;

async fn get(url: &str) -> String {
    reqwest::get(url)
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET")
        .text()
        .await
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_writes_for_minutes_without_a_failed_send() {
    let seconds: u64 = std::env::var("STRATUS_E2E_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let mut stratus = StratusProcess::start(bin, 0, &data, &dir.path().join("stratus.log"), &[])
        .expect("stratus");
    let node = NodeExporter::start(&dir.path().join("node.log")).expect("node-exporter");
    let config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['127.0.0.1:{node}']}}]
  - job_name: stratus
    static_configs: [{{targets: ['127.0.0.1:{stratus}']}}]
remote_write:
  - url: http://127.0.0.1:{stratus}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, max_shards: 4}}
    metadata_config: {{send_interval: 10s}}
"#,
        node = node.port,
        stratus = stratus.port
    );
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("mkdir");
    let mut prom = Prometheus::start(&prom_dir, &config, &[]).expect("prometheus");

    // Let it run, checking on the way that nothing fails.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(10).min(deadline - tokio::time::Instant::now()))
            .await;
        prom.child.check_running().expect("prometheus alive");
        stratus.child.check_running().expect("stratus alive");
        let m = get(&prom.url("/metrics")).await;
        let failed =
            metric_sum(&m, "prometheus_remote_storage_samples_failed_total").expect("failed");
        assert_eq!(failed, 0.0, "failed sends");
    }

    let m = get(&prom.url("/metrics")).await;
    let sent = metric_sum(&m, "prometheus_remote_storage_samples_total").expect("sent");
    for name in [
        "prometheus_remote_storage_samples_failed_total",
        "prometheus_remote_storage_samples_retried_total",
        "prometheus_remote_storage_samples_dropped_total",
        "prometheus_remote_storage_metadata_failed_total",
        "prometheus_remote_storage_metadata_retried_total",
    ] {
        assert_eq!(metric_sum(&m, name).expect(name), 0.0, "{name}");
    }
    let status = prom
        .child
        .terminate(Duration::from_secs(90))
        .expect("stop prometheus");
    assert!(status.success(), "prometheus stopped cleanly: {status}");

    let s = get(&stratus.url("/metrics")).await;
    let accepted = metric_sum(&s, "stratus_ingest_samples_accepted_total").expect("accepted");
    let rejected = metric_sum(&s, "stratus_ingest_samples_rejected_total").expect("rejected");
    assert_eq!(rejected, 0.0, "stratus rejected samples:\n{s}");
    assert!(
        sent > 10.0 * seconds as f64,
        "prometheus sent {sent} samples in {seconds}s"
    );
    assert!(
        accepted >= sent,
        "stratus acknowledged {accepted} samples, prometheus had sent {sent} before stopping"
    );
    let status = stratus
        .child
        .terminate(Duration::from_secs(30))
        .expect("stop stratus");
    assert!(status.success(), "stratus stopped cleanly: {status}");

    let bucket = Bucket::from_config(&StorageConfig {
        data_dir: data,
        ..StorageConfig::default()
    })
    .expect("bucket");
    let stored = all_samples(&bucket).await.expect("segments");
    let total: usize = stored.values().map(Vec::len).sum();
    assert_eq!(
        total as f64, accepted,
        "every acknowledged sample is stored, and only those"
    );
    let has = |name: &str| stored.keys().any(|l| l.metric_name() == Some(name));
    assert!(
        has("node_cpu_seconds_total") && has("up") && has("stratus_ingest_samples_accepted_total")
    );
    println!(
        "prometheus sent {sent} samples in {seconds}s, stratus stored {total} in {} series",
        stored.len()
    );
}
