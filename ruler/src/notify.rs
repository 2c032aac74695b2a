//! Which alerts go to the sender after an evaluation, following
//! Prometheus's `rules/alerting.go` (`needsSending`, `sendAlerts`) and
//! `rules/manager.go` (`SendAlerts`):
//!
//! - pending alerts are never sent;
//! - a firing alert is sent when it was never sent, then again once
//!   `resend_delay` has passed since the last send (strictly later, as
//!   Prometheus compares with `Before`);
//! - a resolved alert is sent as soon as it resolved, then re-sent like a
//!   firing one for the 15 minutes it is kept;
//! - `startsAt` is when the alert started firing; `endsAt` is the
//!   resolution time for resolved alerts and, for firing ones, the
//!   evaluation time plus `4 * max(resend_delay, group interval)`, so the
//!   receiver resolves it by itself if two sends in a row are lost.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use stratus_model::TenantId;

use crate::alert_rule::{Alert, AlertState};

/// One alert as handed to the notifier or an external Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingAlert {
    /// The alert's labels plus the ruler's external labels it lacks.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// Always set by the ruler: the resolution time, or how long a firing
    /// alert stays valid without a newer send.
    pub ends_at_ms: Option<i64>,
    /// `<external_url>/graph?g0.expr=<expr>&g0.tab=1`.
    pub generator_url: String,
}

/// Where alerts go once an evaluation is committed.
#[async_trait]
pub trait AlertSender: Send + Sync {
    async fn send(&self, tenant: &TenantId, alerts: Vec<OutgoingAlert>) -> anyhow::Result<()>;
}

/// A sender that drops everything (no notifier configured).
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardSender;

#[async_trait]
impl AlertSender for DiscardSender {
    async fn send(&self, _: &TenantId, _: Vec<OutgoingAlert>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Whether `a` is sent at evaluation time `t_ms` (Prometheus's `needsSending`).
pub fn needs_sending(a: &Alert, t_ms: i64, resend_delay_ms: i64) -> bool {
    if a.state == AlertState::Pending {
        return false;
    }
    match a.last_sent_at {
        None => true,
        // Resolved since the last send: send the resolution at once.
        Some(sent) if a.resolved_at.is_some_and(|r| r > sent) => true,
        Some(sent) => sent + resend_delay_ms < t_ms,
    }
}

/// What to send for one alerting rule's alerts at `t_ms`; marks the sent
/// alerts (`last_sent_at`, `valid_until`) so the state committed afterwards
/// remembers the send.
pub struct SendPolicy<'a> {
    pub resend_delay_ms: i64,
    pub interval_ms: i64,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

impl SendPolicy<'_> {
    /// `links_changed`: the alerts were last sent with another external
    /// URL, so each one sent before goes again now, whatever the resend
    /// delay, for its `generatorURL` to follow (as Prometheus, which
    /// resends every active alert after a restart).
    pub fn select<'b>(
        &self,
        alerts: impl IntoIterator<Item = &'b mut Alert>,
        expr: &str,
        t_ms: i64,
        links_changed: bool,
    ) -> Vec<OutgoingAlert> {
        let delta = self.resend_delay_ms.max(self.interval_ms);
        let mut out = Vec::new();
        for a in alerts {
            let relink =
                links_changed && a.state != AlertState::Pending && a.last_sent_at.is_some();
            if !relink && !needs_sending(a, t_ms, self.resend_delay_ms) {
                continue;
            }
            a.last_sent_at = Some(t_ms);
            let valid_until = t_ms + 4 * delta;
            a.valid_until = Some(valid_until);
            let mut labels = a.labels.clone();
            for (k, v) in self.external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push(OutgoingAlert {
                labels,
                annotations: a.annotations.clone(),
                starts_at_ms: a.fired_at.unwrap_or(a.active_at),
                ends_at_ms: Some(a.resolved_at.unwrap_or(valid_until)),
                generator_url: generator_url(self.external_url, expr),
            });
        }
        out
    }
}

/// Prometheus's link to an expression: `/graph?g0.expr=...&g0.tab=1`
/// after the external URL.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        query_escape(expr)
    )
}

/// Go's `url.QueryEscape`: unreserved bytes stay, space becomes `+`,
/// everything else `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(state: AlertState) -> Alert {
        Alert {
            state,
            labels: BTreeMap::from([("alertname".to_string(), "A".to_string())]),
            annotations: BTreeMap::new(),
            value: 1.0,
            active_at: 0,
            fired_at: (state != AlertState::Pending).then_some(60_000),
            resolved_at: None,
            keep_firing_since: None,
            last_sent_at: None,
            valid_until: None,
        }
    }

    #[test]
    fn pending_is_never_sent_and_firing_respects_resend_delay() {
        let policy = SendPolicy {
            resend_delay_ms: 60_000,
            interval_ms: 15_000,
            external_labels: &BTreeMap::from([
                ("cluster".to_string(), "eu".to_string()),
                ("alertname".to_string(), "ignored".to_string()),
            ]),
            external_url: "http://stratus:9494/",
        };
        let mut p = alert(AlertState::Pending);
        assert!(policy.select([&mut p], "up", 0, false).is_empty());

        let mut a = alert(AlertState::Firing);
        let sent = policy.select([&mut a], "up == 0", 60_000, false);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].starts_at_ms, 60_000);
        assert_eq!(sent[0].ends_at_ms, Some(60_000 + 4 * 60_000));
        assert_eq!(sent[0].labels["cluster"], "eu");
        assert_eq!(sent[0].labels["alertname"], "A");
        assert_eq!(
            sent[0].generator_url,
            "http://stratus:9494/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        // 60s later is not strictly after the resend delay.
        assert!(policy.select([&mut a], "up", 120_000, false).is_empty());
        assert_eq!(policy.select([&mut a], "up", 135_000, false).len(), 1);

        a.state = AlertState::Inactive;
        a.resolved_at = Some(150_000);
        let sent = policy.select([&mut a], "up", 150_000, false);
        assert_eq!(sent[0].ends_at_ms, Some(150_000), "resolved: sent at once");
        assert!(policy.select([&mut a], "up", 165_000, false).is_empty());
        assert_eq!(
            policy.select([&mut a], "up", 225_000, false).len(),
            1,
            "re-sent"
        );
        // Sent 15s ago, with other links: again at once; pending still not.
        let sent = policy.select([&mut a], "up", 240_000, true);
        assert_eq!(sent.len(), 1, "links changed");
        assert!(policy.select([&mut p], "up", 240_000, true).is_empty());
    }
}
