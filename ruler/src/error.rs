//! The ruler service's errors.

use stratus_storage::StorageError;

use crate::rulefile::RuleFileErrors;

pub type Result<T, E = RulerError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum RulerError {
    /// An uploaded rule group failed validation; every problem, with lines.
    #[error("invalid rule group:\n{0}")]
    InvalidRules(RuleFileErrors),
    /// A request that can never succeed as sent (bad namespace name, ...).
    #[error("{0}")]
    BadRequest(String),
    #[error("rule namespace {namespace:?} not found")]
    NamespaceNotFound { namespace: String },
    #[error("rule group {group:?} not found in namespace {namespace:?}")]
    GroupNotFound { namespace: String, group: String },
    /// Other writers kept changing the object between our read and write.
    #[error("{key} kept changing under concurrent writes ({attempts} attempts), try again")]
    Contention { key: String, attempts: u32 },
    /// An object in the bucket is not what the ruler wrote.
    #[error("{key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl RulerError {
    /// Whether repeating the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RulerError::Contention { .. } => true,
            RulerError::Storage(e) => e.is_retryable(),
            _ => false,
        }
    }
}
