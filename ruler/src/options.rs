//! How the ruler runs: [`RulerOptions`], set by flags, environment
//! variables or the config file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RulerError};
use crate::rulefile::RuleGroup;

/// How the ruler runs; names match the CLI flags and environment variables
/// the lead wires (`--ruler-evaluation-interval`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerOptions {
    /// Interval of groups that set none (Prometheus's
    /// `global.evaluation_interval`).
    #[serde(with = "stratus_model::time::serde_duration")]
    pub evaluation_interval: Duration,
    /// Minimum time between two sends of a still-firing alert
    /// (Prometheus's `--rules.alert.resend-delay`).
    #[serde(with = "stratus_model::time::serde_duration")]
    pub resend_delay: Duration,
    /// Slots of one group one invocation evaluates at most, catching up
    /// from the oldest; older due slots are counted as missed.
    pub max_slots_per_run: u32,
    /// Groups evaluated at once.
    pub concurrency: usize,
    /// Adds the always-firing `Watchdog` alert to every tenant.
    pub watchdog: bool,
    /// Prefix of alerts' generator URLs and `$externalURL` in templates.
    pub external_url: String,
    /// `$externalLabels` in templates, and added to sent alerts that lack them.
    pub external_labels: BTreeMap<String, String>,
}

impl Default for RulerOptions {
    fn default() -> Self {
        Self {
            evaluation_interval: Duration::from_secs(60),
            resend_delay: Duration::from_secs(60),
            max_slots_per_run: 10,
            concurrency: 4,
            watchdog: false,
            external_url: String::new(),
            external_labels: BTreeMap::new(),
        }
    }
}

impl RulerOptions {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(RulerError::BadRequest(m));
        if self.evaluation_interval.as_millis() == 0 {
            return bad("ruler evaluation interval must be at least 1ms, got 0".into());
        }
        if self.max_slots_per_run == 0 {
            return bad("ruler max slots per run must be at least 1, got 0".into());
        }
        if self.concurrency == 0 {
            return bad("ruler concurrency must be at least 1, got 0".into());
        }
        Ok(())
    }

    pub(crate) fn interval_ms(&self, group: &RuleGroup) -> i64 {
        group
            .interval
            .map_or_else(|| millis(self.evaluation_interval), |d| d.as_millis())
            .max(1)
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_validate_and_parse_human_durations() {
        RulerOptions::default()
            .validate()
            .expect("defaults are valid");
        let o: RulerOptions =
            serde_json::from_str(r#"{"resend_delay":"2m","watchdog":true}"#).expect("parse");
        assert_eq!(o.resend_delay, Duration::from_secs(120));
        assert!(o.watchdog);
        let bad = RulerOptions {
            max_slots_per_run: 0,
            ..RulerOptions::default()
        };
        assert!(bad.validate().is_err());
    }
}
