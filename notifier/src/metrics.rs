//! Counters the caller reads (and exposes on its `/metrics`).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// By receiver.
    pub notifications_sent_total: BTreeMap<String, u64>,
    /// By (receiver, reason): one per failed attempt.
    pub notifications_failed_total: BTreeMap<(String, String), u64>,
    pub alerts_received_total: u64,
    pub alerts_invalid_total: u64,
    /// Alerts muted by a silence / an inhibition at the last tick (gauges).
    pub alerts_silenced: u64,
    pub alerts_inhibited: u64,
    /// Notification-log writes lost to another notifier.
    pub nflog_conflicts_total: u64,
    /// Notification-log entries of gone groups deleted.
    pub nflog_collected_total: u64,
}

#[derive(Debug, Default)]
pub struct NotifierMetrics {
    inner: Mutex<MetricsSnapshot>,
}

impl NotifierMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.with(|m| m.clone())
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut MetricsSnapshot) -> R) -> R {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    pub(crate) fn sent(&self, receiver: &str) {
        self.with(|m| {
            *m.notifications_sent_total
                .entry(receiver.into())
                .or_default() += 1
        });
    }

    pub(crate) fn failed(&self, receiver: &str, reason: &str) {
        self.with(|m| {
            *m.notifications_failed_total
                .entry((receiver.into(), reason.into()))
                .or_default() += 1
        });
    }

    /// Sends counted for `receiver`.
    pub fn sent_total(&self, receiver: &str) -> u64 {
        self.with(|m| {
            m.notifications_sent_total
                .get(receiver)
                .copied()
                .unwrap_or(0)
        })
    }

    /// Failed attempts counted for `receiver`, all reasons.
    pub fn failed_total(&self, receiver: &str) -> u64 {
        self.with(|m| {
            m.notifications_failed_total
                .iter()
                .filter(|((r, _), _)| r == receiver)
                .map(|(_, n)| n)
                .sum()
        })
    }
}
