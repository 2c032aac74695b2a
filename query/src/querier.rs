//! The one way to build a querier: a config and the bucket in, the engine,
//! its source and the HTTP routes out. `stratus all`, `stratus query`, the
//! Lambda query function and `stratus bench query` all build theirs here,
//! so a setting means the same thing wherever it is set.

use std::sync::Arc;

use axum::Router;
use stratus_model::{Clock, SystemClock};
use stratus_storage::{Bucket, RangeCache};

use crate::api::{router, QueryState, ServerStatus};
use crate::bucket_source::{BucketSource, BucketSourceOptions};
use crate::engine::{Engine, EngineOptions};
use crate::results::{ResultsCache, ResultsCacheOptions};
use crate::source::SeriesSource;

/// What a querier is built from.
#[derive(Debug, Clone)]
pub struct QuerierConfig {
    /// Reading the bucket (listing TTL, decoded-segment memory, reads in
    /// flight). Its `object_cache` is set from [`Querier::new`]'s argument.
    pub source: BucketSourceOptions,
    pub engine: EngineOptions,
    /// How requests name their tenant (`X-Scope-OrgID`).
    pub tenants: stratus_http::TenantPolicy,
    /// Largest request body (form-encoded queries).
    pub max_body_bytes: usize,
    /// Serve the admin API (delete requests) (`--enable-admin-api`).
    pub admin_api: bool,
    /// Delete requests a tenant may have pending; 0: no limit.
    pub max_pending_deletes: usize,
    /// Split range queries by day and reuse old splits; `None`: off.
    pub results_cache: Option<ResultsCacheOptions>,
    /// What `/api/v1/status/*` reports (settings, alertmanagers); its
    /// start time is set when the querier is built.
    pub status: ServerStatus,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        Self {
            source: BucketSourceOptions::default(),
            engine: EngineOptions::default(),
            tenants: stratus_http::TenantPolicy::default(),
            max_body_bytes: 16 << 20,
            admin_api: false,
            max_pending_deletes: 0,
            results_cache: Some(ResultsCacheOptions::default()),
            status: ServerStatus::default(),
        }
    }
}

/// A querier over one bucket: its engine, the source it reads, and the
/// Prometheus HTTP API on them.
#[derive(Clone)]
pub struct Querier {
    state: QueryState,
    bucket_source: Arc<BucketSource>,
}

impl Querier {
    /// Builds a querier. `object_cache`, when given, holds immutable object
    /// bytes for this querier and whatever else shares it (the server's
    /// hybrid cache, a Lambda function's `/tmp` tier).
    pub fn new(
        bucket: Bucket,
        config: QuerierConfig,
        object_cache: Option<Arc<RangeCache>>,
    ) -> Self {
        Self::with_clock(bucket, config, object_cache, Arc::new(SystemClock))
    }

    /// [`Querier::new`] with another clock (tests).
    pub fn with_clock(
        bucket: Bucket,
        config: QuerierConfig,
        object_cache: Option<Arc<RangeCache>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let bucket_source = Arc::new(BucketSource::new(
            bucket.clone(),
            BucketSourceOptions {
                object_cache,
                ..config.source
            },
        ));
        let source: Arc<dyn SeriesSource> = bucket_source.clone();
        let start_time_ms = clock.now_ms();
        let state = QueryState {
            engine: Engine::new(source.clone(), config.engine),
            source,
            clock,
            tenants: config.tenants,
            max_body_bytes: config.max_body_bytes,
            admin: config.admin_api.then_some(bucket),
            max_pending_deletes: config.max_pending_deletes,
            results_cache: config.results_cache.map(|o| Arc::new(ResultsCache::new(o))),
            status: Arc::new(ServerStatus {
                start_time_ms,
                ..config.status
            }),
        };
        Self {
            state,
            bucket_source,
        }
    }

    /// Adds a segment a writer in this process has just stored to the
    /// head of recent data, so that it is queryable at once.
    pub fn offer_segment(
        &self,
        tenant: &stratus_model::TenantId,
        key: stratus_storage::ObjectPath,
        bytes: bytes::Bytes,
    ) {
        self.bucket_source.offer_segment(tenant, key, bytes);
    }

    /// What the head of recent data holds.
    pub fn head_stats(&self) -> crate::bucket_source::HeadStats {
        self.bucket_source.head_stats()
    }

    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    pub fn source(&self) -> &Arc<dyn SeriesSource> {
        &self.state.source
    }

    /// The results cache, for its counters on `/metrics`.
    pub fn results_cache(&self) -> Option<&Arc<ResultsCache>> {
        self.state.results_cache.as_ref()
    }

    /// The Prometheus HTTP API routes, to merge into a server's router.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }
}
