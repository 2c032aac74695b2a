//! Alerts as they come in (Alertmanager's v2 `PostableAlert`), as they are
//! stored, and as the API shows them (`GettableAlert`).

use serde::{Deserialize, Serialize};

use crate::matcher::LabelSet;
use crate::time::{opt_rfc3339, rfc3339};

/// An alert in Alertmanager's `POST /api/v2/alerts` JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default, with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<i64>,
    #[serde(default, with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    #[serde(
        default,
        rename = "generatorURL",
        skip_serializing_if = "String::is_empty"
    )]
    pub generator_url: String,
}

impl PostableAlert {
    /// A firing alert with these labels and no times (the notifier fills
    /// them in as Alertmanager does).
    pub fn new<K: Into<String>, V: Into<String>>(labels: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            annotations: LabelSet::new(),
            starts_at: None,
            ends_at: None,
            generator_url: String::new(),
        }
    }

    pub fn annotation(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(name.into(), value.into());
        self
    }

    pub fn starts_at(mut self, ms: i64) -> Self {
        self.starts_at = Some(ms);
        self
    }

    pub fn ends_at(mut self, ms: i64) -> Self {
        self.ends_at = Some(ms);
        self
    }

    pub fn generator_url(mut self, url: impl Into<String>) -> Self {
        self.generator_url = url.into();
        self
    }
}

/// An alert in the notifier's stored alert set (`alerts.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    #[serde(default)]
    pub generator_url: String,
    pub updated_at_ms: i64,
    /// When this notifier first stored the alert; a group's `group_wait`
    /// counts from its earliest alert.
    pub received_at_ms: i64,
    /// `ends_at_ms` was set by us from `resolve_timeout`, not by the sender.
    #[serde(default)]
    pub timeout: bool,
}

impl StoredAlert {
    /// Resolved at `now` when its end is not after `now`.
    pub fn resolved_at(&self, now: i64) -> bool {
        self.ends_at_ms <= now
    }

    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Alertmanager's `Alert.Merge`: `newer` was updated later; the earliest
    /// start wins, and the latest explicit end.
    fn merge(&self, newer: &StoredAlert, now: i64) -> StoredAlert {
        let mut res = newer.clone();
        res.received_at_ms = self.received_at_ms.min(newer.received_at_ms);
        res.starts_at_ms = self.starts_at_ms.min(newer.starts_at_ms);
        if newer.resolved_at(now) {
            if self.resolved_at(now) && self.ends_at_ms > newer.ends_at_ms {
                res.ends_at_ms = self.ends_at_ms;
            }
        } else if self.ends_at_ms > newer.ends_at_ms && !self.timeout {
            res.ends_at_ms = self.ends_at_ms;
        }
        res
    }

    /// Turns an incoming alert into a stored one as Alertmanager's API
    /// does: empty label values dropped, a missing start set to now (or to
    /// the end), a missing end set to now + `resolve_timeout`.
    pub fn from_postable(
        a: PostableAlert,
        now: i64,
        resolve_timeout_ms: i64,
    ) -> Result<Self, String> {
        let labels: LabelSet = a
            .labels
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if labels.is_empty() {
            return Err("alert has no labels; at least one label pair is required".into());
        }
        if let Some((bad, _)) = labels.iter().find(|(k, _)| !valid_label_name(k)) {
            return Err(format!(
                "alert label name {bad:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            ));
        }
        let starts_at_ms = a.starts_at.or(a.ends_at).unwrap_or(now);
        let (ends_at_ms, timeout) = match a.ends_at {
            Some(e) => (e, false),
            None => (now + resolve_timeout_ms, true),
        };
        if ends_at_ms < starts_at_ms {
            return Err(format!(
                "alert {} ends before it starts",
                crate::matcher::format_labels(&labels)
            ));
        }
        Ok(StoredAlert {
            labels,
            annotations: a.annotations,
            starts_at_ms,
            ends_at_ms,
            generator_url: a.generator_url,
            updated_at_ms: now,
            received_at_ms: now,
            timeout,
        })
    }
}

fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Puts `incoming` into `set` as Alertmanager's alert provider does: an
/// alert whose active range overlaps the stored one with the same labels is
/// merged into it, otherwise it replaces it.
pub fn merge_into(set: &mut Vec<StoredAlert>, incoming: StoredAlert, now: i64) {
    let fp = incoming.fingerprint();
    match set
        .iter_mut()
        .find(|a| a.fingerprint() == fp && a.labels == incoming.labels)
    {
        Some(old) => {
            let overlaps = (incoming.ends_at_ms > old.starts_at_ms
                && incoming.ends_at_ms < old.ends_at_ms)
                || (incoming.starts_at_ms > old.starts_at_ms
                    && incoming.starts_at_ms < old.ends_at_ms);
            // Same episode (overlapping, or the stored one still firing):
            // keep the first receipt, which group_wait counts from.
            let keep_received = overlaps || !old.resolved_at(now);
            let received = old.received_at_ms;
            *old = if overlaps {
                old.merge(&incoming, now)
            } else {
                incoming
            };
            if keep_received {
                old.received_at_ms = old.received_at_ms.min(received);
            }
        }
        None => set.push(incoming),
    }
}

/// Prometheus's label-set fingerprint (FNV-1a 64 over sorted names and
/// values, each followed by 0xff), so fingerprints match Alertmanager's.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    h
}

pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// An alert as Alertmanager's `GET /api/v2/alerts` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    #[serde(with = "rfc3339")]
    pub starts_at: i64,
    #[serde(with = "rfc3339")]
    pub ends_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
    pub receivers: Vec<ReceiverRef>,
    pub status: AlertStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `active` or `suppressed`.
    pub state: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_prometheus() {
        // prometheus/common model: TestMetricToFingerprint.
        let ls: LabelSet = [("name", "garland, briggs"), ("fear", "love is not enough")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(fingerprint(&ls), 5_799_056_148_416_392_346);
        assert_eq!(fingerprint(&LabelSet::new()), 14_695_981_039_346_656_037);
        assert_ne!(fingerprint(&ls), fingerprint(&LabelSet::new()));
    }

    #[test]
    fn incoming_alerts_get_alertmanager_defaults() {
        let a = StoredAlert::from_postable(
            PostableAlert::new([("alertname", "X"), ("empty", "")]),
            1000,
            300_000,
        )
        .expect("valid");
        assert_eq!(
            (a.starts_at_ms, a.ends_at_ms, a.timeout),
            (1000, 301_000, true)
        );
        assert!(!a.labels.contains_key("empty"));
        assert!(StoredAlert::from_postable(PostableAlert::new([("a", "")]), 0, 1).is_err());
        let bad = PostableAlert::new([("a", "1")]).starts_at(10).ends_at(5);
        assert!(StoredAlert::from_postable(bad, 0, 1).is_err());
    }

    #[test]
    fn merging_keeps_the_earliest_start_and_resolves_explicitly() {
        let mut set = Vec::new();
        let first =
            StoredAlert::from_postable(PostableAlert::new([("a", "1")]).starts_at(0), 0, 300_000)
                .expect("valid");
        merge_into(&mut set, first, 0);
        let again = StoredAlert::from_postable(
            PostableAlert::new([("a", "1")]).starts_at(60_000),
            60_000,
            300_000,
        )
        .expect("valid");
        merge_into(&mut set, again, 60_000);
        assert_eq!(set.len(), 1);
        assert_eq!((set[0].starts_at_ms, set[0].ends_at_ms), (0, 360_000));
        let resolved = StoredAlert::from_postable(
            PostableAlert::new([("a", "1")])
                .starts_at(0)
                .ends_at(90_000),
            90_000,
            300_000,
        )
        .expect("valid");
        merge_into(&mut set, resolved, 90_000);
        assert!(set[0].resolved_at(90_000));
        assert_eq!(set[0].received_at_ms, 0);
    }
}
