//! The Prometheus HTTP API on axum: everything Grafana's Prometheus data
//! source calls when it connects, autocompletes and draws panels.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use promql_parser::parser::Expr;
use stratus_model::{Clock, Labels, TenantId, TimeRange};

use crate::engine::{parse, Engine, QueryResult};
use crate::error::{QueryError, StorageFaultKind};
use crate::matcher::LabelMatcher;
use crate::source::SeriesSource;

mod json;
mod params;

pub use params::{parse_duration, parse_time, Params};

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

/// The query routes, to be merged into the server's router.
pub fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            axum::routing::post(delete_series).put(delete_series),
        )
        // /api/v1/rules and /api/v1/alerts are the ruler's
        // (stratus_alerting::router), merged beside these.
        .with_state(state)
        .layer(stratus_http::catch_panics(stratus_http::Component::Query))
}

fn respond(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn fail(e: QueryError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    log_failure(&e);
    respond(status, json::error(&e))
}

/// Logs a failure to read stored data with the object it was about: a
/// warning when a retry may help, an error otherwise.
fn log_failure(e: &QueryError) {
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

fn ok(data: &str) -> Response {
    respond(StatusCode::OK, json::success(data))
}

/// Tenant and parameters of a request (query string plus form body).
async fn request(
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

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, QueryError> {
    p.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        QueryError::bad(format!(
            "invalid parameter \"{name}\": parameter is missing"
        ))
    })
}

fn time_or(p: &Params, name: &str, default: i64) -> Result<i64, QueryError> {
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
fn engine_for(st: &QueryState, p: &Params, step_ms: Option<i64>) -> Result<Engine, QueryError> {
    let mut opts = st.engine.options().clone();
    match p.get("max_source_resolution").map(str::trim) {
        Some("raw" | "0" | "0s") => {}
        None | Some("" | "auto") => opts.max_source_resolution_ms = step_ms.map_or(0, |s| s / 5),
        Some(v) => {
            opts.max_source_resolution_ms =
                parse_duration(v, "max_source_resolution")?.as_millis() as i64
        }
    }
    if let Some(t) = p.get("timeout").filter(|v| !v.is_empty()) {
        let d = parse_duration(t, "timeout")?;
        if d > Duration::ZERO && d < opts.timeout {
            opts.timeout = d;
        }
    }
    // One reservation for the whole request, whatever it is split into.
    opts.request_memory = opts.memory.as_ref().map(|m| Arc::new(m.reserve()));
    Ok(st.engine.with_options(opts))
}

/// When a read request (series, labels, label values, metadata) must
/// have answered: its `timeout` parameter, never later than the server's
/// query timeout.
fn read_deadline(st: &QueryState, p: &Params) -> Result<std::time::Instant, QueryError> {
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
fn note_resolution(r: &mut QueryResult) {
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
fn hold_answer(
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
/// returns the `stats` object of the answer: the evaluation time in
/// Prometheus's `timings` shape, and the bucket requests the query made
/// (`storage`: GETs, bytes they returned, LISTs). Requests answered from
/// caches are not requests.
async fn with_stats<T>(p: &Params, f: impl std::future::Future<Output = T>) -> (T, Option<String>) {
    if p.get("stats").is_none_or(str::is_empty) {
        return (f.await, None);
    }
    let stats = std::sync::Arc::new(stratus_storage::RequestStats::default());
    let started = std::time::Instant::now();
    let out = stratus_storage::RequestStats::scope(stats.clone(), f).await;
    let secs = started.elapsed().as_secs_f64();
    let c = stats.counts();
    let json = format!(
        "{{\"timings\":{{\"evalTotalTime\":{secs},\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":{secs},\"execQueueTime\":0,\"execTotalTime\":{secs}}},\
         \"storage\":{{\"getRequests\":{},\"getBytes\":{},\"listRequests\":{}}}}}",
        c.gets, c.get_bytes, c.lists
    );
    (out, Some(json))
}

async fn query(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (tenant, p) = request(&st, &method, &headers, raw, body).await?;
        let q = required(&p, "query")?;
        let t = time_or(&p, "time", st.clock.now_ms())?;
        let engine = engine_for(&st, &p, None)?;
        let (r, stats) = with_stats(&p, engine.instant(&tenant, q, t)).await;
        let mut r = r?;
        let _answer = hold_answer(&engine, &r.value)?;
        note_resolution(&mut r);
        Ok::<_, QueryError>(json::query_result_with_stats(
            &r.value,
            &r.annotations,
            stats.as_deref(),
        ))
    };
    match run.await {
        Ok(body) => respond(StatusCode::OK, body),
        Err(e) => fail(e),
    }
}

async fn query_range(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (tenant, p) = request(&st, &method, &headers, raw, body).await?;
        let q = required(&p, "query")?;
        let start = parse_time(required(&p, "start")?, "start")?;
        let end = parse_time(required(&p, "end")?, "end")?;
        if end < start {
            return Err(QueryError::bad(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        let step = parse_duration(required(&p, "step")?, "step")?;
        let step_ms = step.as_millis() as i64;
        if step_ms <= 0 {
            return Err(QueryError::bad(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(QueryError::bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let engine = engine_for(&st, &p, Some(step_ms))?;
        let eval = async {
            let Some(cache) = &st.results_cache else {
                return engine.range(&tenant, q, start, end, step_ms).await;
            };
            let expr = Arc::new(parse(q)?);
            let rq = crate::results::RangeQuery {
                tenant: &tenant,
                expr: &expr,
                start,
                end,
                step: step_ms,
            };
            cache
                .range(&engine, st.source.as_ref(), &rq, st.clock.now_ms())
                .await
        };
        let (r, stats) = with_stats(&p, eval).await;
        let mut r = r?;
        let _answer = hold_answer(&engine, &r.value)?;
        note_resolution(&mut r);
        Ok(json::query_result_with_stats(
            &r.value,
            &r.annotations,
            stats.as_deref(),
        ))
    };
    match run.await {
        Ok(body) => respond(StatusCode::OK, body),
        Err(e) => fail(e),
    }
}

/// The matchers of one `match[]` selector.
fn selector_matchers(s: &str) -> Result<Vec<Vec<LabelMatcher>>, QueryError> {
    let expr = crate::engine::parse_param(s, "match[]")?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(QueryError::bad(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector"
        )));
    };
    let mut base = Vec::new();
    if let Some(n) = &vs.name {
        base.push(LabelMatcher::equal(stratus_model::METRIC_NAME, n));
    }
    let compile = |m: &promql_parser::label::Matcher| {
        crate::matcher::from_parser(m)
            .map_err(|e| QueryError::bad(format!("invalid regular expression {:?}: {e}", m.value)))
    };
    for m in &vs.matchers.matchers {
        base.push(compile(m)?);
    }
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![base]);
    }
    vs.matchers
        .or_matchers
        .iter()
        .map(|g| {
            let mut all = base.clone();
            for m in g {
                all.push(compile(m)?);
            }
            Ok(all)
        })
        .collect()
}

/// Label sets of the series matching any `match[]` in the time range,
/// found by `deadline`. Between selectors the task yields, so a request
/// whose client went away stops there.
async fn matching_series(
    st: &QueryState,
    tenant: &TenantId,
    p: &Params,
    require: bool,
    deadline: std::time::Instant,
) -> Result<BTreeSet<Labels>, QueryError> {
    let selectors = p.all("match[]");
    if selectors.is_empty() && require {
        return Err(QueryError::bad("no match[] parameter provided"));
    }
    check_selector_count(selectors.len())?;
    let range = TimeRange::new(
        time_or(p, "start", params::MIN_TIME)?,
        time_or(p, "end", params::MAX_TIME)?,
    );
    let mut groups = Vec::new();
    for s in &selectors {
        groups.extend(selector_matchers(s)?);
    }
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    let mut out = BTreeSet::new();
    for matchers in groups {
        if std::time::Instant::now() > deadline {
            return Err(QueryError::Timeout);
        }
        let found = tokio::time::timeout_at(
            deadline.into(),
            st.source.series_labels(tenant, &matchers, range),
        )
        .await
        .map_err(|_| QueryError::Timeout)??;
        out.extend(found);
        tokio::task::yield_now().await;
    }
    Ok(out)
}

fn check_selector_count(n: usize) -> Result<(), QueryError> {
    if n > MAX_SELECTORS {
        return Err(QueryError::bad(format!(
            "invalid parameter \"match[]\": {n} selectors, more than the {MAX_SELECTORS} allowed in one request"
        )));
    }
    Ok(())
}

fn limit(p: &Params) -> Result<Option<usize>, QueryError> {
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

fn string_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
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

async fn series(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (tenant, p) = request(&st, &method, &headers, raw, body).await?;
        let lim = limit(&p)?;
        let deadline = read_deadline(&st, &p)?;
        let found = matching_series(&st, &tenant, &p, true, deadline).await?;
        let mut out = String::from("[");
        for (i, l) in found.iter().take(lim.unwrap_or(usize::MAX)).enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_labels(&mut out, l);
        }
        out.push(']');
        Ok::<_, QueryError>(out)
    };
    match run.await {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

async fn labels(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (tenant, p) = request(&st, &method, &headers, raw, body).await?;
        let lim = limit(&p)?;
        let deadline = read_deadline(&st, &p)?;
        let found = matching_series(&st, &tenant, &p, false, deadline).await?;
        let names: BTreeSet<&str> = found
            .iter()
            .flat_map(|l| l.iter().map(|x| x.name.as_str()))
            .collect();
        Ok::<_, QueryError>(string_list(
            names.into_iter().take(lim.unwrap_or(usize::MAX)),
        ))
    };
    match run.await {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

async fn label_values(
    State(st): State<QueryState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let run = async {
        let (tenant, p) = request(&st, &Method::GET, &headers, raw, Body::empty()).await?;
        // Prometheus 3 accepts UTF-8 names escaped as `U__...`.
        let name = unescape_label_name(&name);
        let lim = limit(&p)?;
        let deadline = read_deadline(&st, &p)?;
        let found = matching_series(&st, &tenant, &p, false, deadline).await?;
        let values: BTreeSet<&str> = found.iter().filter_map(|l| l.get(&name)).collect();
        Ok::<_, QueryError>(string_list(
            values.into_iter().take(lim.unwrap_or(usize::MAX)),
        ))
    };
    match run.await {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

/// Prometheus's `U__` escaping of label names in URL paths.
fn unescape_label_name(s: &str) -> String {
    let Some(rest) = s.strip_prefix("U__") else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return s.to_string(),
        }
    }
    out
}

async fn metadata(
    State(st): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let run = async {
        let (tenant, p) = request(&st, &Method::GET, &headers, raw, Body::empty()).await?;
        let lim = limit(&p)?;
        let metric = p.get("metric").filter(|m| !m.is_empty());
        let deadline = read_deadline(&st, &p)?;
        let all = tokio::time::timeout_at(deadline.into(), st.source.metadata(&tenant))
            .await
            .map_err(|_| QueryError::Timeout)??;
        let mut by_name: BTreeMap<&str, Vec<&stratus_model::MetricMetadata>> = BTreeMap::new();
        for md in &all {
            if metric.is_none_or(|m| m == md.metric_family) {
                by_name.entry(&md.metric_family).or_default().push(md);
            }
        }
        let mut out = String::from("{");
        for (i, (name, mds)) in by_name
            .into_iter()
            .take(lim.unwrap_or(usize::MAX))
            .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            json::write_str(&mut out, name);
            out.push_str(":[");
            for (j, md) in mds.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"type\":");
                json::write_str(&mut out, md.metric_type.as_str());
                out.push_str(",\"help\":");
                json::write_str(&mut out, &md.help);
                out.push_str(",\"unit\":");
                json::write_str(&mut out, &md.unit);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
        Ok::<_, QueryError>(out)
    };
    match run.await {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

async fn exemplars(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (_, p) = request(&st, &method, &headers, raw, body).await?;
        parse(required(&p, "query")?)?;
        Ok::<_, QueryError>(())
    };
    match run.await {
        // Exemplars are not stored yet: always an empty list.
        Ok(()) => ok("[]"),
        Err(e) => fail(e),
    }
}

async fn format_query(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (_, p) = request(&st, &method, &headers, raw, body).await?;
        let expr = parse(required(&p, "query")?)?;
        // Printing is quadratic in the depth (indentation): on the query
        // pool, not on a thread that serves requests.
        let opts = st.engine.options();
        let pretty = opts
            .pool
            .run(read_deadline(&st, &p)?, move |_| Ok(expr.prettify()))
            .await?;
        let mut out = String::new();
        json::write_str(&mut out, &pretty);
        Ok::<_, QueryError>(out)
    };
    match run.await {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

async fn parse_query(
    State(st): State<QueryState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let (_, p) = request(&st, &method, &headers, raw, body).await?;
        let expr = parse(required(&p, "query")?)?;
        let mut out = String::from("{\"type\":");
        json::write_str(&mut out, &format!("{:?}", expr.value_type()).to_lowercase());
        out.push_str(",\"expr\":");
        json::write_str(&mut out, &expr.to_string());
        out.push('}');
        Ok::<_, QueryError>(out)
    };
    match run.await {
        Ok(data) => ok(&data),
        Err(e) => fail(e),
    }
}

/// Prometheus's `delete_series`: records a delete request (tombstone) per
/// `match[]` selector in the tenant's catalog
/// ([`stratus_storage::catalog::add_delete_requests`], which also applies
/// `--max-pending-deletes`). Readers hide the samples at once; the
/// compactor removes them from the blocks.
async fn delete_series(
    State(st): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let Some(bucket) = st.admin.clone() else {
            return Err(QueryError::Unavailable(
                "admin APIs disabled; start Stratus with --enable-admin-api".into(),
            ));
        };
        let (tenant, p) = request(&st, &Method::POST, &headers, raw, body).await?;
        let selectors = p.all("match[]");
        if selectors.is_empty() {
            return Err(QueryError::bad("no match[] parameter provided"));
        }
        check_selector_count(selectors.len())?;
        let min_time = time_or(&p, "start", params::MIN_TIME)?;
        let max_time = time_or(&p, "end", params::MAX_TIME)?;
        let now = st.clock.now_ms();
        let mut requests = Vec::new();
        for s in selectors {
            for group in parser_matchers(s)? {
                requests.push(stratus_codec::Tombstone {
                    id: ulid::Ulid::new().to_string(),
                    matchers: group,
                    min_time,
                    max_time,
                    created_ms: now,
                });
            }
        }
        stratus_storage::catalog::add_delete_requests(
            &bucket,
            &tenant,
            &requests,
            st.max_pending_deletes,
            now,
        )
        .await
        .map_err(delete_refused)?;
        Ok(())
    };
    match run.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => fail(e),
    }
}

/// The answer to a delete request that was not recorded.
fn delete_refused(e: stratus_storage::catalog::DeleteRequestError) -> QueryError {
    use stratus_storage::catalog::{CommitError, DeleteRequestError};
    match e {
        DeleteRequestError::TooManyPending { .. } => QueryError::bad(e.to_string()),
        DeleteRequestError::Commit(CommitError::Storage(s)) => s.into(),
        DeleteRequestError::Commit(c @ CommitError::Corrupt { .. }) => {
            let key = match &c {
                CommitError::Corrupt { tenant, .. } => {
                    Some(stratus_storage::keys::catalog(tenant).to_string())
                }
                _ => None,
            };
            QueryError::corrupt(key, c.to_string())
        }
        DeleteRequestError::Commit(c) => {
            QueryError::Unavailable(format!("{c}; retry the delete request"))
        }
    }
}

/// The matchers of a selector as stored in a tombstone; one group per `or`.
fn parser_matchers(s: &str) -> Result<Vec<Vec<stratus_codec::TombstoneMatcher>>, QueryError> {
    use promql_parser::label::MatchOp;
    let expr = crate::engine::parse_param(s, "match[]")?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(QueryError::bad(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector"
        )));
    };
    let conv = |m: &promql_parser::label::Matcher| stratus_codec::TombstoneMatcher {
        name: m.name.clone(),
        op: match m.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Re(_) => "=~",
            MatchOp::NotRe(_) => "!~",
        }
        .into(),
        value: m.value.clone(),
    };
    let mut base: Vec<stratus_codec::TombstoneMatcher> = Vec::new();
    if let Some(n) = &vs.name {
        base.push(stratus_codec::TombstoneMatcher {
            name: stratus_model::METRIC_NAME.into(),
            op: "=".into(),
            value: n.clone(),
        });
    }
    base.extend(vs.matchers.matchers.iter().map(conv));
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![base]);
    }
    Ok(vs
        .matchers
        .or_matchers
        .iter()
        .map(|g| base.iter().cloned().chain(g.iter().map(conv)).collect())
        .collect())
}

async fn buildinfo() -> Response {
    // Grafana reads `version` to pick the Prometheus features it may use.
    ok(concat!(
        "{\"version\":\"3.0.0\",\"revision\":\"stratus-",
        env!("CARGO_PKG_VERSION"),
        "\",\"branch\":\"main\",\"buildUser\":\"stratus\",\"buildDate\":\"\",\"goVersion\":\"none (Rust)\",\"application\":\"stratus\"}"
    ))
}

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod tests;
