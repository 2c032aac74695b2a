use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{LocalStore, RetryPolicy};

#[derive(Debug)]
enum TestError {
    Storage(StorageError),
    Refused(String),
}

impl From<StorageError> for TestError {
    fn from(e: StorageError) -> Self {
        TestError::Storage(e)
    }
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::Storage(e) => write!(f, "storage: {e}"),
            TestError::Refused(m) => f.write_str(m),
        }
    }
}

/// A local folder as a bucket, with short backoffs.
fn local_bucket(dir: &tempfile::TempDir) -> Bucket {
    let store = LocalStore::new(dir.path()).expect("local store");
    Bucket::local(
        Arc::new(store),
        RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            ..RetryPolicy::default()
        },
    )
}

/// A counter: its decimal text.
fn counter<'a>(bucket: &'a Bucket, key: &'a Path) -> Mutate<'a, u64, TestError> {
    Mutate::new(
        bucket,
        key,
        |key, bytes| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| TestError::Refused(format!("{key} holds no counter")))
        },
        |_, n: &u64| Ok(Bytes::from(n.to_string())),
    )
}

async fn read(bucket: &Bucket, key: &Path) -> String {
    let (bytes, _) = bucket.get(key).await.expect("get");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// Replaces the file behind `key` with `text` behind the bucket's back
/// (a new file renamed into place, so its ETag changes).
fn meddle(dir: &tempfile::TempDir, key: &Path, text: &str) {
    let target = dir.path().join(key.as_ref());
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    let staged = dir.path().join("meddle.tmp");
    std::fs::write(&staged, text).expect("write");
    std::fs::rename(&staged, &target).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_on_a_local_folder_all_land() {
    const PER_TASK: u32 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = local_bucket(&dir);
    let key = Path::from("counters/race");
    let lost = Arc::new(AtomicU32::new(0));
    let tasks = (0..2).map(|_| {
        let (bucket, key, lost) = (bucket.clone(), key.clone(), lost.clone());
        tokio::spawn(async move {
            for _ in 0..PER_TASK {
                // A write of ours is lost only to a write of the other
                // task, which makes PER_TASK of them: one more attempt
                // than that can never run out.
                let out = counter(&bucket, &key)
                    .attempts(PER_TASK + 1)
                    .run(|n| Ok(Mutation::write(n.unwrap_or(0) + 1)))
                    .await
                    .expect("increment");
                assert!(out.written.is_some() && out.version.is_some());
                lost.fetch_add(out.lost, Ordering::Relaxed);
            }
        })
    });
    for t in futures::future::join_all(tasks).await {
        t.expect("task");
    }
    assert_eq!(read(&bucket, &key).await, (2 * PER_TASK).to_string());
    eprintln!(
        "{} conditional writes lost and redone",
        lost.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn gives_up_after_the_bounded_attempts_naming_key_and_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = local_bucket(&dir);
    let key = Path::from("counters/busy");
    bucket
        .put(&key, Bytes::from_static(b"0"))
        .await
        .expect("seed");
    let mut calls = 0;
    let err = counter(&bucket, &key)
        .attempts(3)
        .run(|n| {
            calls += 1;
            // Another writer changes the object between our read and write.
            meddle(&dir, &key, &format!("{}", 1000 + calls));
            Ok(Mutation::write(n.unwrap_or(0) + 1))
        })
        .await
        .expect_err("every write loses");
    assert_eq!(calls, 3);
    assert!(
        matches!(&err, MutateError::Contention { key: k, attempts: 3 } if k == "counters/busy"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "counters/busy kept changing: 3 conditional writes in a row lost to other writers"
    );
    // Only the meddler's writes are there.
    assert_eq!(read(&bucket, &key).await, "1003");
}

#[tokio::test]
async fn once_makes_a_lost_write_the_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = local_bucket(&dir);
    let key = Path::from("claims/one");
    // Absent when read, created by someone else before our create-only
    // write.
    let attempt = counter(&bucket, &key)
        .once(|n| {
            assert_eq!(n, None);
            meddle(&dir, &key, "7");
            Ok(Mutation::Write(1, "claim"))
        })
        .await
        .expect("an answer");
    assert_eq!(attempt, Attempt::Lost { output: "claim" });
    assert_eq!(read(&bucket, &key).await, "7");

    // Present when read, changed before our if-match write.
    let attempt = counter(&bucket, &key)
        .once(|n| {
            assert_eq!(n, Some(7));
            meddle(&dir, &key, "8");
            Ok(Mutation::Write(1, "claim"))
        })
        .await
        .expect("an answer");
    assert_eq!(attempt, Attempt::Lost { output: "claim" });
    assert_eq!(read(&bucket, &key).await, "8");

    // Undisturbed, it writes.
    let attempt = counter(&bucket, &key)
        .once(|n| Ok(Mutation::Write(n.unwrap_or(0) + 1, "claim")))
        .await
        .expect("an answer");
    let (_, version) = bucket.get(&key).await.expect("get");
    assert_eq!(
        attempt,
        Attempt::Written {
            value: 9,
            version,
            output: "claim"
        }
    );
}

#[tokio::test]
async fn a_missing_object_is_created_and_unchanged_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = local_bucket(&dir);
    let key = Path::from("counters/new");
    let out = counter(&bucket, &key)
        .run(|n| Ok::<_, TestError>(Mutation::Unchanged(n)))
        .await
        .expect("unchanged");
    assert_eq!(
        (out.output, out.written, out.version, out.lost),
        (None, None, None, 0)
    );
    assert!(matches!(
        bucket.get(&key).await,
        Err(StorageError::NotFound { .. })
    ));

    let out = counter(&bucket, &key)
        .run(|n| Ok(Mutation::Write(41 + u64::from(n.is_none()), "created")))
        .await
        .expect("create");
    assert_eq!(
        (out.output, out.written, out.lost),
        ("created", Some(42), 0)
    );
    let (_, version) = bucket.get(&key).await.expect("get");
    assert_eq!(out.version, Some(version.clone()));
    assert_eq!(read(&bucket, &key).await, "42");

    // Unchanged reports the version read.
    let out = counter(&bucket, &key)
        .run(|n| Ok(Mutation::Unchanged(n)))
        .await
        .expect("unchanged");
    assert_eq!(
        (out.output, out.written, out.version),
        (Some(42), None, Some(version))
    );
}

#[tokio::test]
async fn refusals_and_unreadable_objects_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = local_bucket(&dir);
    let key = Path::from("counters/refused");
    bucket
        .put(&key, Bytes::from_static(b"5"))
        .await
        .expect("seed");
    let err = counter(&bucket, &key)
        .run(|_| Err::<Mutation<u64>, _>(TestError::Refused("no".into())))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, MutateError::Failed(TestError::Refused(m)) if m == "no"),
        "{err:?}"
    );
    assert_eq!(read(&bucket, &key).await, "5");

    bucket
        .put(&key, Bytes::from_static(b"five"))
        .await
        .expect("damage");
    let mut called = false;
    let err = counter(&bucket, &key)
        .run(|n| {
            called = true;
            Ok(Mutation::write(n.unwrap_or(0)))
        })
        .await
        .expect_err("unreadable");
    assert!(!called);
    assert_eq!(
        err.or_contention(|_, _| TestError::Refused("contention".into()))
            .to_string(),
        "counters/refused holds no counter"
    );
    assert_eq!(read(&bucket, &key).await, "five");
}

#[tokio::test]
async fn put_at_version_reports_lost_races() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = local_bucket(&dir);
    let key = Path::from("fenced/object");
    let Put::Written(v1) = put_at_version(&bucket, &key, None, Bytes::from_static(b"a"))
        .await
        .expect("create")
    else {
        panic!("the first create wins")
    };
    assert_eq!(
        put_at_version(&bucket, &key, None, Bytes::from_static(b"b"))
            .await
            .expect("second create"),
        Put::Lost
    );
    let Put::Written(_) = put_at_version(&bucket, &key, Some(&v1), Bytes::from_static(b"c"))
        .await
        .expect("update")
    else {
        panic!("an update at the version read wins")
    };
    assert_eq!(
        put_at_version(&bucket, &key, Some(&v1), Bytes::from_static(b"d"))
            .await
            .expect("stale update"),
        Put::Lost
    );
    assert_eq!(read(&bucket, &key).await, "c");
}
