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
    stratus_model::time::parse_rfc3339(s).map_err(|_| bad())
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
    let ms = stratus_model::time::parse_duration(s).map_err(|_| bad())?;
    Ok(Duration::from_millis(ms.unsigned_abs()))
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
        // Units in Prometheus's order only, as everywhere else.
        assert!(parse_duration("1m1h", "step").is_err());
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
