//! Reading and committing a tenant's catalog. Commits are conditional:
//! create-only when there was none, if-match on the version read
//! otherwise. A lost race is [`CommitError::Conflict`]: re-read and plan
//! again. [`update`] is that loop for changes that apply to whatever the
//! catalog holds (delete requests), on [`crate::mutate`]; the compactor,
//! whose jobs are planned from one version, commits with [`commit`] and
//! plans again instead.

use bytes::Bytes;
use stratus_codec::{Catalog, Tombstone};
use stratus_model::TenantId;

use crate::mutate::{put_at_version, Mutate, MutateError, Mutation, Put};
use crate::{keys, Bucket, ObjectVersion, StorageError};

/// Conditional writes in a row [`update`] may lose before it gives up.
pub const MAX_UPDATE_ATTEMPTS: u32 = 20;

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
    /// [`update`] lost every one of its attempts to other writers.
    #[error("the catalog of {tenant} kept changing: {attempts} conditional writes in a row lost to other writers")]
    Contention { tenant: TenantId, attempts: u32 },
}

/// Why [`add_delete_requests`] did not record a request.
#[derive(Debug, thiserror::Error)]
pub enum DeleteRequestError {
    #[error(
        "tenant \"{tenant}\" has {pending} delete requests pending and this request adds {adding}; \
         the limit (--max-pending-deletes) is {limit}: retry once compaction has applied pending requests"
    )]
    TooManyPending {
        tenant: TenantId,
        pending: usize,
        adding: usize,
        limit: usize,
    },
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// The current catalog of `tenant`; an empty one when none exists yet.
pub async fn load(bucket: &Bucket, tenant: &TenantId) -> Result<Versioned, CommitError> {
    match bucket.get(&keys::catalog(tenant)).await {
        Ok((bytes, version)) => Ok(Versioned {
            catalog: decode(tenant, &bytes)?,
            version: Some(version),
        }),
        Err(StorageError::NotFound { .. }) => Ok(Versioned {
            catalog: Catalog::default(),
            version: None,
        }),
        Err(e) => Err(e.into()),
    }
}

fn decode(tenant: &TenantId, bytes: &[u8]) -> Result<Catalog, CommitError> {
    Catalog::decode(bytes).map_err(|e| CommitError::Corrupt {
        tenant: tenant.clone(),
        message: e.to_string(),
    })
}

fn encode(tenant: &TenantId, catalog: &Catalog) -> Result<Bytes, CommitError> {
    catalog
        .encode()
        .map(Bytes::from)
        .map_err(|e| CommitError::Corrupt {
            tenant: tenant.clone(),
            message: e.to_string(),
        })
}

/// Replaces the catalog read as `base` with `next`. Fails with
/// [`CommitError::Conflict`] if anyone committed since `base` was read.
pub async fn commit(
    bucket: &Bucket,
    tenant: &TenantId,
    base: &Versioned,
    next: &Catalog,
) -> Result<ObjectVersion, CommitError> {
    let bytes = encode(tenant, next)?;
    match put_at_version(bucket, &keys::catalog(tenant), base.version.as_ref(), bytes).await? {
        Put::Written(v) => Ok(v),
        Put::Lost => Err(CommitError::Conflict {
            tenant: tenant.clone(),
        }),
    }
}

/// Applies `change` to the current catalog of `tenant` and commits the
/// result, as generation + 1 updated at `now_ms`; on a lost race, reads
/// the catalog again and applies `change` to it, after a jittered backoff,
/// up to [`MAX_UPDATE_ATTEMPTS`] times ([`Mutate`]). `change` may refuse
/// (its error is returned, nothing is written). Returns what `change`
/// returned.
pub async fn update<T, E>(
    bucket: &Bucket,
    tenant: &TenantId,
    now_ms: i64,
    mut change: impl FnMut(&mut Catalog) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<CommitError>,
{
    let key = keys::catalog(tenant);
    let outcome = Mutate::new(
        bucket,
        &key,
        |_, bytes| decode(tenant, bytes).map_err(E::from),
        |_, catalog| encode(tenant, catalog).map_err(E::from),
    )
    .attempts(MAX_UPDATE_ATTEMPTS)
    .run(|current| {
        let mut next = current.unwrap_or_default();
        let generation = next.generation;
        let out = change(&mut next)?;
        next.generation = generation + 1;
        next.updated_ms = now_ms;
        Ok(Mutation::Write(next, out))
    })
    .await
    .map_err(|e| match e {
        MutateError::Storage(s) => E::from(CommitError::Storage(s)),
        MutateError::Failed(e) => e,
        MutateError::Contention { attempts, .. } => E::from(CommitError::Contention {
            tenant: tenant.clone(),
            attempts,
        }),
    })?;
    Ok(outcome.output)
}

/// Records delete requests in the catalog of `tenant`, unless that would
/// leave more than `max_pending` of them waiting for compaction (0: no
/// limit). Returns how many are pending now, these included.
pub async fn add_delete_requests(
    bucket: &Bucket,
    tenant: &TenantId,
    requests: &[Tombstone],
    max_pending: usize,
    now_ms: i64,
) -> Result<usize, DeleteRequestError> {
    let pending = update(bucket, tenant, now_ms, |c| {
        let pending = c.tombstones.len();
        if max_pending > 0 && pending + requests.len() > max_pending {
            return Err(DeleteRequestError::TooManyPending {
                tenant: tenant.clone(),
                pending,
                adding: requests.len(),
                limit: max_pending,
            });
        }
        c.tombstones.extend_from_slice(requests);
        Ok(c.tombstones.len())
    })
    .await?;
    Ok(pending)
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

    fn request(id: &str) -> Tombstone {
        Tombstone {
            id: id.into(),
            matchers: vec![stratus_codec::TombstoneMatcher {
                name: "job".into(),
                op: "=".into(),
                value: "old".into(),
            }],
            min_time: 0,
            max_time: 10,
            created_ms: 5,
        }
    }

    #[tokio::test]
    async fn delete_requests_are_refused_past_the_limit_and_nothing_is_written() {
        let b = Bucket::in_memory();
        let t = TenantId::new("team-a").expect("tenant");
        for i in 0..3 {
            let n = add_delete_requests(&b, &t, &[request(&i.to_string())], 3, 100)
                .await
                .expect("under the limit");
            assert_eq!(n, i + 1);
        }
        let before = load(&b, &t).await.expect("load");
        let err = add_delete_requests(&b, &t, &[request("x")], 3, 100)
            .await
            .expect_err("over the limit");
        let text = err.to_string();
        assert!(
            matches!(
                err,
                DeleteRequestError::TooManyPending {
                    pending: 3,
                    adding: 1,
                    limit: 3,
                    ..
                }
            ),
            "{text}"
        );
        assert_eq!(
            text,
            "tenant \"team-a\" has 3 delete requests pending and this request adds 1; \
             the limit (--max-pending-deletes) is 3: retry once compaction has applied pending requests"
        );
        for part in ["\"team-a\"", "--max-pending-deletes", "is 3"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert_eq!(load(&b, &t).await.expect("load"), before);
        // 0 is no limit.
        add_delete_requests(&b, &t, &[request("y")], 0, 100)
            .await
            .expect("no limit");
        let after = load(&b, &t).await.expect("load").catalog;
        assert_eq!(after.tombstones.len(), 4);
        assert_eq!(after.generation, 4);
        assert_eq!(after.updated_ms, 100);
    }

    #[tokio::test]
    async fn concurrent_updates_all_land() {
        let b = Bucket::new(
            std::sync::Arc::new(object_store::memory::InMemory::new()),
            crate::RetryPolicy {
                initial_backoff: std::time::Duration::from_millis(1),
                max_backoff: std::time::Duration::from_millis(4),
                ..crate::RetryPolicy::default()
            },
        );
        let t = TenantId::new("t").expect("tenant");
        let adds = (0..8).map(|i| {
            let (b, t) = (b.clone(), t.clone());
            tokio::spawn(async move {
                add_delete_requests(&b, &t, &[request(&i.to_string())], 0, 1).await
            })
        });
        for h in futures::future::join_all(adds).await {
            h.expect("task").expect("added");
        }
        assert_eq!(
            load(&b, &t).await.expect("load").catalog.tombstones.len(),
            8
        );
    }
}
