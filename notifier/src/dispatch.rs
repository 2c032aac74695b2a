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
//! Resolved alerts already present at the last notification leave the group.

use std::collections::{BTreeMap, BTreeSet};

use crate::alert::{fingerprint_hex, StoredAlert};
use crate::matcher::LabelSet;
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

/// Decides what the group `g` does on one integration at `now`.
pub fn decide(
    entry: Option<&LogEntry>,
    g: &Group<'_>,
    alerts: &[AlertView],
    send_resolved: bool,
    now: i64,
    me: &str,
) -> Decision {
    if entry
        .and_then(|e| e.claim.as_ref())
        .is_some_and(|c| c.until_ms > now && c.owner != me)
    {
        return Decision::Claimed;
    }
    let last_sent = entry.and_then(|e| e.sent_at_ms);
    let members: Vec<usize> = g
        .members
        .iter()
        .copied()
        .filter(|&i| {
            let a = &alerts[i].alert;
            !(a.resolved_at(now) && last_sent.is_some_and(|s| a.ends_at_ms <= s))
        })
        .collect();
    let route = g.route;
    let at = match (entry.filter(|e| e.has_firing()), last_sent) {
        (Some(_), Some(sent)) => {
            if now < sent + route.group_interval_ms {
                return Decision::Wait;
            }
            sent + (now - sent) / route.group_interval_ms * route.group_interval_ms
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
    let fps = |v: &[usize]| -> BTreeSet<String> {
        v.iter().map(|&i| alerts[i].fingerprint.clone()).collect()
    };
    if needs_update(
        entry,
        &fps(&firing),
        &fps(&resolved),
        send_resolved,
        route.repeat_interval_ms,
        at,
    ) {
        Decision::Send { firing, resolved }
    } else {
        Decision::Nothing
    }
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
