//! `POST /api/v1/push`: a JSON batch API for scripts and cron jobs.
//!
//! ```json
//! {"metrics": [{"name": "backup_bytes", "type": "gauge", "value": 1.5e9,
//!               "timestamp": 1700000000, "tags": {"host": "db1"}}]}
//! ```
//! `timestamp` is Unix seconds (may be fractional) or milliseconds: values
//! below 10^11 are taken as seconds. Missing means now. `value` is a number
//! or one of the strings "NaN", "+Inf", "-Inf". `type` is optional.
//! The answer counts what was accepted and lists what was not.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_model::{MetricMetadata, MetricType, Sample, METRIC_NAME};

use crate::decode::Decoded;
use crate::metrics::RequestLabels;
use crate::report::Report;
use crate::request::{commit_decoded, read_body, IngestState, Refusal};
use crate::validate::{Reason, Rejection};

/// Below this a timestamp is read as seconds (10^11 s is the year 5138;
/// 10^11 ms is 1973).
const SECONDS_BELOW: f64 = 1e11;

#[derive(Debug, Deserialize)]
struct PushBody {
    metrics: Vec<PushMetric>,
}

#[derive(Debug, Deserialize)]
struct PushMetric {
    name: String,
    #[serde(rename = "type", default)]
    metric_type: Option<String>,
    value: Value,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    help: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PushResponse {
    pub status: String,
    pub accepted: u64,
    pub rejected: u64,
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

fn value(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("value {n} is not a float")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Inf" | "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            other => other.parse::<f64>().map_err(|_| {
                format!("value {other:?} is not a number, \"NaN\", \"+Inf\" or \"-Inf\"")
            }),
        },
        other => Err(format!("value {other} is not a number")),
    }
}

fn timestamp_ms(v: Option<&Value>, now_ms: i64) -> Result<i64, String> {
    let Some(v) = v else { return Ok(now_ms) };
    let f = match v {
        Value::Null => return Ok(now_ms),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s
            .parse::<f64>()
            .map_err(|_| format!("timestamp {s:?} is not a number"))?,
        other => return Err(format!("timestamp {other} is not a number")),
    };
    // The value as the client wrote it, cut short: `1e300`, not 300 digits.
    let shown = || {
        let text = v.to_string();
        match text.char_indices().nth(40) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text,
        }
    };
    if !f.is_finite() {
        return Err(format!("timestamp {} is not a finite number", shown()));
    }
    let ms = if f.abs() < SECONDS_BELOW {
        f * 1000.0
    } else {
        f
    };
    if ms.abs() > 9.2e18 {
        return Err(format!(
            "timestamp {} is out of range (Unix seconds or milliseconds expected)",
            shown()
        ));
    }
    Ok(ms.round() as i64)
}

/// Validates the JSON metrics into the same form remote_write produces.
fn decode<'a>(body: &'a PushBody, st: &IngestState, now_ms: i64) -> Decoded<'a> {
    let mut out = Decoded::default();
    let mut families: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (i, m) in body.metrics.iter().enumerate() {
        let r = &mut out.report;
        r.series_received += 1;
        r.samples_received += 1;
        let at = |reason, msg: String| {
            Rejection::new(reason, format!("metrics[{i}] ({}): {msg}", m.name))
        };
        let mtype = match m.metric_type.as_deref().map(MetricType::parse) {
            None => None,
            Some(Some(t)) => Some(t),
            Some(None) => {
                let t = m.metric_type.clone().unwrap_or_default();
                r.reject(
                    at(
                        Reason::InvalidMetricType,
                        format!("type {t:?} is not one of counter, gauge, histogram, summary, info, stateset, unknown"),
                    ),
                    1,
                );
                continue;
            }
        };
        let v = match value(&m.value) {
            Ok(v) => v,
            Err(msg) => {
                r.reject(at(Reason::InvalidValue, msg), 1);
                continue;
            }
        };
        let t = match timestamp_ms(m.timestamp.as_ref(), now_ms) {
            Ok(t) => t,
            Err(msg) => {
                r.reject(at(Reason::InvalidTimestamp, msg), 1);
                continue;
            }
        };
        pairs.clear();
        pairs.push((METRIC_NAME, m.name.as_str()));
        pairs.extend(m.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut item = Report::default();
        out.batch
            .accept_pairs(&pairs, &[Sample::new(t, v)], &st.limits, now_ms, &mut item);
        let r = &mut out.report;
        r.samples_valid += item.samples_valid;
        for (msg, (reason, n)) in item.messages.into_iter().zip(item.rejected) {
            r.reject(at(reason, msg), n);
        }
        if item.samples_valid > 0 && (mtype.is_some() || m.help.is_some()) {
            families.insert(
                m.name.clone(),
                MetricMetadata {
                    metric_family: m.name.clone(),
                    metric_type: mtype.unwrap_or_default(),
                    help: m.help.clone().unwrap_or_default(),
                    unit: String::new(),
                },
            );
        }
    }
    out.batch.metadata = families.into_values().collect();
    out.keep_first_per_timestamp()
}

pub(crate) async fn push(
    State(st): State<IngestState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (status, resp) = handle(&st, &headers, body).await;
    st.metrics
        .requests
        .get_or_create(&RequestLabels {
            protocol: "push",
            code: status.as_u16(),
        })
        .inc();
    (status, Json(resp)).into_response()
}

async fn handle(st: &IngestState, headers: &HeaderMap, body: Body) -> (StatusCode, PushResponse) {
    let refused = |r: Refusal, rejected: u64| {
        (
            r.status,
            PushResponse {
                status: "error".into(),
                accepted: 0,
                rejected,
                errors: vec![],
                error: Some(r.message),
            },
        )
    };
    let tenant = match st.tenants.write(headers) {
        Ok(t) => t.into_id(),
        Err(r) => return refused(r.into(), 0),
    };
    let bytes = match read_body(body, st.http.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return refused(r, 0),
    };
    let parsed: PushBody = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return refused(
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        r#"body is not valid push JSON ({{"metrics":[{{"name":..,"value":..}}]}} expected): {e}"#
                    ),
                ),
                0,
            )
        }
    };
    let decoded = decode(&parsed, st, st.clock.now_ms());
    let report = decoded.report.clone();
    let valid = report.samples_valid;
    if let Err(r) = commit_decoded(st, &tenant, decoded).await {
        return refused(r, report.samples_received);
    }
    let mut errors = report.messages.clone();
    if report.more_messages > 0 {
        errors.push(format!("(and {} more errors)", report.more_messages));
    }
    if report.duplicates > 0 {
        errors.push(format!(
            "duplicate sample for timestamp: {} sample(s) had the labels and timestamp of an earlier one in this request; the first was kept",
            report.duplicates
        ));
    }
    let rejected = report.samples_rejected() + report.duplicates;
    let all_rejected = valid == 0 && rejected > 0;
    (
        if all_rejected {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        PushResponse {
            status: if all_rejected { "error" } else { "success" }.into(),
            accepted: valid,
            rejected,
            errors,
            error: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_seconds_or_milliseconds() {
        let now = 5;
        assert_eq!(timestamp_ms(None, now), Ok(5));
        assert_eq!(
            timestamp_ms(Some(&Value::from(1_700_000_000)), now),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            timestamp_ms(Some(&Value::from(1_700_000_000.25)), now),
            Ok(1_700_000_000_250)
        );
        assert_eq!(
            timestamp_ms(Some(&Value::from(1_700_000_000_123i64)), now),
            Ok(1_700_000_000_123)
        );
        assert!(timestamp_ms(Some(&Value::from("NaN")), now).is_err());
        assert!(timestamp_ms(Some(&Value::from("soon")), now).is_err());
        assert!(timestamp_ms(Some(&Value::from(true)), now).is_err());
        // Errors show the value as written, bounded.
        let huge: Value = serde_json::from_str("1e300").expect("json");
        assert_eq!(
            timestamp_ms(Some(&huge), now),
            Err("timestamp 1e+300 is out of range (Unix seconds or milliseconds expected)".into())
        );
        let long = Value::from("9".repeat(400));
        let e = timestamp_ms(Some(&long), now).expect_err("out of range");
        assert!(e.len() < 120, "{e}");
    }

    #[test]
    fn values_accept_prometheus_special_strings() {
        assert_eq!(value(&Value::from(2.5)), Ok(2.5));
        assert!(value(&Value::from("NaN")).is_ok_and(f64::is_nan));
        assert_eq!(value(&Value::from("-Inf")), Ok(f64::NEG_INFINITY));
        assert!(value(&Value::from("x")).is_err());
        assert!(value(&Value::Null).is_err());
    }
}
