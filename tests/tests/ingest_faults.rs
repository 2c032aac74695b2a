//! With storage failing and stalling at random, clients of the real HTTP
//! server get retryable errors, and nothing acknowledged is missing from
//! the bucket.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::registry::Registry;
use stratus_ingest::{
    CommitConfig, Committer, HttpLimits, IngestMetrics, IngestState, Limits, Reason, Sink,
};
use stratus_model::{Clock, SystemClock};
use stratus_storage::{Bucket, FaultConfig, FaultyStore, InMemory, ObjectStore, RetryPolicy};
use stratus_tests::rw;
use stratus_tests::segments::all_samples;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_storage_never_acknowledges_unstored_samples() {
    let store = Arc::new(FaultyStore::new(
        Arc::new(InMemory::new()),
        FaultConfig {
            fail_ratio: 0.3,
            stall_ratio: 0.1,
            stall: Duration::from_secs(5),
            writes_only: true,
            ..FaultConfig::default()
        },
    ));
    let bucket = Bucket::new(
        store.clone() as Arc<dyn ObjectStore>,
        RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            attempt_timeout: Duration::from_millis(200),
        },
    );
    let metrics = IngestMetrics::new(&mut Registry::default());
    let committer = Committer::start(
        CommitConfig {
            window: Duration::from_millis(20),
            ..CommitConfig::default()
        },
        Sink::Bucket(bucket.clone()),
        metrics.clone(),
    );
    let app = stratus_ingest::router(IngestState {
        committer: committer.clone(),
        limits: Arc::new(Limits::default()),
        http: Arc::new(HttpLimits::default()),
        metrics: metrics.clone(),
        clock: Arc::new(SystemClock),
        tenants: stratus_http::TenantPolicy::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/api/v1/write",
        listener.local_addr().expect("addr")
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let acked: Arc<Mutex<HashSet<(String, i64)>>> = Arc::default();
    let codes: Arc<Mutex<Vec<u16>>> = Arc::default();
    let base = SystemClock.now_ms();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, codes, url) = (acked.clone(), codes.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for seq in 0..60i64 {
                    let t = base + seq * 4 + w;
                    let series: Vec<rw::SeriesData> = (0..20)
                        .map(|i| {
                            let labels = vec![
                                ("__name__".to_string(), "fault_test".to_string()),
                                ("series".to_string(), format!("{w}-{i}")),
                            ];
                            (labels, vec![(t, 1.0)])
                        })
                        .collect();
                    let code = rw::send(&client, &url, rw::encode_v1(&series))
                        .await
                        .expect("answer");
                    codes.lock().expect("lock").push(code);
                    if code == 204 {
                        let mut a = acked.lock().expect("lock");
                        a.extend((0..20).map(|i| (format!("{w}-{i}"), t)));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    committer.shutdown().await;
    server.abort();

    let codes = codes.lock().expect("lock").clone();
    let refused = codes.iter().filter(|&&c| c == 503).count();
    assert!(
        codes.iter().all(|&c| c == 204 || c == 503),
        "only success or retryable: {codes:?}"
    );
    assert!(
        refused > 0 && refused < codes.len(),
        "some writes failed, some passed: {refused}/{}",
        codes.len()
    );
    assert_eq!(
        metrics.rejected(Reason::StorageUnavailable).get(),
        refused as u64 * 20,
        "every refused sample is counted"
    );
    store.set_config(FaultConfig::default());
    let stored = all_samples(&bucket).await.expect("segments");
    let have: HashSet<(String, i64)> = stored
        .iter()
        .flat_map(|(l, s)| {
            let series = l.get("series").unwrap_or_default().to_string();
            s.iter().map(move |x| (series.clone(), x.t))
        })
        .collect();
    let acked = acked.lock().expect("lock").clone();
    let missing = acked.difference(&have).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged samples are not stored",
        acked.len()
    );
    assert_eq!(metrics.samples_accepted.get(), acked.len() as u64);
}
