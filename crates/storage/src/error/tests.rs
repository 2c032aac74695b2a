use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path;

use super::*;
use crate::{Bucket, FaultConfig, FaultyStore, InjectedFailure, RetryPolicy};

/// A bucket whose every call fails as `config` says, without retries.
fn failing(config: FaultConfig) -> Bucket {
    let store = FaultyStore::new(Arc::new(InMemory::new()), config);
    Bucket::new(
        Arc::new(store),
        RetryPolicy {
            attempt_timeout: Duration::from_millis(50),
            ..RetryPolicy::no_retries()
        },
    )
}

fn fail_with(kind: InjectedFailure) -> FaultConfig {
    FaultConfig {
        fail_ratio: 1.0,
        fail_with: kind,
        ..FaultConfig::default()
    }
}

/// What a client would read must not name the backend or its internals.
fn assert_clean(message: &str) {
    for internal in [
        "Generic",
        "LocalFileSystem",
        "FaultyStore",
        "Unable to copy",
        "os error",
        "injected",
        "tenants/",
        "403",
    ] {
        assert!(
            !message.contains(internal),
            "{message:?} shows {internal:?}"
        );
    }
}

#[tokio::test]
async fn a_full_disk_is_reported_as_a_full_bucket() {
    let b = failing(fail_with(InjectedFailure::Full));
    let err = b
        .put(
            &Path::from("tenants/t/segments/x.seg"),
            Bytes::from_static(b"x"),
        )
        .await
        .expect_err("full");
    // The error itself keeps the detail, for the log.
    assert!(
        err.to_string().contains("Unable to copy data to file"),
        "{err}"
    );
    assert_eq!(err.failure(), Failure::Full);
    let m = err.client_message();
    assert_eq!(m, "a write to the bucket failed: the bucket is full");
    assert_clean(&m);
}

#[tokio::test]
async fn each_failure_has_its_sentence() {
    let key = Path::from("tenants/t/catalog.stc");
    let cases = [
        (
            fail_with(InjectedFailure::Unreachable),
            "a read from the bucket failed: the bucket is unreachable",
        ),
        (
            fail_with(InjectedFailure::Denied),
            "a read from the bucket failed: the bucket refused the request",
        ),
        (
            FaultConfig {
                stall_ratio: 1.0,
                stall: Duration::from_secs(5),
                ..FaultConfig::default()
            },
            "a read from the bucket failed: the bucket did not answer in time",
        ),
    ];
    for (config, want) in cases {
        let err = failing(config).get(&key).await.expect_err("failing");
        let m = err.client_message();
        assert_eq!(m, want, "{err}");
        assert_clean(&m);
    }
    let missing = Bucket::in_memory().get(&key).await.expect_err("missing");
    assert_eq!(
        missing.client_message(),
        "a read from the bucket failed: an object is missing from the bucket"
    );
    let listing = failing(fail_with(InjectedFailure::Unreachable))
        .list(&Path::from("tenants"))
        .await
        .expect_err("failing");
    assert_eq!(
        listing.client_message(),
        "a listing of the bucket failed: the bucket is unreachable"
    );
}

#[test]
fn statuses_of_s3_compatible_stores_are_classified() {
    let generic = |text: &str| object_store::Error::Generic {
        store: "S3",
        source: text.to_string().into(),
    };
    for (text, want) in [
        (
            "Error performing PUT http://s3/b/k in 3ms - Server returned non-2xx status code: 507 Insufficient Storage: ",
            Failure::Full,
        ),
        (
            "Error performing PUT http://s3/b/k in 3ms - Server returned non-2xx status code: 500 Internal Server Error: ",
            Failure::Unreachable,
        ),
        (
            "Error performing PUT http://s3/b/k in 3ms - Server returned non-2xx status code: 400 Bad Request: ",
            Failure::Refused,
        ),
        ("connection closed before message completed", Failure::Unreachable),
    ] {
        let err = StorageError::from_store("put", "k", generic(text));
        assert_eq!(err.failure(), want, "{text}");
    }
}
