//! Where the bucket is. The same names are used by flags, environment
//! variables and the config file (see the `stratus` CLI).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Result, RetryPolicy, StorageError};

/// Which kind of object store backs the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A local folder (`data_dir`): the embedded default.
    #[default]
    Local,
    /// S3 or any S3-compatible store.
    S3,
    /// Process memory; gone at exit. For tests.
    Memory,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Folder holding the bucket when `backend = "local"`.
    pub data_dir: PathBuf,
    pub s3: S3Config,
    pub retry: RetryPolicy,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            data_dir: PathBuf::from("./data"),
            s3: S3Config::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// S3 settings. Credentials follow the AWS chain (environment variables,
/// web identity, ECS task role, instance metadata) unless given here.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` when empty, else `us-east-1`.
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store, e.g. `http://127.0.0.1:4566`.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most emulators.
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Time limit of one HTTP request.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub request_timeout: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            region: None,
            endpoint: None,
            path_style: false,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Never prints secrets.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl StorageConfig {
    pub fn validate(&self) -> Result<()> {
        match self.backend {
            StorageBackend::Local if self.data_dir.as_os_str().is_empty() => {
                Err(StorageError::Config(
                    "data_dir is empty; give the folder that holds the bucket".into(),
                ))
            }
            StorageBackend::S3 if self.s3.bucket.is_empty() => Err(StorageError::Config(
                "storage backend is s3 but no bucket name was given (s3.bucket / --s3-bucket)"
                    .into(),
            )),
            _ if self.retry.max_attempts == 0 => Err(StorageError::Config(
                "retry.max_attempts is 0; it counts the first attempt, so at least 1".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_missing_setting() {
        let mut c = StorageConfig {
            backend: StorageBackend::S3,
            ..StorageConfig::default()
        };
        let err = c.validate().expect_err("no bucket").to_string();
        assert!(err.contains("--s3-bucket"), "{err}");
        c.s3.bucket = "b".into();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = S3Config {
            secret_access_key: Some("hunter2".into()),
            ..S3Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
