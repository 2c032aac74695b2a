//! The notifier's options and what its calls report.

use std::time::Duration;

use crate::alert::{GettableAlert, ReceiverRef};
use crate::matcher::LabelSet;

/// Delivery retries within one tick.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No new attempt starts after this much time since the first.
    pub max_elapsed: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Put into notifications as `externalURL`.
    pub external_url: String,
    pub retry: RetryOptions,
    /// Bounds each delivery attempt.
    pub send_timeout: Duration,
    /// How long a claim keeps other notifiers off an entry; must exceed
    /// `retry.max_elapsed + send_timeout`.
    pub claim_ttl: Duration,
    /// Resolved alerts stay stored at least this long (and at least twice
    /// the longest `group_wait + group_interval`) so their resolution is sent.
    pub resolved_retention: Duration,
    /// A notification-log entry whose group is gone is deleted once its
    /// last send is older than this (Alertmanager's `--data.retention`).
    pub nflog_retention: Duration,
    /// At most this many candidate entries are read (and deleted) per
    /// tick, so collecting stays cheap; the oldest-modified go first.
    pub nflog_gc_per_tick: usize,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        Self {
            external_url: String::new(),
            retry: RetryOptions::default(),
            send_timeout: Duration::from_secs(10),
            claim_ttl: Duration::from_secs(120),
            resolved_retention: Duration::from_secs(3600),
            nflog_retention: Duration::from_secs(120 * 3600),
            nflog_gc_per_tick: 20,
        }
    }
}

/// What one `receive` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiveReport {
    pub accepted: usize,
    /// One message per rejected alert.
    pub rejected: Vec<String>,
}

/// One notification of a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationOutcome {
    pub receiver: String,
    pub integration: String,
    pub group_key: String,
    pub firing: usize,
    pub resolved: usize,
    /// `None` when delivered; the last error otherwise.
    pub error: Option<String>,
}

/// What one `tick` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub groups: usize,
    pub sent: Vec<NotificationOutcome>,
    pub failed: Vec<NotificationOutcome>,
    /// Entries another notifier was sending at the time.
    pub claimed_elsewhere: usize,
    pub alerts_silenced: usize,
    pub alerts_inhibited: usize,
    /// Resolved alerts dropped from the store.
    pub alerts_collected: usize,
    /// Notification-log entries of gone groups deleted.
    pub nflog_collected: usize,
}

/// An aggregation group as `GET /api/v2/alerts/groups` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertGroup {
    pub labels: LabelSet,
    pub receiver: ReceiverRef,
    pub alerts: Vec<GettableAlert>,
}
