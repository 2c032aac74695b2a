use prometheus_client::registry::Registry;
use stratus_storage::keys::segments_prefix;

use super::*;

fn metrics() -> IngestMetrics {
    IngestMetrics::new(&mut Registry::default())
}

fn key(tenant: &TenantId, n: u128) -> SegmentKey {
    SegmentKey::new(tenant.clone(), Ulid::from_parts(1_700_000_000_000, n))
}

/// An append writes `<ULID>.seg.tmp`, then renames it. The uploader,
/// woken by another append in between, must leave that file alone: it
/// used to delete every temporary it saw, and the append's rename then
/// failed (a spurious 503).
#[tokio::test]
async fn the_uploader_leaves_an_append_in_progress_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = Bucket::in_memory();
    let wal = Wal::open(dir.path(), bucket.clone(), metrics())
        .await
        .expect("wal");
    let tenant = TenantId::new("t").expect("tenant");
    wal.append(&key(&tenant, 1), Bytes::from_static(b"one"))
        .await
        .expect("append");
    // An append of this run, between its write and its rename.
    let tmp = dir
        .path()
        .join("t")
        .join(format!("{}{TMP_SUFFIX}", key(&tenant, 2).id()));
    std::fs::write(&tmp, b"two").expect("write");
    // What the upload loop does on each wake-up (it may find segment 1
    // still to upload, or the background loop may have done it already).
    let _ = wal.upload_pending(true).await;
    assert!(tmp.exists(), "the uploader removed an append in progress");
    let done = dir
        .path()
        .join("t")
        .join(format!("{}{SUFFIX}", key(&tenant, 2).id()));
    std::fs::rename(&tmp, &done).expect("the append's rename");
    wal.shutdown().await;
    let uploaded = bucket.list(&segments_prefix(&tenant)).await.expect("list");
    assert_eq!(uploaded.len(), 2, "{uploaded:?}");
}

/// Concurrent appends while the uploader runs all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_never_fail_while_uploading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = Bucket::in_memory();
    let wal = Wal::open(dir.path(), bucket.clone(), metrics())
        .await
        .expect("wal");
    let tenant = TenantId::new("t").expect("tenant");
    let senders = (0..4u128).map(|s| {
        let (wal, tenant) = (wal.clone(), tenant.clone());
        tokio::spawn(async move {
            for i in 0..100u128 {
                wal.append(&key(&tenant, s * 1000 + i), Bytes::from_static(b"x"))
                    .await?;
            }
            Ok::<_, std::io::Error>(())
        })
    });
    for r in futures::future::join_all(senders).await {
        r.expect("task").expect("every append succeeds");
    }
    wal.shutdown().await;
    let uploaded = bucket.list(&segments_prefix(&tenant)).await.expect("list");
    assert_eq!(uploaded.len(), 400);
}

/// Temporaries left by a run that died are removed when the WAL opens.
#[tokio::test]
async fn leftover_temporaries_are_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant_dir = dir.path().join("a*b");
    std::fs::create_dir_all(&tenant_dir).expect("mkdir");
    let tmp = tenant_dir.join(format!("{}{TMP_SUFFIX}", Ulid::from_parts(5, 5)));
    std::fs::write(&tmp, b"half").expect("write");
    let wal = Wal::open(dir.path(), Bucket::in_memory(), metrics())
        .await
        .expect("wal");
    assert!(!tmp.exists());
    wal.shutdown().await;
}
