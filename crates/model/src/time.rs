//! Prometheus durations and proleptic-Gregorian calendar arithmetic, shared
//! by everything that reads or prints times (the query API, rule files,
//! the notifier's configuration, Go-style time formatting).

/// Units of a Prometheus duration, largest first, with their milliseconds.
pub const DURATION_UNITS: [(&str, i64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Why [`parse_duration`] refused a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// Not `[0-9]+(y|w|d|h|m|s|ms)` repeated with units in decreasing
    /// order, each at most once, or `0`.
    Invalid,
    /// More milliseconds than an `i64` holds.
    OutOfRange,
}

/// Parses a Prometheus duration (Go's `model.ParseDuration`) into
/// milliseconds: `1h30m`, `90s`, `1s500ms`, `0`.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(DurationError::Invalid);
    }
    let (mut rest, mut total, mut next_unit) = (s, 0i64, 0usize);
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::Invalid);
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::OutOfRange)?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let pos = DURATION_UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or(DurationError::Invalid)?;
        let mult = DURATION_UNITS[next_unit + pos].1;
        next_unit += pos + 1;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or(DurationError::OutOfRange)?;
    }
    Ok(total)
}

/// Prints milliseconds as Prometheus does: `1h30m`, `1s500ms`, `0s`,
/// negative values with a leading `-`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut left = ms.unsigned_abs();
    for (unit, mult) in DURATION_UNITS {
        let mult = mult.unsigned_abs();
        if left >= mult {
            out.push_str(&format!("{}{unit}", left / mult));
            left %= mult;
        }
    }
    out
}

/// Days since 1970-01-01 of a date (month 1-12, day 1-31); Howard
/// Hinnant's `days_from_civil`.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01;
/// Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // d in 1..=31 and m in 1..=12 by construction.
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_prometheus() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1s500ms"), Ok(1_500));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        for bad in ["", "1", "m", "1x", "30m1h", "1m1m", "-1m", "1.5m", " 1m"] {
            assert_eq!(parse_duration(bad), Err(DurationError::Invalid), "{bad:?}");
        }
        assert_eq!(
            parse_duration("99999999999999y"),
            Err(DurationError::OutOfRange)
        );
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(8 * 86_400_000), "1w1d");
        assert_eq!(format_duration(-1_500), "-1s500ms");
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000, -1, 0, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
