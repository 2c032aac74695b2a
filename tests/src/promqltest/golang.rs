//! The Go library behaviour the test format leans on: `strconv.ParseInt(s,
//! 0, 64)` and `strconv.ParseFloat`, Prometheus's `model.ParseDuration`, and
//! Go string unquoting. Written from the Go documentation and sources, only
//! as far as the test scripts need them.

/// Prometheus's `parseNumber` and the PromQL parser's `number()`: try
/// `strconv.ParseInt(s, 0, 64)` (so `010` is octal 8 and `0x1f` is hex), then
/// `strconv.ParseFloat(s, 64)`.
pub(crate) fn parse_number(s: &str) -> Result<f64, String> {
    if let Some(i) = parse_int_base0(s) {
        return Ok(i as f64);
    }
    parse_float(s).ok_or_else(|| format!("invalid number {s:?}"))
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, base prefix `0x`, `0o`, `0b`
/// or a bare leading `0` for octal, underscores between digits. `None` on
/// any error, including overflow.
fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = split_sign(s);
    if body.is_empty() || !underscores_ok(body) {
        return None;
    }
    let b = body.as_bytes();
    let (base, digits) = if b[0] == b'0' && b.len() >= 3 {
        match b[1].to_ascii_lowercase() {
            b'b' => (2, &body[2..]),
            b'o' => (8, &body[2..]),
            b'x' => (16, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else if b[0] == b'0' && b.len() > 1 {
        (8, &body[1..])
    } else {
        (10, body)
    };
    let mut n: u64 = 0;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
        any = true;
    }
    if !any && base != 8 {
        return None;
    }
    if neg {
        if n > 1 << 63 {
            return None;
        }
        Some((n as i64).wrapping_neg())
    } else {
        i64::try_from(n).ok()
    }
}

/// `strconv.ParseFloat(s, 64)`: decimal or hexadecimal (`0x1.8p3`) floats,
/// `Inf`/`Infinity` with an optional sign and `NaN`, all case-insensitive.
/// Out-of-range values are errors, as in Go.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    if let Some(f) = special_float(s) {
        return Some(f);
    }
    if !underscores_ok(s) {
        return None;
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = split_sign(&cleaned);
    let lower = body.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex)?
    } else {
        if !is_decimal_float(body) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None; // strconv.ErrRange
    }
    Some(if neg { -v } else { v })
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn special_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    if lower == "nan" {
        return Some(f64::NAN);
    }
    let (neg, body) = split_sign(&lower);
    if body == "inf" || body == "infinity" {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    None
}

/// `digits [. digits] [e [sign] digits]` or `. digits ...`, underscores
/// already removed.
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Hex mantissa with an optional point, then a mandatory `p` exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let frac_bits = i32::try_from(frac_part.len()).ok()?.checked_mul(4)?;
    Some(v * 2f64.powi(exp.checked_sub(frac_bits)?))
}

/// Go's `underscoreOK`: underscores only between digits, or between a base
/// prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    if !s.contains('_') {
        return true;
    }
    let (_, body) = split_sign(s);
    let b = body.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        hex = b[1].eq_ignore_ascii_case(&b'x');
        i = 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Prometheus's `model.ParseDuration`, in milliseconds
/// ([`stratus_model::time::parse_duration`]).
pub(crate) fn parse_duration_ms(s: &str) -> Result<i64, String> {
    stratus_model::time::parse_duration(s).map_err(|e| e.to_string())
}

/// How a single-quoted string may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SingleQuotes {
    /// `strconv.Unquote`: `'x'` holds exactly one character.
    OneChar,
    /// Prometheus's `strutil.Unquote` (PromQL strings): any length.
    AnyLength,
}

/// Unquotes a Go string literal: `"..."` and `'...'` with Go escapes, or a
/// raw `` `...` `` string (carriage returns dropped, as Go does).
pub(crate) fn unquote(s: &str, single: SingleQuotes) -> Result<String, String> {
    let bad = || format!("invalid quoted string {s:?}");
    let quote = s.chars().next().ok_or_else(bad)?;
    if s.len() < 2 || !s.ends_with(quote) || !matches!(quote, '"' | '\'' | '`') {
        return Err(bad());
    }
    let inner = &s[1..s.len() - 1];
    if quote == '`' {
        if inner.contains('`') {
            return Err(bad());
        }
        return Ok(inner.replace('\r', ""));
    }
    if inner.contains('\n') {
        return Err(bad());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    let mut count = 0;
    while let Some(c) = chars.next() {
        count += 1;
        if c == quote {
            return Err(bad());
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        let simple = match e {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' | '"' if e == quote => Some(e as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (n, radix) = match e {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            _ => return Err(format!("unknown escape sequence \\{e} in {s:?}")),
        };
        let mut v: u32 = if radix == 8 {
            e.to_digit(8).ok_or_else(bad)?
        } else {
            0
        };
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(radix))
                .ok_or_else(bad)?;
            v = v * radix + d;
        }
        if matches!(e, 'u' | 'U') {
            let c = char::from_u32(v).ok_or_else(bad)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(u8::try_from(v).map_err(|_| bad())?);
        }
    }
    if quote == '\'' && single == SingleQuotes::OneChar && count != 1 {
        return Err(bad());
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not valid UTF-8 once unquoted"))
}
