//! `/api/v1/query` and `/api/v1/query_range`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json;
use super::params::{parse_duration, parse_time};
use super::respond::*;
use super::state::{QueryState, MAX_POINTS_PER_SERIES};
use crate::engine::{parse, Engine, QueryResult};
use crate::error::QueryError;

pub(super) async fn query(
    State(st): State<QueryState>,
    ApiRequest { tenant, params: p }: ApiRequest,
) -> Response {
    let run = async {
        let q = required(&p, "query")?;
        let t = time_or(&p, "time", st.clock.now_ms())?;
        let engine = engine_for(&st, &p)?;
        let (r, stats) = with_stats(&p, engine.instant(&tenant, q, t)).await;
        result_body(&engine, r, stats, (t, 0))
    };
    respond_result(run.await)
}

pub(super) async fn query_range(
    State(st): State<QueryState>,
    ApiRequest { tenant, params: p }: ApiRequest,
) -> Response {
    let run = async {
        let q = required(&p, "query")?;
        let start = parse_time(required(&p, "start")?, "start")?;
        let end = parse_time(required(&p, "end")?, "end")?;
        if end < start {
            return Err(QueryError::bad(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        let step_text = required(&p, "step")?;
        // As Prometheus: a step of any positive length is a step (0.0001 is
        // 100 µs); zero and negative ones are refused with their own text.
        let negative = step_text.parse::<f64>().is_ok_and(|f| f <= 0.0);
        let step = match parse_duration(step_text, "step") {
            Ok(d) if !negative && !d.is_zero() => d,
            Ok(_) => return Err(zero_or_negative_step()),
            Err(_) if negative => return Err(zero_or_negative_step()),
            Err(e) => return Err(e),
        };
        let points = u128::try_from(end - start).unwrap_or(0) * 1_000_000 / step.as_nanos();
        // Steps under a millisecond answer one point at most (below).
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
        if points > MAX_POINTS_PER_SERIES as u128 {
            return Err(QueryError::bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let engine = engine_for(&st, &p)?;
        let eval = async {
            // Per-step counts need every step evaluated: no cached splits.
            let cache = st
                .results_cache
                .as_ref()
                .filter(|_| !engine.options().per_step_stats);
            let Some(cache) = cache else {
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
        result_body(&engine, r, stats, (start, step_ms))
    };
    respond_result(run.await)
}

fn zero_or_negative_step() -> QueryError {
    QueryError::bad(
        "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
    )
}

/// The whole body of a query's answer, its value held against the query
/// memory limit while it is written; `steps` (start, step in ms) place
/// per-step sample counts.
fn result_body(
    engine: &Engine,
    r: Result<QueryResult, QueryError>,
    stats: Option<RunStats>,
    steps: (i64, i64),
) -> Result<String, QueryError> {
    let mut r = r?;
    let stats = stats.map(|s| stats_json(&s, &r.sample_stats, steps));
    let _answer = hold_answer(engine, &r.value)?;
    note_resolution(&mut r);
    Ok(json::query_result_with_stats(
        &r.value,
        &r.annotations,
        stats.as_deref(),
    ))
}

fn respond_result(body: Result<String, QueryError>) -> Response {
    match body {
        Ok(body) => respond(StatusCode::OK, body),
        Err(e) => fail(e),
    }
}
