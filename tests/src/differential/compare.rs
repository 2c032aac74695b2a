//! Compares two answers of the Prometheus query API.
//!
//! Same status; for errors nothing else (messages differ between
//! implementations). For success the same `resultType`, the same series
//! (matched by label set; in order only when asked), equal timestamps, and
//! values equal within [`REL_TOLERANCE`] ("NaN" equals "NaN", infinities
//! equal themselves). Warnings and infos are not compared.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Largest relative difference of two values that still counts as equal.
pub const REL_TOLERANCE: f64 = 1e-6;

/// At most this many differing points are listed per mismatch.
const MAX_LINES: usize = 12;

type Labels = BTreeMap<String, String>;
/// Points as (milliseconds, value text).
type Points = Vec<(i64, String)>;

/// Values as Prometheus prints them, compared with [`REL_TOLERANCE`].
pub fn values_equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
                return x.is_nan() && y.is_nan() || x == y;
            }
            (x - y).abs() <= REL_TOLERANCE * x.abs().max(y.abs())
        }
        _ => false,
    }
}

/// `{a="1", b="2"}` for a label set.
pub fn format_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn labels_of(item: &Value) -> Result<Labels, String> {
    let m = item
        .get("metric")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("a result without \"metric\": {item}"))?;
    m.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("label {k} is not a string: {v}"))
        })
        .collect()
}

/// A point `[seconds, "value"]` as (milliseconds, value text).
fn point(p: &Value) -> Result<(i64, String), String> {
    let arr = p
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("not a point: {p}"))?;
    let t = arr[0]
        .as_f64()
        .ok_or_else(|| format!("not a timestamp: {}", arr[0]))?;
    let v = arr[1]
        .as_str()
        .ok_or_else(|| format!("not a value string: {}", arr[1]))?;
    Ok(((t * 1000.0).round() as i64, v.to_string()))
}

/// Series of a vector or matrix result, in answer order.
fn series(result: &Value, matrix: bool) -> Result<Vec<(Labels, Points)>, String> {
    let items = result
        .as_array()
        .ok_or_else(|| format!("result is not an array: {result}"))?;
    items
        .iter()
        .map(|item| {
            let labels = labels_of(item)?;
            let points = if matrix {
                item.get("values")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("a series without \"values\": {item}"))?
                    .iter()
                    .map(point)
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                vec![point(item.get("value").ok_or_else(|| {
                    format!("a sample without \"value\": {item}")
                })?)?]
            };
            Ok((labels, points))
        })
        .collect()
}

fn compare_points(
    out: &mut Vec<String>,
    labels: &Labels,
    s: &[(i64, String)],
    p: &[(i64, String)],
) {
    let (mut i, mut j) = (0, 0);
    while i < s.len() || j < p.len() {
        let (ts, tp) = (s.get(i).map(|x| x.0), p.get(j).map(|x| x.0));
        let at = |t: i64| super::evaluation::seconds(t);
        match (ts, tp) {
            (Some(a), Some(b)) if a == b => {
                if !values_equal(&s[i].1, &p[j].1) {
                    out.push(format!(
                        "{} @ {}: stratus {} prometheus {}",
                        format_labels(labels),
                        at(a),
                        s[i].1,
                        p[j].1
                    ));
                }
                i += 1;
                j += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                out.push(format!(
                    "{} @ {}: stratus {} prometheus (none)",
                    format_labels(labels),
                    at(a),
                    s[i].1
                ));
                i += 1;
            }
            (_, Some(b)) => {
                out.push(format!(
                    "{} @ {}: stratus (none) prometheus {}",
                    format_labels(labels),
                    at(b),
                    p[j].1
                ));
                j += 1;
            }
            _ => break,
        }
    }
}

fn compare_series(
    stratus: &Value,
    prometheus: &Value,
    matrix: bool,
    ordered: bool,
) -> Result<Vec<String>, String> {
    let s = series(stratus, matrix)?;
    let p = series(prometheus, matrix)?;
    let mut out = Vec::new();
    if ordered && !matrix {
        let order =
            |x: &[(Labels, Points)]| -> Vec<Labels> { x.iter().map(|e| e.0.clone()).collect() };
        let (os, op) = (order(&s), order(&p));
        if os != op && os.len() == op.len() {
            out.push("order differs:".to_string());
            for (a, b) in os.iter().zip(&op).filter(|(a, b)| a != b) {
                out.push(format!(
                    "  stratus {} where prometheus {}",
                    format_labels(a),
                    format_labels(b)
                ));
            }
        }
    }
    let sm: BTreeMap<&Labels, &Points> = s.iter().map(|(l, v)| (l, v)).collect();
    let pm: BTreeMap<&Labels, &Points> = p.iter().map(|(l, v)| (l, v)).collect();
    if sm.len() != s.len() {
        out.push("stratus answered a label set more than once".to_string());
    }
    for (labels, sv) in &sm {
        match pm.get(labels) {
            Some(pv) => compare_points(&mut out, labels, sv, pv),
            None => out.push(format!(
                "{} only in stratus ({} points)",
                format_labels(labels),
                sv.len()
            )),
        }
    }
    for (labels, pv) in &pm {
        if !sm.contains_key(labels) {
            out.push(format!(
                "{} only in prometheus ({} points)",
                format_labels(labels),
                pv.len()
            ));
        }
    }
    Ok(out)
}

/// `Ok(())` when the answers agree, else a readable list of differences.
/// `ordered`: the order of an instant vector counts.
pub fn compare(stratus: &Value, prometheus: &Value, ordered: bool) -> Result<(), String> {
    let status = |v: &Value| v.get("status").and_then(Value::as_str).map(str::to_owned);
    let (ss, ps) = (status(stratus), status(prometheus));
    if ss != ps {
        let error = |v: &Value| {
            v.get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        return Err(format!(
            "status: stratus {ss:?} {} prometheus {ps:?} {}",
            error(stratus),
            error(prometheus)
        ));
    }
    if ps.as_deref() != Some("success") {
        return Ok(());
    }
    let data = |v: &Value| v.get("data").cloned().unwrap_or(Value::Null);
    let (sd, pd) = (data(stratus), data(prometheus));
    let rtype = |d: &Value| {
        d.get("resultType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (st, pt) = (rtype(&sd), rtype(&pd));
    if st != pt {
        return Err(format!("resultType: stratus {st:?} prometheus {pt:?}"));
    }
    let (sr, pr) = (&sd["result"], &pd["result"]);
    let lines = match pt.as_str() {
        "scalar" | "string" => {
            let (a, b) = (point(sr)?, point(pr)?);
            let same = a.0 == b.0
                && if pt == "scalar" {
                    values_equal(&a.1, &b.1)
                } else {
                    a.1 == b.1
                };
            if same {
                vec![]
            } else {
                vec![format!("stratus {sr} prometheus {pr}")]
            }
        }
        "vector" => compare_series(sr, pr, false, ordered)?,
        "matrix" => compare_series(sr, pr, true, false)?,
        other => return Err(format!("unknown resultType {other:?}")),
    };
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for l in lines.iter().take(MAX_LINES) {
        let _ = writeln!(text, "    {l}");
    }
    if lines.len() > MAX_LINES {
        let _ = writeln!(text, "    ... {} more", lines.len() - MAX_LINES);
    }
    Err(text)
}

/// The first `max` characters of an answer, for reports.
pub fn trim(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}... ({} bytes)", &text[..i], text.len()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vector(items: &[(&str, &str)]) -> Value {
        let result: Vec<Value> = items
            .iter()
            .map(|(name, v)| json!({"metric": {"__name__": name}, "value": [10.5, v]}))
            .collect();
        json!({"status": "success", "data": {"resultType": "vector", "result": result}})
    }

    #[test]
    fn values_compare_with_relative_tolerance_and_specials() {
        assert!(values_equal("1", "1.0000001"));
        assert!(!values_equal("1", "1.00001"));
        assert!(values_equal("NaN", "NaN"));
        assert!(values_equal("+Inf", "+Inf"));
        assert!(!values_equal("+Inf", "-Inf"));
        assert!(!values_equal("NaN", "0"));
        assert!(!values_equal("0", "1e-300"));
    }

    #[test]
    fn series_match_by_labels_and_order_only_when_asked() {
        let a = vector(&[("x", "1"), ("y", "2")]);
        let b = vector(&[("y", "2"), ("x", "1")]);
        assert!(compare(&a, &b, false).is_ok());
        assert!(compare(&a, &b, true).is_err());
        let c = vector(&[("x", "1"), ("y", "3")]);
        let diff = compare(&a, &c, false).expect_err("differs");
        assert!(diff.contains("stratus 2 prometheus 3"), "{diff}");
        let d = vector(&[("x", "1")]);
        assert!(compare(&a, &d, false)
            .expect_err("differs")
            .contains("only in stratus"));
    }

    #[test]
    fn errors_match_any_error_but_not_a_success() {
        let e1 = json!({"status": "error", "errorType": "bad_data", "error": "a"});
        let e2 = json!({"status": "error", "errorType": "execution", "error": "b"});
        assert!(compare(&e1, &e2, false).is_ok());
        assert!(compare(&e1, &vector(&[]), false).is_err());
    }

    #[test]
    fn matrices_compare_points() {
        let m = |vals: Value| {
            json!({"status": "success", "data": {"resultType": "matrix",
                "result": [{"metric": {"a": "1"}, "values": vals}]}})
        };
        let a = m(json!([[1, "1"], [2.5, "2"]]));
        assert!(compare(&a, &m(json!([[1, "1"], [2.5, "2"]])), false).is_ok());
        let diff = compare(&a, &m(json!([[1, "1"], [3, "2"]])), false).expect_err("differs");
        assert!(
            diff.contains("@ 2.5: stratus 2 prometheus (none)"),
            "{diff}"
        );
        assert!(diff.contains("@ 3: stratus (none) prometheus 2"), "{diff}");
    }
}
