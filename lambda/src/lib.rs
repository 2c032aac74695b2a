//! Wiring of the Lambda functions: the same axum routers as `stratus all`
//! for ingest and query, one bounded compaction pass per scheduled
//! invocation, and the bearer-token authorizer of the optional API
//! Gateway. Settings come from environment variables read once at cold
//! start ([`env`]); the binaries in `src/bin/` only call into this crate.

pub mod authorizer;
pub mod env;
pub mod local;
pub mod ruler_notifier;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use stratus_compactor::{Compactor, CompactorMetrics, PassReport};
use stratus_ingest::{Writer, WriterError};
use stratus_model::{Clock, SystemClock};
use stratus_storage::Bucket;

pub use env::Settings;

/// A Lambda invocation's deadline (Unix ms, as the runtime gives it) as an
/// `Instant`.
pub fn deadline(unix_ms: u64) -> Instant {
    let now = u64::try_from(SystemClock.now_ms()).unwrap_or(0);
    Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now))
}

/// Largest response body the query function returns. A buffered Lambda
/// response carries at most 6 MB of JSON including the escaping of the
/// body, so a body is kept well below that; larger answers are refused
/// with a Prometheus-style error rather than cut off.
pub const MAX_BUFFERED_BODY: usize = 4 << 20;

/// The most a synchronous Lambda invocation's request payload may be: the
/// whole event JSON, envelope and body.
pub const LAMBDA_PAYLOAD_BYTES: usize = 6 << 20;

/// What a request event holds besides its body (request context, headers,
/// the JSON around them), kept free when sizing the body. A Function URL or
/// API Gateway event with ordinary headers is a few KiB.
pub const EVENT_ENVELOPE_BYTES: usize = 128 << 10;

/// The largest request body that reaches the ingest function: Function
/// URLs and API Gateway deliver a binary (protobuf) body base64-encoded,
/// 4 bytes per 3, inside a JSON event of at most [`LAMBDA_PAYLOAD_BYTES`].
/// (6 MiB − 128 KiB) × 3/4 = 4,620,288 bytes, about 4.4 MiB; a larger body
/// is refused by Lambda with a 413 before the function sees it. The
/// default `max_body_bytes` of the functions and of the Terraform module.
pub const LAMBDA_MAX_BODY_BYTES: usize = (LAMBDA_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) / 4 * 3;

/// The ingest function's router: `POST /api/v1/write` and `/api/v1/push`
/// exactly as in the server, each request written as its own segment
/// before it is acknowledged (commit window 0: an invocation that returned
/// has nothing left in memory).
pub async fn ingest_app(bucket: Bucket, settings: &Settings) -> Result<Router, WriterError> {
    let writer = Writer::start(bucket, settings.writer(), &mut Registry::default()).await?;
    Ok(stratus_http::with_not_found(
        writer.router().merge(health()),
    ))
}

/// The query function's router: the Prometheus HTTP API of the server
/// (admin endpoints off), with answers too large for a buffered Lambda
/// response refused.
pub fn query_app(bucket: Bucket, settings: &Settings) -> Router {
    query_app_with_cache(bucket, settings, None)
}

/// [`query_app`] reading immutable objects through `cache` (the hybrid
/// cache whose disk tier is in `/tmp`); it lives as long as the process,
/// so warm invocations reuse it.
pub fn query_app_with_cache(
    bucket: Bucket,
    settings: &Settings,
    cache: Option<Arc<stratus_storage::RangeCache>>,
) -> Router {
    // Rule files and silences are managed here too; their notifier never
    // sends (that is the notifier function's job), so it needs no
    // receivers.
    let notifier = stratus_alerting::build::notifier(&bucket, None, &settings.ruler)
        .expect("the built-in notifier configuration is valid");
    let alerting = stratus_alerting::router(stratus_alerting::AlertingApi::new(
        &bucket,
        settings.ruler.clone(),
        notifier,
        settings.http.multitenancy,
    ));
    let app = stratus_query::Querier::new(bucket, settings.querier(), cache)
        .router()
        .merge(alerting)
        .merge(health());
    // CORS as the server's (STRATUS_WEB_CORS_ORIGIN), and every route also
    // under Mimir's /prometheus prefix (mimirtool's default).
    stratus_http::with_not_found(stratus_http::with_prometheus_prefix(
        stratus_http::with_cors(app, settings.cors_origin.clone()),
    ))
    .layer(axum::middleware::from_fn(refuse_oversized))
}

/// The health routes both HTTP functions serve.
pub const HEALTH_ROUTES: stratus_http::Routes = &[("GET", "/-/healthy"), ("GET", "/-/ready")];

fn health() -> Router {
    stratus_http::router_from(HEALTH_ROUTES, |path| match path {
        "/-/healthy" => get(|| async { "Stratus is Healthy.\n" }),
        "/-/ready" => get(|| async { "Stratus is Ready.\n" }),
        other => unreachable!("HEALTH_ROUTES lists {other}, which has no handler"),
    })
    .layer(stratus_http::catch_panics(stratus_http::Component::Server))
}

/// Every `(method, path)` [`ingest_app`] serves: the routers it merges are
/// built from these tables.
pub fn ingest_routes() -> Vec<(&'static str, &'static str)> {
    [stratus_ingest::ROUTES, HEALTH_ROUTES].concat()
}

/// Every `(method, path)` [`query_app`] serves: each route with and
/// without [`stratus_http::PROMETHEUS_PREFIX`].
pub fn query_routes() -> Vec<(&'static str, &'static str)> {
    static ROUTES: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    ROUTES
        .get_or_init(|| {
            let plain = [
                stratus_query::api::ROUTES,
                stratus_alerting::ROUTES,
                HEALTH_ROUTES,
            ]
            .concat();
            // Built once per process: the prefixed paths live as long as it.
            let prefixed = plain.iter().map(|(method, path)| {
                let path: &'static str =
                    String::leak(format!("{}{path}", stratus_http::PROMETHEUS_PREFIX));
                (*method, path)
            });
            plain.iter().copied().chain(prefixed).collect()
        })
        .clone()
}

/// Buffers the response and replaces one larger than
/// [`MAX_BUFFERED_BODY`] by a 422 in the Prometheus API's error shape.
async fn refuse_oversized(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, MAX_BUFFERED_BODY).await {
        Ok(bytes) => Response::from_parts(parts, axum::body::Body::from(bytes)),
        Err(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            serde_json::json!({
                "status": "error",
                "errorType": "execution",
                "error": format!(
                    "the answer is larger than {} MiB, the most this Lambda function returns in one response; \
                     select fewer series (more matchers, or aggregate), a shorter range or a larger step",
                    MAX_BUFFERED_BODY >> 20
                ),
            })
            .to_string(),
        )
            .into_response(),
    }
}

/// The compactor's input: what EventBridge Scheduler sends with the
/// context attributes the Terraform module puts in the schedule's input.
/// Every field is optional, so a test or a hand-made `{}` works too.
#[derive(Debug, Default, Deserialize)]
pub struct ScheduledEvent {
    /// `<aws.scheduler.scheduled-time>`, RFC 3339: the pass runs as of
    /// this time (retries of one schedule see the same time).
    #[serde(default)]
    pub scheduled_time: Option<String>,
    /// `<aws.scheduler.execution-id>`, logged.
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// What one scheduled compaction answers (and logs).
#[derive(Debug, Serialize)]
pub struct CompactionResult {
    pub now_ms: i64,
    pub tenants: usize,
    pub jobs: usize,
    pub blocks_written: usize,
    pub segments_compacted: usize,
    pub objects_deleted: usize,
    /// Segments merged into packs first (ADR 0033).
    pub segments_packed: usize,
    /// The budget ran out with work left; the next invocation goes on.
    pub unfinished: bool,
}

/// One compaction pass for a scheduled invocation. It starts no job after
/// `budget`, or after the invocation's own deadline less a margin, so the
/// function returns well before its timeout; every finished job is
/// committed, so the next invocation goes on where this one stopped.
pub async fn compact(
    bucket: Bucket,
    settings: &Settings,
    event: &ScheduledEvent,
    invocation_deadline: Option<Instant>,
) -> anyhow::Result<CompactionResult> {
    let now_ms = match &event.scheduled_time {
        Some(t) => stratus_query::api::parse_time(t, "scheduled_time")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        None => SystemClock.now_ms(),
    };
    let mut deadline = Instant::now() + settings.compaction_budget;
    if let Some(d) = invocation_deadline {
        // Leave a fifth of what is left, at least 30 s, for the job that
        // is running when the budget ends.
        let left = d.saturating_duration_since(Instant::now());
        let margin = (left / 5).max(Duration::from_secs(30)).min(left);
        deadline = deadline.min(d - margin);
    }
    let compactor = Compactor::new(
        bucket,
        settings.compactor.clone(),
        CompactorMetrics::new(&mut Registry::default()),
    );
    // Packing first: it is what cold queriers read until the next
    // invocation. A failure is logged by the packer and retried next time.
    let packed = compactor
        .pack_once(now_ms)
        .await
        .map(|p| p.segments_packed)
        .unwrap_or(0);
    let r: PassReport = compactor.run_once_until(now_ms, Some(deadline)).await?;
    Ok(CompactionResult {
        segments_packed: packed,
        now_ms,
        tenants: r.tenants,
        jobs: r.jobs,
        blocks_written: r.blocks_written,
        segments_compacted: r.segments_compacted,
        objects_deleted: r.objects_deleted,
        unfinished: r.unfinished,
    })
}
