//! The stored state of one rule group: one JSON object per (tenant,
//! namespace, group), read at the start of an invocation and replaced
//! only with conditional writes. Format: `docs/format/ruler.md`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stratus_model::TenantId;
use stratus_storage::mutate::{put_at_version, Mutate};
use stratus_storage::{Bucket, ObjectPath, ObjectVersion, StorageError};

use crate::error::{Result, RulerError};
use crate::group::GroupState;
use crate::keys;

/// The version of [`StoredGroup`] this code writes and reads.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// A ruler working on a group's slots: others leave the group alone until
/// `expires_at_ms`, so a slot is evaluated (and its samples appended) once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The claiming ruler instance (a ULID).
    pub owner: String,
    /// Unix ms after which the claim is void (the claimer died).
    pub expires_at_ms: i64,
}

/// The object at `tenants/<t>/ruler/state/<namespace>/<group>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredGroup {
    pub version: u32,
    pub namespace: String,
    pub group: String,
    /// The interval the last evaluation was scheduled with.
    #[serde(default)]
    pub interval_ms: i64,
    /// Wall-clock duration of the last evaluation of the whole group.
    #[serde(default)]
    pub evaluation_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// Attempts in a row that failed as a whole (the group fails the
    /// checks of an upload, or its evaluation panicked); 0 after a good
    /// evaluation.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// Why the last attempt failed as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// After a failed attempt, no ruler tries again before this (Unix ms):
    /// the backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<i64>,
    /// Alert and series state; `state.last_evaluation_ms` is the last
    /// evaluated slot.
    pub state: GroupState,
}

impl StoredGroup {
    pub fn new(namespace: &str, group: &str) -> Self {
        Self {
            version: STATE_FORMAT_VERSION,
            namespace: namespace.to_string(),
            group: group.to_string(),
            interval_ms: 0,
            evaluation_us: 0,
            claim: None,
            failures: 0,
            last_error: None,
            retry_at_ms: None,
            state: GroupState::default(),
        }
    }

    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| RulerError::Corrupt {
            key: key.to_string(),
            reason,
        };
        let bytes = stratus_storage::sealed::open(bytes).map_err(|e| corrupt(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("expected JSON, got {e}")))?;
        match v.get("version").and_then(serde_json::Value::as_u64) {
            Some(n) if n == u64::from(STATE_FORMAT_VERSION) => {}
            other => {
                return Err(corrupt(format!(
                    "expected group state version {STATE_FORMAT_VERSION}, got {other:?}"
                )))
            }
        }
        serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))
    }

    pub fn encode(&self, key: &str) -> Result<Bytes> {
        serde_json::to_vec(self)
            .map(|v| stratus_storage::sealed::seal(&v))
            .map_err(|e| RulerError::Corrupt {
                key: key.to_string(),
                reason: format!("cannot serialise group state: {e}"),
            })
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How a conditional write of a state object went: written, with the
/// version to pass to the next write, or lost to another writer.
pub use stratus_storage::mutate::Put as Commit;

/// The state object of a group, checked to be that group's.
fn decode(key: &str, namespace: &str, group: &str, bytes: &[u8]) -> Result<StoredGroup> {
    let obj = StoredGroup::decode(key, bytes)?;
    if obj.namespace != namespace || obj.group != group {
        return Err(RulerError::Corrupt {
            key: key.to_string(),
            reason: format!(
                "expected the state of group {group:?} in namespace {namespace:?}, got that of {:?} in {:?}",
                obj.group, obj.namespace
            ),
        });
    }
    Ok(obj)
}

/// Reads a group's state; `None` when it was never evaluated.
pub async fn load(
    bucket: &Bucket,
    tenant: &TenantId,
    namespace: &str,
    group: &str,
) -> Result<Option<(StoredGroup, ObjectVersion)>> {
    let key = keys::state(tenant, namespace, group);
    match bucket.get(&key).await {
        Ok((bytes, version)) => Ok(Some((
            decode(key.as_ref(), namespace, group, &bytes)?,
            version,
        ))),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The state object of a group at `key` ([`keys::state`]), for a
/// read-modify-write ([`Mutate::once`] for a claim: a lost write means
/// another ruler has the group).
pub fn object<'a>(
    bucket: &'a Bucket,
    key: &'a ObjectPath,
    namespace: &'a str,
    group: &'a str,
) -> Mutate<'a, StoredGroup, RulerError> {
    Mutate::new(
        bucket,
        key,
        move |key, bytes| decode(key.as_ref(), namespace, group, bytes),
        |key, obj| obj.encode(key.as_ref()),
    )
}

/// Writes `obj` if the stored object is still at `expected` (`None`: if
/// there is none): the writes after a claim, fenced by the version the
/// claim (or the previous write) left.
pub async fn commit(
    bucket: &Bucket,
    tenant: &TenantId,
    obj: &StoredGroup,
    expected: Option<&ObjectVersion>,
) -> Result<Commit> {
    let key = keys::state(tenant, &obj.namespace, &obj.group);
    let data = obj.encode(key.as_ref())?;
    Ok(put_at_version(bucket, &key, expected, data).await?)
}

/// Deletes the state of one group (after the group was deleted).
pub async fn delete(
    bucket: &Bucket,
    tenant: &TenantId,
    namespace: &str,
    group: &str,
) -> Result<()> {
    Ok(bucket
        .delete(&keys::state(tenant, namespace, group))
        .await?)
}

/// Deletes the state of every group of a namespace.
pub async fn delete_namespace(bucket: &Bucket, tenant: &TenantId, namespace: &str) -> Result<()> {
    for o in bucket
        .list(&keys::state_namespace_prefix(tenant, namespace))
        .await?
    {
        bucket.delete(&o.key).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stale_version_loses_the_commit() {
        let bucket = Bucket::in_memory();
        let t = TenantId::anonymous();
        let mut obj = StoredGroup::new("ns", "g");
        let Commit::Written(v1) = commit(&bucket, &t, &obj, None).await.expect("first") else {
            panic!("first write must win")
        };
        assert_eq!(
            commit(&bucket, &t, &obj, None).await.expect("second"),
            Commit::Lost
        );
        obj.state.last_evaluation_ms = Some(60_000);
        let Commit::Written(_) = commit(&bucket, &t, &obj, Some(&v1)).await.expect("update") else {
            panic!("update at the read version must win")
        };
        assert_eq!(
            commit(&bucket, &t, &obj, Some(&v1)).await.expect("stale"),
            Commit::Lost
        );
        let (back, _) = load(&bucket, &t, "ns", "g")
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(back, obj);
    }

    #[test]
    fn unknown_versions_are_refused() {
        let e = StoredGroup::decode(
            "k",
            &stratus_storage::sealed::seal(
                br#"{"version":2,"namespace":"n","group":"g","state":{"rules":[]}}"#,
            ),
        )
        .expect_err("version 2");
        assert!(
            e.to_string()
                .contains("expected group state version 1, got Some(2)"),
            "{e}"
        );
        assert!(StoredGroup::decode("k", &stratus_storage::sealed::seal(b"not json")).is_err());
        // A damaged object is refused before parsing.
        let good = StoredGroup::new("n", "g").encode("k").expect("encode");
        let mut bad = good.to_vec();
        bad[2] ^= 0x20;
        let e = StoredGroup::decode("k", &bad).expect_err("damaged");
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
    }
}
