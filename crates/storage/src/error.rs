use std::time::Duration;

use tracing::warn;

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

/// What went wrong with the bucket, in the terms an answer to a client
/// uses (the backend's own text names files, hosts and error chains that
/// mean nothing to a client; it goes to the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No space left: a full disk under a local folder, a quota.
    Full,
    /// The bucket could not be reached, or failed on its side (connection
    /// errors, 5xx answers).
    Unreachable,
    /// The bucket answered and refused: permissions, a request it does
    /// not support.
    Refused,
    /// No answer within the attempt timeout.
    TimedOut,
    /// An object Stratus expected is not in the bucket.
    Missing,
    /// A conditional write lost against another writer.
    Conflict,
    /// Stratus's storage configuration is not usable.
    Misconfigured,
}

impl Failure {
    /// The sentence a client sees.
    pub fn sentence(self) -> &'static str {
        match self {
            Failure::Full => "the bucket is full",
            Failure::Unreachable => "the bucket is unreachable",
            Failure::Refused => "the bucket refused the request",
            Failure::TimedOut => "the bucket did not answer in time",
            Failure::Missing => "an object is missing from the bucket",
            Failure::Conflict => "an object in the bucket was changed by another writer",
            Failure::Misconfigured => "the storage configuration is not usable",
        }
    }
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

    /// The object key the failed call was about (`None` for configuration
    /// errors).
    pub fn key(&self) -> Option<&str> {
        match self {
            StorageError::NotFound { key }
            | StorageError::AlreadyExists { key }
            | StorageError::PreconditionFailed { key }
            | StorageError::Timeout { key, .. }
            | StorageError::Backend { key, .. } => Some(key),
            StorageError::Config(_) => None,
        }
    }

    /// What kind of failure this is, from the error and its sources (an
    /// `io::Error` of a local folder, the HTTP client's error kinds, the
    /// status an S3-compatible store answered).
    pub fn failure(&self) -> Failure {
        match self {
            StorageError::NotFound { .. } => Failure::Missing,
            StorageError::AlreadyExists { .. } | StorageError::PreconditionFailed { .. } => {
                Failure::Conflict
            }
            StorageError::Timeout { .. } => Failure::TimedOut,
            StorageError::Config(_) => Failure::Misconfigured,
            StorageError::Backend {
                source, retryable, ..
            } => backend_failure(source, *retryable),
        }
    }

    /// The sentence an HTTP answer carries for this error: what failed, in
    /// Stratus's terms ("a write to the bucket failed: the bucket is
    /// full"), never the backend's text. Every answer that reports a
    /// storage error goes through here; the full error, with its object
    /// key, is logged here at `warn`.
    pub fn client_message(&self) -> String {
        let message = format!("{} failed: {}", self.action(), self.failure().sentence());
        match self.key() {
            Some(key) => warn!(key, error = %self, answer = %message, "storage error"),
            None => warn!(error = %self, answer = %message, "storage error"),
        }
        message
    }

    /// The operation, as a client would name it.
    fn action(&self) -> &'static str {
        let op = match self {
            StorageError::Timeout { op, .. } | StorageError::Backend { op, .. } => *op,
            StorageError::NotFound { .. } => "get",
            StorageError::AlreadyExists { .. } | StorageError::PreconditionFailed { .. } => "put",
            StorageError::Config(_) => return "opening the bucket",
        };
        match op {
            "get" | "get_range" | "head" => "a read from the bucket",
            "list" => "a listing of the bucket",
            "delete" => "a delete in the bucket",
            _ => "a write to the bucket",
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

/// Classifies a backend error by what its source chain holds.
fn backend_failure(err: &object_store::Error, retryable: bool) -> Failure {
    use object_store::Error as E;
    match err {
        E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::InvalidPath { .. }
        | E::NotModified { .. } => return Failure::Refused,
        E::UnknownConfigurationKey { .. } => return Failure::Misconfigured,
        _ => {}
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(f) = e.downcast_ref::<std::io::Error>().and_then(io_failure) {
            return f;
        }
        if let Some(h) = e.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            return match h.kind() {
                K::Timeout => Failure::TimedOut,
                _ => Failure::Unreachable,
            };
        }
        if let Some(f) = status_failure(&e.to_string()) {
            return f;
        }
        next = e.source();
    }
    if retryable {
        Failure::Unreachable
    } else {
        Failure::Refused
    }
}

/// What an `io::Error` of a local folder means.
fn io_failure(e: &std::io::Error) -> Option<Failure> {
    use std::io::ErrorKind as K;
    // ENOSPC and EDQUOT on Linux, for kinds std maps otherwise.
    if matches!(e.raw_os_error(), Some(28 | 122)) {
        return Some(Failure::Full);
    }
    Some(match e.kind() {
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => Failure::Full,
        K::PermissionDenied | K::ReadOnlyFilesystem => Failure::Refused,
        K::TimedOut => Failure::TimedOut,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown
        | K::AddrNotAvailable
        | K::BrokenPipe => Failure::Unreachable,
        _ => return None,
    })
}

/// The HTTP status an S3-compatible store answered, as `object_store`
/// words it ("Server returned non-2xx status code: 507 ..."): its retry
/// error type, which has the status, is not public.
fn status_failure(text: &str) -> Option<Failure> {
    let (_, rest) = text.split_once("status code: ")?;
    let status: u16 = rest.get(..3)?.parse().ok()?;
    Some(match status {
        507 => Failure::Full,
        408 | 504 => Failure::TimedOut,
        400..=499 => Failure::Refused,
        500..=599 => Failure::Unreachable,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
