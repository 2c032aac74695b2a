//! Unix milliseconds printed as the Prometheus API prints times (Go's
//! `time.Time` JSON: RFC 3339 in UTC, fraction without trailing zeros) and
//! as calendar days for history keys.

use stratus_model::time::civil_from_days;

/// `YYYY-MM-DD` of the UTC day `ms` falls in.
pub fn date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The first millisecond of the UTC day `ms` falls in.
pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

/// RFC 3339 in UTC with milliseconds when not whole seconds:
/// `2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.25Z`.
pub fn rfc3339(ms: i64) -> String {
    let day_ms = ms.rem_euclid(86_400_000);
    let secs = day_ms / 1000;
    let frac = day_ms % 1000;
    let mut out = format!(
        "{}T{:02}:{:02}:{:02}",
        date(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!(".{frac:03}");
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// What Go prints for a zero `time.Time`, Prometheus's "never evaluated".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800_000), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(1_714_564_800_250), "2024-05-01T12:00:00.25Z");
        assert_eq!(rfc3339(951_782_400_001), "2000-02-29T00:00:00.001Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(date(1_709_164_800_000), "2024-02-29");
        assert_eq!(day_start(1_714_564_800_250), 1_714_521_600_000);
    }
}
