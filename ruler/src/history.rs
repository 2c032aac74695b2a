//! Alert state history: every transition of every alert, one object per
//! group evaluation that had transitions, under
//! `tenants/<t>/ruler/history/<day>/`. Format: `docs/format/ruler.md`.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use stratus_model::TenantId;
use stratus_storage::{Bucket, StorageError};

use crate::alert_rule::{Alert, AlertState};
use crate::error::{Result, RulerError};
use crate::group::GroupState;
use crate::keys;
use crate::timefmt;

/// The version of [`HistoryObject`] this code writes and reads.
pub const HISTORY_FORMAT_VERSION: u32 = 1;

/// Objects read at once by [`history`].
const READ_CONCURRENCY: usize = 8;

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// Appeared, waiting for `for` to pass.
    Pending,
    /// Started firing.
    Firing,
    /// Stopped firing.
    Resolved,
    /// A pending alert disappeared before it fired.
    Inactive,
}

/// One transition of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEvent {
    /// Scheduled time of the evaluation that saw the transition.
    pub t_ms: i64,
    pub namespace: String,
    pub group: String,
    /// The alerting rule's name.
    pub rule: String,
    pub state: Transition,
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The expression's value (`"NaN"`, `"+Inf"` as text, like the state).
    pub value: String,
    pub active_at_ms: i64,
}

/// The stored object: the events of one group evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryObject {
    pub version: u32,
    pub t_ms: i64,
    pub namespace: String,
    pub group: String,
    pub events: Vec<HistoryEvent>,
}

/// Which events [`history`] returns; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub namespace: Option<String>,
    pub group: Option<String>,
    /// The alerting rule (`alertname`).
    pub rule: Option<String>,
    pub states: Vec<Transition>,
    /// Labels the alert must have, with these values.
    pub labels: BTreeMap<String, String>,
}

impl HistoryFilter {
    fn matches_object(&self, o: &HistoryObject) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == o.namespace)
            && self.group.as_ref().is_none_or(|g| *g == o.group)
    }

    pub fn matches(&self, e: &HistoryEvent) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == e.namespace)
            && self.group.as_ref().is_none_or(|g| *g == e.group)
            && self.rule.as_ref().is_none_or(|r| *r == e.rule)
            && (self.states.is_empty() || self.states.contains(&e.state))
            && self
                .labels
                .iter()
                .all(|(k, v)| e.labels.get(k).is_some_and(|have| have == v))
    }
}

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// The transitions between the state before and after an evaluation at
/// `t_ms`. Rules are matched by position and name, alerts by label set.
pub fn transitions(
    namespace: &str,
    group: &str,
    before: &GroupState,
    after: &GroupState,
    t_ms: i64,
) -> Vec<HistoryEvent> {
    let empty = BTreeMap::new();
    let mut out = Vec::new();
    for (i, rs) in after.rules.iter().enumerate() {
        let old = before
            .rules
            .get(i)
            .filter(|o| o.name == rs.name)
            .map_or(&empty, |o| &o.alerts);
        let event = |a: &Alert, state: Transition| HistoryEvent {
            t_ms,
            namespace: namespace.to_string(),
            group: group.to_string(),
            rule: rs.name.clone(),
            state,
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            value: value_text(a.value),
            active_at_ms: a.active_at,
        };
        for (k, a) in &rs.alerts {
            let prev = old.get(k).map(|p| p.state);
            let happened = match (prev, a.state) {
                (None | Some(AlertState::Inactive), AlertState::Pending) => {
                    Some(Transition::Pending)
                }
                (p, AlertState::Firing) if p != Some(AlertState::Firing) => {
                    Some(Transition::Firing)
                }
                (Some(AlertState::Firing), AlertState::Inactive) => Some(Transition::Resolved),
                _ => None,
            };
            if let Some(tr) = happened {
                out.push(event(a, tr));
            }
        }
        for (k, a) in old {
            if rs.alerts.contains_key(k) {
                continue;
            }
            // Gone without passing through "resolved": a pending alert
            // whose series vanished, or alerts dropped over the limit.
            match a.state {
                AlertState::Pending => out.push(event(a, Transition::Inactive)),
                AlertState::Firing => out.push(event(a, Transition::Resolved)),
                AlertState::Inactive => {}
            }
        }
    }
    out
}

/// Stores the events of one evaluation (nothing when there are none). The
/// key depends only on the evaluation, so a retry rewrites the same object.
pub async fn append(
    bucket: &Bucket,
    tenant: &TenantId,
    namespace: &str,
    group: &str,
    t_ms: i64,
    events: Vec<HistoryEvent>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let key = keys::history(tenant, namespace, group, t_ms);
    let obj = HistoryObject {
        version: HISTORY_FORMAT_VERSION,
        t_ms,
        namespace: namespace.to_string(),
        group: group.to_string(),
        events,
    };
    let data = serde_json::to_vec(&obj).map_err(|e| RulerError::Corrupt {
        key: key.to_string(),
        reason: format!("cannot serialise history: {e}"),
    })?;
    bucket
        .put(&key, stratus_storage::sealed::seal(&data))
        .await?;
    Ok(())
}

fn decode(key: &str, bytes: &[u8]) -> Result<HistoryObject> {
    let corrupt = |reason: String| RulerError::Corrupt {
        key: key.to_string(),
        reason,
    };
    let bytes = stratus_storage::sealed::open(bytes).map_err(|e| corrupt(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("expected JSON, got {e}")))?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(HISTORY_FORMAT_VERSION) => {}
        other => {
            return Err(corrupt(format!(
                "expected history version {HISTORY_FORMAT_VERSION}, got {other:?}"
            )))
        }
    }
    serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))
}

/// The events of evaluations scheduled in `[from_ms, to_ms]`, in time
/// order (then namespace, group, rule, labels). Lists one folder per day
/// of the range.
pub async fn history(
    bucket: &Bucket,
    tenant: &TenantId,
    from_ms: i64,
    to_ms: i64,
    filter: &HistoryFilter,
) -> Result<Vec<HistoryEvent>> {
    if to_ms < from_ms {
        return Err(RulerError::BadRequest(format!(
            "history range ends ({to_ms}) before it starts ({from_ms})"
        )));
    }
    let mut keys = Vec::new();
    let mut day = timefmt::day_start(from_ms.max(0));
    while day <= to_ms {
        for o in bucket.list(&keys::history_day_prefix(tenant, day)).await? {
            if keys::history_time_of(&o.key).is_some_and(|t| (from_ms..=to_ms).contains(&t)) {
                keys.push(o.key);
            }
        }
        day += 86_400_000;
    }
    let objects: Vec<Option<HistoryObject>> = futures::stream::iter(keys)
        .map(|key| async move {
            match bucket.get(&key).await {
                Ok((bytes, _)) => decode(key.as_ref(), &bytes).map(Some),
                // Deleted (retention) between the listing and the read.
                Err(StorageError::NotFound { .. }) => Ok(None),
                Err(e) => Err(RulerError::from(e)),
            }
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    let mut events: Vec<HistoryEvent> = objects
        .into_iter()
        .flatten()
        .filter(|o| filter.matches_object(o))
        .flat_map(|o| o.events)
        .filter(|e| filter.matches(e))
        .collect();
    events.sort_by(|a, b| {
        (a.t_ms, &a.namespace, &a.group, &a.rule, &a.labels).cmp(&(
            b.t_ms,
            &b.namespace,
            &b.group,
            &b.rule,
            &b.labels,
        ))
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::RuleState;

    fn alert(state: AlertState, job: &str) -> Alert {
        Alert {
            state,
            labels: BTreeMap::from([
                ("alertname".to_string(), "Down".to_string()),
                ("job".to_string(), job.to_string()),
            ]),
            annotations: BTreeMap::new(),
            value: 0.0,
            active_at: 0,
            fired_at: None,
            resolved_at: None,
            keep_firing_since: None,
            last_sent_at: None,
            valid_until: None,
        }
    }

    fn state(alerts: &[Alert]) -> GroupState {
        GroupState {
            rules: vec![RuleState {
                name: "Down".into(),
                alerts: alerts
                    .iter()
                    .map(|a| (format!("{:?}", a.labels), a.clone()))
                    .collect(),
                ..RuleState::default()
            }],
            ..GroupState::default()
        }
    }

    #[test]
    fn transitions_between_states() {
        use AlertState::*;
        let kinds = |b: &[Alert], a: &[Alert]| -> Vec<(String, Transition)> {
            transitions("ns", "g", &state(b), &state(a), 0)
                .into_iter()
                .map(|e| (e.labels["job"].clone(), e.state))
                .collect()
        };
        assert_eq!(
            kinds(&[], &[alert(Pending, "a")]),
            [("a".into(), Transition::Pending)]
        );
        assert_eq!(kinds(&[alert(Pending, "a")], &[alert(Pending, "a")]), []);
        assert_eq!(
            kinds(&[alert(Pending, "a")], &[alert(Firing, "a")]),
            [("a".into(), Transition::Firing)]
        );
        assert_eq!(
            kinds(&[], &[alert(Firing, "a")]),
            [("a".into(), Transition::Firing)]
        );
        assert_eq!(
            kinds(&[alert(Firing, "a")], &[alert(Inactive, "a")]),
            [("a".into(), Transition::Resolved)]
        );
        assert_eq!(kinds(&[alert(Inactive, "a")], &[]), []);
        assert_eq!(
            kinds(&[alert(Pending, "b")], &[]),
            [("b".into(), Transition::Inactive)]
        );
        assert_eq!(
            kinds(&[alert(Inactive, "a")], &[alert(Pending, "a")]),
            [("a".into(), Transition::Pending)]
        );
    }

    #[tokio::test]
    async fn stored_events_come_back_in_time_order_and_filtered() {
        let bucket = Bucket::in_memory();
        let t = TenantId::anonymous();
        let day = 86_400_000;
        let ev = |t_ms: i64, group: &str, state: Transition| HistoryEvent {
            t_ms,
            namespace: "ns".into(),
            group: group.into(),
            rule: "Down".into(),
            state,
            labels: BTreeMap::from([("job".to_string(), group.to_string())]),
            annotations: BTreeMap::new(),
            value: "1".into(),
            active_at_ms: t_ms,
        };
        // Written out of order, across a day boundary.
        for (t_ms, g, s) in [
            (day + 60_000, "b", Transition::Resolved),
            (day - 60_000, "a", Transition::Pending),
            (day, "a", Transition::Firing),
            (day, "b", Transition::Firing),
        ] {
            append(&bucket, &t, "ns", g, t_ms, vec![ev(t_ms, g, s)])
                .await
                .expect("append");
        }
        let all = history(&bucket, &t, 0, 2 * day, &HistoryFilter::default())
            .await
            .expect("read");
        let got: Vec<(i64, &str)> = all.iter().map(|e| (e.t_ms, e.group.as_str())).collect();
        assert_eq!(
            got,
            [
                (day - 60_000, "a"),
                (day, "a"),
                (day, "b"),
                (day + 60_000, "b")
            ]
        );
        let only_b = HistoryFilter {
            labels: BTreeMap::from([("job".to_string(), "b".to_string())]),
            ..HistoryFilter::default()
        };
        assert_eq!(
            history(&bucket, &t, 0, 2 * day, &only_b)
                .await
                .expect("read")
                .len(),
            2
        );
        let window = history(&bucket, &t, day, day, &HistoryFilter::default())
            .await
            .expect("read");
        assert_eq!(window.len(), 2);
        assert!(history(&bucket, &t, 10, 0, &HistoryFilter::default())
            .await
            .is_err());
    }
}
