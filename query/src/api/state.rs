//! What the query handlers share, and the API's bounds.

use std::sync::Arc;

use stratus_model::Clock;

use crate::engine::Engine;
use crate::source::SeriesSource;

/// Prometheus refuses range queries with more points per series.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Most `match[]` selectors one request may carry (series, labels, label
/// values, delete requests).
pub const MAX_SELECTORS: usize = 1_000;

/// What the query handlers share.
#[derive(Clone)]
pub struct QueryState {
    pub engine: Engine,
    pub source: Arc<dyn SeriesSource>,
    pub clock: Arc<dyn Clock>,
    /// How requests name their tenant (`X-Scope-OrgID`).
    pub tenants: stratus_http::TenantPolicy,
    /// Largest request body (form-encoded queries).
    pub max_body_bytes: usize,
    /// The bucket, when the admin API (delete requests) is enabled.
    pub admin: Option<stratus_storage::Bucket>,
    /// Delete requests a tenant may have pending (recorded, not yet
    /// applied and forgotten by the compactor) before more are refused
    /// with a 400; 0: no limit (`--max-pending-deletes`).
    pub max_pending_deletes: usize,
    /// Splits range queries by interval and reuses the answers of old
    /// intervals; `None` evaluates every range query whole.
    pub results_cache: Option<std::sync::Arc<crate::results::ResultsCache>>,
}
