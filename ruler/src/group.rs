//! Evaluating one rule group at a scheduled timestamp: rules in order,
//! recording-rule output appended before the next rule runs, staleness
//! markers for series that disappeared, alert state advanced.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use stratus_model::{Labels, Sample, TenantId, METRIC_NAME, STALE_NAN};

use crate::alerting::{Alert, AlertingRule, AlertingRuleState};
use crate::rulefile::{Rule, RuleGroup};

/// The query engine as the ruler sees it: an instant query. Scalars come
/// back as one sample with no labels.
#[async_trait]
pub trait RuleQuerier: Send + Sync {
    async fn instant(
        &self,
        tenant: &TenantId,
        expr: &str,
        at_ms: i64,
    ) -> anyhow::Result<Vec<(Labels, f64)>>;
}

/// Where rule output goes (recording-rule series, `ALERTS`,
/// `ALERTS_FOR_STATE`, staleness markers). Called after each rule, so a
/// later rule in the group queries what an earlier one wrote.
#[async_trait]
pub trait RuleAppender: Send + Sync {
    async fn append(&self, tenant: &TenantId, samples: &[(Labels, Sample)]) -> anyhow::Result<()>;
}

/// An appender that keeps nothing: the caller writes
/// [`GroupEvaluation::samples`] itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardAppender;

#[async_trait]
impl RuleAppender for DiscardAppender {
    async fn append(&self, _: &TenantId, _: &[(Labels, Sample)]) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Per-rule state that outlives an evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule's name, to notice a changed group.
    pub name: String,
    /// Alerting rules only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts: BTreeMap<String, Alert>,
    /// Series the rule wrote at its last successful evaluation, so the
    /// next one can mark vanished series stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<BTreeMap<String, String>>,
}

/// The state of a group, serialisable so it can live in the bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub rules: Vec<RuleState>,
    /// Scheduled time of the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation_ms: Option<i64>,
}

/// Why one rule failed in an evaluation; the others still ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEvalError {
    /// 0-based position in the group.
    pub index: usize,
    pub rule: String,
    pub message: String,
}

impl fmt::Display for RuleEvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} {:?}: {}",
            self.index + 1,
            self.rule,
            self.message
        )
    }
}

/// The alerts of one alerting rule after an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlerts {
    pub rule: String,
    /// Pending, firing and retained resolved alerts.
    pub alerts: Vec<Alert>,
}

/// What one evaluation produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupEvaluation {
    /// Scheduled timestamp.
    pub t_ms: i64,
    /// Timestamp queries ran at and samples carry (`t - query_offset`).
    pub query_t_ms: i64,
    /// Everything written, in rule order.
    pub samples: Vec<(Labels, Sample)>,
    pub alerts: Vec<RuleAlerts>,
    pub errors: Vec<RuleEvalError>,
}

/// What the group evaluator needs besides the group.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    pub tenant: &'a TenantId,
    pub querier: &'a dyn RuleQuerier,
    pub appender: &'a dyn RuleAppender,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Recording-rule output: the query result renamed and relabelled.
fn record(
    rule: &Rule,
    name: &str,
    result: Vec<(Labels, f64)>,
    t: i64,
    limit: usize,
) -> Result<Vec<(Labels, Sample)>, String> {
    let mut out = Vec::with_capacity(result.len());
    let mut seen = BTreeSet::new();
    for (labels, v) in result {
        let mut m = to_map(&labels);
        m.insert(METRIC_NAME.into(), name.into());
        m.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let labels = Labels::from_pairs(m).map_err(|e| e.to_string())?;
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((labels, Sample::new(t, v)));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

/// Evaluates `group` at scheduled time `t_ms`, advancing `state`.
pub async fn evaluate_group(
    group: &RuleGroup,
    state: &mut GroupState,
    ctx: EvalContext<'_>,
    t_ms: i64,
) -> GroupEvaluation {
    let offset = group.query_offset.map_or(0, |d| d.as_millis());
    let query_t = t_ms - offset;
    let mut eval = GroupEvaluation {
        t_ms,
        query_t_ms: query_t,
        ..GroupEvaluation::default()
    };
    state.rules.truncate(group.rules.len());
    state
        .rules
        .resize_with(group.rules.len(), RuleState::default);
    for (index, (rule, rs)) in group.rules.iter().zip(state.rules.iter_mut()).enumerate() {
        let name = rule.name();
        if rs.name != name {
            *rs = RuleState {
                name: name.to_string(),
                ..RuleState::default()
            };
        }
        let fail = |message: String| RuleEvalError {
            index,
            rule: name.to_string(),
            message,
        };
        let result = match ctx.querier.instant(ctx.tenant, &rule.expr, query_t).await {
            Ok(r) => r,
            Err(e) => {
                eval.errors.push(fail(format!("query failed: {e:#}")));
                if rule.alert.is_some() {
                    // Unchanged, as in Prometheus: a failed query neither
                    // resolves nor advances alerts.
                    eval.alerts.push(RuleAlerts {
                        rule: name.to_string(),
                        alerts: rs.alerts.values().cloned().collect(),
                    });
                }
                continue;
            }
        };
        let produced = if rule.alert.is_some() {
            let ar = AlertingRule {
                name,
                for_ms: rule.for_.map_or(0, |d| d.as_millis()),
                keep_firing_for_ms: rule.keep_firing_for.map_or(0, |d| d.as_millis()),
                labels: &rule.labels,
                annotations: &rule.annotations,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
            };
            let mut st = AlertingRuleState {
                active: std::mem::take(&mut rs.alerts),
            };
            let r = ar.eval(&mut st, &result, t_ms, query_t, group.limit);
            rs.alerts = st.active;
            eval.alerts.push(RuleAlerts {
                rule: name.to_string(),
                alerts: rs.alerts.values().cloned().collect(),
            });
            r
        } else {
            record(rule, name, result, query_t, group.limit)
        };
        let mut samples = match produced {
            Ok(s) => s,
            Err(e) => {
                eval.errors.push(fail(e));
                continue;
            }
        };
        let now: BTreeSet<BTreeMap<String, String>> =
            samples.iter().map(|(l, _)| to_map(l)).collect();
        for gone in rs.series.iter().filter(|s| !now.contains(*s)) {
            if let Ok(l) = Labels::from_pairs(gone.clone()) {
                samples.push((l, Sample::new(query_t, STALE_NAN)));
            }
        }
        rs.series = now.into_iter().collect();
        if !samples.is_empty() {
            if let Err(e) = ctx.appender.append(ctx.tenant, &samples).await {
                eval.errors
                    .push(fail(format!("writing rule output failed: {e:#}")));
            }
        }
        eval.samples.extend(samples);
    }
    state.last_evaluation_ms = Some(t_ms);
    eval
}

#[cfg(test)]
mod tests;
