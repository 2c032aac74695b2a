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
    /// What `/api/v1/status/*` and `/api/v1/alertmanagers` report.
    pub status: Arc<ServerStatus>,
}

/// What the server tells about itself on `/api/v1/status/runtimeinfo`,
/// `/flags`, `/config` and `/api/v1/alertmanagers`. Empty by default (the
/// Lambda function has no settings to show).
#[derive(Debug, Clone, Default)]
pub struct ServerStatus {
    /// When the querier started (Unix ms): `startTime` and
    /// `lastConfigTime`. [`crate::Querier`] sets it from its clock.
    pub start_time_ms: i64,
    /// The effective settings, (config-file name, value), in the order
    /// they are shown: `/flags` names them as flags (`query-timeout`),
    /// `/config` as the config file does (`query_timeout`).
    pub settings: Vec<(String, String)>,
    /// URLs alerts are sent to (the built-in notifier's
    /// `/api/v2/alerts` when the ruler runs beside the querier).
    pub alertmanagers: Vec<String>,
    /// `storageRetention`: how long raw data is kept (`""`: forever).
    pub storage_retention: String,
}
