//! How failures to read stored data are answered: 503 `unavailable` when
//! a retry may help, 500 `internal` for unreadable data, with the object's
//! key kept for the log.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use super::respond::fail;
use crate::error::{QueryError, StorageFaultKind};
use crate::source::SourceError;

async fn answer(e: QueryError) -> (StatusCode, Value) {
    let resp = fail(e);
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

#[tokio::test]
async fn a_retryable_bucket_failure_is_unavailable_with_its_key() {
    let key = "tenants/t1/segments/01J0000000000000000000000A.seg";
    let e: QueryError = SourceError::Storage(stratus_storage::StorageError::Timeout {
        op: "get",
        key: key.to_string(),
        timeout: Duration::from_secs(5),
    })
    .into();
    let QueryError::Storage(fault) = &e else {
        panic!("not a storage error: {e:?}");
    };
    assert_eq!(fault.kind, StorageFaultKind::Retryable);
    assert_eq!(fault.key.as_deref(), Some(key));
    assert!(fault.detail.contains(key), "{}", fault.detail);
    assert_eq!((e.status(), e.error_type()), (503, "unavailable"));

    let (status, body) = answer(e).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errorType"], "unavailable");
    assert_eq!(body["status"], "error");
}

#[tokio::test]
async fn a_corrupt_object_is_internal_with_its_key() {
    let key = "tenants/t1/blocks/01J0000000000000000000000B.parquet";
    let e: QueryError = SourceError::corrupt(key, format!("block {key}: bad footer")).into();
    let QueryError::Storage(fault) = &e else {
        panic!("not a storage error: {e:?}");
    };
    assert_eq!(fault.kind, StorageFaultKind::Corrupt);
    assert_eq!(fault.key.as_deref(), Some(key));
    assert_eq!((e.status(), e.error_type()), (500, "internal"));
    // Clone and PartialEq still hold.
    assert_eq!(e.clone(), e);

    let (status, body) = answer(e).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["errorType"], "internal");
}

#[tokio::test]
async fn a_bucket_refusal_is_internal() {
    let e: QueryError = stratus_storage::StorageError::NotFound {
        key: "tenants/t1/catalog.stc".to_string(),
    }
    .into();
    assert_eq!((e.status(), e.error_type()), (500, "internal"));
    let QueryError::Storage(fault) = &e else {
        panic!("not a storage error: {e:?}");
    };
    assert_eq!(fault.key.as_deref(), Some("tenants/t1/catalog.stc"));
}
