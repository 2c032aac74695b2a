//! The ruler's own metrics, kept in memory for the caller to export
//! (Prometheus names in brackets).

use std::collections::BTreeMap;
use std::sync::Mutex;

use stratus_model::TenantId;

/// Counters and gauges of one group (or, summed, of the whole ruler).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupMetrics {
    /// Committed evaluations (`prometheus_rule_evaluations_total`, per group).
    pub evaluations_total: u64,
    /// Rules that failed in committed evaluations
    /// (`prometheus_rule_evaluation_failures_total`).
    pub evaluation_failures_total: u64,
    /// Slots never evaluated (`prometheus_rule_group_iterations_missed_total`).
    pub missed_evaluations_total: u64,
    /// Evaluations of ours whose commit another ruler won.
    pub lost_races_total: u64,
    /// Attempts that failed as a whole: the group fails the checks of an
    /// upload, or its evaluation panicked (each then backed off).
    pub group_failures_total: u64,
    /// Such failures in a row at the last attempt; 0 after a good one.
    pub consecutive_failures: u64,
    /// Alerts handed to the sender, and sends that failed.
    pub alerts_sent_total: u64,
    pub send_failures_total: u64,
    /// How long after its slot the last evaluation started, and the worst.
    pub lateness_last_ms: i64,
    pub lateness_max_ms: i64,
    /// Duration of the last evaluation
    /// (`prometheus_rule_group_last_duration_seconds`).
    pub duration_last_us: u64,
    /// The last evaluated slot (`prometheus_rule_group_last_evaluation_timestamp_seconds`).
    pub last_evaluation_ms: i64,
}

impl GroupMetrics {
    fn add(&mut self, o: &GroupMetrics) {
        self.evaluations_total += o.evaluations_total;
        self.evaluation_failures_total += o.evaluation_failures_total;
        self.missed_evaluations_total += o.missed_evaluations_total;
        self.lost_races_total += o.lost_races_total;
        self.group_failures_total += o.group_failures_total;
        self.consecutive_failures = self.consecutive_failures.max(o.consecutive_failures);
        self.alerts_sent_total += o.alerts_sent_total;
        self.send_failures_total += o.send_failures_total;
        self.lateness_max_ms = self.lateness_max_ms.max(o.lateness_max_ms);
        if o.last_evaluation_ms >= self.last_evaluation_ms {
            self.last_evaluation_ms = o.last_evaluation_ms;
            self.lateness_last_ms = o.lateness_last_ms;
            self.duration_last_us = o.duration_last_us;
        }
    }
}

/// Identifies a group in [`RulerMetrics::groups`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub tenant: TenantId,
    pub namespace: String,
    pub group: String,
}

/// Metrics of every group this ruler instance evaluated since it started.
#[derive(Debug, Default)]
pub struct RulerMetrics {
    groups: Mutex<BTreeMap<GroupKey, GroupMetrics>>,
}

impl RulerMetrics {
    pub(crate) fn update(&self, key: &GroupKey, f: impl FnOnce(&mut GroupMetrics)) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = groups.get_mut(key) {
            f(m);
        } else {
            let mut m = GroupMetrics::default();
            f(&mut m);
            groups.insert(key.clone(), m);
        }
    }

    /// Per group.
    pub fn groups(&self) -> BTreeMap<GroupKey, GroupMetrics> {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Summed over every group (lateness and duration of the latest
    /// evaluated slot, the maximum lateness of all).
    pub fn total(&self) -> GroupMetrics {
        let mut t = GroupMetrics::default();
        for m in self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            t.add(m);
        }
        t
    }

    /// Forgets groups not in `keep` (deleted rules), so the map stays bounded.
    pub(crate) fn retain(&self, keep: &std::collections::BTreeSet<GroupKey>) {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| keep.contains(k));
    }
}
