use std::sync::Arc;

use bytes::Bytes;
use prometheus_client::registry::Registry;
use stratus_codec::SegmentBuilder;
use stratus_model::{Labels, Sample, SystemClock};
use stratus_storage::{FaultConfig, FaultyStore, InMemory, LocalStore, RetryPolicy};
use ulid::Ulid;

use super::*;

const H: i64 = 3_600_000;
/// The time of the test data: a fixed hour, so passes run at fixed times.
const T0: i64 = 1_700_000_000_000;

/// Writes one segment of `tenant` with a sample at `T0`.
async fn segment(bucket: &Bucket, tenant: &TenantId) {
    let mut b = SegmentBuilder::new(tenant);
    let labels = Labels::from_pairs([("__name__", "up"), ("job", "a")]).expect("labels");
    b.add_series(&labels, &[Sample::new(T0, 1.0)])
        .expect("series");
    let key = SegmentKey::new(tenant.clone(), Ulid::from_parts(T0 as u64, 1));
    bucket
        .put(&key.path(), Bytes::from(b.finish().expect("segment")))
        .await
        .expect("put");
}

fn compactor(bucket: Bucket) -> Compactor {
    Compactor::new(
        bucket,
        CompactorConfig::default(),
        CompactorMetrics::new(&mut Registry::default()),
    )
}

/// A bucket with tenants `boom`, which panics on every call about it,
/// and `fine`, with a segment to compact.
async fn panicking_on_boom() -> Bucket {
    let store = Arc::new(FaultyStore::new(
        Arc::new(InMemory::new()),
        FaultConfig::default(),
    ));
    let bucket = Bucket::new(store.clone(), RetryPolicy::default());
    let boom = TenantId::new("boom").expect("tenant");
    bucket
        .put(&tenant_root(&boom).join("x"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    segment(&bucket, &TenantId::new("fine").expect("tenant")).await;
    store.set_config(FaultConfig {
        panic_on_prefix: Some("tenants/boom/".into()),
        ..FaultConfig::default()
    });
    bucket
}

#[tokio::test]
async fn a_panicking_tenant_pass_is_counted_and_the_other_tenants_are_compacted() {
    let bucket = panicking_on_boom().await;
    let fine = TenantId::new("fine").expect("tenant");
    // `boom` sorts first: the pass must go on after it.
    let c = compactor(bucket.clone());
    let err = c
        .run_once(T0 + H)
        .await
        .expect_err("the panicking tenant is a failure of the pass");
    assert!(
        matches!(&err, CompactorError::Panic(m) if m.contains("injected panic")),
        "{err}"
    );
    assert_eq!(c.metrics.panics.get(), 1);
    let cat = catalog::load(&bucket, &fine)
        .await
        .expect("catalog")
        .catalog;
    assert_eq!(cat.blocks.len(), 1, "the next tenant was compacted");
}

#[tokio::test]
async fn the_loop_goes_on_after_a_panicking_pass() {
    let c = compactor(panicking_on_boom().await);
    let runs = c.metrics.runs.clone();
    // Stops once three passes are done; each one panicked in `boom`.
    let stop = async move {
        while runs.get() < 3 {
            tokio::task::yield_now().await;
        }
    };
    c.run_loop(Duration::from_millis(1), &SystemClock, stop)
        .await;
    assert!(c.metrics.runs.get() >= 3);
    assert!(c.metrics.panics.get() >= 3, "{}", c.metrics.panics.get());
}

/// Sets a file's modification time `age` into the past.
fn age(path: &std::path::Path, age: Duration) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(std::time::SystemTime::now() - age)
        .expect("set mtime");
}

/// A SIGKILL between `LocalFileSystem`'s staging write and its rename
/// leaves `<key>#1`; the compactor removes such files once they are older
/// than any upload in flight, and counts them.
#[tokio::test]
async fn staging_files_of_killed_uploads_are_removed_once_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = Arc::new(LocalStore::new(dir.path()).expect("local store"));
    let bucket = Bucket::local(local, RetryPolicy::default());
    let t = TenantId::new("a*b").expect("tenant");
    segment(&bucket, &t).await;
    let segments = dir.path().join("tenants").join("a%2Ab").join("segments");
    assert!(segments.is_dir(), "{}", segments.display());
    let old = segments.join(format!("{}.seg#1", Ulid::from_parts(T0 as u64, 2)));
    let young = segments.join(format!("{}.seg#1", Ulid::from_parts(T0 as u64, 3)));
    let catalog_old = dir
        .path()
        .join("tenants")
        .join("a%2Ab")
        .join("catalog.stc#2");
    for f in [&old, &young, &catalog_old] {
        std::fs::write(f, b"half a segment").expect("write");
    }
    age(&old, Duration::from_secs(2 * 3600));
    age(&catalog_old, Duration::from_secs(2 * 3600));
    // Never listed: nothing but the compactor would ever find them.
    let listed = bucket.list(&tenant_root(&t)).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");

    let c = compactor(bucket.clone());
    let report = c.run_once(T0 + H).await.expect("pass");
    assert_eq!(report.staging_files_removed, 2, "{report:?}");
    assert_eq!(c.metrics.staging_files_removed.get(), 2);
    assert!(!old.exists() && !catalog_old.exists());
    assert!(young.exists(), "an upload in flight keeps its file");
    // The tenant (its id needs escaping) was compacted as well.
    let cat = catalog::load(&bucket, &t).await.expect("catalog").catalog;
    assert_eq!(cat.blocks.len(), 1);
}
