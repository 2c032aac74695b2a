//! Go's text formatting as Prometheus prints it (like Prometheus's
//! `util/strutil` and Go's `strconv`): `%q` quoting and the float verbs
//! `%g`, `%e`, `%f`. Messages, template output and annotations that
//! Prometheus formats with these verbs are formatted here, so ours match
//! byte for byte. Durations and RFC 3339 times: [`crate::time`].

use std::fmt::Write;
use std::sync::LazyLock;

/// Go's `%q` of a string (`strconv.Quote`): double quotes; `\"`, `\\` and
/// `\a \b \f \n \r \t \v`; `\xHH` for the other ASCII controls and DEL;
/// `\uHHHH` or `\UHHHHHHHH` for every code point Go's `unicode.IsPrint`
/// rejects (anything outside the categories L, M, N, P, S, except the
/// ASCII space); printable code points as they are.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii() => {
                if c == ' ' || c.is_ascii_graphic() {
                    out.push(c);
                } else {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
            }
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint` for non-ASCII code points: letters, marks,
/// numbers, punctuation and symbols. Unassigned, private-use, format,
/// control and separator code points (the no-break space included) are
/// not printable.
fn is_print(c: char) -> bool {
    static PRINTABLE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").expect("a valid class")
    });
    let mut buf = [0u8; 4];
    PRINTABLE.is_match(c.encode_utf8(&mut buf))
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// Splits Rust's `{:e}` output into sign, digits (no trailing zeros) and
/// decimal exponent.
fn split_e(s: &str) -> (bool, String, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let neg = mant.starts_with('-');
    let mut digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (neg, digits, exp.parse().unwrap_or(0))
}

fn e_notation(neg: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(
        out,
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    );
    out
}

fn fixed_notation(neg: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp >= 0 {
        let int_len = usize::try_from(exp).unwrap_or(0) + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(-exp - 1).unwrap_or(0),
        ));
        out.push_str(digits);
    }
    out
}

/// Go's `%g` of a float64 with an optional precision; `None` is the
/// shortest representation that reads back (what `%v` prints). Exponent
/// form when the decimal exponent is below -4 or at least the precision
/// (6 for the shortest form): `1e+06`, `1.5e-07`; `+Inf`, `-Inf`, `NaN`.
pub fn format_g_prec(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let (neg, digits, exp, eprec) = match prec {
        None => {
            let (neg, digits, exp) = split_e(&format!("{v:e}"));
            // Go chooses between %e and %f for the shortest form as if
            // the precision were 6.
            (neg, digits, exp, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let (neg, digits, exp) = split_e(&format!("{:.*e}", p - 1, v));
            (neg, digits, exp, i32::try_from(p).unwrap_or(i32::MAX))
        }
    };
    if exp < -4 || exp >= eprec {
        e_notation(neg, &digits, exp)
    } else {
        fixed_notation(neg, &digits, exp)
    }
}

/// Go's `%g` (and `%v`) of a float64: `1`, `0.1`, `1e+06`, `1.5e-07`.
pub fn format_g(v: f64) -> String {
    format_g_prec(v, None)
}

/// Go's `%e` with precision `prec` (Go's default is 6): `1.234500e+03`.
pub fn format_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let s = format!("{:.*e}", prec, v);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mant}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest digits in
/// exponent form, `1e+00`, `1.2345e+03`.
pub fn format_e_shortest(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let (neg, digits, exp) = split_e(&format!("{v:e}"));
    e_notation(neg, &digits, exp)
}

/// Go's `%f` with precision `prec` (Go's default is 6).
pub fn format_f(v: f64, prec: usize) -> String {
    special(v).map_or_else(|| format!("{v:.prec$}"), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are what Go 1.22's `strconv.Quote` prints.
    #[test]
    fn quote_matches_go() {
        let cases = [
            ("foo", r#""foo""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("a\nb\tc\r\u{7}\u{8}\u{b}\u{c}", r#""a\nb\tc\r\a\b\v\f""#),
            ("\u{1b}\u{0}\u{7f}", r#""\x1b\x00\x7f""#),
            ("ü€日本", "\"ü€日本\""),
            ("héllo wörld", "\"héllo wörld\""),
            ("😀", "\"😀\""),
            // Separators other than the ASCII space are not printable.
            ("\u{a0}", r#""\u00a0""#),
            ("\u{2028}\u{3000}", r#""\u2028\u3000""#),
            // C1 controls, format characters, private use, unassigned.
            ("\u{85}", r#""\u0085""#),
            ("\u{200b}\u{feff}\u{ad}", r#""\u200b\ufeff\u00ad""#),
            ("\u{e000}", r#""\ue000""#),
            ("\u{378}", r#""\u0378""#),
            ("\u{10ffff}", r#""\U0010ffff""#),
            ("\u{e0001}", r#""\U000e0001""#),
            // Combining marks are printable.
            ("e\u{301}", "\"e\u{301}\""),
        ];
        for (s, want) in cases {
            assert_eq!(quote(s), want, "{s:?}");
        }
        // What Rust's Debug would print instead.
        assert_ne!(quote("\u{a0}"), format!("{:?}", "\u{a0}"));
    }

    #[test]
    fn g_matches_go() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.1, "-1.1"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (123456789.0, "1.23456789e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (12.5, "12.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_g(v), want, "{v}");
        }
        assert_eq!(format_g_prec(1234.5678, Some(4)), "1235");
        assert_eq!(format_g_prec(12345.0, Some(4)), "1.234e+04");
        assert_eq!(format_g_prec(1.0, Some(4)), "1");
        assert_eq!(format_g_prec(0.000012345, Some(4)), "1.234e-05");
        assert_eq!(format_g_prec(0.5, Some(4)), "0.5");
    }

    #[test]
    fn e_and_f_match_go() {
        assert_eq!(format_e_shortest(1.0), "1e+00");
        assert_eq!(format_e_shortest(0.0), "0e+00");
        assert_eq!(format_e_shortest(1234.5), "1.2345e+03");
        assert_eq!(format_e_shortest(0.001), "1e-03");
        assert_eq!(format_e_shortest(-2.5e-300), "-2.5e-300");
        assert_eq!(format_e_shortest(f64::NAN), "NaN");
        assert_eq!(format_e_shortest(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_e(1234.5, 6), "1.234500e+03");
        assert_eq!(format_e(-0.5, 2), "-5.00e-01");
        assert_eq!(format_f(0.5, 6), "0.500000");
        assert_eq!(format_f(f64::INFINITY, 6), "+Inf");
        assert_eq!(format_f(2.0 / 3.0, 2), "0.67");
    }
}
