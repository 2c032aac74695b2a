//! Reading and committing a tenant's catalog. Commits are conditional:
//! create-only when there was none, if-match on the version read
//! otherwise. A lost race is [`CommitError::Conflict`]: re-read and plan
//! again.

use bytes::Bytes;
use stratus_codec::Catalog;
use stratus_model::TenantId;

use crate::{keys, Bucket, ObjectVersion, StorageError};

/// A catalog and the version it was read at (`None`: there was none).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub catalog: Catalog,
    pub version: Option<ObjectVersion>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the catalog of {tenant} changed since it was read")]
    Conflict { tenant: TenantId },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("catalog of {tenant} is unreadable: {message}")]
    Corrupt { tenant: TenantId, message: String },
}

/// The current catalog of `tenant`; an empty one when none exists yet.
pub async fn load(bucket: &Bucket, tenant: &TenantId) -> Result<Versioned, CommitError> {
    match bucket.get(&keys::catalog(tenant)).await {
        Ok((bytes, version)) => {
            let catalog = Catalog::decode(&bytes).map_err(|e| CommitError::Corrupt {
                tenant: tenant.clone(),
                message: e.to_string(),
            })?;
            Ok(Versioned {
                catalog,
                version: Some(version),
            })
        }
        Err(StorageError::NotFound { .. }) => Ok(Versioned {
            catalog: Catalog::default(),
            version: None,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the catalog read as `base` with `next`. Fails with
/// [`CommitError::Conflict`] if anyone committed since `base` was read.
pub async fn commit(
    bucket: &Bucket,
    tenant: &TenantId,
    base: &Versioned,
    next: &Catalog,
) -> Result<ObjectVersion, CommitError> {
    let bytes = Bytes::from(next.encode().map_err(|e| CommitError::Corrupt {
        tenant: tenant.clone(),
        message: e.to_string(),
    })?);
    let key = keys::catalog(tenant);
    let result = match &base.version {
        None => bucket.put_if_absent(&key, bytes).await,
        Some(v) => bucket.put_if_match(&key, bytes, v).await,
    };
    match result {
        Ok(v) => Ok(v),
        Err(StorageError::AlreadyExists { .. } | StorageError::PreconditionFailed { .. }) => {
            Err(CommitError::Conflict {
                tenant: tenant.clone(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_commit_creates_later_ones_need_the_version_read() {
        let b = Bucket::in_memory();
        let t = TenantId::new("t").expect("tenant");
        let base = load(&b, &t).await.expect("load");
        assert_eq!(base.version, None);
        let mut next = base.catalog.clone();
        next.generation = 1;
        commit(&b, &t, &base, &next).await.expect("create");
        // A second writer that read the empty state loses.
        assert!(matches!(
            commit(&b, &t, &base, &next).await,
            Err(CommitError::Conflict { .. })
        ));
        let read = load(&b, &t).await.expect("load");
        assert_eq!(read.catalog.generation, 1);
        let mut n2 = read.catalog.clone();
        n2.generation = 2;
        commit(&b, &t, &read, &n2).await.expect("update");
        assert!(matches!(
            commit(&b, &t, &read, &n2).await,
            Err(CommitError::Conflict { .. })
        ));
        assert_eq!(load(&b, &t).await.expect("load").catalog.generation, 2);
    }
}
