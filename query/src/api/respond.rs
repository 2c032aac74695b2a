//! Reading a request (tenant, parameters, deadlines) and writing an
//! answer or an error, for every handler of the API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use stratus_model::TenantId;

use super::json;
use super::params::{parse_duration, parse_time, Params};
use super::state::{QueryState, MAX_SELECTORS};
use crate::engine::{Engine, QueryResult};
use crate::error::{QueryError, StorageFaultKind};

pub(super) fn respond(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn fail(e: QueryError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    log_failure(&e);
    respond(status, json::error(&e))
}

/// Logs a failure to read stored data with the object it was about: a
/// warning when a retry may help, an error otherwise.
pub(super) fn log_failure(e: &QueryError) {
    let QueryError::Storage(f) = e else {
        return;
    };
    let key = f.key.as_deref().unwrap_or("-");
    match f.kind {
        StorageFaultKind::Retryable => tracing::warn!(
            key,
            status = e.status(),
            error = %f.detail,
            "query answered with a retryable storage failure"
        ),
        StorageFaultKind::Failed | StorageFaultKind::Corrupt => tracing::error!(
            key,
            status = e.status(),
            kind = ?f.kind,
            error = %f.detail,
            "query answered with a storage failure"
        ),
    }
}

pub(super) fn ok(data: &str) -> Response {
    respond(StatusCode::OK, json::success(data))
}

/// Tenant and parameters of a request (query string plus form body).
pub(super) async fn request(
    st: &QueryState,
    method: &Method,
    headers: &HeaderMap,
    raw: Option<String>,
    body: Body,
) -> Result<(TenantId, Params), QueryError> {
    let tenant = st.tenants.read(headers)?.single()?.clone();
    let form = if *method == Method::POST {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let bytes = axum::body::to_bytes(body, st.max_body_bytes)
            .await
            .map_err(|e| QueryError::bad(format!("reading the request body failed: {e}")))?;
        (ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty()).then_some(bytes)
    } else {
        None
    };
    let params = Params::parse(raw.as_deref(), form.as_deref())?;
    Ok((tenant, params))
}

/// A request's tenant and parameters (query string plus form body): what
/// every handler of the API starts from. A request without them is
/// answered with the error before the handler runs.
pub(super) struct ApiRequest {
    pub tenant: TenantId,
    pub params: Params,
}

impl FromRequest<QueryState> for ApiRequest {
    type Rejection = Response;

    async fn from_request(req: Request, st: &QueryState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let raw = parts.uri.query().map(str::to_owned);
        let (tenant, params) = request(st, &parts.method, &parts.headers, raw, body)
            .await
            .map_err(fail)?;
        Ok(Self { tenant, params })
    }
}

/// A handler's outcome: its data in Prometheus's success envelope, or the
/// error.
pub(super) fn answer(r: Result<String, QueryError>) -> Response {
    match r {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

pub(super) fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, QueryError> {
    p.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        QueryError::bad(format!(
            "invalid parameter \"{name}\": parameter is missing"
        ))
    })
}

pub(super) fn time_or(p: &Params, name: &str, default: i64) -> Result<i64, QueryError> {
    match p.get(name).filter(|v| !v.is_empty()) {
        Some(v) => parse_time(v, name),
        None => Ok(default),
    }
}

/// The engine with the request's `timeout` (never above the server's) and
/// `max_source_resolution` applied: `raw`, a duration such as `5m`, or
/// `auto` (the default): rollups up to a fifth of a range query's step, so
/// every step spans at least five rollup points, as Thanos's query
/// frontend does. Instant queries read raw data unless asked otherwise.
/// Ranges whose raw data is past retention are answered from rollups in
/// every mode.
pub(super) fn engine_for(st: &QueryState, p: &Params) -> Result<Engine, QueryError> {
    let mut opts = st.engine.options().clone();
    match p.get("max_source_resolution").map(str::trim) {
        Some("raw" | "0" | "0s") => {}
        // Any rollup that gives the raw answer (see the source's
        // `exact_at`), and no other.
        None | Some("" | "auto") => opts.max_source_resolution_ms = i64::MAX,
        Some(v) => {
            opts.max_source_resolution_ms =
                parse_duration(v, "max_source_resolution")?.as_millis() as i64;
            opts.approximate_rollups = true;
        }
    }
    if let Some(t) = p.get("timeout").filter(|v| !v.is_empty()) {
        let d = parse_duration(t, "timeout")?;
        if d > Duration::ZERO && d < opts.timeout {
            opts.timeout = d;
        }
    }
    // Per-step sample counts only when asked for, as Prometheus
    // (`stats=all` and the feature).
    opts.per_step_stats &= p.get("stats") == Some("all");
    // One reservation for the whole request, whatever it is split into.
    opts.request_memory = opts.memory.as_ref().map(|m| Arc::new(m.reserve()));
    Ok(st.engine.with_options(opts))
}

/// When a read request (series, labels, label values, metadata) must
/// have answered: its `timeout` parameter, never later than the server's
/// query timeout.
pub(super) fn read_deadline(st: &QueryState, p: &Params) -> Result<std::time::Instant, QueryError> {
    let mut limit = st.engine.options().timeout;
    if let Some(t) = p.get("timeout").filter(|v| !v.is_empty()) {
        let d = parse_duration(t, "timeout")?;
        if d > Duration::ZERO && d < limit {
            limit = d;
        }
    }
    Ok(std::time::Instant::now() + limit)
}

/// Tells the user when an answer was computed from rollups, which are
/// exact only where windows line up with the rollup step.
pub(super) fn note_resolution(r: &mut QueryResult) {
    if r.resolution_ms > 0 {
        let step = if r.resolution_ms % 3_600_000 == 0 {
            format!("{}h", r.resolution_ms / 3_600_000)
        } else if r.resolution_ms % 60_000 == 0 {
            format!("{}m", r.resolution_ms / 60_000)
        } else {
            format!("{}s", r.resolution_ms / 1000)
        };
        r.annotations.info(format!(
            "PromQL info: some data was read from {step} rollups (downsampled), not raw samples"
        ));
    }
}

/// The answer's share of the querier's memory bound, held while it is
/// encoded.
pub(super) fn hold_answer(
    engine: &Engine,
    v: &crate::engine::QueryValue,
) -> Result<Option<crate::memory::Reservation>, QueryError> {
    let Some(r) = engine.options().reserve_memory() else {
        return Ok(None);
    };
    r.grow(crate::memory::answer_bytes(v))?;
    Ok(Some(r))
}

/// Runs `f`; with a `stats` parameter (Prometheus's `stats=all`), also
/// returns what the `stats` object of the answer needs besides the
/// engine's sample counts ([`stats_json`]).
pub(super) async fn with_stats<T>(
    p: &Params,
    f: impl std::future::Future<Output = T>,
) -> (T, Option<RunStats>) {
    if p.get("stats").is_none_or(str::is_empty) {
        return (f.await, None);
    }
    let stats = std::sync::Arc::new(stratus_storage::RequestStats::default());
    let started = std::time::Instant::now();
    let out = stratus_storage::RequestStats::scope(stats.clone(), f).await;
    let run = RunStats {
        secs: started.elapsed().as_secs_f64(),
        requests: stats.counts(),
    };
    (out, Some(run))
}

/// How long a query ran and the bucket requests it made.
pub(super) struct RunStats {
    secs: f64,
    requests: stratus_storage::RequestCounts,
}

/// The `stats` object of a query's answer: the evaluation time in
/// Prometheus's `timings` shape, Prometheus's `samples`
/// (`totalQueryableSamples`, `peakSamples`), and the bucket requests the
/// query made (`storage`: GETs, bytes they returned, LISTs). Requests
/// answered from caches are not requests.
pub(super) fn stats_json(
    run: &RunStats,
    samples: &crate::SampleStats,
    (start_ms, step_ms): (i64, i64),
) -> String {
    let (secs, c) = (run.secs, &run.requests);
    format!(
        "{{\"timings\":{{\"evalTotalTime\":{secs},\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":{secs},\"execQueueTime\":0,\"execTotalTime\":{secs}}},\
         \"samples\":{},\
         \"storage\":{{\"getRequests\":{},\"getBytes\":{},\"listRequests\":{}}}}}",
        samples.json(start_ms, step_ms),
        c.gets,
        c.get_bytes,
        c.lists
    )
}

pub(super) fn check_selector_count(n: usize) -> Result<(), QueryError> {
    if n > MAX_SELECTORS {
        return Err(QueryError::bad(format!(
            "invalid parameter \"match[]\": {n} selectors, more than the {MAX_SELECTORS} allowed in one request"
        )));
    }
    Ok(())
}

pub(super) fn limit(p: &Params) -> Result<Option<usize>, QueryError> {
    match p.get("limit").filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(0) => Ok(None),
            Ok(n) if n > 0 => Ok(Some(n as usize)),
            _ => Err(QueryError::bad(format!(
                "invalid parameter \"limit\": cannot parse \"{v}\" to a valid positive integer"
            ))),
        },
    }
}

pub(super) fn string_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(&mut out, s);
    }
    out.push(']');
    out
}
