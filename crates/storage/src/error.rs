use std::time::Duration;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error("object {key} already exists")]
    AlreadyExists { key: String },
    #[error("object {key} changed since it was read (conditional write lost)")]
    PreconditionFailed { key: String },
    #[error("storage {op} of {key} did not finish within {timeout:?}")]
    Timeout {
        op: &'static str,
        key: String,
        timeout: Duration,
    },
    #[error("storage {op} of {key} failed: {source}")]
    Backend {
        op: &'static str,
        key: String,
        retryable: bool,
        #[source]
        source: object_store::Error,
    },
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl StorageError {
    /// Whether repeating the same operation may succeed: true for timeouts
    /// and transport or server errors, false for missing objects, lost
    /// conditional writes, permission and configuration problems.
    pub fn is_retryable(&self) -> bool {
        match self {
            StorageError::Timeout { .. } => true,
            StorageError::Backend { retryable, .. } => *retryable,
            _ => false,
        }
    }

    pub(crate) fn from_store(op: &'static str, key: &str, err: object_store::Error) -> Self {
        use object_store::Error as E;
        let key = key.to_string();
        match err {
            E::NotFound { .. } => StorageError::NotFound { key },
            E::AlreadyExists { .. } => StorageError::AlreadyExists { key },
            E::Precondition { .. } => StorageError::PreconditionFailed { key },
            other => {
                let retryable = matches!(other, E::Generic { .. } | E::JoinError { .. });
                StorageError::Backend {
                    op,
                    key,
                    retryable,
                    source: other,
                }
            }
        }
    }
}
