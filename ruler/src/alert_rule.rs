//! The alert state machine of one alerting rule, step for step as
//! Prometheus's `rules/alerting.go`: inactive -> pending -> firing ->
//! inactive (resolved), with `for` and `keep_firing_for`, one alert per
//! label set, resolved alerts kept for notification.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_model::{Labels, Sample, METRIC_NAME};

use crate::template::{expand_alert_template, TemplateData};

/// How long a resolved alert is kept so it can be sent as resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

pub const ALERTS_METRIC: &str = "ALERTS";
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
pub const ALERT_NAME_LABEL: &str = "alertname";
pub const ALERT_STATE_LABEL: &str = "alertstate";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert: an alerting rule's state for one label set. Times are Unix
/// milliseconds of evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub state: AlertState,
    /// Series labels without `__name__`, plus the rule's templated labels
    /// and `alertname`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The expression's value at the last evaluation the series matched.
    #[serde(with = "float_text")]
    pub value: f64,
    /// The first evaluation the series appeared at.
    pub active_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    /// The first evaluation a firing alert's series was missing at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_since: Option<i64>,
    /// The evaluation the alert was last handed to the sender at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<i64>,
    /// `endsAt` of the last send of a firing alert: when the receiver may
    /// consider it resolved if no newer send arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

/// Floats as Prometheus writes them in JSON (`"NaN"`, `"+Inf"`, `"1.5"`),
/// since JSON has no NaN.
mod float_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        let text = if v.is_nan() {
            "NaN".to_string()
        } else if v.is_infinite() {
            if *v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
        } else {
            v.to_string()
        };
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The persisted state of one alerting rule: its alerts by label set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertingRuleState {
    /// Keyed by the alert's label set, printed as `{a="b", c="d"}`.
    pub active: BTreeMap<String, Alert>,
}

/// What one alerting rule is, for evaluation.
#[derive(Debug, Clone, Copy)]
pub struct AlertingRule<'a> {
    pub name: &'a str,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

fn key(labels: &BTreeMap<String, String>) -> String {
    let body: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", body.join(", "))
}

fn to_labels(map: BTreeMap<String, String>) -> Result<Labels, String> {
    Labels::from_pairs(map).map_err(|e| e.to_string())
}

impl AlertingRule<'_> {
    /// Advances the state with the query result at scheduled time `t`
    /// (queried at `query_t = t - query_offset`) and returns the `ALERTS`
    /// and `ALERTS_FOR_STATE` samples, stamped `query_t`. `limit` > 0 caps
    /// the pending and firing alerts: over it every alert is dropped and an
    /// error returned, as Prometheus does.
    pub fn eval(
        &self,
        state: &mut AlertingRuleState,
        result: &[(Labels, f64)],
        t: i64,
        query_t: i64,
        limit: usize,
    ) -> Result<Vec<(Labels, Sample)>, String> {
        let mut fresh: BTreeMap<String, Alert> = BTreeMap::new();
        for (series, value) in result {
            let data = TemplateData {
                labels: series
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                external_labels: self.external_labels.clone(),
                external_url: self.external_url.to_string(),
                value: *value,
            };
            let expand = |text: &str| expand_alert_template(self.name, text, &data);
            let mut labels = data.labels.clone();
            labels.remove(METRIC_NAME);
            for (name, text) in self.labels {
                let v = expand(text);
                if v.is_empty() {
                    labels.remove(name);
                } else {
                    labels.insert(name.clone(), v);
                }
            }
            labels.insert(ALERT_NAME_LABEL.into(), self.name.to_string());
            let annotations = self
                .annotations
                .iter()
                .map(|(name, text)| (name.clone(), expand(text)))
                .collect();
            let k = key(&labels);
            if fresh.contains_key(&k) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            fresh.insert(
                k,
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: *value,
                    active_at: t,
                    fired_at: None,
                    resolved_at: None,
                    keep_firing_since: None,
                    last_sent_at: None,
                    valid_until: None,
                },
            );
        }

        for (k, a) in &fresh {
            match state.active.get_mut(k) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations.clone();
                }
                _ => {
                    state.active.insert(k.clone(), a.clone());
                }
            }
        }

        let mut out = Vec::new();
        let mut active_count = 0usize;
        let mut delete = Vec::new();
        for (k, a) in state.active.iter_mut() {
            if !fresh.contains_key(k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(t);
                    keep_firing = t - since < self.keep_firing_for_ms;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION_MS)
                {
                    delete.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(t);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_count += 1;
            if a.state == AlertState::Pending && t - a.active_at >= self.for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(t);
            }
            out.push(self.sample(a, query_t, ALERTS_METRIC, 1.0)?);
            out.push(self.sample(
                a,
                query_t,
                ALERTS_FOR_STATE_METRIC,
                // Whole seconds, as Prometheus's `ActiveAt.Unix()`.
                a.active_at.div_euclid(1000) as f64,
            )?);
        }
        for k in delete {
            state.active.remove(&k);
        }
        if limit > 0 && active_count > limit {
            state.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_count} alerts"
            ));
        }
        Ok(out)
    }

    fn sample(&self, a: &Alert, t: i64, metric: &str, v: f64) -> Result<(Labels, Sample), String> {
        // Prometheus starts from the rule's raw (untemplated) labels.
        let mut m = self.labels.clone();
        m.extend(a.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        m.insert(METRIC_NAME.into(), metric.into());
        m.insert(ALERT_NAME_LABEL.into(), self.name.into());
        if metric == ALERTS_METRIC {
            m.insert(ALERT_STATE_LABEL.into(), a.state.as_str().into());
        }
        Ok((to_labels(m)?, Sample::new(t, v)))
    }
}

impl AlertingRuleState {
    /// Alerts in a state worth showing: pending, firing, or resolved and
    /// still retained.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.active
            .values()
            .filter(|a| a.state == AlertState::Firing)
    }
}

#[cfg(test)]
mod tests;
