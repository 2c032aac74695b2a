//! Request parameters as Prometheus reads them: from the query string and,
//! for POST, from a form body; times as RFC 3339 or Unix seconds; durations
//! as Prometheus durations or float seconds.

use std::time::Duration;

use crate::error::QueryError;

/// All parameters of a request, in order (repeated names kept: `match[]`).
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Result<Self, QueryError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            pairs.extend(
                serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                    .map_err(|e| QueryError::bad(format!("invalid query string: {e}")))?,
            );
        }
        if let Some(b) = form_body {
            pairs.extend(
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(b)
                    .map_err(|e| QueryError::bad(format!("invalid form body: {e}")))?,
            );
        }
        Ok(Self(pairs))
    }

    /// The last value of `name` (form values follow query values, as
    /// Go's `FormValue` prefers the body).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Prometheus's smallest and largest API timestamps (ms).
pub const MIN_TIME: i64 = -9_223_309_901_257_974;
pub const MAX_TIME: i64 = 9_223_309_901_257_974;

/// A time parameter: Unix seconds (fractions allowed) or RFC 3339.
pub fn parse_time(s: &str, param: &str) -> Result<i64, QueryError> {
    let bad = || {
        QueryError::bad(format!(
            "invalid parameter \"{param}\": cannot parse \"{s}\" to a valid timestamp"
        ))
    };
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        let ms = (f * 1000.0).round();
        if ms < MIN_TIME as f64 || ms > MAX_TIME as f64 {
            return Err(bad());
        }
        return Ok(ms as i64);
    }
    // Prometheus's own min/max sentinels, as Grafana and clients send them.
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME),
        _ => {}
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// RFC 3339 with optional fraction and zone offset, to ms.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse::<i64>().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let mut digits: String = frac.chars().take(3).collect();
        while digits.len() < 3 {
            digits.push('0');
        }
        ms = digits.parse().ok()?;
    }
    let offset_s = match s.get(i..)? {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let oh: i64 = z.get(1..3)?.parse().ok()?;
            let om: i64 = z.get(4..6)?.parse().ok()?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = stratus_model::time::days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_s) * 1000 + ms)
}

/// A duration parameter: float seconds or a Prometheus duration (`1m30s`).
pub fn parse_duration(s: &str, param: &str) -> Result<Duration, QueryError> {
    let bad = || {
        QueryError::bad(format!(
            "invalid parameter \"{param}\": cannot parse \"{s}\" to a valid duration"
        ))
    };
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || !(0.0..=9.2e15).contains(&f) {
            return Err(bad());
        }
        return Ok(Duration::from_secs_f64(f));
    }
    prometheus_duration(s).ok_or_else(bad)
}

/// `1y2w3d4h5m6s7ms` style durations.
pub fn prometheus_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_notations() {
        assert_eq!(parse_time("1700000000", "time"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123", "time"), Ok(1_700_000_000_123));
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", "time"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5Z", "time"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00", "time"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_time("1969-12-31T23:59:59Z", "time"), Ok(-1000));
        let err = parse_time("yesterday", "start").expect_err("bad");
        assert_eq!(
            err.to_string(),
            "invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp"
        );
    }

    #[test]
    fn durations_in_both_notations() {
        assert_eq!(parse_duration("15", "step"), Ok(Duration::from_secs(15)));
        assert_eq!(
            parse_duration("0.5", "step"),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("1m30s", "step"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h", "step"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("1x", "step").is_err());
        assert!(parse_duration("-5", "step").is_err());
    }

    #[test]
    fn form_values_win_and_repeats_are_kept() {
        let p = Params::parse(
            Some("query=up&match[]=a"),
            Some(b"query=down&match%5B%5D=b"),
        )
        .expect("params");
        assert_eq!(p.get("query"), Some("down"));
        assert_eq!(p.all("match[]"), vec!["a", "b"]);
    }
}
