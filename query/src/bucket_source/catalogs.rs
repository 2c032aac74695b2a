//! The tenants' catalogs, cached for a short time, and the retry of a read
//! on the current catalog when a block it named is gone.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use stratus_codec::{Catalog, CompiledTombstone};
use stratus_model::TenantId;
use stratus_storage::{catalog, keys, Bucket, StorageError};

use crate::source::SourceError;

/// A catalog as read, with its delete requests compiled on first use and
/// kept as long as the catalog is: regexes cost tens of microseconds each
/// to build, so 1 500 requests recompiled per select made a trivial query
/// 40 ms slower.
pub(super) struct CatalogView {
    catalog: Catalog,
    compiled: std::sync::OnceLock<Vec<CompiledTombstone>>,
}

impl CatalogView {
    fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// Whether a delete request covers part of `range`.
    pub(super) fn deletes_overlap(&self, range: stratus_model::TimeRange) -> bool {
        self.catalog
            .tombstones
            .iter()
            .any(|t| t.min_time <= range.max && t.max_time >= range.min)
    }

    pub(super) fn compiled_tombstones(&self) -> &[CompiledTombstone] {
        self.compiled
            .get_or_init(|| self.catalog.compiled_tombstones())
    }
}

impl std::ops::Deref for CatalogView {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}

/// The catalogs read, per tenant, reused for `ttl`.
pub(super) struct Catalogs {
    ttl: Duration,
    cache: Cache<TenantId, Arc<CatalogView>>,
}

impl Catalogs {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(10_000)
                .build(),
        }
    }

    /// The tenant's catalog: the cached one unless `fresh` (or caching is
    /// off).
    pub(super) async fn get(
        &self,
        bucket: &Bucket,
        tenant: &TenantId,
        fresh: bool,
    ) -> Result<Arc<CatalogView>, SourceError> {
        let cached = !self.ttl.is_zero() && !fresh;
        if let Some(c) = self.cache.get(tenant).filter(|_| cached) {
            return Ok(c);
        }
        let c = Arc::new(CatalogView::new(
            catalog::load(bucket, tenant)
                .await
                .map_err(|e| match e {
                    catalog::CommitError::Storage(s) => SourceError::Storage(s),
                    other => SourceError::corrupt(keys::catalog(tenant), other.to_string()),
                })?
                .catalog,
        ));
        self.cache.insert(tenant.clone(), c.clone());
        Ok(c)
    }
}

/// Runs `read` on the cached catalog and, if a block it names is gone
/// (replaced and deleted while the catalog was old), once more on the
/// current catalog.
pub(super) async fn with_current_catalog<T, F, Fut>(read: F) -> Result<T, SourceError>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, SourceError>>,
{
    match read(false).await {
        Err(SourceError::Storage(StorageError::NotFound { .. })) => read(true).await,
        other => other,
    }
}
