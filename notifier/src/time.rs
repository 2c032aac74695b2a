//! Times and durations as Alertmanager writes them: Prometheus durations
//! (`30s`, `1h30m`, `1d`) in the configuration, RFC 3339 in the API. Inside
//! the crate every instant is Unix milliseconds (`i64`).

use stratus_model::time::civil_from_days;

/// Parses a Prometheus duration (`[0-9]+(y|w|d|h|m|s|ms)`, repeated with
/// units in decreasing order, or `0`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    stratus_model::time::parse_duration(s).map_err(|e| e.to_string())
}

/// Prints milliseconds the way Prometheus does (`1h30m`, `0s`).
pub fn format_duration(ms: i64) -> String {
    stratus_model::time::format_duration(ms)
}

/// Go's zero time, which Alertmanager prints for "not set".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses an RFC 3339 time (`2024-05-01T12:00:00.5Z`, `...+02:00`) into
/// Unix milliseconds. Go's zero time and the empty string are `None`.
pub fn parse_rfc3339(s: &str) -> Result<Option<i64>, String> {
    if s.is_empty() || s.starts_with("0001-01-01T00:00:00") {
        return Ok(None);
    }
    stratus_model::time::parse_rfc3339(s)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Formats Unix milliseconds as RFC 3339 in UTC with milliseconds.
pub fn format_rfc3339(ms: i64) -> String {
    stratus_model::time::format_rfc3339(ms, stratus_model::time::Fraction::Millis)
}

/// Formats Unix milliseconds as an RFC 5322 date for e-mail headers.
pub fn format_rfc5322(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let wd = DAYS[days.rem_euclid(7) as usize];
    let mon = MONTHS[(m - 1) as usize];
    let (h, mi, s) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60);
    format!("{wd}, {d:02} {mon} {y} {h:02}:{mi:02}:{s:02} +0000")
}

/// Serde helpers for optional RFC 3339 fields held as Unix milliseconds.
pub(crate) mod opt_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => s.serialize_str(&super::format_rfc3339(*ms)),
            None => s.serialize_str(super::ZERO_TIME),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => super::parse_rfc3339(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Serde helpers for required RFC 3339 fields held as Unix milliseconds.
pub(crate) mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s)
            .map_err(serde::de::Error::custom)?
            .ok_or_else(|| serde::de::Error::custom("expected a time, got the zero time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(5_400_000), "1h30m");
    }

    #[test]
    fn rfc3339_round_trips_and_honours_offsets() {
        let t = parse_rfc3339("2024-05-01T12:00:00.250Z")
            .expect("parse")
            .expect("set");
        assert_eq!(format_rfc3339(t), "2024-05-01T12:00:00.250Z");
        let off = parse_rfc3339("2024-05-01T14:00:00.25+02:00").expect("parse");
        assert_eq!(off, Some(t));
        assert_eq!(parse_rfc3339(ZERO_TIME), Ok(None));
        assert!(parse_rfc3339("2024-05-01 nope").is_err());
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc5322(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
