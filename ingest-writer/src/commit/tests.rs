use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use stratus_codec::decode_segment;
use stratus_model::{Labels, Sample, TenantId};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{Bucket, FaultConfig, FaultyStore, ObjectStore, RetryPolicy};

use super::*;
use crate::wal::Wal;

fn labels(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())]).expect("labels")
}

fn config(window_ms: u64) -> CommitConfig {
    CommitConfig {
        window: Duration::from_millis(window_ms),
        ..CommitConfig::default()
    }
}

fn metrics() -> IngestMetrics {
    IngestMetrics::new(&mut Registry::default())
}

fn faulty_bucket() -> (Arc<FaultyStore>, Bucket) {
    let store = Arc::new(FaultyStore::new(
        Arc::new(stratus_storage::InMemory::new()),
        FaultConfig::default(),
    ));
    let policy = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        attempt_timeout: Duration::from_millis(300),
    };
    (
        store.clone(),
        Bucket::new(store as Arc<dyn ObjectStore>, policy),
    )
}

async fn stored(bucket: &Bucket, tenant: &TenantId) -> Vec<stratus_codec::Segment> {
    let mut out = Vec::new();
    for o in bucket.list(&segments_prefix(tenant)).await.expect("list") {
        let (bytes, _) = bucket.get(&o.key).await.expect("get");
        out.push(decode_segment(&bytes).expect("valid segment"));
    }
    out
}

#[tokio::test]
async fn concurrent_requests_share_one_segment() {
    let bucket = Bucket::in_memory();
    let c = Committer::start(config(100), Sink::Bucket(bucket.clone()), metrics());
    let tenant = TenantId::anonymous();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (c, tenant) = (c.clone(), tenant.clone());
            tokio::spawn(async move {
                c.commit_series(
                    &tenant,
                    vec![(labels("m", i), vec![Sample::new(1000, i as f64)])],
                    vec![],
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("acknowledged");
    }
    let segs = stored(&bucket, &tenant).await;
    assert_eq!(segs.len(), 1, "one segment for the whole window");
    assert_eq!(segs[0].series.len(), 20);
    assert_eq!(segs[0].num_samples, 20);
}

#[tokio::test]
async fn each_tenant_gets_its_own_segment_and_later_duplicates_win() {
    let bucket = Bucket::in_memory();
    let c = Committer::start(config(50), Sink::Bucket(bucket.clone()), metrics());
    let (a, b) = (
        TenantId::new("a").expect("a"),
        TenantId::new("b").expect("b"),
    );
    let l = labels("m", 0);
    let first = c.commit_series(
        &a,
        vec![(
            l.clone(),
            vec![Sample::new(2000, 1.0), Sample::new(1000, 1.0)],
        )],
        vec![],
    );
    let second = c.commit_series(&a, vec![(l.clone(), vec![Sample::new(2000, 2.0)])], vec![]);
    let other = c.commit_series(&b, vec![(l.clone(), vec![Sample::new(1000, 9.0)])], vec![]);
    let (r1, r2, r3) = tokio::join!(first, second, other);
    r1.and(r2).and(r3).expect("acknowledged");
    let segs = stored(&bucket, &a).await;
    assert_eq!(segs.len(), 1);
    assert_eq!(
        segs[0].series[0].samples,
        vec![Sample::new(1000, 1.0), Sample::new(2000, 2.0)]
    );
    assert_eq!(stored(&bucket, &b).await.len(), 1);
}

#[tokio::test]
async fn failed_writes_acknowledge_nothing() {
    let (store, bucket) = faulty_bucket();
    store.set_config(FaultConfig {
        fail_ratio: 1.0,
        ..FaultConfig::default()
    });
    let c = Committer::start(config(20), Sink::Bucket(bucket.clone()), metrics());
    let tenant = TenantId::anonymous();
    let err = c
        .commit_series(
            &tenant,
            vec![(labels("m", 0), vec![Sample::new(1, 1.0)])],
            vec![],
        )
        .await
        .expect_err("storage is down");
    assert!(matches!(err, CommitError::Storage(_)), "{err}");
    store.set_config(FaultConfig::default());
    assert!(stored(&bucket, &tenant).await.is_empty());
    c.commit_series(
        &tenant,
        vec![(labels("m", 0), vec![Sample::new(2, 1.0)])],
        vec![],
    )
    .await
    .expect("storage is back");
    let segs = stored(&bucket, &tenant).await;
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].series[0].samples, vec![Sample::new(2, 1.0)]);
}

#[tokio::test]
async fn stalled_storage_turns_into_overload_not_unbounded_memory() {
    let (store, bucket) = faulty_bucket();
    store.set_config(FaultConfig {
        stall_ratio: 1.0,
        stall: Duration::from_secs(5),
        ..FaultConfig::default()
    });
    let cfg = CommitConfig {
        window: Duration::from_millis(1),
        max_pending_samples: 10,
        ..CommitConfig::default()
    };
    let c = Committer::start(cfg, Sink::Bucket(bucket), metrics());
    let tenant = TenantId::anonymous();
    let batch = |n: usize| {
        (0..n)
            .map(|i| (labels("m", i), vec![Sample::new(1, 1.0)]))
            .collect::<Vec<_>>()
    };
    let c2 = c.clone();
    let t2 = tenant.clone();
    let first = tokio::spawn(async move { c2.commit_series(&t2, batch(8), vec![]).await });
    // Wait until the first batch is being written, then ask for more.
    for _ in 0..200 {
        if store.calls() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(store.calls() > 0, "first write started");
    let err = c
        .commit_series(&tenant, batch(8), vec![])
        .await
        .expect_err("over the limit");
    assert!(
        matches!(
            err,
            CommitError::Overloaded {
                pending: 8,
                limit: 10
            }
        ),
        "{err}"
    );
    let first = first
        .await
        .expect("task")
        .expect_err("stalled past the attempt timeout");
    assert!(matches!(first, CommitError::Storage(_)));
}

#[tokio::test]
async fn shutdown_writes_the_open_batch() {
    let bucket = Bucket::in_memory();
    let c = Committer::start(config(60_000), Sink::Bucket(bucket.clone()), metrics());
    let tenant = TenantId::anonymous();
    let c2 = c.clone();
    let t2 = tenant.clone();
    let pending = tokio::spawn(async move {
        c2.commit_series(
            &t2,
            vec![(labels("m", 0), vec![Sample::new(5, 5.0)])],
            vec![],
        )
        .await
    });
    while stored(&bucket, &tenant).await.is_empty() && !pending.is_finished() {
        if lock(&c.shared.pending).samples > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    c.shutdown().await;
    pending.await.expect("task").expect("flushed at shutdown");
    assert_eq!(stored(&bucket, &tenant).await.len(), 1);
    let late = c
        .commit_series(
            &tenant,
            vec![(labels("m", 0), vec![Sample::new(6, 1.0)])],
            vec![],
        )
        .await;
    assert_eq!(late, Err(CommitError::ShuttingDown));
}

#[tokio::test]
async fn wal_acknowledges_during_an_outage_and_uploads_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, bucket) = faulty_bucket();
    store.set_config(FaultConfig {
        fail_ratio: 1.0,
        writes_only: true,
        ..FaultConfig::default()
    });
    let m = metrics();
    let wal = Wal::open(dir.path(), bucket.clone(), m.clone())
        .await
        .expect("wal");
    let c = Committer::start(config(10), Sink::Wal(wal.clone()), m.clone());
    let tenant = TenantId::anonymous();
    c.commit_series(
        &tenant,
        vec![(labels("m", 0), vec![Sample::new(7, 7.0)])],
        vec![],
    )
    .await
    .expect("acknowledged from the WAL while the bucket is down");
    assert_eq!(m.wal_pending_segments.get(), 1);
    assert!(stored(&bucket, &tenant).await.is_empty());
    store.set_config(FaultConfig::default());
    c.shutdown().await; // drains the WAL now that the bucket works
    let segs = stored(&bucket, &tenant).await;
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].series[0].samples, vec![Sample::new(7, 7.0)]);
    assert_eq!(m.wal_pending_segments.get(), 0);
}

#[tokio::test]
async fn wal_left_by_a_crash_is_uploaded_on_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, bucket) = faulty_bucket();
    store.set_config(FaultConfig {
        fail_ratio: 1.0,
        ..FaultConfig::default()
    });
    let tenant = TenantId::new("t").expect("t");
    {
        let wal = Wal::open(dir.path(), bucket.clone(), metrics())
            .await
            .expect("wal");
        let c = Committer::start(config(5), Sink::Wal(wal), metrics());
        c.commit_series(
            &tenant,
            vec![(labels("m", 1), vec![Sample::new(8, 8.0)])],
            vec![],
        )
        .await
        .expect("acknowledged");
        // Dropped without shutdown: the process "crashed".
    }
    std::fs::write(
        dir.path()
            .join("t")
            .join("01ARZ3NDEKTSV4RRFFQ69G5FAV.seg.tmp"),
        b"half",
    )
    .expect("tmp");
    store.set_config(FaultConfig::default());
    let wal = Wal::open(dir.path(), bucket.clone(), metrics())
        .await
        .expect("reopen");
    wal.shutdown().await;
    let segs = stored(&bucket, &tenant).await;
    assert_eq!(
        segs.len(),
        1,
        "the acknowledged segment was replayed, the temporary file ignored"
    );
    assert_eq!(segs[0].series[0].samples, vec![Sample::new(8, 8.0)]);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("t"))
        .expect("dir")
        .collect();
    assert!(
        left.is_empty(),
        "uploaded and temporary files are removed: {left:?}"
    );
}
