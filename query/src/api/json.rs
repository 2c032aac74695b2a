//! JSON in Prometheus's exact shapes: values as strings formatted like Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)`, timestamps as seconds with up to
//! three decimals, `warnings`/`infos` beside `data`.

use std::fmt::Write as _;

use stratus_model::{Labels, Sample};

use crate::annotations::Annotations;
use crate::error::QueryError;
use crate::source::Series;
use crate::value::QueryValue;

/// A sample value as Prometheus prints it.
#[cfg(test)]
fn value(v: f64) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// Appends a sample value as Go's `strconv.FormatFloat(v, 'f', -1, 64)`
/// prints it: the shortest digits that read back to `v`, never an
/// exponent. Ryu finds the digits; they are then laid out in fixed
/// notation (Ryu prints `1e21` and `1.5e-7` where Go prints every zero).
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    let Some(e) = s.find('e') else {
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
        return;
    };
    let (mantissa, exp) = (&s[..e], &s[e + 1..]);
    let exp: i64 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    // Digits without the point; the point goes after `point` of them.
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let point = int.len() as i64 + exp;
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(digits);
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// Milliseconds as seconds: `1435781451.781`, `-1.5`, `10`.
pub fn write_ts(out: &mut String, t: i64) {
    let (sign, t) = if t < 0 {
        ("-", t.unsigned_abs())
    } else {
        ("", t as u64)
    };
    out.push_str(sign);
    out.push_str(itoa::Buffer::new().format(t / 1000));
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
    write_value(out, s.v);
    out.push_str("\"]");
}

fn write_matrix(out: &mut String, m: &[Series]) {
    // At most about 48 bytes a point (`[1700000000.123,"` and 17
    // significant digits with exponent) and 200 a series: one allocation
    // instead of doubling through hundreds of megabytes. Pages reserved but
    // never written are not resident.
    let points: usize = m.iter().map(|s| s.samples.len()).sum();
    out.reserve(points * 48 + m.len() * 200);
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

    /// Rust's `Display` for `f64` prints the shortest round-trip digits
    /// without an exponent, as Go's 'f', -1 does; the fast path must agree
    /// with it on every finite value, but for one case: where the exact
    /// value lies halfway between the two shortest strings, Go (like ryu)
    /// rounds the last digit to even and `Display` rounds it up. There the
    /// fast path must still round-trip with as many digits.
    fn same_as_display(v: f64) {
        if !v.is_finite() {
            return;
        }
        let (fast, display) = (value(v), format!("{v}"));
        if fast != display {
            assert_eq!(fast.parse::<f64>().ok(), Some(v), "bits {:#x}", v.to_bits());
            assert_eq!(fast.len(), display.len(), "bits {:#x}", v.to_bits());
            let last = |s: &str| s.bytes().last().map_or(0, |b| b - b'0');
            assert!(
                last(&fast) % 2 == 0 && last(&display) == last(&fast) + 1,
                "only a tie rounds differently: {fast} against {display}"
            );
        }
    }

    #[test]
    fn ties_round_to_even_as_go_does() {
        // 1899914236154451.25 exactly: Go's FormatFloat(v, 'f', -1, 64)
        // answers ...451.2 (Python's repr too); Rust's Display ...451.3.
        let v = f64::from_bits(0x431a_ffd9_0499_494d);
        assert_eq!(value(v), "1899914236154451.2");
    }

    #[test]
    fn fast_formatting_matches_display_on_edges() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.5,
            123456.789,
            1e15,
            1e16,
            1.5e16,
            9.007199254740993e15,
            1e-5,
            1e-6,
            1.2345e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            -1e300,
            0.1 + 0.2,
        ] {
            same_as_display(v);
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_formatting_matches_display(bits in proptest::prelude::any::<u64>()) {
            same_as_display(f64::from_bits(bits));
        }

        #[test]
        fn fast_formatting_matches_display_on_decimals(n in -10_000_000i64..10_000_000, scale in 0u32..12) {
            same_as_display(n as f64 / 10f64.powi(scale as i32));
        }
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
