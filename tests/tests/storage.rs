//! One storage test suite, run against every backend a user can choose:
//! memory, a local folder, and S3 (a real emulator, moto).

use std::sync::Arc;

use bytes::Bytes;
use stratus_model::TenantId;
use stratus_storage::keys::{segments_prefix, tenants_root};
use stratus_storage::{
    Bucket, ObjectPath, SegmentKey, StorageBackend, StorageConfig, StorageError,
};
use stratus_tests::s3::S3Emulator;
use ulid::Ulid;

/// Folder names a local folder can hold (ext4, xfs, tmpfs: 255 bytes).
const LOCAL_NAME_MAX: usize = 255;

async fn suite(bucket: Bucket, name_max: Option<usize>) {
    round_trip_and_ranges(&bucket).await;
    listing(&bucket).await;
    tenant_folders(&bucket, name_max).await;
    create_only(&bucket).await;
    if_match(&bucket).await;
    create_only_race(&bucket).await;
    if_match_race(&bucket).await;
    deletes(&bucket).await;
}

async fn round_trip_and_ranges(b: &Bucket) {
    let key = ObjectPath::from("tenants/t1/misc/obj");
    let data = Bytes::from((0..=255u8).collect::<Vec<_>>());
    b.put(&key, data.clone()).await.expect("put");
    let (got, version) = b.get(&key).await.expect("get");
    assert_eq!(got, data);
    assert!(version.e_tag.is_some(), "every backend returns an etag");
    assert_eq!(
        b.get_range(&key, 10..20).await.expect("range").as_ref(),
        &data[10..20]
    );
    let info = b.head(&key).await.expect("head");
    assert_eq!(info.size, 256);
    assert_eq!(info.version.e_tag, version.e_tag);
    let missing = b.get(&ObjectPath::from("tenants/t1/misc/none")).await;
    assert!(
        matches!(missing, Err(StorageError::NotFound { .. })),
        "{missing:?}"
    );
}

async fn listing(b: &Bucket) {
    let tenant = TenantId::new("lister").expect("tenant");
    let mut keys: Vec<SegmentKey> = (0..25u64)
        .map(|i| SegmentKey::new(tenant.clone(), Ulid::from_parts(1_700_000_000_000 + i, 7)))
        .collect();
    // Written out of order; listings come back sorted.
    keys.reverse();
    for k in &keys {
        b.put(&k.path(), Bytes::from_static(b"seg"))
            .await
            .expect("put");
    }
    keys.reverse();
    let listed = b.list(&segments_prefix(&tenant)).await.expect("list");
    let parsed: Vec<SegmentKey> = listed
        .iter()
        .filter_map(|o| SegmentKey::parse(&o.key))
        .collect();
    assert_eq!(parsed, keys);
    let after = b
        .list_after(&segments_prefix(&tenant), &keys[19].path())
        .await
        .expect("list after");
    let parsed: Vec<SegmentKey> = after
        .iter()
        .filter_map(|o| SegmentKey::parse(&o.key))
        .collect();
    assert_eq!(parsed, keys[20..]);
    let tenants = b.list_dirs(&tenants_root()).await.expect("dirs");
    assert!(tenants.contains(&"lister".to_string()), "{tenants:?}");
    assert!(tenants.contains(&"t1".to_string()), "{tenants:?}");
}

/// Every character Mimir allows in a tenant id.
const MIMIR_ALPHABET: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!-_.*'()";

/// Tenant ids over Mimir's whole alphabet, up to 150 bytes, are written
/// and found again: by tenant discovery, and in the keys listed under
/// them. Ids whose folder name a local folder cannot hold (more than 52
/// `*` in a 150-byte id) are left out there.
async fn tenant_folders(b: &Bucket, name_max: Option<usize>) {
    let mut ids: Vec<String> = MIMIR_ALPHABET
        .chars()
        .filter(|c| *c != '.')
        .map(String::from)
        .collect();
    for len in [2, 3, 10, 69, 70, 71, 149, 150] {
        ids.push(MIMIR_ALPHABET.chars().cycle().skip(len).take(len).collect());
    }
    ids.extend(["*".into(), "**".into(), "*".repeat(52), "*".repeat(150)]);
    ids.extend(["...".into(), ".*".into(), "__x".into(), "a*b".into()]);
    let mut written = Vec::new();
    for id in &ids {
        let tenant = TenantId::new(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
        let dir = stratus_storage::keys::tenant_dir(&tenant);
        if name_max.is_some_and(|max| dir.len() > max) {
            continue;
        }
        let key = SegmentKey::new(tenant.clone(), Ulid::from_parts(1_700_000_000_000, 9));
        b.put(&key.path(), Bytes::from_static(b"seg"))
            .await
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
        let listed = b.list(&segments_prefix(&tenant)).await.expect("list");
        let parsed: Vec<SegmentKey> = listed
            .iter()
            .filter_map(|o| SegmentKey::parse(&o.key))
            .collect();
        assert_eq!(parsed, vec![key], "{id:?}");
        written.push(tenant);
    }
    assert!(
        written.len() > ids.len() - 3,
        "{} of {}",
        written.len(),
        ids.len()
    );
    let found = b.tenants().await.expect("tenants");
    for t in &written {
        assert!(found.contains(t), "{t} not found among {found:?}");
    }
    // A folder written before the escaping was written down, through
    // `object_store`'s own encoding of `*`, is the same folder.
    let legacy = ObjectPath::from_iter(["tenants", "legacy*star", "catalog.stc"]);
    b.put(&legacy, Bytes::from_static(b"x")).await.expect("put");
    let legacy_tenant = TenantId::new("legacy*star").expect("tenant");
    assert!(b.tenants().await.expect("tenants").contains(&legacy_tenant));
    assert_eq!(stratus_storage::keys::catalog(&legacy_tenant), legacy);
}

async fn create_only(b: &Bucket) {
    let key = ObjectPath::from("tenants/t1/catalog-create");
    b.put_if_absent(&key, Bytes::from_static(b"first"))
        .await
        .expect("first create");
    let second = b.put_if_absent(&key, Bytes::from_static(b"second")).await;
    assert!(
        matches!(second, Err(StorageError::AlreadyExists { .. })),
        "{second:?}"
    );
    assert_eq!(b.get(&key).await.expect("get").0.as_ref(), b"first");
}

async fn if_match(b: &Bucket) {
    let key = ObjectPath::from("tenants/t1/catalog-update");
    let v1 = b
        .put_if_absent(&key, Bytes::from_static(b"v1"))
        .await
        .expect("create");
    let (_, read_v1) = b.get(&key).await.expect("get");
    assert_eq!(read_v1.e_tag, v1.e_tag);
    let v2 = b
        .put_if_match(&key, Bytes::from_static(b"v2"), &v1)
        .await
        .expect("update from v1");
    assert_ne!(v2.e_tag, v1.e_tag);
    let stale = b.put_if_match(&key, Bytes::from_static(b"v3"), &v1).await;
    assert!(
        matches!(stale, Err(StorageError::PreconditionFailed { .. })),
        "{stale:?}"
    );
    assert_eq!(b.get(&key).await.expect("get").0.as_ref(), b"v2");
    let absent = ObjectPath::from("tenants/t1/never-written");
    let r = b.put_if_match(&absent, Bytes::from_static(b"x"), &v1).await;
    assert!(
        matches!(
            r,
            Err(StorageError::PreconditionFailed { .. } | StorageError::NotFound { .. })
        ),
        "{r:?}"
    );
}

async fn create_only_race(b: &Bucket) {
    let key = ObjectPath::from("tenants/t1/race-create");
    let tasks: Vec<_> = (0..12u8)
        .map(|i| {
            let (b, key) = (b.clone(), key.clone());
            tokio::spawn(async move { b.put_if_absent(&key, Bytes::from(vec![i])).await.is_ok() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.expect("task"));
    }
    assert_eq!(wins, 1, "exactly one create-only writer wins");
}

async fn if_match_race(b: &Bucket) {
    let key = ObjectPath::from("tenants/t1/race-update");
    let base = b
        .put(&key, Bytes::from_static(b"base"))
        .await
        .expect("base");
    let base = Arc::new(base);
    let tasks: Vec<_> = (0..12u8)
        .map(|i| {
            let (b, key, base) = (b.clone(), key.clone(), base.clone());
            tokio::spawn(async move {
                b.put_if_match(&key, Bytes::from(vec![i]), &base)
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.expect("task"));
    }
    assert_eq!(wins, 1, "exactly one if-match writer wins");
}

async fn deletes(b: &Bucket) {
    let key = ObjectPath::from("tenants/t1/misc/doomed");
    b.put(&key, Bytes::from_static(b"x")).await.expect("put");
    b.delete(&key).await.expect("delete");
    assert!(matches!(
        b.head(&key).await,
        Err(StorageError::NotFound { .. })
    ));
    b.delete(&key)
        .await
        .expect("deleting a missing object succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend() {
    suite(Bucket::in_memory(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_folder_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StorageConfig {
        backend: StorageBackend::Local,
        data_dir: dir.path().join("bucket"),
        ..StorageConfig::default()
    };
    suite(
        Bucket::from_config(&config).expect("local bucket"),
        Some(LOCAL_NAME_MAX),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_backend_on_emulator() {
    let emu = S3Emulator::start().expect("S3 emulator");
    emu.create_bucket("suite").await.expect("bucket");
    suite(
        Bucket::from_config(&emu.storage_config("suite")).expect("s3 bucket"),
        None,
    )
    .await;
}

/// Two processes sharing a data folder serialise their if-match writes
/// through the folder's lock file: simulated here with two independent
/// stores on the same folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_if_match_is_safe_across_store_instances() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StorageConfig {
        data_dir: dir.path().to_path_buf(),
        ..StorageConfig::default()
    };
    let a = Bucket::from_config(&config).expect("a");
    let b = Bucket::from_config(&config).expect("b");
    let key = ObjectPath::from("tenants/t/catalog");
    let base = a.put(&key, Bytes::from_static(b"0")).await.expect("base");
    let (ra, rb) = tokio::join!(
        a.put_if_match(&key, Bytes::from_static(b"a"), &base),
        b.put_if_match(&key, Bytes::from_static(b"b"), &base)
    );
    assert_eq!(
        usize::from(ra.is_ok()) + usize::from(rb.is_ok()),
        1,
        "{ra:?} {rb:?}"
    );
}
