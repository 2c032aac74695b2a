//! The dispatcher as pure functions: which groups the alerts form, and
//! whether a group is due for a notification on an integration now.
//!
//! Timing, with state only in the notification log: a group the receiver
//! does not know as firing (no entry, or the last notification resolved
//! everything) is first flushed `group_wait` after its earliest firing
//! alert (the earlier of its start and its arrival, as Alertmanager flushes
//! at once an alert older than `group_wait`). After a notification at `t`,
//! the group is flushed again at `t + k * group_interval`; a flush sends only
//! if Alertmanager's dedup rules say so (new firing alert, newly resolved
//! with `send_resolved`, all resolved, or `repeat_interval` passed).
//! Resolved alerts already stored as resolved at the last notification leave
//! the group.
//!
//! Forwarding to an Alertmanager (`alertmanager_configs`) follows
//! Prometheus's notifier instead of the dedup rules: the receiver resolves
//! an alert once its `endsAt` (or its own `resolve_timeout`) passes, so
//! while the receiver knows of firing alerts the group is re-posted at least
//! every `resend_interval` (whatever `repeat_interval` says), and at any
//! flush (`group_interval` after the last forward) where what it would
//! post changed: an alert came, left, resolved, or got a new `endsAt` or
//! annotations ([`crate::message::forward_digest`], kept in the log entry).

use std::collections::{BTreeMap, BTreeSet};

use crate::alert::{fingerprint_hex, StoredAlert};
use crate::config::Integration;
use crate::matcher::LabelSet;
use crate::message::forward_digest;
use crate::nflog::{needs_update, LogEntry};
use crate::route::Route;

/// An alert with what mutes it.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert: StoredAlert,
    pub fingerprint: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

impl AlertView {
    pub fn muted(&self) -> bool {
        !self.silenced_by.is_empty() || !self.inhibited_by.is_empty()
    }
}

/// An aggregation group: the alerts of one route with the same group labels.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub route: &'a Route,
    pub key: String,
    pub labels: LabelSet,
    /// Indices into the alert list.
    pub members: Vec<usize>,
}

/// Routes every alert and groups them, in a stable order.
pub fn groups<'a>(root: &'a Route, alerts: &[AlertView]) -> Vec<Group<'a>> {
    let order: Vec<&Route> = root.walk();
    let mut by_key: BTreeMap<(usize, String), Group<'a>> = BTreeMap::new();
    for (i, a) in alerts.iter().enumerate() {
        for route in root.match_routes(&a.alert.labels) {
            let pos = order
                .iter()
                .position(|r| std::ptr::eq(*r, route))
                .unwrap_or(0);
            let labels = route.group_labels(&a.alert.labels);
            let key = route.group_key(&labels);
            by_key
                .entry((pos, key.clone()))
                .or_insert_with(|| Group {
                    route,
                    key,
                    labels,
                    members: Vec::new(),
                })
                .members
                .push(i);
        }
    }
    by_key.into_values().collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not time to flush yet.
    Wait,
    /// Another notifier holds a live claim on this entry.
    Claimed,
    /// Flushed, but nothing to tell the receiver.
    Nothing,
    /// Notify: the unmuted firing and resolved alerts (indices).
    Send {
        firing: Vec<usize>,
        resolved: Vec<usize>,
    },
}

/// A tick early by up to this share of `resend_interval` still re-forwards,
/// so ticks every `resend_interval` with some jitter do not skip a period.
const RESEND_SLACK_DIVISOR: i64 = 10;

/// Decides what the group `g` does on `integration` at `now`.
pub fn decide(
    entry: Option<&LogEntry>,
    g: &Group<'_>,
    alerts: &[AlertView],
    integration: &Integration,
    now: i64,
    me: &str,
) -> Decision {
    if entry.is_some_and(|e| e.claimed_by_other(me, now)) {
        return Decision::Claimed;
    }
    let send_resolved = integration.send_resolved;
    let last_sent = entry.and_then(|e| e.sent_at_ms);
    let members: Vec<usize> = g
        .members
        .iter()
        .copied()
        .filter(|&i| {
            // Resolved already when the last notification went out (its
            // end, and our copy of it, no later than that): it was told.
            // A resolution that arrives late, with an end before the last
            // notification, is still told.
            let a = &alerts[i].alert;
            !(a.resolved_at(now)
                && last_sent.is_some_and(|s| a.ends_at_ms <= s && a.updated_at_ms <= s))
        })
        .collect();
    let route = g.route;
    let told_firing = entry.filter(|e| e.has_firing());
    let mut resend_due = false;
    let at = match (told_firing, last_sent) {
        (Some(_), Some(sent)) => {
            let elapsed = now - sent;
            if let Some(resend) = integration.resend_interval_ms() {
                resend_due = elapsed >= resend - resend / RESEND_SLACK_DIVISOR;
            }
            if elapsed < route.group_interval_ms && !resend_due {
                return Decision::Wait;
            }
            sent + elapsed / route.group_interval_ms * route.group_interval_ms
        }
        _ => {
            let start = members
                .iter()
                .map(|&i| &alerts[i].alert)
                .filter(|a| !a.resolved_at(now))
                .map(|a| a.received_at_ms.min(a.starts_at_ms))
                .min();
            match start {
                None => return Decision::Nothing,
                Some(s) if now < s + route.group_wait_ms => return Decision::Wait,
                Some(_) => now,
            }
        }
    };
    let (resolved, firing): (Vec<usize>, Vec<usize>) = members
        .into_iter()
        .filter(|&i| !alerts[i].muted())
        .partition(|&i| alerts[i].alert.resolved_at(now));
    if firing.is_empty() && resolved.is_empty() {
        return Decision::Nothing;
    }
    let send = match (integration.resend_interval_ms(), told_firing) {
        // Forwarding, as Prometheus posts to Alertmanager: every resend
        // interval, and at a flush whenever what it would say changed.
        (Some(_), Some(e)) => {
            resend_due || {
                let digest = forward_digest(
                    shown(&firing, &resolved, send_resolved).map(|i| &alerts[i].alert),
                    now,
                );
                e.forwarded_digest.as_deref() != Some(digest.as_str())
            }
        }
        _ => {
            let fps = |v: &[usize]| -> BTreeSet<String> {
                v.iter().map(|&i| alerts[i].fingerprint.clone()).collect()
            };
            needs_update(
                entry,
                &fps(&firing),
                &fps(&resolved),
                send_resolved,
                route.repeat_interval_ms,
                at,
            )
        }
    };
    if send {
        Decision::Send { firing, resolved }
    } else {
        Decision::Nothing
    }
}

/// The alerts a notification shows: the firing ones, then the resolved
/// ones if the integration sends resolved notifications.
pub fn shown<'a>(
    firing: &'a [usize],
    resolved: &'a [usize],
    send_resolved: bool,
) -> impl Iterator<Item = usize> + 'a {
    let resolved = if send_resolved { resolved } else { &[] };
    firing.iter().chain(resolved).copied()
}

/// Builds the views of `alerts`: fingerprints, silences and inhibitions.
pub fn annotate(
    alerts: Vec<StoredAlert>,
    silences: &[crate::silence::Silence],
    rules: &[crate::config::InhibitRule],
    now: i64,
) -> Vec<AlertView> {
    let inhibited = crate::inhibit::inhibited_by(rules, &alerts, now);
    alerts
        .into_iter()
        .zip(inhibited)
        .map(|(alert, inhibited_by)| AlertView {
            fingerprint: fingerprint_hex(alert.fingerprint()),
            silenced_by: crate::silence::silenced_by(silences, &alert.labels, now),
            inhibited_by,
            alert,
        })
        .collect()
}
