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

/// Why [`parse_duration`] refused a string, in Prometheus's words
/// (`model.ParseDuration`). Every duration Stratus reads (flags,
/// environment, config files, rule files, the notifier's configuration)
/// fails with these messages; the query API wraps them in Prometheus's
/// `invalid parameter` answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration string")]
    Empty,
    /// Not `[0-9]+(y|w|d|h|m|s|ms)` repeated with units in decreasing
    /// order, each at most once, or `0`.
    #[error("not a valid duration string: {}", crate::strutil::quote(.0))]
    Invalid(String),
    /// More milliseconds than an `i64` holds.
    #[error("duration out of range: {}", crate::strutil::quote(.0))]
    OutOfRange(String),
}

/// Parses a Prometheus duration (Go's `model.ParseDuration`) into
/// milliseconds: `1h30m`, `90s`, `1s500ms`, `0`. Units must come largest
/// first, each at most once: `1m1h` is refused.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let out_of_range = || DurationError::OutOfRange(s.to_string());
    let (mut rest, mut total, mut next_unit) = (s, 0i64, 0usize);
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| out_of_range())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let pos = DURATION_UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?;
        let mult = DURATION_UNITS[next_unit + pos].1;
        next_unit += pos + 1;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(out_of_range)?;
    }
    // Go holds a duration in int64 nanoseconds: about 292 years at most.
    if total > MAX_DURATION_MS {
        return Err(out_of_range());
    }
    Ok(total)
}

/// The longest duration Prometheus can hold (`math.MaxInt64` nanoseconds),
/// in milliseconds.
pub const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

/// [`parse_duration`] as a [`std::time::Duration`], for settings.
pub fn parse_std_duration(s: &str) -> Result<std::time::Duration, DurationError> {
    parse_duration(s).map(|ms| std::time::Duration::from_millis(ms.unsigned_abs()))
}

/// A [`std::time::Duration`] as Prometheus prints durations (`1h30m`,
/// `0s`); below a millisecond is dropped.
pub fn format_std_duration(d: std::time::Duration) -> String {
    format_duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Serde for `Duration` and `Option<Duration>` settings in Prometheus's
/// notation (`#[serde(with = "stratus_model::time::serde_duration")]`).
pub mod serde_duration {
    use std::time::Duration;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// The types this module reads and writes.
    pub trait Setting: Sized {
        fn parse(s: Option<String>) -> Result<Self, super::DurationError>;
        fn text(&self) -> Option<String>;
    }

    impl Setting for Duration {
        fn parse(s: Option<String>) -> Result<Self, super::DurationError> {
            super::parse_std_duration(&s.unwrap_or_default())
        }
        fn text(&self) -> Option<String> {
            Some(super::format_std_duration(*self))
        }
    }

    impl Setting for Option<Duration> {
        fn parse(s: Option<String>) -> Result<Self, super::DurationError> {
            s.map(|s| super::parse_std_duration(&s)).transpose()
        }
        fn text(&self) -> Option<String> {
            self.map(super::format_std_duration)
        }
    }

    pub fn serialize<T: Setting, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        match v.text() {
            Some(t) => s.serialize_str(&t),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Setting, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::parse(Option::<String>::deserialize(d)?).map_err(D::Error::custom)
    }
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

/// How many digits of the second's fraction [`format_rfc3339`] prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// Whole seconds: `2024-05-01T12:00:00Z` (Go's `time.RFC3339`).
    None,
    /// Always three digits: `2024-05-01T12:00:00.250Z`.
    Millis,
    /// Milliseconds without trailing zeros, none when whole:
    /// `2024-05-01T12:00:00.25Z` (Go's `time.RFC3339Nano` on ms times).
    Trimmed,
}

/// Unix milliseconds as RFC 3339 in UTC. Defined for every `i64`: years
/// past 9999 get more digits and years before 0 a sign, as Go's
/// `Time.Format` prints them, so no timestamp a client sends can make
/// printing it fail.
pub fn format_rfc3339(ms: i64, fraction: Fraction) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let year = if y < 0 {
        format!("-{:04}", y.unsigned_abs())
    } else {
        format!("{y:04}")
    };
    let mut out = format!("{year}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    match fraction {
        Fraction::None => {}
        Fraction::Millis => out.push_str(&format!(".{milli:03}")),
        Fraction::Trimmed if milli != 0 => {
            let f = format!(".{milli:03}");
            out.push_str(f.trim_end_matches('0'));
        }
        Fraction::Trimmed => {}
    }
    out.push('Z');
    out
}

/// Why [`parse_rfc3339`] refused a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(pub String);

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected an RFC 3339 time like 2024-05-01T12:00:00Z, got {:?}",
            self.0
        )
    }
}

impl std::error::Error for TimeError {}

/// Parses RFC 3339 (`2024-05-01T12:00:00Z`, `...12:00:00.5+02:00`; `t` or
/// a space for `T`, `z` for `Z`, any number of fraction digits, cut to
/// milliseconds) into Unix milliseconds. Fields out of range (month 13,
/// hour 24, an offset of `+99:99`) are refused.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeError> {
    let bad = || TimeError(s.to_string());
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, TimeError> {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=days_in_month(y, mo)).contains(&d) {
        return Err(bad());
    }
    if h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        for (k, c) in b[start..i.min(start + 3)].iter().enumerate() {
            frac_ms += i64::from(c - b'0') * [100, 10, 1][k];
        }
    }
    let offset_min = match s.get(i..).ok_or_else(bad)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && matches!(&tz[0..1], "+" | "-") && &tz[3..4] == ":" => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let sign = if &tz[0..1] == "-" { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Ok(secs * 1000 + frac_ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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
            assert!(
                matches!(
                    parse_duration(bad),
                    Err(DurationError::Invalid(_) | DurationError::Empty)
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_duration("99999999999999y"),
            Err(DurationError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_duration("293y"),
            Err(DurationError::OutOfRange(_))
        ));
        // Prometheus's words, the input quoted as Go's %q quotes it.
        assert_eq!(
            parse_duration("1m1h")
                .expect_err("out of order")
                .to_string(),
            r#"not a valid duration string: "1m1h""#
        );
        assert_eq!(
            parse_duration("").expect_err("empty").to_string(),
            "empty duration string"
        );
        assert_eq!(
            parse_std_duration("1m30s"),
            Ok(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            format_std_duration(std::time::Duration::from_millis(90_500)),
            "1m30s500ms"
        );
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(8 * 86_400_000), "1w1d");
        assert_eq!(format_duration(-1_500), "-1s500ms");
    }

    #[test]
    fn rfc3339_prints_every_timestamp() {
        use Fraction::*;
        assert_eq!(format_rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_714_564_800_250, Millis),
            "2024-05-01T12:00:00.250Z"
        );
        assert_eq!(
            format_rfc3339(1_714_564_800_250, Trimmed),
            "2024-05-01T12:00:00.25Z"
        );
        assert_eq!(
            format_rfc3339(1_714_564_800_000, Trimmed),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(format_rfc3339(-1, Trimmed), "1969-12-31T23:59:59.999Z");
        // Go's Time.Format past year 9999 and before year 0.
        assert_eq!(
            format_rfc3339(253_402_300_800_000, None),
            "10000-01-01T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339(-62_167_219_200_000 - 86_400_000, None),
            "-0001-12-31T00:00:00Z"
        );
        for ms in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            for f in [None, Millis, Trimmed] {
                assert!(format_rfc3339(ms, f).ends_with('Z'));
            }
        }
    }

    #[test]
    fn rfc3339_parses_what_it_prints_and_refuses_out_of_range_fields() {
        for ms in [
            0,
            1_714_564_800_250,
            -1,
            951_782_400_001,
            253_402_300_799_999,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms, Fraction::Millis)), Ok(ms));
        }
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00.25+02:00"),
            Ok(1_714_564_800_250)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01 12:00:00.123456789z"),
            Ok(1_714_564_800_123)
        );
        for bad in [
            "2024-05-01T12:00:00+99:99",
            "2024-13-01T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00.Z",
            "+024-05-01T12:00:00Z",
            "2024-05-01T12:00:00Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_rfc3339("x").map_err(|e| e.to_string()),
            Err("expected an RFC 3339 time like 2024-05-01T12:00:00Z, got \"x\"".into())
        );
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
