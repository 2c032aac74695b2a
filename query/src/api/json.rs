//! JSON in Prometheus's exact shapes: values as strings formatted like Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)`, timestamps as seconds with up to
//! three decimals, `warnings`/`infos` beside `data`.

use std::fmt::Write as _;

use stratus_model::{Labels, Sample};

use crate::annotations::Annotations;
use crate::engine::QueryValue;
use crate::error::QueryError;
use crate::source::Series;

/// A sample value as Prometheus prints it.
pub fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Milliseconds as seconds: `1435781451.781`, `-1.5`, `10`.
pub fn write_ts(out: &mut String, t: i64) {
    let (sign, t) = if t < 0 {
        ("-", t.unsigned_abs())
    } else {
        ("", t as u64)
    };
    let _ = write!(out, "{sign}{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

pub fn write_str(out: &mut String, s: &str) {
    // serde_json escapes exactly as JSON requires.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

fn write_point(out: &mut String, s: Sample) {
    out.push('[');
    write_ts(out, s.t);
    out.push_str(",\"");
    out.push_str(&value(s.v));
    out.push_str("\"]");
}

fn write_matrix(out: &mut String, m: &[Series]) {
    out.push('[');
    for (i, s) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_labels(out, &s.labels);
        out.push_str(",\"values\":[");
        for (j, p) in s.samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            write_point(out, *p);
        }
        out.push_str("]}");
    }
    out.push(']');
}

fn write_annotations(out: &mut String, a: &Annotations) {
    for (key, list) in [("warnings", &a.warnings), ("infos", &a.infos)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(out, ",\"{key}\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, w);
        }
        out.push(']');
    }
}

/// `{"status":"success","data":{"resultType":...,"result":...}}`.
#[cfg(test)]
pub fn query_result(v: &QueryValue, annotations: &Annotations) -> String {
    query_result_with_stats(v, annotations, None)
}

/// The answer of a query, with `"stats":<stats>` (already encoded JSON) in
/// `data`, where Prometheus puts the answer to `stats=all`.
pub fn query_result_with_stats(
    v: &QueryValue,
    annotations: &Annotations,
    stats: Option<&str>,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"status\":\"success\",\"data\":{\"resultType\":");
    match v {
        QueryValue::Scalar { t, v } => {
            out.push_str("\"scalar\",\"result\":");
            write_point(&mut out, Sample::new(*t, *v));
        }
        QueryValue::String { t, s } => {
            out.push_str("\"string\",\"result\":[");
            write_ts(&mut out, *t);
            out.push(',');
            write_str(&mut out, s);
            out.push(']');
        }
        QueryValue::Vector(samples) => {
            out.push_str("\"vector\",\"result\":[");
            for (i, (labels, s)) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, labels);
                out.push_str(",\"value\":");
                write_point(&mut out, *s);
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(m) => {
            out.push_str("\"matrix\",\"result\":");
            write_matrix(&mut out, m);
        }
    }
    if let Some(stats) = stats {
        out.push_str(",\"stats\":");
        out.push_str(stats);
    }
    out.push('}');
    write_annotations(&mut out, annotations);
    out.push('}');
    out
}

/// `{"status":"success","data":<data>}` for an already-encoded `data`.
pub fn success(data: &str) -> String {
    format!("{{\"status\":\"success\",\"data\":{data}}}")
}

/// `{"status":"error","errorType":...,"error":...}`.
pub fn error(e: &QueryError) -> String {
    let mut out = String::new();
    out.push_str("{\"status\":\"error\",\"errorType\":");
    write_str(&mut out, e.error_type());
    out.push_str(",\"error\":");
    write_str(&mut out, &e.to_string());
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_prometheus_prints_them() {
        assert_eq!(value(1.0), "1");
        assert_eq!(value(0.1), "0.1");
        assert_eq!(value(-2.5e-7), "-0.00000025");
        assert_eq!(value(1e21), "1000000000000000000000");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
        let mut s = String::new();
        write_ts(&mut s, 1_435_781_451_781);
        s.push(' ');
        write_ts(&mut s, 10_000);
        s.push(' ');
        write_ts(&mut s, -1_500);
        s.push(' ');
        write_ts(&mut s, 1_005);
        assert_eq!(s, "1435781451.781 10 -1.500 1.005");
    }

    #[test]
    fn vector_shape() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]).expect("labels");
        let v = QueryValue::Vector(vec![(labels, Sample::new(1000, 1.0))]);
        let mut a = Annotations::default();
        a.info("PromQL info: x");
        assert_eq!(
            query_result(&v, &a),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1,"1"]}]},"infos":["PromQL info: x"]}"#
        );
    }
}
