//! SIGKILL `stratus all` at random moments while clients write: every
//! acknowledged sample must be in the stored segments afterwards.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use stratus_model::Sample;
use stratus_storage::{Bucket, StorageConfig};
use stratus_tests::rw;
use stratus_tests::segments::all_samples;
use stratus_tests::stratus::StratusProcess;

const WRITERS: usize = 4;
const SAMPLES_PER_REQUEST: usize = 50;
const KILLS: usize = 8;
/// Acknowledged samples to wait for between two kills (8 × 1 600 > the
/// 10 000 the tests require in all).
const PROGRESS_PER_RUN: usize = 1_600;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs writers against a server that is killed and restarted KILLS times;
/// returns the acknowledged (series, timestamp) pairs.
async fn write_through_kills(data: &Path, logs: &Path, extra: &[&str]) -> HashSet<(String, i64)> {
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let server =
        StratusProcess::start(bin, 0, data, &logs.join("stratus-0.log"), extra).expect("start");
    let port = server.port;
    let server = Arc::new(Mutex::new(Some(server)));
    let acked: Arc<Mutex<HashSet<(String, i64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let base = now_ms();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (acked, stop) = (acked.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("client");
                let url = format!("http://127.0.0.1:{port}/api/v1/write");
                let mut seq: i64 = 0;
                let mut sent = 0u64;
                while !stop.load(Ordering::Acquire) {
                    // Each request: SAMPLES_PER_REQUEST distinct series, one
                    // sample each, at a timestamp unique to this request.
                    let t = base + seq * WRITERS as i64 + w as i64;
                    seq += 1;
                    let series: Vec<rw::SeriesData> = (0..SAMPLES_PER_REQUEST)
                        .map(|i| {
                            let labels = vec![
                                ("__name__".to_string(), "kill_test".to_string()),
                                ("series".to_string(), format!("w{w}-{i}")),
                            ];
                            (labels, vec![(t, t as f64)])
                        })
                        .collect();
                    let body = rw::encode_v1(&series);
                    if let Ok(204) = rw::send(&client, &url, body).await {
                        let mut a = acked.lock().expect("lock");
                        for i in 0..SAMPLES_PER_REQUEST {
                            a.insert((format!("w{w}-{i}"), t));
                        }
                    }
                    sent += 1;
                    if sent.is_multiple_of(8) {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();

    for k in 1..=KILLS {
        // Kill once the writers have had a fair share of acknowledgements
        // since the last restart (progress, not time: the machine may be
        // slow), then at a random moment after that.
        let target = acked.lock().expect("lock").len() + PROGRESS_PER_RUN;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while acked.lock().expect("lock").len() < target {
            assert!(
                std::time::Instant::now() < deadline,
                "the writers made no progress for 60 s after restart {k}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let wait = rand::rng().random_range(0..300);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut guard = server.lock().expect("lock");
        if let Some(mut s) = guard.take() {
            s.child.kill(); // SIGKILL
        }
        let log = logs.join(format!("stratus-{k}.log"));
        *guard = Some(StratusProcess::start(bin, port, data, &log, extra).expect("restart"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Release);
    for w in writers {
        w.await.expect("writer");
    }
    // A clean stop at the end: flushes the WAL when there is one.
    let last = server.lock().expect("lock").take();
    if let Some(mut s) = last {
        let status = s
            .child
            .terminate(Duration::from_secs(30))
            .expect("terminate");
        assert!(status.success(), "clean shutdown: {status}");
    }
    let acked = acked.lock().expect("lock").clone();
    acked
}

async fn check_all_stored(data: &Path, acked: &HashSet<(String, i64)>) {
    let bucket = Bucket::from_config(&StorageConfig {
        data_dir: data.to_path_buf(),
        ..StorageConfig::default()
    })
    .expect("bucket");
    let stored = all_samples(&bucket).await.expect("read segments");
    let mut have: HashSet<(String, i64)> = HashSet::new();
    for (labels, samples) in &stored {
        let series = labels.get("series").unwrap_or_default().to_string();
        for s in samples {
            assert_eq!(*s, Sample::new(s.t, s.t as f64), "stored value intact");
            have.insert((series.clone(), s.t));
        }
    }
    let missing: Vec<_> = acked.difference(&have).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged samples missing, e.g. {missing:?}",
        acked.difference(&have).count(),
        acked.len()
    );
    println!(
        "acknowledged {} samples across {KILLS} SIGKILLs; all {} found in {} stored series",
        acked.len(),
        acked.len(),
        stored.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let acked = write_through_kills(&data, dir.path(), &["--commit-window", "50ms"]).await;
    assert!(
        acked.len() > 10_000,
        "the writers got through: {}",
        acked.len()
    );
    check_all_stored(&data, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_local_wal_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let wal = dir.path().join("wal");
    let wal_arg = wal.to_string_lossy().into_owned();
    let acked = write_through_kills(
        &data,
        dir.path(),
        &["--commit-window", "50ms", "--wal-dir", &wal_arg],
    )
    .await;
    assert!(
        acked.len() > 10_000,
        "the writers got through: {}",
        acked.len()
    );
    check_all_stored(&data, &acked).await;
    let left = std::fs::read_dir(wal.join("anonymous"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the WAL was drained at the clean stop");
}
