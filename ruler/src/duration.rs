//! Prometheus durations (`1h30m`, `5m`, `90s`, `0`), as rule files write them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in milliseconds, parsed and printed the way
/// Prometheus's `model.Duration` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub i64);

impl PromDuration {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses `[0-9]+(y|w|d|h|m|s|ms)` repeated, units in decreasing order
    /// and each at most once, or `0`.
    pub fn parse(s: &str) -> Result<Self, String> {
        stratus_model::time::parse_duration(s)
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&stratus_model::time::format_duration(self.0))
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_prometheus() {
        assert_eq!(PromDuration::parse("0"), Ok(PromDuration(0)));
        assert_eq!(PromDuration::parse("1m"), Ok(PromDuration(60_000)));
        assert_eq!(PromDuration::parse("1h30m"), Ok(PromDuration(5_400_000)));
        assert_eq!(PromDuration::parse("1s500ms"), Ok(PromDuration(1_500)));
        assert_eq!(PromDuration::parse("2d"), Ok(PromDuration(172_800_000)));
        for bad in ["", "1", "m", "1x", "30m1h", "1m1m", "-1m", "1.5m", " 1m"] {
            assert!(
                PromDuration::parse(bad).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn prints_like_prometheus() {
        assert_eq!(PromDuration(0).to_string(), "0s");
        assert_eq!(PromDuration(5_400_000).to_string(), "1h30m");
        assert_eq!(PromDuration(1_500).to_string(), "1s500ms");
        assert_eq!(PromDuration(8 * 24 * 3_600_000).to_string(), "1w1d");
    }
}
