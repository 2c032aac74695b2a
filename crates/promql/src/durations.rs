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
/// duration is left to the parser.
pub fn out_of_range(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' | b'`' => {
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
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                if let Some(reason) = refused(&text[start..i]) {
                    return Some(format!("{}: parse error: {reason}", position(text, start)));
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Why Prometheus 3 refuses `word` for its size, when `word` is a
/// duration (`[0-9]+unit` repeated, units largest first) it refuses so.
fn refused(word: &str) -> Option<String> {
    let (mut rest, mut next_unit, mut total) = (word, 0usize, 0u128);
    let mut reason = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number = &rest[..digits];
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let at = UNITS_NS[next_unit..].iter().position(|(u, _)| *u == unit)?;
        let mult = UNITS_NS[next_unit + at].1;
        next_unit += at + 1;
        if reason.is_some() {
            // Still a duration? Only then is the first reason Prometheus's.
            continue;
        }
        let Ok(v) = number.parse::<u64>() else {
            reason = Some(format!(
                "not a valid duration string: {}",
                stratus_model::strutil::quote(word)
            ));
            continue;
        };
        let v = u128::from(v);
        total += v * mult;
        if v > (1u128 << 63) / mult || total > i64::MAX as u128 {
            reason = Some("duration out of range".to_string());
        }
    }
    reason
}

/// `line:column` of byte `at`, as Prometheus's parse errors give it.
fn position(text: &str, at: usize) -> String {
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
            // Not durations: strings, names, comments, numbers.
            (r#"up{a="300y"} # 300y"#, None),
            ("node300y + 1e300 + 0x300", None),
            ("up offset 5m", None),
        ];
        for (q, want) in cases {
            assert_eq!(out_of_range(q).as_deref(), want, "{q}");
        }
    }
}
