//! The notification log: per (receiver, integration, group) what was last
//! sent and when, plus the claim a notifier holds while it sends. See the
//! crate docs for why a send is claimed before and committed after.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::state::{Versioned, FORMAT_VERSION};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub version: u32,
    pub receiver: String,
    /// `webhook[0]`, `slack[1]`, ...
    pub integration: String,
    pub group_key: String,
    /// When the last notification went out; `None` if none ever did.
    #[serde(default)]
    pub sent_at_ms: Option<i64>,
    /// Fingerprints (16 hex digits) firing / resolved in that notification.
    #[serde(default)]
    pub firing: BTreeSet<String>,
    #[serde(default)]
    pub resolved: BTreeSet<String>,
    /// Forwarding to an Alertmanager only: [`crate::message::forward_digest`]
    /// of the last forward, to tell a changed group from an unchanged one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_digest: Option<String>,
    /// Set while a notifier is sending; others stay away until `until_ms`.
    #[serde(default)]
    pub claim: Option<Claim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub owner: String,
    pub until_ms: i64,
}

impl Versioned for LogEntry {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Default for LogEntry {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            receiver: String::new(),
            integration: String::new(),
            group_key: String::new(),
            sent_at_ms: None,
            firing: BTreeSet::new(),
            resolved: BTreeSet::new(),
            forwarded_digest: None,
            claim: None,
        }
    }
}

impl LogEntry {
    /// Whether the receiver was last told that some alerts fire.
    pub fn has_firing(&self) -> bool {
        self.sent_at_ms.is_some() && !self.firing.is_empty()
    }

    /// Whether another notifier (any owner but `me`) holds a live claim.
    pub fn claimed_by_other(&self, me: &str, now: i64) -> bool {
        self.claim
            .as_ref()
            .is_some_and(|c| c.until_ms > now && c.owner != me)
    }
}

/// Alertmanager's `DedupStage.needsUpdate`: whether the current firing and
/// resolved sets (after silences and inhibitions) warrant a notification at
/// flush time `at`, given the last one.
pub fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_interval_ms: i64,
    at: i64,
) -> bool {
    let Some(entry) = entry.filter(|e| e.sent_at_ms.is_some()) else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        // All resolved: tell the receiver only if it knew of firing alerts
        // (this also clears the log when send_resolved is off).
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry
        .sent_at_ms
        .is_some_and(|t| t < at - repeat_interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn entry(firing: &[&str], resolved: &[&str], at: i64) -> LogEntry {
        LogEntry {
            sent_at_ms: Some(at),
            firing: set(firing),
            resolved: set(resolved),
            ..LogEntry::default()
        }
    }

    #[test]
    fn dedup_follows_alertmanager() {
        assert!(needs_update(None, &set(&["a"]), &set(&[]), true, 100, 0));
        assert!(!needs_update(None, &set(&[]), &set(&["a"]), true, 100, 0));
        let e = entry(&["a", "b"], &[], 0);
        // A new firing alert: send.
        assert!(needs_update(
            Some(&e),
            &set(&["a", "c"]),
            &set(&[]),
            false,
            100,
            10
        ));
        // One resolved, send_resolved off: wait for the repeat.
        assert!(!needs_update(
            Some(&e),
            &set(&["a"]),
            &set(&["b"]),
            false,
            100,
            10
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a"]),
            &set(&["b"]),
            true,
            100,
            10
        ));
        // Unchanged: only after the repeat interval.
        assert!(!needs_update(
            Some(&e),
            &set(&["a", "b"]),
            &set(&[]),
            true,
            100,
            100
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a", "b"]),
            &set(&[]),
            true,
            100,
            101
        ));
        // All resolved: always, to clear the log.
        assert!(needs_update(
            Some(&e),
            &set(&[]),
            &set(&["a", "b"]),
            false,
            100,
            10
        ));
        assert!(!needs_update(
            Some(&entry(&[], &["a"], 0)),
            &set(&[]),
            &set(&["a"]),
            true,
            100,
            10
        ));
    }
}
