//! Query errors, mapped to Prometheus's API error types.

use std::sync::Arc;

/// What kind of storage failure a [`StorageFault`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFaultKind {
    /// The bucket failed in a way a retry may get past: `unavailable`,
    /// HTTP 503.
    Retryable,
    /// The bucket failed for good (refused, missing, misconfigured):
    /// `internal`, HTTP 500.
    Failed,
    /// An object was read but cannot be decoded: `internal`, HTTP 500.
    Corrupt,
}

/// A failure to read stored data, with what the client is told apart from
/// what the log needs: the object and the full error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFault {
    pub kind: StorageFaultKind,
    /// What the client is told.
    pub message: String,
    /// The object the failure is about, when known.
    pub key: Option<String>,
    /// The whole error, for the log.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query is malformed: `bad_data`, HTTP 400.
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed: `execution`, HTTP 422.
    #[error("{0}")]
    Execution(String),
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// No evaluation turn came free before the deadline
    /// (`--query-max-concurrency`).
    #[error("query timed out in query queue")]
    QueueTimeout,
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error(
        "query would return more than {limit} series; narrow the selectors or raise the limit"
    )]
    TooManySeries { limit: usize },
    /// Stored data could not be read: `unavailable`, HTTP 503, when a
    /// retry may help, else `internal`, HTTP 500 (unreadable, refused).
    /// Storage errors arrive through [`From<StorageError>`], which words
    /// them for the client and keeps the key and whole error for the log.
    ///
    /// [`From<StorageError>`]: stratus_storage::StorageError
    #[error("{}", .0.message)]
    Storage(Arc<StorageFault>),
    /// A fault of Stratus itself (a bug): `internal`, HTTP 500.
    #[error("{0}")]
    Internal(String),
    /// A feature that is switched off, or a component (pool, memory)
    /// refusing for now: `unavailable`, HTTP 503.
    #[error("{0}")]
    Unavailable(String),
    /// The request names no usable tenant: 401, 400 or 403 as
    /// [`stratus_http::tenant`] decides, the same on every route.
    #[error("{0}")]
    Tenant(#[from] stratus_http::TenantRejection),
}

impl From<stratus_storage::StorageError> for QueryError {
    /// What failed, in Stratus's terms ([`StorageError::client_message`],
    /// which logs the detail): 503 when a retry may help, else 500.
    ///
    /// [`StorageError::client_message`]: stratus_storage::StorageError::client_message
    fn from(e: stratus_storage::StorageError) -> Self {
        QueryError::Storage(Arc::new(StorageFault {
            kind: if e.is_retryable() {
                StorageFaultKind::Retryable
            } else {
                StorageFaultKind::Failed
            },
            message: e.client_message(),
            key: e.key().map(str::to_string),
            detail: e.to_string(),
        }))
    }
}

impl From<crate::source::SourceError> for QueryError {
    fn from(e: crate::source::SourceError) -> Self {
        match e {
            crate::source::SourceError::Storage(s) => s.into(),
            crate::source::SourceError::Corrupt { key, message } => {
                QueryError::corrupt(key, message)
            }
            crate::source::SourceError::Unavailable(m) => QueryError::Unavailable(m),
        }
    }
}

impl QueryError {
    pub fn bad(msg: impl Into<String>) -> Self {
        QueryError::BadData(msg.into())
    }

    pub fn exec(msg: impl Into<String>) -> Self {
        QueryError::Execution(msg.into())
    }

    /// Stored data (the object at `key`, when known) cannot be decoded:
    /// `internal`, HTTP 500, with `message` for the client.
    pub fn corrupt(key: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        QueryError::Storage(Arc::new(StorageFault {
            kind: StorageFaultKind::Corrupt,
            detail: message.clone(),
            message,
            key,
        }))
    }

    /// The `errorType` of Prometheus's API.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_)
            | QueryError::TooManySamples
            | QueryError::TooManySeries { .. } => "execution",
            QueryError::Timeout | QueryError::QueueTimeout => "timeout",
            QueryError::Storage(f) if f.kind == StorageFaultKind::Retryable => "unavailable",
            QueryError::Storage(_) | QueryError::Internal(_) => "internal",
            QueryError::Unavailable(_) => "unavailable",
            QueryError::Tenant(r) => match r.status().as_u16() {
                401 => "unauthorized",
                403 => "forbidden",
                _ => "bad_data",
            },
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Execution(_)
            | QueryError::TooManySamples
            | QueryError::TooManySeries { .. } => 422,
            QueryError::Timeout | QueryError::QueueTimeout => 503,
            QueryError::Storage(f) if f.kind == StorageFaultKind::Retryable => 503,
            QueryError::Storage(_) | QueryError::Internal(_) => 500,
            QueryError::Unavailable(_) => 503,
            QueryError::Tenant(r) => r.status().as_u16(),
        }
    }
}
