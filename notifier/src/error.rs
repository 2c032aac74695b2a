use stratus_storage::StorageError;

pub type Result<T, E = NotifierError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The configuration file could not be used; the message names the field.
    #[error("invalid notifier configuration: {0}")]
    Config(String),
    /// A request (alerts, silence) was not acceptable.
    #[error("{0}")]
    BadRequest(String),
    #[error("silence {0} not found")]
    SilenceNotFound(String),
    #[error("notifier state in {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
    /// Conditional writes kept losing against other writers.
    #[error("gave up updating {key} after {attempts} conflicting writes")]
    Contention { key: String, attempts: u32 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl NotifierError {
    /// Whether repeating the call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifierError::Contention { .. } => true,
            NotifierError::Storage(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// Why a delivery attempt failed, in the words of the metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct DeliveryError {
    /// `http_5xx`, `http_4xx`, `timeout`, `connect`, `smtp_4xx`, `smtp_5xx`, `io`, ...
    pub reason: &'static str,
    pub message: String,
    /// Whether another attempt may succeed (5xx, 429, timeouts, connection
    /// problems); other 4xx answers are not retried within a tick.
    pub retryable: bool,
}

impl DeliveryError {
    pub fn new(reason: &'static str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            reason,
            message: message.into(),
            retryable,
        }
    }
}
