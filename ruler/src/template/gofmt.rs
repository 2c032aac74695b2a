//! Go's `printf` and Prometheus's `humanize*` functions, so templated text
//! matches Prometheus byte for byte; the verbs themselves (`%q`, `%g`,
//! `%e`, `%f`) are [`stratus_model::strutil`]'s.

use super::Value;

use stratus_model::strutil::{format_e as fmt_e, format_f as fmt_f, format_g_prec as fmt_g};

/// Go's `%v` of a float64.
pub fn fmt_v(v: f64) -> String {
    fmt_g(v, None)
}

/// Prometheus's `convertToFloat`.
pub fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Num(n) => Ok(*n),
        Value::Int(n) => Ok(*n as f64),
        Value::Str(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.go_type())),
    }
}

fn g4(v: f64) -> String {
    fmt_g(v, Some(4))
}

pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        // Go's int64 conversion truncates toward zero.
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus's `humanizeTimestamp`: Unix seconds printed as Go prints a
/// `time.Time`, in UTC (`2006-01-02 15:04:05.999999999 +0000 UTC`).
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(g4(v));
    }
    // Prometheus refuses what does not fit an int64 of nanoseconds.
    if v.abs() >= 9.2e9 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            fmt_v(v)
        ));
    }
    let secs = v.floor() as i64;
    let nanos = ((v - v.floor()) * 1e9).round() as i64;
    let (secs, nanos) = if nanos >= 1_000_000_000 {
        (secs + 1, 0)
    } else {
        (secs, nanos)
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = stratus_model::time::civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    Ok(out)
}

/// Go's `fmt` limit on widths and precisions.
const MAX_WIDTH: usize = 1_000_000;

/// A width or precision (0 when absent), read as Go's `parsenum` does: a
/// digit after the number passed [`MAX_WIDTH`] gives `None`, and Go gives
/// up on the rest of the format, which is consumed (so at most 10,000,009).
fn go_num(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: usize = 0;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        if n > MAX_WIDTH {
            chars.for_each(drop);
            return None;
        }
        n = n * 10 + d as usize;
        chars.next();
    }
    Some(n)
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %f %e %g
/// %%` with flags `-+ 0`, width and precision.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        // Go refuses widths and precisions past 1e6: the rest of the
        // format is dropped and `%!(NOVERB)` printed.
        let Some(width) = go_num(&mut chars) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let Some(p) = go_num(&mut chars) else {
                out.push_str("%!(NOVERB)");
                break;
            };
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let mut s = match (verb, arg) {
            ('v' | 'g' | 'G', Value::Num(n)) if verb != 'v' || prec.is_none() => fmt_g(*n, prec),
            ('v', Value::Num(n)) => fmt_g(*n, prec),
            ('f' | 'F', Value::Num(n)) => fmt_f(*n, prec.unwrap_or(6)),
            ('e', Value::Num(n)) => fmt_e(*n, prec.unwrap_or(6)),
            ('E', Value::Num(n)) => fmt_e(*n, prec.unwrap_or(6)).to_uppercase(),
            ('d', Value::Num(n)) => format!("%!d(float64={})", fmt_v(*n)),
            ('d' | 'v', Value::Int(n)) => n.to_string(),
            ('s' | 'v', Value::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', Value::Str(s)) => stratus_model::strutil::quote(s),
            ('s' | 'v', other) => other.to_string(),
            (verb, other) => format!("%!{verb}({}={other})", other.go_type()),
        };
        let non_negative = match arg {
            Value::Num(n) => matches!(verb, 'v' | 'g' | 'G' | 'f' | 'F' | 'e' | 'E') && *n >= 0.0,
            Value::Int(n) => matches!(verb, 'v' | 'd') && *n >= 0,
            _ => false,
        };
        {
            if non_negative {
                if plus {
                    s.insert(0, '+');
                } else if space {
                    s.insert(0, ' ');
                }
            }
        }
        let len = s.chars().count();
        if len < width {
            let pad = width - len;
            if minus {
                s.extend(std::iter::repeat_n(' ', pad));
            } else if zero && matches!(arg, Value::Num(_) | Value::Int(_)) {
                let at = usize::from(s.starts_with(['-', '+']));
                s.insert_str(at, &"0".repeat(pad));
            } else {
                s.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&s);
        if out.len() > super::MAX_OUTPUT_BYTES {
            // Longer than any expansion may be: the caller refuses it.
            break;
        }
    }
    let extra: Vec<String> = args.map(|a| format!("{}={a}", a.go_type())).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_v_formatting() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(fmt_v(v), want, "{v}");
        }
    }

    #[test]
    fn go_precision_g() {
        assert_eq!(fmt_g(1234.5678, Some(4)), "1235");
        assert_eq!(fmt_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(fmt_g(1.0, Some(4)), "1");
        assert_eq!(fmt_g(0.000012345, Some(4)), "1.234e-05");
        assert_eq!(fmt_g(0.5, Some(4)), "0.5");
    }

    #[test]
    fn humanize_like_prometheus() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(12_345_678.0), "12.35M");
        assert_eq!(humanize(0.012), "12m");
        assert_eq!(humanize(1.0), "1");
        assert_eq!(humanize1024(2048.0), "2ki");
        assert_eq!(humanize_percentage(0.1234), "12.34%");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(90.0), "1m 30s");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(
            humanize_timestamp(0.0).as_deref(),
            Ok("1970-01-01 00:00:00 +0000 UTC")
        );
        assert_eq!(
            humanize_timestamp(1_700_000_000.5).as_deref(),
            Ok("2023-11-14 22:13:20.5 +0000 UTC")
        );
        assert_eq!(
            humanize_timestamp(951_782_400.0).as_deref(),
            Ok("2000-02-29 00:00:00 +0000 UTC")
        );
    }

    #[test]
    fn printf_like_go() {
        let n = |v| Value::Num(v);
        assert_eq!(sprintf("%.2f", &[n(1.23456)]), "1.23");
        assert_eq!(sprintf("%f", &[n(1.0)]), "1.000000");
        assert_eq!(sprintf("%5.1f|%-5.1f|", &[n(2.0), n(2.0)]), "  2.0|2.0  |");
        assert_eq!(
            sprintf("%s is %v%%", &[Value::Str("x".into()), n(5.0)]),
            "x is 5%"
        );
        assert_eq!(sprintf("%d", &[n(3.0)]), "%!d(float64=3)");
        assert_eq!(sprintf("%s", &[]), "%!s(MISSING)");
        assert_eq!(sprintf("%.3e", &[n(1234.56)]), "1.235e+03");
        assert_eq!(sprintf("a", &[n(1.0)]), "a%!(EXTRA float64=1)");
        // %q as Go's strconv.Quote (Rust's Debug would print "\u{a0}").
        let q = |s: &str| sprintf("%q", &[Value::Str(s.into())]);
        assert_eq!(q("héllo \u{a0}\u{200b}\t"), r#""héllo \u00a0\u200b\t""#);
        assert_eq!(q("\u{1b}[1m"), r#""\x1b[1m""#);
    }
}
