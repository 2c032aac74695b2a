//! The notifier's objects in the bucket and their read-modify-write
//! ([`stratus_storage::mutate`]) with conditional writes. Formats: `docs/format/notifier.md`.
//!
//! ```text
//! tenants/<t>/notifier/alerts.json            the alert set
//! tenants/<t>/notifier/silences.json          the silences
//! tenants/<t>/notifier/nflog/<sha256>.json    one notification-log entry per
//!                                             (receiver, integration, group)
//! ```

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stratus_model::TenantId;
use stratus_storage::mutate::{put_at_version, Mutate, MutateError, Mutation, Put};
use stratus_storage::{keys, Bucket, ObjectPath, ObjectVersion, StorageError};

use crate::alert::StoredAlert;
use crate::silence::Silence;
use crate::{NotifierError, Result};

/// The format version every notifier object carries.
pub const FORMAT_VERSION: u32 = 1;
/// Conflicting writes tolerated before an update gives up.
pub const MAX_CAS_ATTEMPTS: u32 = 10;

/// `tenants/<t>/notifier/<parts...>`
fn notifier_key(t: &TenantId, parts: &[&str]) -> ObjectPath {
    let root = keys::tenant_root(t);
    let root_parts = root.parts().map(|p| p.as_ref().to_string());
    let ours = std::iter::once("notifier")
        .chain(parts.iter().copied())
        .map(str::to_string);
    ObjectPath::from_iter(root_parts.chain(ours))
}

/// `tenants/<t>/notifier/alerts.json`
pub fn alerts_key(t: &TenantId) -> ObjectPath {
    notifier_key(t, &["alerts.json"])
}

/// `tenants/<t>/notifier/silences.json`
pub fn silences_key(t: &TenantId) -> ObjectPath {
    notifier_key(t, &["silences.json"])
}

/// `tenants/<t>/notifier/nflog`: every notification-log entry is under it.
pub fn nflog_prefix(t: &TenantId) -> ObjectPath {
    notifier_key(t, &["nflog"])
}

/// `tenants/<t>/notifier/nflog/<hex sha256 of receiver, integration, group key>.json`
pub fn nflog_key(t: &TenantId, receiver: &str, integration: &str, group_key: &str) -> ObjectPath {
    let mut h = Sha256::new();
    for part in [receiver, integration, group_key] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    notifier_key(t, &["nflog", &format!("{hex}.json")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_tenant() {
        let t = TenantId::new("acme").expect("tenant");
        assert_eq!(alerts_key(&t).as_ref(), "tenants/acme/notifier/alerts.json");
        assert_eq!(
            silences_key(&t).as_ref(),
            "tenants/acme/notifier/silences.json"
        );
        let k = nflog_key(&t, "r", "webhook[0]", "{}:{}");
        assert!(
            k.as_ref().starts_with("tenants/acme/notifier/nflog/") && k.as_ref().ends_with(".json")
        );
        assert_ne!(k, nflog_key(&t, "r", "webhook[1]", "{}:{}"));
        assert!(k
            .as_ref()
            .starts_with(&format!("{}/", nflog_prefix(&t).as_ref())));
    }
}

pub trait Versioned {
    fn version(&self) -> u32;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertsDoc {
    pub version: u32,
    pub alerts: Vec<StoredAlert>,
}

impl Default for AlertsDoc {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            alerts: Vec::new(),
        }
    }
}

impl Versioned for AlertsDoc {
    fn version(&self) -> u32 {
        self.version
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilencesDoc {
    pub version: u32,
    pub silences: Vec<Silence>,
}

impl Default for SilencesDoc {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            silences: Vec::new(),
        }
    }
}

impl Versioned for SilencesDoc {
    fn version(&self) -> u32 {
        self.version
    }
}

/// A notifier document as stored: the format version checked, the
/// checksum line checked and removed.
fn decode<T: DeserializeOwned + Versioned>(key: &ObjectPath, bytes: &[u8]) -> Result<T> {
    let corrupt = |message: String| NotifierError::Corrupt {
        key: key.to_string(),
        message,
    };
    let text = stratus_storage::sealed::open(bytes).map_err(|e| corrupt(e.to_string()))?;
    let doc: T = serde_json::from_slice(text).map_err(|e| corrupt(e.to_string()))?;
    if doc.version() != FORMAT_VERSION {
        return Err(corrupt(format!(
            "expected format version {FORMAT_VERSION}, got {}",
            doc.version()
        )));
    }
    Ok(doc)
}

fn encode<T: Serialize>(key: &ObjectPath, doc: &T) -> Result<Bytes> {
    Ok(stratus_storage::sealed::seal(
        &serde_json::to_vec(doc).map_err(|e| NotifierError::Corrupt {
            key: key.to_string(),
            message: e.to_string(),
        })?,
    ))
}

/// Reads `key`; a missing object is `(None, None)`.
pub async fn load<T: DeserializeOwned + Versioned>(
    bucket: &Bucket,
    key: &ObjectPath,
) -> Result<(Option<T>, Option<ObjectVersion>)> {
    match bucket.get(key).await {
        Ok((bytes, version)) => Ok((Some(decode(key, &bytes)?), Some(version))),
        Err(StorageError::NotFound { .. }) => Ok((None, None)),
        Err(e) => Err(e.into()),
    }
}

/// The document at `key`, for a read-modify-write ([`Mutate`]) with
/// [`MAX_CAS_ATTEMPTS`] attempts.
pub fn object<'a, T>(bucket: &'a Bucket, key: &'a ObjectPath) -> Mutate<'a, T, NotifierError>
where
    T: DeserializeOwned + Serialize + Versioned + 'a,
{
    Mutate::new(bucket, key, decode, encode).attempts(MAX_CAS_ATTEMPTS)
}

/// A notifier error for a read-modify-write that did not finish.
pub fn mutate_error(e: MutateError<NotifierError>) -> NotifierError {
    e.or_contention(|key, attempts| NotifierError::Contention { key, attempts })
}

/// Writes `doc` only if `key` is still at `prev` (absent when `None`):
/// the writes fenced by a claim. `Ok(None)`: another writer got there
/// first.
pub async fn write<T: Serialize>(
    bucket: &Bucket,
    key: &ObjectPath,
    doc: &T,
    prev: Option<&ObjectVersion>,
) -> Result<Option<ObjectVersion>> {
    match put_at_version(bucket, key, prev, encode(key, doc)?).await? {
        Put::Written(v) => Ok(Some(v)),
        Put::Lost => Ok(None),
    }
}

/// Read-modify-write: `f` changes the document and says whether it did;
/// on a lost conditional write the object is re-read and `f` runs again.
pub async fn update<T, R, F>(bucket: &Bucket, key: &ObjectPath, mut f: F) -> Result<R>
where
    T: DeserializeOwned + Serialize + Versioned + Default,
    F: FnMut(&mut T) -> Result<(R, bool)>,
{
    object(bucket, key)
        .run(|doc: Option<T>| {
            let mut doc = doc.unwrap_or_default();
            let (out, changed) = f(&mut doc)?;
            Ok(if changed {
                Mutation::Write(doc, out)
            } else {
                Mutation::Unchanged(out)
            })
        })
        .await
        .map(|o| o.output)
        .map_err(mutate_error)
}
