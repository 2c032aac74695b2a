//! Duration literals the parser crate reads differently from Prometheus:
//! one that does not fit Go's `time.Duration` (int64 nanoseconds, about
//! 292 years). The crate reads a part that does not fit 32 bits as zero
//! ("duration must be greater than 0") and accepts `300y`; Prometheus 3's
//! `model.ParseDuration` (prometheus/common 0.60) refuses both:
//!
//! - a number of a unit above 2^63 ns, or a sum above 2^63 - 1 ns:
//!   `duration out of range` (as Prometheus 2.42 answers too);
//! - digits that do not fit 64 bits: `not a valid duration string: "…"`
//!   (Prometheus 2.42 said `duration out of range` here; 3.x is followed).
//!
//! The message carries the literal's position as Prometheus's parser gives
//! it (`1:11: parse error: duration out of range`).

/// Units of a duration, largest first, in nanoseconds.
const UNITS_NS: [(&str, u128); 7] = [
    ("y", 365 * 86_400 * 1_000_000_000),
    ("w", 7 * 86_400 * 1_000_000_000),
    ("d", 86_400 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// The first duration literal of `text` that Prometheus refuses for its
/// size, as Prometheus's parse error. Strings, comments and names are
/// skipped, as the lexer skips them; anything that is not a well-formed
/// duration is left to the parser. Numbers where a duration goes (after
/// `offset`, inside `[...]`) are seconds, as in Prometheus 3: past 2^63 ns
/// (or not a number at all, `NaN`) they are out of range too, at the
/// number or at its sign (Prometheus 3.5+; the parser crate panics on them).
pub fn out_of_range(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    // Inside `[...]`: a range, or a subquery's range and step.
    let mut brackets = 0usize;
    // After `offset`: (waiting for its duration, the sign's position).
    let mut offset: Option<Option<usize>> = None;
    let refuse =
        |at: usize, reason: &str| Some(format!("{}: parse error: {reason}", position(text, at)));
    while i < b.len() {
        let c = b[i];
        let duration_here = brackets > 0 || offset.is_some();
        let sign = offset.flatten();
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' | b'`' => {
                offset = None;
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &text[start..i];
                offset = None;
                if word.eq_ignore_ascii_case("offset") {
                    offset = Some(None);
                } else if duration_here
                    && (word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan"))
                {
                    return refuse(sign.unwrap_or(start), "duration out of range");
                }
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    // An exponent's sign (1e+20) belongs to the number.
                    if matches!(b[i], b'e' | b'E')
                        && matches!(b.get(i + 1), Some(b'+' | b'-'))
                        && b.get(i + 2).is_some_and(u8::is_ascii_digit)
                        && !text[start..i].starts_with("0x")
                    {
                        i += 1;
                    }
                    i += 1;
                }
                offset = None;
                let word = &text[start..i];
                if let Some(reason) = refused(word) {
                    return refuse(start, &reason);
                }
                if duration_here && number_out_of_range(word) {
                    return refuse(sign.unwrap_or(start), "duration out of range");
                }
            }
            b'[' => {
                brackets += 1;
                i += 1;
            }
            b']' => {
                brackets = brackets.saturating_sub(1);
                i += 1;
            }
            b'-' | b'+' if offset == Some(None) => {
                offset = Some(Some(i));
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                offset = None;
                i += 1;
            }
        }
    }
    None
}

/// A number of seconds (`1e20`, `0x1p3` aside: decimal, float or hex, as
/// the lexer reads them) that Go's `time.Duration` cannot hold, or `NaN`.
/// Words that are no number are left to the parser.
fn number_out_of_range(word: &str) -> bool {
    // 2^63 ns, as Prometheus's durationLiteralOutOfRange (1<<63/1e9).
    const MAX_SECONDS: f64 = (1u64 << 63) as f64 / 1e9;
    let v = if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        match u128::from_str_radix(hex, 16) {
            Ok(v) => v as f64,
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => f64::INFINITY,
            Err(_) => return false,
        }
    } else {
        match word.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return false,
        }
    };
    v.is_nan() || v.abs() > MAX_SECONDS
}

/// Why Prometheus 3 refuses `word`, when `word` is shaped as a duration
/// (`[0-9]+unit` repeated, units among y w d h m s ms) and refused: read
/// left to right as `model.ParseDuration` reads it, its first error. A
/// word of another shape is left to the parser.
fn refused(word: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let letters = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let unit = &rest[digits..digits + letters];
        let at = UNITS_NS.iter().position(|(u, _)| *u == unit)?;
        if digits == 0 {
            return None;
        }
        parts.push((&rest[..digits], at));
        rest = &rest[digits + letters..];
    }
    let invalid = || {
        Some(format!(
            "not a valid duration string: {}",
            stratus_model::strutil::quote(word)
        ))
    };
    let (mut total, mut next_unit) = (0u128, 0usize);
    for (number, at) in parts {
        let Ok(v) = number.parse::<u64>() else {
            return invalid();
        };
        // Units largest first, each once.
        if at < next_unit {
            return invalid();
        }
        next_unit = at + 1;
        let (v, mult) = (u128::from(v), UNITS_NS[at].1);
        if v > (1u128 << 63) / mult {
            return Some("duration out of range".to_string());
        }
        total += v * mult;
        if total > i64::MAX as u128 {
            return Some("duration out of range".to_string());
        }
    }
    None
}

/// `line:column` of byte `at`, as Prometheus's parse errors give it.
pub(crate) fn position(text: &str, at: usize) -> String {
    let before = &text[..at];
    let line = 1 + before.bytes().filter(|&c| c == b'\n').count();
    let col = match before.rfind('\n') {
        Some(nl) => at - nl,
        None => at + 1,
    };
    format!("{line}:{col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_prometheus_refuses() {
        let cases = [
            (
                "up offset 9223372036854775807ms",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up[9223372036854775807ms]",
                Some("1:4: parse error: duration out of range"),
            ),
            (
                "up offset 300y",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up[1y:9223372036854775807ms]",
                Some("1:7: parse error: duration out of range"),
            ),
            (
                "up offset -9223372036854775807ms",
                Some("1:12: parse error: duration out of range"),
            ),
            // 2^63 ns is refused (one more than int64 holds), one ms less is not.
            ("up offset 292y24w3d23h47m16s854ms", None),
            (
                "up offset 292y24w3d23h47m16s855ms",
                Some("1:11: parse error: duration out of range"),
            ),
            ("up offset 106751d", None),
            (
                "up offset 106752d",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up offset 99999999999999999999y",
                Some(r#"1:11: parse error: not a valid duration string: "99999999999999999999y""#),
            ),
            (
                "up\n offset 300y",
                Some("2:9: parse error: duration out of range"),
            ),
            // Units out of order or twice: invalid, with the position.
            (
                "up offset 1m1h",
                Some(r#"1:11: parse error: not a valid duration string: "1m1h""#),
            ),
            (
                "rate(up[5m5m])",
                Some(r#"1:9: parse error: not a valid duration string: "5m5m""#),
            ),
            // The first error from the left, as Go reads it.
            (
                "up offset 300y1m1h",
                Some("1:11: parse error: duration out of range"),
            ),
            // Numbers where durations go are seconds (Prometheus 3.5+).
            (
                "up offset 1e20",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up offset -1e20",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up offset - 1e+20",
                Some("1:11: parse error: duration out of range"),
            ),
            ("up[1e30]", Some("1:4: parse error: duration out of range")),
            (
                "up[5m:1e25]",
                Some("1:7: parse error: duration out of range"),
            ),
            (
                "up offset Inf",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up offset NaN",
                Some("1:11: parse error: duration out of range"),
            ),
            (
                "up[0xffffffffffffffffff]",
                Some("1:4: parse error: duration out of range"),
            ),
            ("up offset 9223372036", None),
            (
                "up offset 9223372037",
                Some("1:11: parse error: duration out of range"),
            ),
            ("up[5m] offset 1.5", None),
            // Not durations: strings, names, comments, numbers.
            ("up * 1e300 + Inf", None),
            ("up offset 5m * 1e300", None),
            (r#"up{a="300y"} # 300y"#, None),
            ("node300y + 1e300 + 0x300", None),
            ("up offset 5m", None),
        ];
        for (q, want) in cases {
            assert_eq!(out_of_range(q).as_deref(), want, "{q}");
        }
    }
}
